// Request sanitation over real sockets (SPEC §4, §7): every attack goes over TLS to a
// real ztproxy in front of a recording upstream, and each row asserts both the answer
// and what the upstream received — usually nothing at all. The attacks are the classic
// reverse-proxy ACL bypasses: path normalisation (`..`, `%2e%2e`, `//`, `%2F`, `;`),
// request smuggling through ambiguous framing (CL.TE, TE.CL, duplicate CL, obfuscated
// TE, obs-fold), Host confusion (several Host headers, userinfo, lists, absolute-form)
// and route-selection fallbacks.
import { beforeEach, describe, expect, it } from 'vitest';
import { openRoute, rawRequest, type TestProxy } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';
import { startUpstream, type SeenRequest, type TestUpstream } from '../helpers/upstream.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HSTS = 'max-age=31536000; includeSubDomains';

interface ParsedResponse {
  status: number;
  headers: Map<string, string[]>;
  body: string;
  /** How many status lines came back on the connection (pipelining tests). */
  responses: number;
}

/** Splits the first HTTP/1.1 response out of what rawRequest returned. */
function parseResponse(text: string): ParsedResponse {
  const end = text.indexOf('\r\n\r\n');
  const head = (end < 0 ? text : text.slice(0, end)).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
  const headers = new Map<string, string[]>();
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  const rest = end < 0 ? '' : text.slice(end + 4);
  const length = headers.get('content-length')?.[0];
  const body = length === undefined ? rest : rest.slice(0, Number(length));
  return { status, headers, body, responses: text.match(/HTTP\/1\.[01] \d{3} /g)?.length ?? 0 };
}

/**
 * A local error: the status, the short JSON body `{"error","requestId"}` and nothing
 * else, the same id in X-Request-Id, and HSTS (SPEC §4: every response carries both).
 */
function expectLocalError(text: string, status: number, error: string): void {
  const res = parseResponse(text);
  expect(res.status).toBe(status);
  const id = res.headers.get('x-request-id');
  expect(id).toHaveLength(1);
  expect(id![0]).toMatch(UUID);
  expect(res.headers.get('content-type')).toEqual(['application/json']);
  expect(res.headers.get('strict-transport-security')).toEqual([HSTS]);
  expect(res.body).toBe(JSON.stringify({ error, requestId: id![0] }));
}

/** A request built byte by byte; `Connection: close` so the socket ends with the answer. */
function request(target: string, opts: { method?: string; host?: string | null; headers?: string[]; version?: string; body?: string } = {}): string {
  const lines = [`${opts.method ?? 'GET'} ${target} ${opts.version ?? 'HTTP/1.1'}`];
  if (opts.host !== null) lines.push(`Host: ${opts.host ?? 'app.test'}`);
  lines.push(...(opts.headers ?? []), 'Connection: close');
  return `${lines.join('\r\n')}\r\n\r\n${opts.body ?? ''}`;
}

/**
 * The request an attacker hides in a body: if any hop disagreed about the framing it
 * would reach the upstream unchecked. /admin is denied by policy, so seeing it upstream
 * is a bypass.
 */
const SMUGGLED = 'GET /admin HTTP/1.1\r\nHost: app.test\r\n\r\n';

/** Behind the `ws.test` route (websocket: true); records upgrade requests too. */
let wsUpstream: TestUpstream;

// Route selection: one recording upstream per route, so each row can say which route
// (and only which route) saw the request.
const ROUTES = ['exact', 'exact-api', 'exact-docs', 'wild', 'deep', 'only', 'wildw', 'ipv6', 'any'] as const;
type RouteName = (typeof ROUTES)[number];
const routed = new Map<RouteName, TestUpstream>();
let routing: TestProxy;

const stack = useProxyStack(async ({ upstream, onClose, startProxy }) => {
  wsUpstream = await startUpstream({ websocket: true });
  onClose(() => wsUpstream.close());
  onClose(() => Promise.all([...routed.values()].map((u) => u.close())));
  for (const name of ROUTES) routed.set(name, await startUpstream());
  const up = (name: RouteName): string => routed.get(name)!.url;
  routing = await startProxy({
    routes: [
      openRoute(up('exact'), { name: 'exact', match: { host: 'app.example.com' } }),
      openRoute(up('exact-api'), { name: 'exact-api', match: { host: 'app.example.com', pathPrefix: '/api' } }),
      // Declared with a trailing slash: still a whole-segment prefix.
      openRoute(up('exact-docs'), { name: 'exact-docs', match: { host: 'app.example.com', pathPrefix: '/docs/' } }),
      openRoute(up('wild'), { name: 'wild', match: { host: '*.example.com' } }),
      openRoute(up('deep'), { name: 'deep', match: { host: '*.deep.example.com' } }),
      // An exact host with only a narrow route: the rest of that host is 404, never
      // the wildcard or the host-less route.
      openRoute(up('only'), { name: 'only', match: { host: 'only.example.com', pathPrefix: '/only' } }),
      openRoute(up('wildw'), { name: 'wildw', match: { host: '*.wild.test', pathPrefix: '/w' } }),
      openRoute(up('ipv6'), { name: 'ipv6', match: { host: '::1' } }),
      openRoute(up('any'), { name: 'any' }),
    ],
  });
  const denyAdmin = { allow: { accept: true }, deny: { path: { prefix: '/admin' } } };
  return {
    routes: [
      openRoute(upstream.url, { name: 'app', match: { host: 'app.test' }, policy: denyAdmin }),
      openRoute(upstream.url, { name: 'files', match: { host: 'app.test', pathPrefix: '/files' }, allowEncodedSlashes: true, policy: denyAdmin }),
      openRoute(wsUpstream.url, { name: 'ws', match: { host: 'ws.test' }, websocket: true, policy: denyAdmin }),
    ],
  };
});

beforeEach(() => {
  wsUpstream.reset();
  for (const u of routed.values()) u.reset();
});

/** What reached the upstream, as `METHOD url` lines. */
function seenLines(u: TestUpstream = stack.upstream): string[] {
  return u.seen.map((s: SeenRequest) => `${s.method} ${s.url}`);
}

/** Upgrade requests: neither upstream may have seen anything. */
function seenAnywhere(): string[] {
  return [...seenLines(stack.upstream), ...seenLines(wsUpstream)];
}

describe('path normalisation and traversal (route app.test denies /admin)', () => {
  // [target, status, what the upstream saw (null: nothing)]
  const cases: [string, number, string | null][] = [
    // Every spelling of /admin is the canonical /admin before policy sees it.
    ['/admin', 403, null],
    ['/admin/', 403, null],
    ['/public/../admin', 403, null],
    ['/public/./x/../../admin/y', 403, null],
    ['//admin', 403, null],
    ['/./admin', 403, null],
    ['/%61dmin', 403, null],
    ['/%61%64%6D%69%6E/x', 403, null],
    ['/files/../admin', 403, null],
    // Normalised, then forwarded in the canonical form.
    ['/a//b', 200, '/a/b'],
    ['/a///b//', 200, '/a/b/'],
    ['/a/./b/../c', 200, '/a/c'],
    ['/%41%42', 200, '/AB'],
    ['/a%3ab%c3%a9', 200, '/a%3Ab%C3%A9'],
    ['/a%2541', 200, '/a%2541'],
    // A policy path prefix matches whole segments, like a route prefix.
    ['/administrator', 200, '/administrator'],
    // Encoded dot segments mean `..` to some upstreams and a file name to others.
    ['/public/%2e%2e/admin', 400, null],
    ['/public/%2E%2E/admin', 400, null],
    ['/public/.%2E/admin', 400, null],
    ['/public/%2e./admin', 400, null],
    ['/%2e/admin', 400, null],
    ['/files/%2e%2e/admin', 400, null],
    // Climbing above the root.
    ['/../admin', 400, null],
    ['/public/../../admin', 400, null],
    // Encoded slash / backslash on a route that does not allow them.
    ['/a%2Fb', 400, null],
    ['/a%2fb', 400, null],
    ['/admin%2Fx', 400, null],
    ['/public%2F..%2Fadmin', 400, null],
    ['/a%5Cb', 400, null],
    // `/files%2Fx` is not under the /files prefix, so the allowance does not apply.
    ['/files%2Fsecret', 400, null],
    // Path parameters (Tomcat `..;/`), fragments, raw backslashes, NUL, bad escapes.
    ['/a;jsessionid=0123', 400, null],
    ['/admin;x=1', 400, null],
    ['/public/..;/admin', 400, null],
    ['/a#b', 400, null],
    ['/a?x=1#b', 400, null],
    ['/admin#', 400, null],
    ['/a\\b', 400, null],
    ['/public\\..\\admin', 400, null],
    ['/a%00b', 400, null],
    ['/a%zz', 400, null],
    ['/a%4', 400, null],
    // Characters llhttp lets through in a path but RFC 3986 does not.
    ['/a"b', 400, null],
    ['/a{b}', 400, null],
    ['/a|b', 400, null],
    // The query is never a path to policy: forwarded byte for byte, never decoded.
    ['/x?/admin', 200, '/x?/admin'],
    ['/x?a=/admin&b=..%2Fadmin', 200, '/x?a=/admin&b=..%2Fadmin'],
    ['/x?a=%41%2f&b="<>{}|', 200, '/x?a=%41%2f&b="<>{}|'],
    ['/x?', 200, '/x'],
    // allowEncodedSlashes: forwarded, still encoded, hex upper-cased, never a separator.
    ['/files/a%2Fb', 200, '/files/a%2Fb'],
    ['/files/a%2fb', 200, '/files/a%2Fb'],
    ['/files/a%5cb', 200, '/files/a%5Cb'],
    ['/files/..%2Fadmin', 200, '/files/..%2Fadmin'],
  ];
  it.each(cases)('GET %s → %i, upstream saw %s', async (target, status, forwarded) => {
    const { text } = await rawRequest(stack.proxy.port, request(target));
    if (status === 200) expect(parseResponse(text).status).toBe(200);
    else expectLocalError(text, status, status === 403 ? 'forbidden' : 'bad request');
    expect(seenLines()).toEqual(forwarded === null ? [] : [`GET ${forwarded}`]);
  });

  it.each([
    ['non-ASCII bytes in the path', Buffer.concat([Buffer.from('GET /caf'), Buffer.from([0xc3, 0xa9]), Buffer.from(' HTTP/1.1\r\nHost: app.test\r\n\r\n')])],
    ['a raw tab in the path', Buffer.from('GET /a\tb HTTP/1.1\r\nHost: app.test\r\n\r\n')],
    ['a raw space in the path', Buffer.from('GET /a b HTTP/1.1\r\nHost: app.test\r\n\r\n')],
    ['a CR in the path', Buffer.from('GET /a\rb HTTP/1.1\r\nHost: app.test\r\n\r\n')],
  ])('%s → 400 from the parser, nothing forwarded', async (_name, bytes) => {
    const { text } = await rawRequest(stack.proxy.port, bytes);
    expectLocalError(text, 400, 'bad request');
    expect(stack.upstream.seen).toEqual([]);
  });

  it('closes the connection after a 400: a request pipelined behind it is never served', async () => {
    const { text } = await rawRequest(
      stack.proxy.port,
      'GET /a%2Fb HTTP/1.1\r\nHost: app.test\r\n\r\nGET /pipelined HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n',
    );
    const res = parseResponse(text);
    expect(res.status).toBe(400);
    expect(res.responses).toBe(1);
    expect(res.headers.get('connection')).toEqual(['close']);
    // Node parses (and announces) the pipelined request before the 400 is flushed; give
    // a forward that should not happen the time to land (RFC 9112 §9.6: after `close`
    // the server MUST NOT process further requests on the connection).
    await new Promise((r) => setTimeout(r, 300));
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('ambiguous framing (request smuggling)', () => {
  const post = (headers: string[], body: string): string =>
    `POST /x HTTP/1.1\r\nHost: app.test\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
  const cases: [string, string][] = [
    ['CL.TE: Content-Length then Transfer-Encoding', post(['Content-Length: 6', 'Transfer-Encoding: chunked'], `0\r\n\r\n${SMUGGLED}`)],
    ['TE.CL: Transfer-Encoding then Content-Length', post(['Transfer-Encoding: chunked', 'Content-Length: 3'], `8\r\nSMUGGLED\r\n0\r\n\r\n${SMUGGLED}`)],
    ['two different Content-Length', post(['Content-Length: 5', 'Content-Length: 48'], `hello${SMUGGLED}`)],
    ['two equal Content-Length', post(['Content-Length: 5', 'Content-Length: 5'], 'hello')],
    ['a Content-Length list', post(['Content-Length: 5, 48'], `hello${SMUGGLED}`)],
    ['a signed Content-Length', post(['Content-Length: +5'], 'hello')],
    ['a negative Content-Length', post(['Content-Length: -1'], 'hello')],
    ['a hex Content-Length', post(['Content-Length: 0x5'], 'hello')],
    ['Transfer-Encoding: chunked, identity', post(['Transfer-Encoding: chunked, identity'], `0\r\n\r\n${SMUGGLED}`)],
    ['two Transfer-Encoding headers, chunked first', post(['Transfer-Encoding: chunked', 'Transfer-Encoding: identity'], `0\r\n\r\n${SMUGGLED}`)],
    ['space before the colon of Transfer-Encoding', post(['Transfer-Encoding : chunked', 'Content-Length: 5'], `0\r\n\r\n${SMUGGLED}`)],
    ['Transfer-Encoding hidden in an obs-fold continuation', post(['X-Padding: a', ' Transfer-Encoding: chunked', 'Content-Length: 5'], `0\r\n\r\n${SMUGGLED}`)],
    ['obs-fold header continuation', 'GET /x HTTP/1.1\r\nHost: app.test\r\nX-Folded: a\r\n b\r\n\r\n'],
    ['obs-fold with a tab', 'GET /x HTTP/1.1\r\nHost: app.test\r\nX-Folded: a\r\n\tb\r\n\r\n'],
    ['a space in a header name', 'GET /x HTTP/1.1\r\nHost: app.test\r\nX Forwarded User: alice\r\n\r\n'],
    ['a NUL in a header name', 'GET /x HTTP/1.1\r\nHost: app.test\r\nX-Fo\u0000o: a\r\n\r\n'],
    ['a NUL in a header value', 'GET /x HTTP/1.1\r\nHost: app.test\r\nX-Foo: a\u0000b\r\n\r\n'],
    ['a bare CR in a header value', 'GET /x HTTP/1.1\r\nHost: app.test\r\nX-Foo: a\rX-Forwarded-User: alice\r\n\r\n'],
    ['an empty header name', 'GET /x HTTP/1.1\r\nHost: app.test\r\n: a\r\n\r\n'],
    ['bare LF line endings', 'GET /x HTTP/1.1\nHost: app.test\n\n'],
    ['a bare LF inside the header block', 'GET /x HTTP/1.1\r\nHost: app.test\nX-Forwarded-User: alice\r\n\r\n'],
  ];
  it.each(cases)('%s', async (_name, bytes) => {
    const { text } = await rawRequest(stack.proxy.port, bytes);
    expectLocalError(text, 400, 'bad request');
    expect(seenLines()).toEqual([]);
  });

  // A Transfer-Encoding that does not end in `chunked` leaves a request body with no
  // framing at all (RFC 9112 §6.3: the server MUST answer 400 and close). llhttp only
  // notices once it reaches the body, after it has already handed the request to ztproxy.
  it.each([
    ['Transfer-Encoding: xchunked', 'xchunked'],
    ['Transfer-Encoding: identity', 'identity'],
    ['Transfer-Encoding: gzip', 'gzip'],
    ['Transfer-Encoding: chunked, gzip', 'chunked, gzip'],
  ])('%s → 400, nothing forwarded', async (_name, te) => {
    const { text } = await rawRequest(stack.proxy.port, post([`Transfer-Encoding: ${te}`], `0\r\n\r\n${SMUGGLED}`));
    // Give a forward that raced the parser error time to land.
    await new Promise((r) => setTimeout(r, 200));
    expectLocalError(text, 400, 'bad request');
    expect(seenLines()).toEqual([]);
  });

  // What Node accepts is unambiguous, and reaches the upstream as exactly one request.
  it('a `:` in a header name ends the name: `X:Foo: a` is header X with value `Foo: a`, forwarded once', async () => {
    const { text } = await rawRequest(stack.proxy.port, 'GET /x HTTP/1.1\r\nHost: app.test\r\nX:Foo: a\r\nConnection: close\r\n\r\n');
    expect(parseResponse(text).status).toBe(200);
    expect(seenLines()).toEqual(['GET /x']);
    expect(stack.upstream.seen[0]!.headers['x']).toBe('Foo: a');
    expect(stack.upstream.seen[0]!.headers['x:foo']).toBeUndefined();
  });

  // One framing, agreed on by every hop: the bytes after the body are a second request
  // that ztproxy itself parses and judges (403), never something the upstream reads as
  // part of the first.
  const pipelinedAdmin = 'GET /admin HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n';
  it.each([
    ['Content-Length: 5', 'Content-Length: 5', 'hello'],
    ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n'],
    ['Transfer-Encoding: CHUNKED (codings are case-insensitive)', 'Transfer-Encoding: CHUNKED', '5\r\nhello\r\n0\r\n\r\n'],
    ['Transfer-Encoding with a tab before the value', 'Transfer-Encoding:\tchunked', '5\r\nhello\r\n0\r\n\r\n'],
  ])('%s: forwarded once with its 5-byte body; the request behind it is judged on its own (403)', async (_name, framing, body) => {
    const { text } = await rawRequest(stack.proxy.port, `POST /x HTTP/1.1\r\nHost: app.test\r\n${framing}\r\n\r\n${body}${pipelinedAdmin}`);
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([200, 403]);
    expect(seenLines()).toEqual(['POST /x']);
    expect(stack.upstream.seen[0]!.bodyBytes).toBe(5);
  });

  // After `Connection: close` whatever follows is not a request (RFC 9112 §9.6): llhttp
  // fails on it while the first answer is still in flight. That answer must still be
  // delivered, and the trailing bytes never parsed into a forward.
  it.each([
    ['Content-Length', 'Content-Length: 5', 'hello'],
    ['chunked', 'Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n'],
  ])('bytes after a `Connection: close` %s request: its answer arrives, nothing else is forwarded', async (_name, framing, body) => {
    const { text } = await rawRequest(stack.proxy.port, `POST /x HTTP/1.1\r\nHost: app.test\r\n${framing}\r\nConnection: close\r\n\r\n${body}${SMUGGLED}`);
    await new Promise((r) => setTimeout(r, 200));
    const res = parseResponse(text);
    expect(res.status).toBe(200);
    expect(res.responses).toBe(1);
    expect(seenLines()).toEqual(['POST /x']);
    expect(stack.upstream.seen[0]!.bodyBytes).toBe(5);
  });

  // Node decodes it as chunked; RFC 9112 §6.1 calls it faulty framing even with a
  // Content-Length (the whole rule × version table is test/attacks/framing.test.ts).
  it('Transfer-Encoding on HTTP/1.0 (RFC 9112 §6.1: faulty framing) → 400, closed, nothing forwarded', async () => {
    const { text } = await rawRequest(stack.proxy.port, `POST /x HTTP/1.0\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    expectLocalError(text, 400, 'bad request');
    expect(parseResponse(text).headers.get('connection')).toEqual(['close']);
    expect(seenLines()).toEqual([]);
  });
});

describe('upgrade requests pass the same checks (h2c / WebSocket smuggling)', () => {
  const upgrade = (host: string, target: string, up: string, extra: string[] = [], method = 'GET'): string =>
    [`${method} ${target} HTTP/1.1`, `Host: ${host}`, `Upgrade: ${up}`, ...extra, '', ''].join('\r\n');
  const ws = ['Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
  const h2c = ['HTTP2-Settings: AAMAAABkAAQAAP__', 'Connection: Upgrade, HTTP2-Settings'];
  // [why, bytes, status]
  const cases: [string, string, number][] = [
    // An upstream that accepted h2c would speak HTTP/2 on a tunnel the proxy no longer
    // inspects: every later request on it would bypass policy.
    ['h2c upgrade on a route without websocket', upgrade('app.test', '/x', 'h2c', h2c), 400],
    ['h2c upgrade on a websocket route', upgrade('ws.test', '/x', 'h2c', h2c), 400],
    ['WebSocket upgrade on a route without websocket', upgrade('app.test', '/x', 'websocket', ws), 400],
    ['WebSocket upgrade with POST', upgrade('ws.test', '/x', 'websocket', [...ws, 'Content-Length: 0'], 'POST'), 400],
    ['WebSocket upgrade to a denied path', upgrade('ws.test', '/admin', 'websocket', ws), 403],
    ['WebSocket upgrade to a denied path through ..', upgrade('ws.test', '/chat/../admin', 'websocket', ws), 403],
    ['WebSocket upgrade with an encoded slash', upgrade('ws.test', '/chat%2F..%2Fadmin', 'websocket', ws), 400],
    ['WebSocket upgrade with an encoded dot segment', upgrade('ws.test', '/chat/%2e%2e/admin', 'websocket', ws), 400],
    ['WebSocket upgrade with two Host headers', upgrade('ws.test', '/x', 'websocket', ['Host: app.test', ...ws]), 400],
    ['WebSocket upgrade in absolute-form', upgrade('ws.test', 'http://ws.test/x', 'websocket', ws), 400],
    ['WebSocket upgrade to an unknown host', upgrade('nowhere.test', '/x', 'websocket', ws), 404],
  ];
  it.each(cases)('%s → %i, nothing forwarded', async (_why, bytes, status) => {
    const { text } = await rawRequest(stack.proxy.port, bytes);
    expectLocalError(text, status, status === 403 ? 'forbidden' : status === 404 ? 'not found' : 'bad request');
    expect(seenAnywhere()).toEqual([]);
  });
});

describe('Host header', () => {
  const cases: [string, string][] = [
    ['two different Host headers', request('/x', { headers: ['Host: evil.test'] })],
    ['two identical Host headers', request('/x', { headers: ['Host: app.test'] })],
    ['Host twice in different case', request('/x', { headers: ['host: app.test'] })],
    ['missing Host, HTTP/1.0', request('/x', { host: null, version: 'HTTP/1.0' })],
    ['missing Host, HTTP/1.1', request('/x', { host: null })],
    ['userinfo a@b', request('/x', { host: 'evil.test@app.test' })],
    ['userinfo with a port', request('/x', { host: 'user:pw@app.test:443' })],
    ['a list a,b', request('/x', { host: 'app.test,evil.test' })],
    ['a list with a space', request('/x', { host: 'app.test, evil.test' })],
    ['a space inside', request('/x', { host: 'app.test evil.test' })],
    ['empty', request('/x', { host: '' })],
    ['port 0', request('/x', { host: 'app.test:0' })],
    ['port 99999', request('/x', { host: 'app.test:99999' })],
    ['non-numeric port', request('/x', { host: 'app.test:https' })],
    ['empty port', request('/x', { host: 'app.test:' })],
    ['a path in Host', request('/x', { host: 'app.test/admin' })],
    ['unclosed IPv6 bracket', request('/x', { host: '[::1' })],
    ['non-ASCII', request('/x', { host: 'app.tést' })],
  ];
  it.each(cases)('%s → 400, nothing forwarded', async (_name, bytes) => {
    const { text } = await rawRequest(stack.proxy.port, bytes);
    expectLocalError(text, 400, 'bad request');
    expect(seenLines()).toEqual([]);
  });
});

describe('request-target forms other than origin-form → 400', () => {
  const cases: [string, string][] = [
    ['absolute-form to another host', 'GET http://evil/ HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n'],
    ['absolute-form naming the same host', 'GET https://app.test/x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n'],
    ['absolute-form with a path the policy denies', 'GET http://app.test/admin HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n'],
    ['CONNECT whose Host names another host', 'CONNECT evil.test:443 HTTP/1.1\r\nHost: app.test\r\n\r\n'],
    ['CONNECT in absolute-form', 'CONNECT http://app.test/ HTTP/1.1\r\nHost: app.test\r\n\r\n'],
    ['asterisk-form OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n'],
  ];
  it.each(cases)('%s', async (_name, bytes) => {
    const { text } = await rawRequest(stack.proxy.port, bytes);
    expectLocalError(text, 400, 'bad request');
    expect(seenLines()).toEqual([]);
  });
});

describe('no route → 404, nothing forwarded', () => {
  it('a CONNECT to an HTTP route\'s host: only TCP routes take a CONNECT', async () => {
    const { text } = await rawRequest(stack.proxy.port, 'CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n');
    expectLocalError(text, 404, 'not found');
    expect(seenLines()).toEqual([]);
  });

  it.each([
    ['unknown host', 'other.test', '/'],
    ['the route host as a wildcard parent', 'test', '/'],
    ['a sub-domain of the route host', 'x.app.test', '/'],
  ])('%s (%s)', async (_name, host, path) => {
    const { text } = await rawRequest(stack.proxy.port, request(path, { host }));
    expectLocalError(text, 404, 'not found');
    expect(seenLines()).toEqual([]);
  });
});

describe('route selection (exact host before wildcard, longest whole-segment prefix, no fallback)', () => {
  // [Host, path, route that must see it (null: 404, no route sees it)]
  const cases: [string, string, RouteName | null][] = [
    ['app.example.com', '/', 'exact'],
    ['app.example.com', '/x', 'exact'],
    ['app.example.com', '/api', 'exact-api'],
    ['app.example.com', '/api/', 'exact-api'],
    ['app.example.com', '/api/v1/users', 'exact-api'],
    ['app.example.com', '/apix', 'exact'],
    ['app.example.com', '/ap', 'exact'],
    ['app.example.com', '/x/../api/y', 'exact-api'],
    ['app.example.com', '/%61pi', 'exact-api'],
    ['app.example.com', '//api', 'exact-api'],
    ['app.example.com', '/docs', 'exact-docs'],
    ['app.example.com', '/docs/a', 'exact-docs'],
    ['app.example.com', '/docsx', 'exact'],
    // Host matching: case-insensitive, port and trailing dot ignored.
    ['APP.EXAMPLE.COM', '/api', 'exact-api'],
    ['App.Example.Com:8443', '/api', 'exact-api'],
    ['app.example.com.', '/api', 'exact-api'],
    ['APP.example.com.:443', '/api/x', 'exact-api'],
    // Wildcards: below the suffix only; the longest suffix wins.
    ['other.example.com', '/', 'wild'],
    ['a.b.example.com', '/api', 'wild'],
    ['Other.Example.Com.:8443', '/', 'wild'],
    ['x.deep.example.com', '/', 'deep'],
    ['deep.example.com', '/', 'wild'],
    ['example.com', '/', 'any'],
    // No fallback: an exact host keeps its requests among its own routes…
    ['only.example.com', '/only', 'only'],
    ['only.example.com', '/only/x', 'only'],
    ['only.example.com', '/', null],
    ['only.example.com', '/onlyx', null],
    ['ONLY.example.com.', '/other', null],
    // …and so does a wildcard host.
    ['x.wild.test', '/w/1', 'wildw'],
    ['x.wild.test', '/', null],
    ['x.wild.test', '/wx', null],
    ['wild.test', '/', 'any'],
    // IPv6 literal host.
    ['[::1]', '/', 'ipv6'],
    ['[::1]:8443', '/x', 'ipv6'],
    ['unknown.org', '/', 'any'],
  ];
  it.each(cases)('Host %s, path %s → %s', async (host, path, route) => {
    const { text } = await rawRequest(routing.port, request(path, { host }));
    if (route === null) expectLocalError(text, 404, 'not found');
    else expect(parseResponse(text).status).toBe(200);
    for (const name of ROUTES) {
      expect([name, routed.get(name)!.seen.length]).toEqual([name, name === route ? 1 : 0]);
    }
  });
});
