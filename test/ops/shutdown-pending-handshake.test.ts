// Graceful shutdown with a connection whose TLS handshake never finishes (a client that
// connected and stays silent). Node's closeAllConnections() knows only connections that
// reached HTTP, and server.close() waits for every connection: the shutdown used to wait
// for the handshake's own timeout (handshakeTimeout + jitter) — past shutdown.timeout,
// and any client could hold every shutdown and rolling deploy that long.
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { openRoute, startTestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let pki: TestPki;
let upstream: TestUpstream;

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startUpstream();
});

afterAll(async () => {
  await upstream?.close();
  await pki?.cleanup();
});

describe('shutdown with a handshake pending', () => {
  it('cuts it at shutdown.timeout instead of waiting for handshakeTimeout', { timeout: 30_000 }, async () => {
    const proxy = await startTestProxy({
      listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath }, limits: { handshakeTimeout: '15s' } },
      shutdown: { timeout: '1s' },
      routes: [openRoute(upstream.url)],
    });
    const silent = await new Promise<Socket>((resolve, reject) => {
      const s = tcpConnect({ host: '127.0.0.1', port: proxy.port }, () => resolve(s));
      s.once('error', reject);
    });
    silent.on('error', () => {});
    const cut = new Promise<void>((resolve) => silent.once('close', () => resolve()));
    try {
      // Far below handshakeTimeout (15 s), well above shutdown.timeout (1 s).
      const stopped = await Promise.race([proxy.close().then(() => 'stopped'), new Promise((r) => setTimeout(r, 10_000, 'still waiting'))]);
      expect(stopped).toBe('stopped');
      await cut;
    } finally {
      silent.destroy();
    }
  });
});
