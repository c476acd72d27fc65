// The curl lines `npm start` prints (src/demo/curls.ts) get the answers printed beside
// them: each is sent — with a token and a posture assertion minted by the same commands
// the line runs, `ztproxy token` and `ztproxy posture` — to a proxy on config/ztproxy.yaml
// (its OIDC login left out: no curl line uses a browser session) in front of the demo app.
// The `ztproxy connect` lines run too: their token minted into the file the line names,
// the tunnel to the demo's TCP echo service (route `echo`), the input piped through it.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runPosture } from '../../src/cli/posture.ts';
import { runToken } from '../../src/cli/token.ts';
import { DEMO_CONNECTS, DEMO_CURLS, DEMO_ECHO_TARGET, connectBlock, connectLines, curlBlock, type DemoConnect, type DemoCurl } from '../../src/demo/curls.ts';
import { DEMO_ECHO_PORT, startDemoEcho } from '../../src/demo/echo.ts';
import { runConnect } from '../helpers/connect.ts';
import { startDemoUpstream } from '../../src/demo/upstream.ts';
import { initDevPki } from '../../src/tls/pki.ts';
import { get, startTestProxy, type TestProxy } from '../helpers/proxy.ts';

const certs = join(mkdtempSync(join(tmpdir(), 'ztproxy-demo-')), 'certs');
let upstream: Server;
let echo: NetServer;
let proxy: TestProxy;

beforeAll(async () => {
  await initDevPki(certs);
  upstream = await startDemoUpstream(0);
  echo = await startDemoEcho(0);
  const port = (upstream.address() as AddressInfo).port;
  const echoPort = (echo.address() as AddressInfo).port;
  const text = readFileSync('config/ztproxy.yaml', 'utf8')
    .replaceAll('certs/', `${certs}/`)
    .replaceAll('http://127.0.0.1:9080', `http://127.0.0.1:${port}`)
    .replaceAll(`tcp://127.0.0.1:${DEMO_ECHO_PORT}`, `tcp://127.0.0.1:${echoPort}`);
  const config = parse(text) as Record<string, any>;
  delete config.identity.oidc;
  delete config.listen.address;
  delete config.admin;
  proxy = await startTestProxy(config);
});

afterAll(async () => {
  await proxy?.close();
  await new Promise((resolve) => upstream?.close(resolve));
  await new Promise((resolve) => echo?.close(resolve));
});

async function mint(run: (argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream) => Promise<number>, argv: string[]): Promise<string> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) => new Writable({ write: (chunk: Buffer, _e, done) => (append(chunk.toString()), done()) });
  const code = await run(argv, sink((s) => (out += s)), sink((s) => (err += s)));
  expect(err).toBe('');
  expect(code).toBe(0);
  return out.trim();
}

async function send(c: DemoCurl) {
  const headers: Record<string, string> = { ...c.headers };
  if (c.token) headers.authorization = `Bearer ${await mint(runToken, [...c.token, '--key', join(certs, 'dev-issuer.key')])}`;
  if (c.posture) headers['x-device-posture'] = await mint(runPosture, [...c.posture, '--dir', certs]);
  const tls = c.cert === undefined ? undefined : { cert: readFileSync(join(certs, `${c.cert}.crt`)), key: readFileSync(join(certs, `${c.cert}.key`)) };
  return get(proxy.port, c.path, { headers, ...(tls ? { tls } : {}) });
}

describe('npm start prints curl lines that do what they say', () => {
  it.each(DEMO_CURLS.map((c, i) => [`${i}: ${c.path} → ${c.expect}`, c] as const))('%s', async (_name, c) => {
    expect((await send(c)).status).toBe(c.expect);
  });

  it('shows a compliant and a non-compliant device, and the demo app the posture it was told', async () => {
    const secure = DEMO_CURLS.filter((c) => c.path.startsWith('/secure') && c.posture !== undefined);
    expect(secure.map((c) => c.expect)).toEqual([200, 403]);
    const res = await send(secure[0]!);
    const body = JSON.parse(res.body) as { device: Record<string, unknown>; headers: Record<string, unknown> };
    expect(body.device).toMatchObject({ id: 'alice-laptop', iss: 'device-agent.ztproxy.local', managed: true, diskEncrypted: true, os: { name: 'macOS', version: '14.5' } });
    expect(body.headers['x-device-posture']).toBeUndefined();
    const block = curlBlock('https://localhost:8443', 'certs');
    expect(block).toContain('-H "X-Device-Posture: $(npx ztproxy posture --device alice-laptop');
    expect(block).toContain('--disk-encrypted false');
  });
});

describe('npm start prints ztproxy connect lines that do what they say', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-demo-connect-'));

  async function runLines(c: DemoConnect) {
    const [mintLine, connectLine] = connectLines(c, `https://127.0.0.1:${proxy.port}`, certs);
    // The first line mints the token into its file; the second pipes `echo "input"` through the tunnel.
    expect(mintLine).toBe(`npx ztproxy token ${c.token.join(' ')} > ${c.tokenFile}`);
    const token = await mint(runToken, [...c.token, '--key', join(certs, 'dev-issuer.key')]);
    writeFileSync(join(dir, c.tokenFile), `${token}\n`);
    const args = connectLine!.replace(/^echo "[^"]*" \| npx ztproxy connect /, '').split(' ').map((a) => (a === c.tokenFile ? join(dir, c.tokenFile) : a));
    return runConnect({ dir, certs, ca: join(certs, 'ca.crt'), configDir: join(dir, 'config') }, args, `${c.input}\n`);
  }

  it.each(DEMO_CONNECTS.map((c, i) => [`${i}: ${c.token.join(' ')} → exit ${c.expect}`, c] as const))('%s', async (_name, c) => {
    const r = await runLines(c);
    expect(r.code).toBe(c.expect);
    if (c.expect === 0) {
      expect(r.stdout.toString()).toBe(`${c.input}\n`);
      expect(r.stderr).toBe('');
    } else {
      expect(r.stdout.length).toBe(0);
      expect(r.stderr).toContain(`${DEMO_ECHO_TARGET} refused by`);
      expect(r.stderr).toContain('denied by policy');
    }
  }, 60_000);

  it('prints them in the banner', () => {
    const block = connectBlock('https://localhost:8443', 'certs');
    expect(block).toContain('npx ztproxy token --sub alice --groups engineering > alice.token');
    expect(block).toContain('| npx ztproxy connect echo.ztproxy.local:7 --via https://localhost:8443 --ca certs/ca.crt --token-file alice.token');
  });
});
