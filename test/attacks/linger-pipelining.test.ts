// A refused upload lingers (proxy/linger.ts): the connection is half-closed and the rest
// of the body is read and discarded, so that the client can still read its refusal. A
// client that sends the body and then streams pipelined requests behind it must not be
// read on for the whole lingerTimeout: Node parses every such request and keeps it (they
// are never processed, the connection is poisoned) until the socket closes, and with
// the connection half-closed its own pipelining brake (pause while answers back up)
// never engages — one connection grew the heap by ~200 MB per second. The connection
// closes once the refused body has been read and the refusal flushed.
import { connect as tcpConnect } from 'node:net';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { openRoute, startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let pki: TestPki;
let upstream: TestUpstream;
let proxy: TestProxy;

/** What the client tries to push behind the refused body: far more than socket buffers hold. */
const FLOOD = 48 * 1024 * 1024;

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startUpstream();
  proxy = await startTestProxy({
    listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath }, limits: { lingerTimeout: '3s', lingerMaxBytes: '64KiB' } },
    routes: [openRoute(upstream.url, { name: 'private', match: { pathPrefix: '/private' }, policy: { allow: { authenticated: true } } }), openRoute(upstream.url)],
  });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
  await pki?.cleanup();
});

describe('requests pipelined behind a refused, lingering body', () => {
  it('are not read on: the connection closes once the body is read, long before the flood is in', { timeout: 20_000 }, async () => {
    upstream.reset();
    const queued = Buffer.from(`GET /queued HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${'x'.repeat(8000)}\r\n\r\n`);
    const batch = Buffer.concat(Array<Buffer>(64).fill(queued));
    let answer = '';
    let accepted = 0;
    let closed = false;
    // allowHalfOpen: the client keeps sending after the proxy's FIN, as an uploader does
    // (a TLS socket takes it from the TCP socket it wraps).
    const tcp = tcpConnect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
    tcp.on('error', () => {});
    const socket = connect({ socket: tcp, rejectUnauthorized: false, servername: 'localhost' });
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    const done = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.once('close', () => (closed = true));
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.write('POST /private/upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n');
    await new Promise<void>((resolve, reject) => {
      const end = Date.now() + 5000;
      const poll = (): void => (answer.includes('\r\n\r\n') ? resolve() : Date.now() > end ? reject(new Error('no refusal')) : void setTimeout(poll, 10));
      poll();
    });
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    // The refused body, then the flood.
    socket.write('0123456789');
    const pump = (): void => {
      while (!closed && accepted < FLOOD) {
        accepted += batch.length;
        if (!socket.write(batch)) return;
      }
      // All of it was taken: the proxy read on. Nothing more to send.
      if (!closed) socket.end();
    };
    socket.on('drain', pump);
    pump();
    await done;
    expect(accepted).toBeLessThan(FLOOD);
    expect(answer.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(upstream.seen).toEqual([]);
  });
});
