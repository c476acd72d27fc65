// wrk as the bench drives it: the Lua script's done() prints one JSON line that
// parseWrkOutput reads (never wrk's human text), static headers reach the server, and a
// header pool rotates one value per request (every bearer token new). Against a real
// local server; skipped where wrk is not installed (CI installs it: .ci/run).
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findWrk, parseWrkOutput, startWrk, WRK_JSON_MARKER, wrkScript, writeWrkScript } from '../../bench/lib/wrk.ts';

const wrk = findWrk();

describe('wrk output', () => {
  it('reads the done() line among wrk’s own text', () => {
    const out = `Running 1s test @ http://x\n  1 threads and 2 connections\n\n${WRK_JSON_MARKER}{"requests":120,"durationUs":1000500,"bytes":9000,"errors":{"connect":0,"read":1,"write":0,"status":3,"timeout":2},"latencyUs":{"min":50,"mean":812.5,"max":9000,"p50":700,"p90":1200,"p99":4000,"p99_9":8000}}\nRequests/sec: 119.94\n`;
    const s = parseWrkOutput(out);
    expect(s.requests).toBe(120);
    expect(s.errors).toEqual({ connect: 0, read: 1, write: 0, status: 3, timeout: 2 });
    expect(s.latencyUs.p99_9).toBe(8000);
  });

  it('refuses output without the line, an incomplete line, or a run with no request', () => {
    expect(() => parseWrkOutput('Requests/sec: 1\n')).toThrow(/no WRK_JSON line/);
    expect(() => parseWrkOutput(`${WRK_JSON_MARKER}{"requests":1,"durationUs":1}\n`)).toThrow(/incomplete/);
    expect(() =>
      parseWrkOutput(`${WRK_JSON_MARKER}{"requests":0,"durationUs":1000000,"bytes":0,"errors":{"connect":0,"read":0,"write":0,"status":0,"timeout":0},"latencyUs":{"min":0,"mean":0,"max":0,"p50":0,"p90":0,"p99":0,"p99_9":0}}\n`),
    ).toThrow(/no request/);
  });

  it('escapes header values for Lua', () => {
    const lua = wrkScript({ headers: { 'x-q': 'a"b\\c' } });
    expect(lua).toContain('wrk.headers["x-q"] = "a\\"b\\\\c"');
    expect(lua).not.toContain('request = function');
    expect(wrkScript({ pool: { name: 'authorization', values: ['Bearer a'] } })).toContain('request = function');
  });
});

describe.skipIf(!wrk)('wrk against a local server', () => {
  let server: Server;
  let url: string;
  let dir: string;
  const seen: { token?: string; fixed?: string }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-wrk-'));
    server = createServer((req, res) => {
      seen.push({ token: req.headers.authorization, fixed: req.headers['x-bench'] as string | undefined });
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('runs, rotates the pool in order and sends the fixed headers; done() is parsed', async () => {
    const pool = ['Bearer t0', 'Bearer t1', 'Bearer t2'];
    const script = await writeWrkScript(dir, 'pool', { headers: { 'x-bench': 'fixed' }, pool: { name: 'authorization', values: pool } });
    const summary = await startWrk(wrk!, url, { connections: 1, durationSec: 1, script }).done;
    expect(summary.requests).toBeGreaterThan(0);
    expect(summary.latencyUs.p50).toBeGreaterThan(0);
    expect(summary.latencyUs.p99).toBeGreaterThanOrEqual(summary.latencyUs.p50);
    // One connection: the server sees the pool in order, each request the next value (wrk
    // calls request() once more at start-up, so the first one seen may be any of them).
    const tokens = seen.map((s) => pool.indexOf(s.token ?? ''));
    expect(tokens.every((i) => i >= 0)).toBe(true);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBe((tokens[i - 1]! + 1) % pool.length);
    expect(new Set(tokens).size).toBe(pool.length);
    expect(new Set(seen.map((s) => s.fixed))).toEqual(new Set(['fixed']));
  });
});
