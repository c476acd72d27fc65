// Header hygiene over real sockets (SPEC §4): identity-bearing headers a client could
// forge never reach the upstream in any spelling (upstreams such as CGI, PHP, nginx with
// underscores_in_headers and Werkzeug read `X_Forwarded_User` as `X-Forwarded-User`);
// hop-by-hop and Connection-named headers are dropped both ways; X-Forwarded-* are
// ztproxy's own unless the peer is a trusted proxy, and a forged one never moves a
// sourceIp decision; every answer carries X-Request-Id and HSTS, and local errors are
// exactly `{"error","requestId"}`.
import { describe, expect, it } from 'vitest';
import { get, openRoute, rawRequest, type SimpleResponse, type TestProxy } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HSTS = 'max-age=31536000; includeSubDomains';

/** trustedProxies: 127.0.0.1 — the test client is a trusted proxy. */
let trusting: TestProxy;
/** HSTS disabled. */
let noHsts: TestProxy;

/** stack.proxy: peer not trusted; maxHeaderSize 8 KiB; keep-alive 7 s (so Node's own Keep-Alive differs from the upstream's). */
const stack = useProxyStack(async ({ upstream, startProxy }) => {
  const routes = [
    openRoute(upstream.url, { name: 'app', match: { host: 'app.test' }, policy: { allow: { accept: true }, deny: { path: { prefix: '/admin' } } } }),
    openRoute(upstream.url, { name: 'ipgate', match: { host: 'ip.test' }, policy: { allow: { sourceIp: ['10.0.0.0/8'] } } }),
    openRoute('http://127.0.0.1:1', { name: 'down', match: { host: 'down.test' } }),
  ];
  trusting = await startProxy({ listen: { trustedProxies: ['127.0.0.1/32'] }, routes });
  noHsts = await startProxy({ listen: { hsts: { enabled: false }, limits: { maxHeaderSize: '8KiB' } }, routes });
  return { listen: { limits: { maxHeaderSize: '8KiB', keepAliveTimeout: '7s' } }, routes };
});

/** How an upstream that maps `_` to `-` and ignores case reads a header name. */
function asUpstreamReadsIt(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}

function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** Values of every upstream header that reads as `name`, whatever its spelling. */
function upstreamValues(name: string): string[] {
  expect(stack.upstream.seen).toHaveLength(1);
  return pairs(stack.upstream.seen[0]!.rawHeaders)
    .filter(([n]) => asUpstreamReadsIt(n) === name)
    .map(([, v]) => v);
}

/** Response of rawRequest, in get()'s shape (first response only). */
function parseRaw(text: string): SimpleResponse {
  const end = text.indexOf('\r\n\r\n');
  const head = (end < 0 ? text : text.slice(0, end)).split('\r\n');
  const headers: Record<string, string | string[]> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    headers[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  const rest = end < 0 ? '' : text.slice(end + 4);
  const length = headers['content-length'];
  return {
    status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0),
    headers,
    body: typeof length === 'string' ? rest.slice(0, Number(length)) : rest,
  };
}

async function raw(port: number, bytes: string): Promise<SimpleResponse> {
  return parseRaw((await rawRequest(port, bytes)).text);
}

describe('identity headers from the client never reach the upstream, in any spelling', () => {
  // SPEC §4 and src/pipeline/headers.ts: X-ZT-*, the X-Forwarded-User family, client
  // certificate headers (Envoy XFCC, nginx/Apache SSL_CLIENT_*), URL-override headers
  // (IIS/Symfony X-Original-URL, X-Rewrite-URL), REMOTE_USER-style headers,
  // oauth2-proxy's X-Auth-Request-*, X-Real-IP, X-Request-Id and the posture header.
  const IDENTITY = [
    'x-zt-assertion',
    'x-zt-user',
    'x-zt-anything',
    'x-forwarded-user',
    'x-forwarded-email',
    'x-forwarded-groups',
    'x-forwarded-preferred-username',
    'x-forwarded-access-token',
    'x-forwarded-client-cert',
    'x-client-cert',
    'x-client-verify',
    'x-client-dn',
    'ssl-client-cert',
    'ssl-client-verify',
    'x-ssl-client-verify',
    'x-ssl-client-cert',
    'x-ssl-client-s-dn',
    'x-original-url',
    'x-rewrite-url',
    'x-original-uri',
    'x-envoy-original-path',
    'x-remote-user',
    'remote-user',
    'x-webauth-user',
    'x-auth-request-user',
    'x-auth-request-email',
    'x-auth-request-groups',
    'x-auth-request-preferred-username',
    'x-auth-request-access-token',
    'x-auth-request-redirect',
    'x-real-ip',
    'x-request-id',
    // SPEC §3's device.header: the posture assertion is ztproxy's to check, not the app's.
    'x-device-posture',
  ];

  function spellings(name: string): string[] {
    const title = name.replace(/(^|-)([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
    const mixed = [...name].map((c, i) => (i % 2 === 1 ? c.toUpperCase() : c)).join('');
    return [
      ...new Set([
        title,
        name,
        name.toUpperCase(),
        mixed,
        title.replaceAll('-', '_'),
        name.replaceAll('-', '_'),
        name.toUpperCase().replaceAll('-', '_'),
        // Only the first dash: `X_Forwarded-User`.
        title.replace('-', '_'),
      ]),
    ];
  }

  const rows = IDENTITY.flatMap((name) => spellings(name).map((spelling) => [spelling, name] as const));

  it.each(rows)('%s (reads as %s)', async (spelling, name) => {
    const forged = `forged-${spelling}`;
    const res = await get(stack.proxy.port, '/id', { host: 'app.test', headers: { [spelling]: forged } });
    expect(res.status).toBe(200);
    const values = upstreamValues(name);
    // The forged value reaches the upstream under no name at all.
    expect(pairs(stack.upstream.seen[0]!.rawHeaders).filter(([, v]) => v.includes('forged'))).toEqual([]);
    if (name === 'x-real-ip') expect(values).toEqual(['127.0.0.1']);
    else if (name === 'x-request-id') expect(values).toEqual([res.headers['x-request-id']]);
    // ztproxy may add its own assertion; never a second one, never the client's.
    else if (name === 'x-zt-assertion') expect(values.length).toBeLessThanOrEqual(1);
    else expect(values).toEqual([]);
  });

  it('a header that only resembles an identity header is forwarded (the filter is not a blanket prefix match)', async () => {
    const res = await get(stack.proxy.port, '/id', { host: 'app.test', headers: { 'X-Forwarded-Users-Count': '3', 'X-Ztx': 'kept', 'X-Real-IPs': 'kept' } });
    expect(res.status).toBe(200);
    expect(upstreamValues('x-forwarded-users-count')).toEqual(['3']);
    expect(upstreamValues('x-ztx')).toEqual(['kept']);
    expect(upstreamValues('x-real-ips')).toEqual(['kept']);
  });
});

describe('hop-by-hop request headers are removed', () => {
  // Sent byte for byte (node:https refuses to send some of these, e.g. Trailer without
  // chunked); each value is unique so it can be looked for under any name upstream.
  const cases: [string, string][] = [
    ['Keep-Alive', 'timeout=99, max=1001'],
    ['Keep_Alive', 'timeout=98, max=1002'],
    ['TE', 'trailers'],
    ['te', 'gzip;q=0.3'],
    ['Trailer', 'X-Forged-Trailer'],
    ['Proxy-Authorization', 'Basic Zm9yZ2VkOmZvcmdlZA=='],
    ['Proxy_Authorization', 'Basic Zm9yZ2VkOnVuZGVy'],
    ['PROXY-AUTHORIZATION', 'Bearer forged-upper'],
    ['Proxy-Connection', 'Keep-Alive-forged'],
    ['Proxy-Authenticate', 'Basic realm=forged'],
    // Without `Connection: upgrade` this is an ordinary request; the header must still
    // not invite the upstream to switch protocols.
    ['Upgrade', 'h2c'],
    ['upgrade', 'websocket'],
    ['HTTP2-Settings', 'AAMAAABkAAQAAP__'],
  ];
  it.each(cases)('%s: %s', async (name, value) => {
    const res = await raw(stack.proxy.port, `GET /hop HTTP/1.1\r\nHost: app.test\r\n${name}: ${value}\r\nConnection: close\r\n\r\n`);
    expect(res.status).toBe(200);
    expect(upstreamValues(asUpstreamReadsIt(name))).toEqual([]);
    expect(pairs(stack.upstream.seen[0]!.rawHeaders).filter(([, v]) => v === value)).toEqual([]);
  });
});

describe('headers named in Connection are removed', () => {
  const cases: [string, Record<string, string | string[]>, string[], Record<string, string>][] = [
    // [why, request headers, names the upstream must not see, names it must see with value]
    ['Connection: close, X-Secret', { Connection: 'close, X-Secret', 'X-Secret': 's3cret', 'X-Kept': 'yes' }, ['x-secret'], { 'x-kept': 'yes' }],
    ['named in lower case with `_`', { Connection: 'close, x_secret', 'X-Secret': 's3cret', 'X-Kept': 'yes' }, ['x-secret'], { 'x-kept': 'yes' }],
    ['header sent with `_`', { Connection: 'close, X-Secret', X_Secret: 's3cret', 'X-Kept': 'yes' }, ['x-secret'], { 'x-kept': 'yes' }],
    ['several names, odd spacing', { Connection: 'close ,X-One,, x-two ', 'X-One': '1', 'X-Two': '2', 'X-Kept': 'yes' }, ['x-one', 'x-two'], { 'x-kept': 'yes' }],
    ['an end-to-end header named in Connection', { Connection: 'close, Cache-Control', 'Cache-Control': 'no-cache', 'X-Kept': 'yes' }, ['cache-control'], { 'x-kept': 'yes' }],
    // Naming a header ztproxy sets removes the client's copy only; ztproxy's own stays.
    [
      'Connection names X-Forwarded-For and X-Request-Id',
      { Connection: 'close, X-Forwarded-For, X-Request-Id', 'X-Forwarded-For': '6.6.6.6' },
      [],
      { 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1' },
    ],
  ];
  it.each(cases)('%s', async (_why, headers, gone, kept) => {
    const res = await get(stack.proxy.port, '/conn', { host: 'app.test', headers });
    expect(res.status).toBe(200);
    for (const name of gone) expect([name, upstreamValues(name)]).toEqual([name, []]);
    for (const [name, value] of Object.entries(kept)) expect([name, upstreamValues(name)]).toEqual([name, [value]]);
    // The client's Connection value itself is not passed on either.
    for (const v of upstreamValues('connection')) expect(v.toLowerCase()).not.toMatch(/secret|x-one|cache-control|forwarded/);
    expect(upstreamValues('x-request-id')).toEqual([res.headers['x-request-id']]);
  });
});

describe('X-Forwarded-* from an untrusted peer are replaced by the socket values', () => {
  const cases: [string, Record<string, string | string[]>][] = [
    ['X-Forwarded-For', { 'X-Forwarded-For': '10.9.9.9' }],
    ['two X-Forwarded-For headers', { 'x-forwarded-for': ['10.9.9.9', '10.8.8.8'] }],
    ['X_Forwarded_For', { X_Forwarded_For: '10.9.9.9' }],
    // PHP reads a dotted name as the underscore one (HTTP_X.FORWARDED.FOR → HTTP_X_FORWARDED_FOR).
    ['X.Forwarded.For / X.Real.IP', { 'X.Forwarded.For': '10.9.9.9', 'X.Real.IP': '10.8.8.8' }],
    ['X-Forwarded-Proto: http', { 'X-Forwarded-Proto': 'http' }],
    ['X-Forwarded-Host', { 'X-Forwarded-Host': 'evil.test' }],
    ['X-Forwarded-Port', { 'X-Forwarded-Port': '1234' }],
    ['X-Forwarded-Prefix', { 'X-Forwarded-Prefix': '/evil' }],
    ['Forwarded (RFC 7239)', { Forwarded: 'for=10.9.9.9;host=evil.test;proto=http' }],
    ['X-Real-IP', { 'X-Real-IP': '10.9.9.9' }],
    ['all of them at once', { 'X-Forwarded-For': '10.9.9.9', 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'evil.test', Forwarded: 'for=10.9.9.9', 'X-Real-IP': '10.9.9.9' }],
  ];
  it.each(cases)('%s', async (_name, headers) => {
    const res = await get(stack.proxy.port, '/xff', { host: 'app.test', headers });
    expect(res.status).toBe(200);
    expect(upstreamValues('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(upstreamValues('x-forwarded-proto')).toEqual(['https']);
    expect(upstreamValues('x-forwarded-host')).toEqual(['app.test']);
    expect(upstreamValues('x-real-ip')).toEqual(['127.0.0.1']);
    expect(upstreamValues('x-forwarded-port')).toEqual([]);
    expect(upstreamValues('x-forwarded-prefix')).toEqual([]);
    expect(upstreamValues('forwarded')).toEqual([]);
    // ztproxy's own random values (request id, the assertion JWT) may contain these digits.
    const own = new Set(['x-request-id', 'x-zt-assertion']);
    expect(pairs(stack.upstream.seen[0]!.rawHeaders).filter(([n, v]) => !own.has(n.toLowerCase()) && /10\.[98]\.|evil|1234/.test(v))).toEqual([]);
  });

  it('X-Forwarded-Host carries the canonical authority the client connected to', async () => {
    const res = await get(stack.proxy.port, '/xff', { host: 'App.Test.:8443' });
    expect(res.status).toBe(200);
    expect(upstreamValues('x-forwarded-host')).toEqual(['app.test:8443']);
    expect(upstreamValues('host')).toEqual(['app.test:8443']);
  });
});

describe('X-Forwarded-* from a trusted proxy (trustedProxies: 127.0.0.1) are extended', () => {
  // [why, request headers, upstream X-Forwarded-For, X-Real-IP (the client), -Proto, -Host]
  const cases: [string, Record<string, string | string[]>, string, string, string, string][] = [
    ['no X-Forwarded-For', {}, '127.0.0.1', '127.0.0.1', 'https', 'app.test'],
    ['one hop', { 'X-Forwarded-For': '203.0.113.7' }, '203.0.113.7, 127.0.0.1', '203.0.113.7', 'https', 'app.test'],
    ['the client is the first untrusted hop from the right', { 'X-Forwarded-For': '198.51.100.1, 203.0.113.7' }, '198.51.100.1, 203.0.113.7, 127.0.0.1', '203.0.113.7', 'https', 'app.test'],
    ['trusted hops are skipped', { 'X-Forwarded-For': '203.0.113.7, 127.0.0.1' }, '203.0.113.7, 127.0.0.1, 127.0.0.1', '203.0.113.7', 'https', 'app.test'],
    ['two X-Forwarded-For headers are one list', { 'x-forwarded-for': ['198.51.100.1', '203.0.113.7'] }, '198.51.100.1, 203.0.113.7, 127.0.0.1', '203.0.113.7', 'https', 'app.test'],
    ['junk left of the client is ignored', { 'X-Forwarded-For': 'junk, 203.0.113.7' }, 'junk, 203.0.113.7, 127.0.0.1', '203.0.113.7', 'https', 'app.test'],
    ['an IPv4-mapped IPv6 client is unwrapped', { 'X-Forwarded-For': '::ffff:203.0.113.7' }, '::ffff:203.0.113.7, 127.0.0.1', '203.0.113.7', 'https', 'app.test'],
    ['an IPv6 client', { 'X-Forwarded-For': '2001:db8::7' }, '2001:db8::7, 127.0.0.1', '2001:db8::7', 'https', 'app.test'],
    ['X-Forwarded-Proto: http is kept', { 'X-Forwarded-Proto': 'http' }, '127.0.0.1', '127.0.0.1', 'http', 'app.test'],
    ['an unknown X-Forwarded-Proto is replaced', { 'X-Forwarded-Proto': 'gopher' }, '127.0.0.1', '127.0.0.1', 'https', 'app.test'],
    ['X-Forwarded-Host is kept, canonicalised', { 'X-Forwarded-Host': 'Orig.Example.COM.:8443' }, '127.0.0.1', '127.0.0.1', 'https', 'orig.example.com:8443'],
    ['an invalid X-Forwarded-Host is replaced', { 'X-Forwarded-Host': 'evil.test@orig.example.com' }, '127.0.0.1', '127.0.0.1', 'https', 'app.test'],
    // Only the canonical spelling is believed even from a trusted proxy: `_` variants
    // are what an attacker behind it adds when the proxy strips only the dashed name.
    ['X_Forwarded_For is dropped', { X_Forwarded_For: '203.0.113.7' }, '127.0.0.1', '127.0.0.1', 'https', 'app.test'],
    ['X_Forwarded_Host is dropped', { X_Forwarded_Host: 'evil.test' }, '127.0.0.1', '127.0.0.1', 'https', 'app.test'],
    ['X.Forwarded.For is dropped', { 'X.Forwarded.For': '203.0.113.7' }, '127.0.0.1', '127.0.0.1', 'https', 'app.test'],
  ];
  it.each(cases)('%s', async (_why, headers, xff, client, proto, host) => {
    const res = await get(trusting.port, '/xff', { host: 'app.test', headers });
    expect(res.status).toBe(200);
    expect(upstreamValues('x-forwarded-for')).toEqual([xff]);
    expect(upstreamValues('x-real-ip')).toEqual([client]);
    expect(upstreamValues('x-forwarded-proto')).toEqual([proto]);
    expect(upstreamValues('x-forwarded-host')).toEqual([host]);
  });
});

describe('an X-Forwarded-For hop that is no address makes the client unknown: 400, nothing forwarded', () => {
  it.each([['203.0.113.7, junk'], ['unknown'], ['203.0.113.7, 999.1.1.1']])('X-Forwarded-For: %s', async (xff) => {
    const res = await get(trusting.port, '/xff-bad', { host: 'app.test', headers: { 'X-Forwarded-For': xff } });
    expect(res.status).toBe(400);
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('a forged client address never changes a sourceIp decision (allow sourceIp 10.0.0.0/8)', () => {
  const untrusted: [string, Record<string, string>][] = [
    ['nothing forged', {}],
    ['X-Forwarded-For: 10.1.2.3', { 'X-Forwarded-For': '10.1.2.3' }],
    ['X_Forwarded_For: 10.1.2.3', { X_Forwarded_For: '10.1.2.3' }],
    ['X-Real-IP: 10.1.2.3', { 'X-Real-IP': '10.1.2.3' }],
    ['Forwarded: for=10.1.2.3', { Forwarded: 'for=10.1.2.3' }],
    ['X-Client-IP / True-Client-IP / CF-Connecting-IP', { 'X-Client-IP': '10.1.2.3', 'True-Client-IP': '10.1.2.3', 'CF-Connecting-IP': '10.1.2.3' }],
  ];
  it.each(untrusted)('untrusted peer, %s → 403, nothing forwarded', async (_why, headers) => {
    const res = await get(stack.proxy.port, '/', { host: 'ip.test', headers });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toEqual({ error: 'forbidden', requestId: res.headers['x-request-id'] });
    expect(stack.upstream.seen).toEqual([]);
  });

  const trusted: [string, Record<string, string>, number][] = [
    // The control: the same header from a trusted proxy is believed.
    ['X-Forwarded-For: 10.1.2.3', { 'X-Forwarded-For': '10.1.2.3' }, 200],
    ['X-Forwarded-For: 10.1.2.3, 8.8.8.8 (8.8.8.8 is the client)', { 'X-Forwarded-For': '10.1.2.3, 8.8.8.8' }, 403],
    ['X_Forwarded_For: 10.1.2.3', { X_Forwarded_For: '10.1.2.3' }, 403],
    ['X-Real-IP: 10.1.2.3', { 'X-Real-IP': '10.1.2.3' }, 403],
  ];
  it.each(trusted)('trusted peer, %s → %i', async (_why, headers, status) => {
    const res = await get(trusting.port, '/', { host: 'ip.test', headers });
    expect(res.status).toBe(status);
    expect(stack.upstream.seen).toHaveLength(status === 200 ? 1 : 0);
  });
});

describe('hop-by-hop response headers from the upstream are not passed to the client', () => {
  // The helper upstream answers `Connection: keep-alive, x-upstream-secret`,
  // `X-Upstream-Secret: do-not-forward`, `Keep-Alive: timeout=5`.
  it('over a closing connection', async () => {
    const res = await get(stack.proxy.port, '/resp', { host: 'app.test' });
    expect(res.status).toBe(200);
    expect(res.headers['x-upstream']).toBe('yes');
    expect(res.headers['x-upstream-secret']).toBeUndefined();
    expect(res.headers['keep-alive']).toBeUndefined();
    expect(res.headers['connection']).toBe('close');
  });

  it('over a kept-alive connection: Connection and Keep-Alive are the proxy listener\'s own', async () => {
    const res = parseRaw((await rawRequest(stack.proxy.port, 'GET /resp HTTP/1.1\r\nHost: app.test\r\n\r\n', { timeoutMs: 500 })).text);
    expect(res.status).toBe(200);
    expect(res.headers['x-upstream']).toBe('yes');
    expect(res.headers['x-upstream-secret']).toBeUndefined();
    expect(res.headers['connection']).toBe('keep-alive');
    expect(res.headers['keep-alive']).toBe('timeout=7');
  });
});

// Every answer — forwarded, denied, unrouted, rejected by sanitation or by Node's parser,
// too large, upstream down — carries X-Request-Id and (unless disabled) HSTS; local
// errors are exactly `{"error","requestId"}`, no stack, no policy detail.
type Probe = (port: number) => Promise<SimpleResponse>;
const probes: [string, number, string | null, Probe][] = [
  ['forwarded', 200, null, (p) => get(p, '/ok', { host: 'app.test' })],
  ['policy deny', 403, 'forbidden', (p) => get(p, '/admin/users', { host: 'app.test' })],
  ['sourceIp deny', 403, 'forbidden', (p) => get(p, '/', { host: 'ip.test' })],
  ['no route', 404, 'not found', (p) => get(p, '/', { host: 'nowhere.test' })],
  ['encoded slash (sanitation)', 400, 'bad request', (p) => raw(p, 'GET /a%2Fb HTTP/1.1\r\nHost: app.test\r\n\r\n')],
  ['several Host headers (sanitation)', 400, 'bad request', (p) => raw(p, 'GET / HTTP/1.1\r\nHost: app.test\r\nHost: evil.test\r\n\r\n')],
  ['missing Host on HTTP/1.1', 400, 'bad request', (p) => raw(p, 'GET / HTTP/1.1\r\n\r\n')],
  ['obs-fold (Node parser)', 400, 'bad request', (p) => raw(p, 'GET / HTTP/1.1\r\nHost: app.test\r\nX-A: a\r\n b\r\n\r\n')],
  ['CL.TE (Node parser)', 400, 'bad request', (p) => raw(p, 'POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')],
  ['CONNECT to a target no TCP route names', 404, 'not found', (p) => raw(p, 'CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n')],
  ['CONNECT whose Host disagrees with its target', 400, 'bad request', (p) => raw(p, 'CONNECT app.test:443 HTTP/1.1\r\nHost: app.test\r\n\r\n')],
  ['header over maxHeaderSize', 431, 'request headers too large', (p) => raw(p, `GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`)],
  ['upstream refused', 502, 'bad gateway', (p) => get(p, '/', { host: 'down.test' })],
];

function expectAnswer(res: SimpleResponse, status: number, error: string | null, hsts: string | undefined): void {
  expect(res.status).toBe(status);
  const id = res.headers['x-request-id'];
  expect(id).toMatch(UUID);
  expect(res.headers['strict-transport-security']).toBe(hsts);
  if (error === null) {
    expect(stack.upstream.seen).toHaveLength(1);
    expect(stack.upstream.seen[0]!.headers['x-request-id']).toBe(id);
    return;
  }
  expect(res.headers['content-type']).toBe('application/json');
  // Exactly these bytes: no stack, no rule, no route, no reason.
  expect(res.body).toBe(JSON.stringify({ error, requestId: id }));
  expect(stack.upstream.seen).toEqual([]);
}

describe('every response carries X-Request-Id and Strict-Transport-Security', () => {
  it.each(probes)('%s → %i', async (_name, status, error, probe) => {
    expectAnswer(await probe(stack.proxy.port), status, error, HSTS);
  });
});

describe('listen.hsts.enabled: false → no Strict-Transport-Security, X-Request-Id still there', () => {
  it.each(probes)('%s → %i', async (_name, status, error, probe) => {
    expectAnswer(await probe(noHsts.port), status, error, undefined);
  });
});

describe('listen.limits.maxHeaderSize (8 KiB)', () => {
  it('a 6 000-byte header is under the limit and forwarded', async () => {
    const res = await get(stack.proxy.port, '/big', { host: 'app.test', headers: { 'X-Big': 'b'.repeat(6000) } });
    expect(res.status).toBe(200);
    expect(upstreamValues('x-big')).toEqual(['b'.repeat(6000)]);
  });

  it.each([
    ['one 10 000-byte header', `X-Big: ${'a'.repeat(10_000)}\r\n`],
    ['200 small headers (12 KB in all)', Array.from({ length: 200 }, (_, i) => `X-H-${i}: ${'a'.repeat(50)}\r\n`).join('')],
    ['a 10 000-byte request target', ''],
  ])('%s → 431, nothing forwarded', async (name, headers) => {
    const target = name.includes('target') ? `/${'t'.repeat(10_000)}` : '/';
    const res = await raw(stack.proxy.port, `GET ${target} HTTP/1.1\r\nHost: app.test\r\n${headers}\r\n`);
    expect(res.status).toBe(431);
    expect(res.body).toBe(JSON.stringify({ error: 'request headers too large', requestId: res.headers['x-request-id'] }));
    expect(stack.upstream.seen).toEqual([]);
  });
});
