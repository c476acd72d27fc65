// A chunked upload that never finishes pins an upstream request forever.
//
// forwardHttp (src/proxy/forward.ts) streams a chunked body as
// `req.pipe(new BodyLimit(limit))`. `pipe` does not forward errors: when the client's
// request stream fails — the client disconnects mid-upload, or llhttp rejects a chunk
// (an overflowing chunk size, a bare LF, a quoted CRLF in an extension: #onClientError
// in src/main.ts only marks the connection and returns) — BodyLimit is neither ended nor
// destroyed, so undici keeps waiting for the rest of the body. undici's headersTimeout
// only starts once the request is fully sent and its bodyTimeout only covers the
// response, so nothing ever fires on ztproxy's side:
//
// - the upstream keeps a half-received request and its connection until its own timeout
//   (Node's default: 5 minutes; some servers: never). The undici Pool has no connection
//   cap, so every 40-byte "POST + one chunk + RST" costs the upstream a connection and
//   a worker: a free, unauthenticated slowloris against the APPLICATION on every route
//   whose policy admits the request (every public route);
// - the request never ends: no access-log line (SPEC §8: one line per request), no
//   metrics, and for a malformed chunk the client gets no answer at all (RFC 9112
//   says 400 and close);
// - shutdown never completes: ZtProxy.shutdown() waits for `Pool.close()`, which waits
//   for the pinned requests.
//
// A Content-Length body is handed to undici as `req` itself, whose errors undici does
// see: the same abort there is cleaned up at once (the control below).
//
// Fix: `pipeline(req, new BodyLimit(limit), () => {})` (or destroy the limiter on the
// request's 'error'/'aborted'), so undici aborts the upstream request; in #onClientError,
// when the in-flight request's body is what failed to parse, destroy that request with
// the parser error and answer 400; arm a request-body idle timeout towards the upstream.
import { connect } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { openRoute, rawRequest, startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { startRawUpstream, type RawUpstream } from './raw-upstream.ts';

let pki: TestPki;
let raw: RawUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  pki = await makeTestPki();
  // Answers only once it has a whole body, like any application would.
  raw = await startRawUpstream();
  proxy = await startTestProxy({
    listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
    shutdown: { timeout: '1s' },
    routes: [openRoute(raw.url, { name: 'public', match: { host: 'app.test' } })],
  });
});

afterAll(async () => {
  // The upstream side first: what ztproxy pins is released when the upstream gives up.
  await raw?.close();
  await Promise.race([proxy?.close(), new Promise((r) => setTimeout(r, 5000))]);
});

// Each test starts with no upstream connection: undici keeps idle ones open, and a
// connection opened in one test but used in the next would escape `used()`.
beforeEach(async () => {
  for (const c of raw.connections) c.socket.destroy();
  raw.reset();
  await new Promise((r) => setTimeout(r, 50));
});

/** Upstream connections that carried a request (undici may also open idle ones). */
function used(): RawUpstream['connections'] {
  return raw.connections.filter((c) => c.data.length > 0);
}

/** A request reached the upstream and every connection that carried one is closed again. */
function released(): boolean {
  return used().length > 0 && used().every((c) => c.closedAt !== undefined);
}

function requestLogLines(): number {
  return proxy.logs.filter((l) => l.msg === 'request').length;
}

/** Opens a connection, writes `bytes`, and resets it after `ms`. */
function sendThenVanish(bytes: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: proxy.port, rejectUnauthorized: false, servername: 'localhost' }, () => {
      socket.write(bytes);
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, ms);
    });
    socket.on('error', () => resolve());
  });
}

async function waitUntil(probe: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (probe()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return probe();
}

describe('the client vanishes in the middle of its upload', () => {
  it('chunked body: the upstream request is aborted within 3 s and the request is logged', async () => {
    const logged = requestLogLines();
    await sendThenVanish('POST /upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', 200);
    expect(await waitUntil(released, 3000)).toBe(true);
    expect(requestLogLines()).toBe(logged + 1);
  });

  it('ten of them pin no upstream connection', async () => {
    await Promise.all(
      Array.from({ length: 10 }, () => sendThenVanish('POST /upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n', 200)),
    );
    await waitUntil(released, 3000);
    expect(used()).toHaveLength(10);
    expect(used().filter((c) => c.closedAt === undefined)).toHaveLength(0);
  });

  it('control: a Content-Length body is aborted upstream at once', async () => {
    const logged = requestLogLines();
    await sendThenVanish('POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\nhello', 200);
    expect(await waitUntil(released, 3000)).toBe(true);
    expect(requestLogLines()).toBe(logged + 1);
  });
});

describe('a chunk the parser rejects after the request was forwarded', () => {
  it.each([
    ['a chunk size that overflows 64 bits', 'fffffffffffffffffff\r\nx\r\n0\r\n\r\n'],
    ['a bare LF after a chunk extension', '5;a\nhello\r\n0\r\n\r\n'],
    ['a quoted CRLF in a chunk extension', '5;a="\r\n0\r\n\r\n"\r\nhello\r\n0\r\n\r\n'],
    ['a chunk size with a leading space', ' 5\r\nhello\r\n0\r\n\r\n'],
    ['chunk data longer than its size', '2\r\nhello\r\n0\r\n\r\n'],
  ])('%s → 400 within 2 s, the upstream request aborted', async (_why, body) => {
    const started = performance.now();
    const { status } = await rawRequest(proxy.port, `POST /x HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, { timeoutMs: 2500 });
    expect(status).toBe(400);
    expect(performance.now() - started).toBeLessThan(2000);
    // Whether the request reached the upstream before the bad chunk was parsed depends on
    // timing; either way no upstream connection may stay pinned.
    expect(await waitUntil(() => used().every((c) => c.closedAt !== undefined), 1000)).toBe(true);
  });
});

describe('shutdown is bounded', () => {
  it('shutdown() returns within shutdown.timeout (1 s) plus slack after an aborted chunked upload', async () => {
    const own = await startTestProxy({
      listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
      shutdown: { timeout: '1s' },
      routes: [openRoute(raw.url, { name: 'public' })],
    });
    await new Promise<void>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: own.port, rejectUnauthorized: false, servername: 'localhost' }, () => {
        socket.write('POST /upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 200);
      });
      socket.on('error', () => resolve());
    });
    const outcome = await Promise.race([
      own.close().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(() => resolve('still running 5 s after SIGTERM'), 5000)),
    ]);
    expect(outcome).toBe('stopped');
  });
});
