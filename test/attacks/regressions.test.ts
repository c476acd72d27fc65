// Attacks ztproxy withstands today that no other test sends, kept as compact regressions:
// encodings the canonicaliser must not decode, request trailers carrying identity,
// smuggling through huge header counts and the bodies of denied
// requests, misbehaving upstreams (a 101 for a plain request, two responses for one,
// split or folded response headers), HTTP/2 prior knowledge, IPv4-mapped listeners, and
// the admin paths on the data plane.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { get, openRoute, rawGet, rawRequest, startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';
import { requestHeads, startRawUpstream, type RawUpstream } from './raw-upstream.ts';

let raw: RawUpstream;

const denyAdmin = { allow: { accept: true }, deny: { path: { prefix: '/admin' } } };
const SMUGGLED = 'GET /admin HTTP/1.1\r\nHost: app.test\r\n\r\n';

const stack = useProxyStack(async ({ upstream, onClose }) => {
  raw = await startRawUpstream();
  onClose(() => raw.close());
  return {
    routes: [
      openRoute(upstream.url, { name: 'app', match: { host: 'app.test' }, policy: denyAdmin }),
      openRoute(raw.url, { name: 'raw', match: { host: 'raw.test' }, policy: denyAdmin, timeouts: { headers: '1s' } }),
    ],
  };
});

beforeEach(() => {
  raw.reset();
  raw.respond = () => {};
});

const seenUrls = (): string[] => stack.upstream.seen.map((s) => `${s.method} ${s.url}`);
const statuses = (text: string): number[] => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe('encodings that are not decoded twice, or at all', () => {
  // [target, status, what the upstream saw (null: nothing)]
  const cases: [string, number, string | null][] = [
    // IIS %u encoding is no escape at all in RFC 3986.
    ['/public/%u002e%u002e/admin', 400, null],
    ['/admin%u2215x', 400, null],
    // Nibble double-encoding (`%%32%65`) is a broken escape.
    ['/public/%%32%65%%32%65/admin', 400, null],
    // `%25` stays `%25`: what follows is never decoded a second time.
    ['/public/%252e%252e/admin', 200, '/public/%252e%252e/admin'],
    ['/%2561dmin', 200, '/%2561dmin'],
    // Dot segments and slashes around the denied prefix still resolve to it.
    ['/admin/.', 403, null],
    ['/admin/x/..', 403, null],
    ['//admin//', 403, null],
    ['/x/..//admin', 403, null],
    ['/admin%2f..', 400, null],
  ];
  it.each(cases)('GET %s → %i', async (target, status, forwarded) => {
    const { text } = await rawGet(stack.proxy.port, 'app.test', target);
    expect(statuses(text)[0]).toBe(status);
    expect(seenUrls()).toEqual(forwarded === null ? [] : [`GET ${forwarded}`]);
  });
});

describe('a very long path is judged whole', () => {
  it('GET /admin/ + 3 000 segments → 403', async () => {
    const { text } = await rawRequest(stack.proxy.port, `GET /admin/${'a/'.repeat(3000)}x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`);
    expect(statuses(text)[0]).toBe(403);
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('request bodies never become requests or identity', () => {
  it('identity headers in chunked trailers never reach the upstream', async () => {
    raw.respond = (conn) => {
      if (conn.state === 0 && conn.data.includes('hello')) {
        conn.state = 1;
        setTimeout(() => conn.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'), 100);
      }
    };
    const { text } = await rawRequest(
      stack.proxy.port,
      'POST /t HTTP/1.1\r\nHost: raw.test\r\nTransfer-Encoding: chunked\r\nTrailer: X-Forwarded-User\r\nConnection: close\r\n\r\n' +
        '5\r\nhello\r\n0\r\nX-Forwarded-User: forged-admin\r\nX-ZT-Assertion: forged\r\nHost: evil.test\r\n\r\n',
    );
    expect(statuses(text)).toEqual([200]);
    expect(raw.connections).toHaveLength(1);
    expect(raw.allBytes()).toContain('hello');
    expect(raw.allBytes()).not.toMatch(/forged|evil\.test/);
  });

  it.each([
    ['a denied POST whose body is a request', `POST /admin HTTP/1.1\r\nHost: app.test\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
    ['a denied POST with Expect: 100-continue', `POST /admin HTTP/1.1\r\nHost: app.test\r\nExpect: 100-continue\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ])('%s: /admin never reaches the upstream', async (_why, bytes) => {
    await rawRequest(stack.proxy.port, bytes, { timeoutMs: 1000 });
    await new Promise((r) => setTimeout(r, 100));
    expect(seenUrls().filter((u) => u.includes('/admin'))).toEqual([]);
  });

  it('2 100 headers (past Node\'s maxHeadersCount) with a forged identity and a second Host at the end: neither reaches the upstream', async () => {
    const filler = Array.from({ length: 2100 }, (_, i) => `a${i % 10}:b\r\n`).join('');
    const { text } = await rawRequest(stack.proxy.port, `GET /many HTTP/1.1\r\nHost: app.test\r\n${filler}X-Forwarded-User: forged-admin\r\nHost: evil.test\r\nConnection: close\r\n\r\n`);
    expect([200, 400, 431]).toContain(statuses(text)[0]);
    for (const seen of stack.upstream.seen) {
      expect(seen.rawHeaders.filter((v) => /forged|evil\.test/.test(v))).toEqual([]);
      expect(seen.headers.host).toBe('app.test');
    }
  });

  it('HTTP/2 prior knowledge (the h2 preface) → 400, nothing forwarded', async () => {
    const { status } = await rawRequest(stack.proxy.port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    expect(status).toBe(400);
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('a misbehaving upstream cannot desynchronise the client connection', () => {
  it('a 101 answer to a plain request → 502; the denied request pipelined behind it is not forwarded', async () => {
    raw.respond = (conn) => {
      if (conn.state === 0 && requestHeads(conn.data) >= 1) {
        conn.state = 1;
        conn.socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      }
    };
    const { text } = await rawRequest(stack.proxy.port, `GET /x HTTP/1.1\r\nHost: raw.test\r\n\r\nGET /admin HTTP/1.1\r\nHost: raw.test\r\nConnection: close\r\n\r\n`, { timeoutMs: 1500 });
    expect(statuses(text)[0]).toBe(502);
    expect(text).not.toMatch(/HTTP\/1\.1 101/);
    expect(raw.allBytes()).not.toContain('GET /admin');
  });

  it('two responses for one request: the second never answers the next client request', async () => {
    raw.respond = (conn) => {
      while (conn.state < requestHeads(conn.data)) {
        conn.state++;
        conn.socket.write(
          conn.state === 1
            ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Poisoned: yes\r\n\r\npoisoned'
            : 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nlater',
        );
      }
    };
    const first = await rawRequest(stack.proxy.port, 'GET /a HTTP/1.1\r\nHost: raw.test\r\nConnection: close\r\n\r\n');
    const second = await rawRequest(stack.proxy.port, 'GET /b HTTP/1.1\r\nHost: raw.test\r\nConnection: close\r\n\r\n');
    expect(first.text.endsWith('first')).toBe(true);
    expect(second.text).not.toMatch(/poisoned/i);
  });

  it.each([
    ['a bare CR in a header value', 'X-A: a\rSet-Cookie: injected=1'],
    ['a bare LF in a header value', 'X-A: a\nSet-Cookie: injected=1'],
    ['an obs-fold continuation', 'X-A: a\r\n Set-Cookie: injected=1'],
    ['a NUL in a header value', 'X-A: a\u0000Set-Cookie: injected=1'],
    ['a space before the colon', 'Set-Cookie : injected=1'],
  ])('response header with %s → 502, nothing injected', async (_why, header) => {
    raw.respond = (conn) => {
      if (conn.state === 0 && requestHeads(conn.data) >= 1) {
        conn.state = 1;
        conn.socket.end(`HTTP/1.1 200 OK\r\n${header}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`);
      }
    };
    const { text } = await rawRequest(stack.proxy.port, 'GET /split HTTP/1.1\r\nHost: raw.test\r\nConnection: close\r\n\r\n');
    expect(statuses(text)[0]).toBe(502);
    expect(text).not.toMatch(/injected/);
  });
});

describe('IPv4-mapped listener ([::ffff:127.0.0.1])', () => {
  let mapped: TestProxy;
  beforeAll(async () => {
    mapped = await startTestProxy({
      listen: { address: '[::ffff:127.0.0.1]:0', tls: serverTls(stack.pki) },
      routes: [
        openRoute(stack.upstream.url, { name: 'lan', match: { host: 'lan.test' }, policy: { allow: { sourceIp: ['127.0.0.0/8'] } } }),
        openRoute(stack.upstream.url, { name: 'blocked', match: { host: 'blocked.test' }, policy: { allow: { accept: true }, deny: { sourceIp: ['127.0.0.1'] } } }),
      ],
    });
  });
  afterAll(async () => {
    await mapped?.close();
  });

  it('the peer is reported as ::ffff:127.0.0.1 and matched as 127.0.0.1 by an IPv4 allow', async () => {
    expect(mapped.proxy.addresses.https.family).toBe('IPv6');
    const res = await get(mapped.port, '/', { host: 'lan.test' });
    expect(res.status).toBe(200);
    expect(stack.upstream.seen[0]!.headers['x-real-ip']).toBe('127.0.0.1');
    expect(stack.upstream.seen[0]!.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('an IPv4 deny cannot be sidestepped by the mapped address family', async () => {
    const res = await get(mapped.port, '/', { host: 'blocked.test', headers: { 'X-Forwarded-For': '203.0.113.9' } });
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('the admin endpoints are not on the data plane', () => {
  it.each(['/metrics', '/healthz', '/readyz'])('%s on the HTTPS port is an ordinary path: forwarded on a route, never answered by ztproxy', async (path) => {
    const routed = await get(stack.proxy.port, path, { host: 'app.test' });
    expect(routed.status).toBe(200);
    expect(routed.body).not.toMatch(/# HELP|# TYPE|"status"/);
    expect(seenUrls()).toEqual([`GET ${path}`]);
    const unrouted = await get(stack.proxy.port, path, { host: 'nowhere.test' });
    expect(unrouted.status).toBe(404);
  });
});
