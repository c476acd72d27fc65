// CONNECT tunnels over the real listener (issue #6 point 1): an allowed CONNECT to a TCP
// route gets `200 Connection Established` with X-Request-Id and X-ZT-Stream, then a byte
// relay both ways to a real TCP upstream; bytes pipelined behind the CONNECT head arrive
// after the allow, in order; a half-close is passed on; the access-log line is written
// when the tunnel closes, with the bytes each way; the metrics count it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { closed, openTunnel, readBytes, startTcpUpstream, tunnelLogLine, type TcpUpstream } from '../helpers/tcp.ts';

let pki: TestPki;
let echo: TcpUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  pki = await makeTestPki();
  echo = await startTcpUpstream('echo');
  proxy = await startTestProxy({
    listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
    routes: [{ name: 'echo', match: { host: 'echo.internal', port: 7 }, upstream: echo.url, policy: { allow: { accept: true } } }],
  });
});

afterAll(async () => {
  await proxy?.close();
  await echo?.close();
});

beforeEach(() => echo.reset());

describe('an allowed CONNECT', () => {
  it('answers 200 Connection Established with X-Request-Id and X-ZT-Stream, then relays both ways', async () => {
    const t = await openTunnel(proxy.port, 'echo.internal:7');
    expect(t.status).toBe(200);
    expect(t.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(t.headers['x-zt-stream']).toMatch(/^[A-Za-z0-9_-]{22}$/);
    t.socket.write('hello through the tunnel');
    expect((await readBytes(t.socket, 24, t.rest)).toString()).toBe('hello through the tunnel');
    expect(echo.connections()).toBe(1);
    t.socket.end();
    await closed(t.socket);
    const line = await tunnelLogLine(proxy, t.headers['x-request-id']!);
    expect(line).toMatchObject({ route: 'echo', method: 'CONNECT', host: 'echo.internal', path: '/', status: 200, reason: 'tunnel-closed', bytesToUpstream: 24, bytesToClient: 24 });
    const metrics = await proxy.proxy.metrics.registry.metrics();
    expect(metrics).toContain('ztproxy_tunnel_bytes_total{route="echo",direction="upstream"} 24');
    expect(metrics).toContain('ztproxy_tunnel_bytes_total{route="echo",direction="client"} 24');
    expect(metrics).toContain('ztproxy_stream_closes_total{kind="tunnel",reason="tunnel-closed"} 1');
  });

  it('gives every tunnel its own stream id', async () => {
    const a = await openTunnel(proxy.port, 'echo.internal:7');
    const b = await openTunnel(proxy.port, 'echo.internal:7');
    expect(a.headers['x-zt-stream']).not.toBe(b.headers['x-zt-stream']);
    a.socket.destroy();
    b.socket.destroy();
  });

  it('relays bytes pipelined behind the CONNECT head after the 200, in order', async () => {
    const t = await openTunnel(proxy.port, 'echo.internal:7', { after: 'early-bytes;' });
    expect(t.status).toBe(200);
    t.socket.write('late-bytes');
    expect((await readBytes(t.socket, 21, t.rest)).toString()).toBe('early-bytes;late-bytes');
    t.socket.destroy();
  });

  it('relays bytes that came in the same read as the CONNECT head (Node hands them over as its head) after the 200', async () => {
    const t = await openTunnel(proxy.port, '', { raw: 'CONNECT echo.internal:7 HTTP/1.1\r\nHost: echo.internal:7\r\n\r\nsame-record;' });
    expect(t.status).toBe(200);
    t.socket.write('late-bytes');
    expect((await readBytes(t.socket, 22, t.rest)).toString()).toBe('same-record;late-bytes');
    t.socket.destroy();
    await closed(t.socket);
  });

  it('passes a half-close on: the client EOF reaches the upstream, whose answer still comes back', async () => {
    const t = await openTunnel(proxy.port, 'echo.internal:7');
    t.socket.end('last words');
    const got = await readBytes(t.socket, 1_000_000, t.rest);
    expect(got.toString()).toBe('last words');
    await closed(t.socket);
  });

  it('lists the open tunnel in the stream registry under its id', async () => {
    const t = await openTunnel(proxy.port, 'echo.internal:7');
    expect(await proxy.proxy.metrics.registry.metrics()).toContain('ztproxy_streams_open{kind="tunnel"} 1');
    t.socket.destroy();
    await closed(t.socket);
  });
});
