// What triggers a config reload (SPEC §3, §8), over real sockets: a change of the config
// file (watch: true, no reload() call), SIGHUP when the proxy handles signals, and never
// anything when watching is off. A broken file keeps the running config and logs every
// problem; shutdown() removes the signal handlers it installed and stops watching.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startProxy, type ZtProxy } from '../../src/main.ts';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { get, openRoute, startTestProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const REJECTED = 'configuration reload rejected; keeping the running configuration';

let pki: TestPki;
let upstreamA: TestUpstream;
let upstreamB: TestUpstream;
const dirs: string[] = [];
let running: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  upstreamA = await startUpstream();
  upstreamB = await startUpstream();
});

afterEach(async () => {
  await Promise.all(running.map((p) => p.close()));
  running = [];
  upstreamA.reset();
  upstreamB.reset();
});

afterAll(async () => {
  await Promise.all([upstreamA?.close(), upstreamB?.close()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await pki?.cleanup();
});

function baseConfig(routes: unknown[]): Record<string, unknown> {
  return { listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } }, routes };
}

const routeA = () => openRoute(upstreamA.url, { name: 'a', match: { host: 'a.test' } });
const routeB = () => openRoute(upstreamB.url, { name: 'b', match: { host: 'b.test' } });

async function eventually(what: string, probe: () => boolean | Promise<boolean>, ms: number): Promise<number> {
  const started = Date.now();
  while (!(await probe())) {
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - started;
}

const status = async (port: number, host: string): Promise<number> => (await get(port, '/', { host })).status;

/**
 * Serves a request, then lets one poll interval pass: the watcher's first stat is taken
 * asynchronously after start, and a write that lands before it becomes the baseline.
 */
async function settle(p: TestProxy): Promise<void> {
  expect(await status(p.port, 'a.test')).toBe(200);
  await new Promise((r) => setTimeout(r, 150));
}

async function startWatched(routes: unknown[], watch: boolean): Promise<TestProxy> {
  const p = await startTestProxy(baseConfig(routes), { watch, watchIntervalMs: 100 });
  running.push(p);
  return p;
}

describe('reload on file change (watch: true)', () => {
  it('a rewritten config with a new route is served within a bounded poll, without reload()', async () => {
    const p = await startWatched([routeA()], true);
    await settle(p);
    expect(await status(p.port, 'b.test')).toBe(404);
    p.writeConfig(baseConfig([routeA(), routeB()]));
    const took = await eventually('route b is served', async () => (await status(p.port, 'b.test')) === 200, 3000);
    expect(took).toBeLessThan(3000);
    expect(upstreamB.seen.length).toBeGreaterThan(0);
    expect(await status(p.port, 'a.test')).toBe(200);
    expect(p.logs.some((l) => l.msg === 'configuration reloaded' && l.trigger === 'file' && l.routes === 2)).toBe(true);
  });

  it('a removed route stops being served', async () => {
    const p = await startWatched([routeA(), routeB()], true);
    await settle(p);
    expect(await status(p.port, 'b.test')).toBe(200);
    p.writeConfig(baseConfig([routeA()]));
    await eventually('route b is gone', async () => (await status(p.port, 'b.test')) === 404, 3000);
    upstreamB.reset();
    expect(await status(p.port, 'b.test')).toBe(404);
    expect(upstreamB.seen).toEqual([]);
  });

  it('a broken rewrite keeps serving the running config and logs every problem, one line each', async () => {
    const p = await startWatched([routeA()], true);
    await settle(p);
    const from = p.logs.length;
    // Three independent problems in one file.
    p.writeConfig({
      ...baseConfig([
        openRoute('ftp://nowhere', { name: 'bad-scheme', match: { host: 'b.test' } }),
        { ...routeA(), bogusKey: true },
      ]),
      shutdown: { timeout: 'soon' },
    });
    await eventually('the rejection is logged', () => p.logs.slice(from).some((l) => l.msg === REJECTED), 3000);
    await new Promise((r) => setTimeout(r, 300));
    const rejected = p.logs.slice(from).filter((l) => l.msg === REJECTED);
    expect(rejected.length).toBeGreaterThanOrEqual(3);
    for (const l of rejected) {
      expect(typeof l.problem).toBe('string');
      expect(l.trigger).toBe('file');
      expect(l.level).toBe(50);
    }
    const problems = rejected.map((l) => l.problem as string);
    expect(problems.some((x) => x.startsWith('routes.0.upstream:'))).toBe(true);
    expect(problems.some((x) => x.startsWith('routes.1') && x.includes('bogusKey'))).toBe(true);
    expect(problems.some((x) => x.startsWith('shutdown.timeout:'))).toBe(true);
    // Still serving exactly what ran before.
    expect(await status(p.port, 'a.test')).toBe(200);
    expect(await status(p.port, 'b.test')).toBe(404);
    expect(p.logs.slice(from).some((l) => l.msg === 'configuration reloaded')).toBe(false);

    // Fixing the file is picked up too.
    p.writeConfig(baseConfig([routeA(), routeB()]));
    await eventually('route b is served after the fix', async () => (await status(p.port, 'b.test')) === 200, 3000);
  });

  it('a file that is not YAML at all is rejected and logged the same way', async () => {
    const p = await startWatched([routeA()], true);
    await settle(p);
    const from = p.logs.length;
    writeFileSync(p.configFile, 'listen: [unclosed\n  routes: {\n');
    await eventually('the rejection is logged', () => p.logs.slice(from).some((l) => l.msg === REJECTED), 3000);
    expect(await status(p.port, 'a.test')).toBe(200);
  });

  it('with watch: false a changed file changes nothing', async () => {
    const p = await startWatched([routeA()], false);
    p.writeConfig(baseConfig([routeA(), routeB()]));
    await new Promise((r) => setTimeout(r, 800));
    expect(await status(p.port, 'b.test')).toBe(404);
    expect(p.logs.some((l) => l.msg === 'configuration reloaded')).toBe(false);
  });

  it('after shutdown() the file is no longer watched', async () => {
    const p = await startTestProxy(baseConfig([routeA()]), { watch: true, watchIntervalMs: 100 });
    await p.close();
    const from = p.logs.length;
    p.writeConfig(baseConfig([routeA(), routeB()]));
    await new Promise((r) => setTimeout(r, 800));
    expect(p.logs.slice(from).filter((l) => l.msg === 'configuration reloaded' || l.msg === REJECTED)).toEqual([]);
  });
});

describe('reload on SIGHUP (handleSignals: true)', () => {
  const signals = ['SIGHUP', 'SIGTERM', 'SIGINT'] as const;

  /** startProxy from src/main.ts itself, the way the CLI starts it. */
  async function startWithSignals(routes: unknown[]): Promise<{ proxy: ZtProxy; logs: LogLine[]; write(routes: unknown[]): void; port: number }> {
    const dir = mkdtempSync(join(tmpdir(), 'ztproxy-sighup-'));
    dirs.push(dir);
    const configFile = join(dir, 'ztproxy.yaml');
    const full = (r: unknown[]) => ({
      listen: { address: '127.0.0.1:0', tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
      admin: { address: '127.0.0.1:0' },
      log: { level: 'info' },
      routes: r,
    });
    writeFileSync(configFile, stringify(full(routes)));
    const logs: LogLine[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as LogLine);
        done();
      },
    });
    const proxy = await startProxy({ configFile, logDestination: sink, watch: false, handleSignals: true, env: process.env });
    return { proxy, logs, port: proxy.addresses.https.port, write: (r) => writeFileSync(configFile, stringify(full(r))) };
  }

  it('SIGHUP reloads the file; shutdown() removes the SIGHUP/SIGTERM/SIGINT handlers', async () => {
    const before = Object.fromEntries(signals.map((s) => [s, process.listenerCount(s)]));
    const p = await startWithSignals([routeA()]);
    let closed = false;
    try {
      for (const s of signals) expect([s, process.listenerCount(s)]).toEqual([s, before[s]! + 1]);
      expect(await status(p.port, 'b.test')).toBe(404);
      p.write([routeA(), routeB()]);
      // Not watching: nothing happens until the signal.
      await new Promise((r) => setTimeout(r, 300));
      expect(await status(p.port, 'b.test')).toBe(404);
      // Only send the signal with a handler in place: unhandled, SIGHUP ends the process.
      expect(process.listenerCount('SIGHUP')).toBeGreaterThan(0);
      process.kill(process.pid, 'SIGHUP');
      await eventually('route b is served after SIGHUP', async () => (await status(p.port, 'b.test')) === 200, 3000);
      expect(p.logs.some((l) => l.msg === 'configuration reloaded' && l.trigger === 'signal')).toBe(true);

      // A broken file on SIGHUP: rejected with every problem, the running config stays.
      const from = p.logs.length;
      p.write([{ name: 'x', upstream: 'not a url' }]);
      process.kill(process.pid, 'SIGHUP');
      await eventually('the rejection is logged', () => p.logs.slice(from).some((l) => l.msg === REJECTED && l.trigger === 'signal'), 3000);
      expect(p.logs.slice(from).find((l) => l.msg === REJECTED)!.problem).toMatch(/^routes\.0\.(upstream|policy)/);
      expect(await status(p.port, 'b.test')).toBe(200);

      await p.proxy.shutdown();
      closed = true;
      for (const s of signals) expect([s, process.listenerCount(s)]).toEqual([s, before[s]]);
    } finally {
      if (!closed) await p.proxy.shutdown();
    }
  });

  it('without handleSignals no handler is installed', async () => {
    const before = signals.map((s) => process.listenerCount(s));
    const p = await startTestProxy(baseConfig([routeA()]));
    running.push(p);
    expect(signals.map((s) => process.listenerCount(s))).toEqual(before);
  });
});
