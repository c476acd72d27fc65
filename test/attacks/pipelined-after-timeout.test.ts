// A request that missed headersTimeout is cut after a jitter (up to a quarter of the
// timeout, at most 5 s: proxy/close-spread.ts), so that connections expiring together are
// not all destroyed in one tick. Meanwhile nothing more on the connection is processed —
// but it was still read: a client that completed its late request and then streamed
// pipelined requests behind it had every one of them parsed and kept (never answered, so
// Node's pipelining brake, which waits for answers to back up, never engaged) until the
// cut — hundreds of MB of heap per connection. A late request is now answered 408 and
// the connection cut at once.
import { connect as tcpConnect } from 'node:net';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { openRoute, startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let pki: TestPki;
let upstream: TestUpstream;
let proxy: TestProxy;

const HEADERS_TIMEOUT_MS = 8000;
/** Node's sweep runs every second at this timeout (listener.ts checkingInterval). */
const DETECTED_BY_MS = HEADERS_TIMEOUT_MS + 1200;
/** What the client tries to push behind its late request: far more than socket buffers hold. */
const FLOOD = 32 * 1024 * 1024;

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startUpstream();
  proxy = await startTestProxy({
    listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath }, limits: { headersTimeout: `${HEADERS_TIMEOUT_MS}ms`, requestTimeout: `${HEADERS_TIMEOUT_MS}ms` } },
    routes: [openRoute(upstream.url)],
  });
});

afterAll(async () => {
  vi.restoreAllMocks();
  await proxy?.close();
  await upstream?.close();
  await pki?.cleanup();
});

describe('requests pipelined behind a request that missed headersTimeout', () => {
  it('are not read during the cut\'s jitter: the late request gets its 408 and the connection is cut', { timeout: 30_000 }, async () => {
    upstream.reset();
    // The longest jitter (2 s at this timeout), so that the cut is surely still ahead when
    // the client completes its request after the sweep found it late.
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    let answer = '';
    let accepted = 0;
    let closed = false;
    const tcp = tcpConnect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
    tcp.on('error', () => {});
    const socket = connect({ socket: tcp, rejectUnauthorized: false, servername: 'localhost' });
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    const done = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.once('close', () => (closed = true));
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.write('GET /late HTTP/1.1\r\nHost: localhost\r\n');
    await new Promise((r) => setTimeout(r, DETECTED_BY_MS));
    expect(closed).toBe(false);
    vi.restoreAllMocks();
    const queued = Buffer.from(`GET /queued HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${'x'.repeat(8000)}\r\n\r\n`);
    const batch = Buffer.concat(Array<Buffer>(64).fill(queued));
    socket.write('\r\n');
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
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(upstream.seen).toEqual([]);
  });
});
