// Encoded delimiters for upstreams that decode the path and parse it again. The
// canonical form keeps `%3F`, `%23`, `%3B`, `%25` encoded (RFC 3986: an encoded
// delimiter is data) and the policy judges `/admin%3Fx` as one segment `admin%3Fx`. An
// upstream that decodes first reads `/admin` with the query `x`, `/admin%23x` as `/admin`
// with a fragment, `/admin%3Bx` as Tomcat's `/admin` with a path parameter, and
// `/%2561dmin` (decoded twice) as `/admin`: a deny on `/admin` is bypassed.
//
// Safe outcome, on a route with `paths: { rejectEncoded: [...] }`: 400 and nothing
// forwarded for each listed character, in either hex case; other escapes still pass;
// routes without the key are unchanged.
import { describe, expect, it } from 'vitest';
import { openRoute, rawGet } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const DENY_ADMIN = { allow: { accept: true }, deny: { path: { prefix: '/admin' } } };

const stack = useProxyStack(({ upstream }) => ({
  routes: [
    openRoute(upstream.url, { name: 'listed', match: { host: 'listed.test' }, paths: { rejectEncoded: ['?', '#', ';'] }, policy: DENY_ADMIN }),
    openRoute(upstream.url, { name: 'reserved', match: { host: 'reserved.test' }, paths: { rejectEncoded: 'reserved' }, policy: DENY_ADMIN }),
    openRoute(upstream.url, { name: 'plain', match: { host: 'plain.test' }, policy: DENY_ADMIN }),
  ],
}));

const send = (host: string, target: string) => rawGet(stack.proxy.port, host, target);

describe('rejectEncoded: [?, #, ;]', () => {
  it.each([
    ['/admin%3Fx', 'encoded ?: /admin with a query after decoding'],
    ['/admin%3fx', 'lower-case hex'],
    ['/admin%23x', 'encoded #: /admin with a fragment'],
    ['/admin%3Bjsessionid=1/x', 'encoded ;: a path parameter to Tomcat'],
    ['/ok/a%3F', 'anywhere in the path'],
  ])('GET %s (%s) → 400, nothing forwarded', async (target) => {
    const res = await send('listed.test', target);
    expect(res.status).toBe(400);
    expect(stack.upstream.seen.map((s) => s.url)).toEqual([]);
  });

  it.each(['/a%2Cb', '/a%26b', '/a%20b', '/caf%C3%A9', '/x?q=%3F%23'])('GET %s is not listed: forwarded unchanged', async (target) => {
    const res = await send('listed.test', target);
    expect(res.status).toBe(200);
    expect(stack.upstream.seen.map((s) => s.url)).toEqual([target]);
  });
});

describe('rejectEncoded: reserved', () => {
  it.each([
    '/admin%3Fx',
    '/admin%23x',
    '/admin%3Bx',
    '/%2561dmin',
    '/a%2525',
    '/a%3Ab',
    '/a%40b',
    '/a%2Cb',
    '/a%26b',
    '/a%3Db',
    '/a%2Bb',
    '/a%21b',
    '/a%24b',
    '/a%27b',
    '/a%28b',
    '/a%29b',
    '/a%2Ab',
    '/a%5Bb',
    '/a%5Db',
  ])('GET %s → 400, nothing forwarded', async (target) => {
    const res = await send('reserved.test', target);
    expect(res.status).toBe(400);
    expect(stack.upstream.seen.map((s) => s.url)).toEqual([]);
  });

  it.each(['/a%20b', '/caf%C3%A9', '/a%22b', '/plain/path', "/a:b@c!$&'()*+,=", '/x?a=%3F'])('GET %s passes (not an encoded delimiter)', async (target) => {
    const res = await send('reserved.test', target);
    expect(res.status).toBe(200);
    expect(stack.upstream.seen.map((s) => s.url)).toEqual([target]);
  });
});

describe('a route without rejectEncoded is unchanged', () => {
  it.each(['/admin%3Fx', '/admin%23x', '/admin%3Bx', '/%2561dmin'])('GET %s is forwarded as data', async (target) => {
    const res = await send('plain.test', target);
    expect(res.status).toBe(200);
    expect(stack.upstream.seen.map((s) => s.url)).toEqual([target]);
  });
});
