// A tunnel's life after the allow (issue #6 point 1): the upstream is connected before the
// 200 — refused is 502, no answer within timeouts.connect is 504, and nothing is relayed;
// an idle tunnel is closed at its idle timeout; the upstream closing ends it; a reload
// that removes its route closes it (`route-removed`) while tunnels of routes that stay are
// kept; shutdown closes it. Each close is the tunnel's access-log line, with its reason.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { closed, openTunnel, readBytes, startTcpUpstream, tunnelLogLine, type TcpUpstream } from '../helpers/tcp.ts';

let pki: TestPki;
let echo: TcpUpstream;
/** A loopback port whose accept queue is full: a connect to it stays pending (no SYN-ACK). */
let stalled: { port: number; child: ChildProcess; fillers: Socket[] };
const closedPort = 1; // tcpmux: nothing listens on loopback

async function startStalledListener(): Promise<typeof stalled> {
  const child = spawn('python3', ['-c', "import socket,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0); print(s.getsockname()[1], flush=True); time.sleep(600)"]);
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const fillers: Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, child, fillers };
}

const tls = (): Record<string, unknown> => ({ tls: { cert: pki.server.certPath, key: pki.server.keyPath } });
const tcpRoute = (name: string, host: string, upstream: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  match: { host, port: 7 },
  upstream,
  policy: { allow: { accept: true } },
  ...extra,
});

beforeAll(async () => {
  pki = await makeTestPki();
  echo = await startTcpUpstream('echo');
  stalled = await startStalledListener();
});

afterAll(async () => {
  await echo?.close();
  for (const s of stalled?.fillers ?? []) s.destroy();
  stalled?.child.kill();
});

describe('connecting the upstream', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startTestProxy({
      listen: tls(),
      routes: [
        tcpRoute('refused', 'refused.internal', `tcp://127.0.0.1:${closedPort}`),
        tcpRoute('stalled', 'stalled.internal', `tcp://127.0.0.1:${stalled.port}`, { timeouts: { connect: '300ms' } }),
        tcpRoute('unknown', 'unknown.internal', 'tcp://no-such-host.invalid:7'),
      ],
    });
  });
  afterAll(() => proxy?.close());

  it('a refused connection is 502, and no 200 was sent first', async () => {
    const t = await openTunnel(proxy.port, 'refused.internal:7', { after: 'early' });
    expect(t.status).toBe(502);
    expect(JSON.parse(t.rest.toString())).toEqual({ error: 'bad gateway', requestId: t.headers['x-request-id'] });
    expect((await tunnelLogLine(proxy, t.headers['x-request-id']!)).reason).toBe('upstream-connect-refused');
  });

  it('no answer within timeouts.connect is 504', async () => {
    const t = await openTunnel(proxy.port, 'stalled.internal:7');
    expect(t.status).toBe(504);
    expect((await tunnelLogLine(proxy, t.headers['x-request-id']!)).reason).toBe('upstream-connect-timeout');
  });

  it('an upstream name that does not resolve is 502', async () => {
    const t = await openTunnel(proxy.port, 'unknown.internal:7');
    expect(t.status).toBe(502);
  });
});

describe('an open tunnel', () => {
  let proxy: TestProxy;
  const routes = (keepA: boolean): Record<string, unknown>[] => [
    ...(keepA ? [tcpRoute('a', 'a.internal', echo.url)] : []),
    tcpRoute('b', 'b.internal', echo.url),
    tcpRoute('idle', 'idle.internal', echo.url, { timeouts: { idle: '300ms' } }),
  ];
  beforeAll(async () => {
    proxy = await startTestProxy({ listen: tls(), shutdown: { timeout: '1s' }, routes: routes(true) });
  });
  afterAll(() => proxy?.close());

  it('is closed once idle for its idle timeout (idle-timeout)', async () => {
    const t = await openTunnel(proxy.port, 'idle.internal:7');
    expect(t.status).toBe(200);
    t.socket.write('x');
    await readBytes(t.socket, 1, t.rest);
    await closed(t.socket);
    expect(await tunnelLogLine(proxy, t.headers['x-request-id']!)).toMatchObject({ status: 200, reason: 'idle-timeout', bytesToUpstream: 1, bytesToClient: 1 });
  });

  it('ends when the upstream closes', async () => {
    const t = await openTunnel(proxy.port, 'b.internal:7');
    t.socket.write('x');
    await readBytes(t.socket, 1, t.rest);
    for (const s of echo.sockets) s.destroy();
    await closed(t.socket);
    expect((await tunnelLogLine(proxy, t.headers['x-request-id']!)).status).toBe(200);
  });

  it('is closed by a reload that removes its route; a tunnel whose route stays is kept', async () => {
    const a = await openTunnel(proxy.port, 'a.internal:7');
    const b = await openTunnel(proxy.port, 'b.internal:7');
    expect([a.status, b.status]).toEqual([200, 200]);
    proxy.writeConfig({ listen: tls(), shutdown: { timeout: '1s' }, routes: routes(false) });
    expect((await proxy.proxy.reload()).ok).toBe(true);
    await closed(a.socket);
    expect(await tunnelLogLine(proxy, a.headers['x-request-id']!)).toMatchObject({ route: 'a', status: 200, reason: 'route-removed' });
    b.socket.write('still here');
    expect((await readBytes(b.socket, 10, b.rest)).toString()).toBe('still here');
    expect(b.socket.destroyed).toBe(false);
    expect(await proxy.proxy.metrics.registry.metrics()).toContain('ztproxy_stream_closes_total{kind="tunnel",reason="route-removed"} 1');
    b.socket.destroy();
  });

  it('is closed at shutdown (shutdown)', async () => {
    const t = await openTunnel(proxy.port, 'b.internal:7');
    expect(t.status).toBe(200);
    await proxy.close();
    await closed(t.socket);
    expect((await tunnelLogLine(proxy, t.headers['x-request-id']!)).reason).toBe('shutdown');
  });
});

describe('shutdown with an open tunnel', () => {
  it('does not wait shutdown.timeout for it: the tunnel is closed at once (shutdown) and the stop completes', async () => {
    const proxy = await startTestProxy({ listen: tls(), shutdown: { timeout: '60s' }, routes: [tcpRoute('b', 'b.internal', echo.url)] });
    const t = await openTunnel(proxy.port, 'b.internal:7');
    expect(t.status).toBe(200);
    t.socket.write('x');
    await readBytes(t.socket, 1, t.rest);
    // An idle SSH session never ends on its own; the stop must not sit out the 60 s.
    const stopped = await Promise.race([proxy.close().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('still waiting'), 15_000))]);
    expect(stopped).toBe('stopped');
    await closed(t.socket);
    expect((await tunnelLogLine(proxy, t.headers['x-request-id']!)).reason).toBe('shutdown');
  }, 30_000);
});
