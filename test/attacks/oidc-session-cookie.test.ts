// Attacks on the `__Host-ztproxy` session cookie over real sockets (real dev OP login):
// tampered, truncated, foreign-key, wrong-use, expired, idle, malformed, algorithm- and
// encryption-downgraded, oversized cookies — each: a browser is sent to log in, an API
// client gets 401, the response clears the cookie, the upstream sees nothing. Then an
// upstream trying to set or clear ztproxy's cookies, and a bearer token for another
// subject than the session in the same request.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EncryptJWT, base64url } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deriveSessionKey } from '../../src/identity/session/codec.ts';
import { HttpBrowser, SESSION_KEY, loginThroughProxy, startLoginStack, type LoginStack } from '../helpers/oidc.ts';
import { SESSION_COOKIE, clears, nowS, reasonOf, startFlow, testCodec } from '../helpers/oidc-attacker.ts';
import { makeKey, mint, type TestKey } from '../helpers/jwt.ts';
import { rawRequest } from '../helpers/proxy.ts';

const API_AUDIENCE = 'urn:ztproxy:api';
const OTHER_ISSUER = 'https://other-idp.test';

let stack: LoginStack;
let cookieUpstream: Server;
let cookieUpstreamUrl: string;
let jwtKey: TestKey;
/** Alice's genuine session cookie value. */
let alice: string;
/** Set-Cookie lines the cookie-setting upstream answers with. */
let upstreamSetCookies: string[] = [];
/** Further headers the cookie-setting upstream answers with. */
let upstreamHeaders: Record<string, string> = {};
/** Raw headers of every request the cookie-setting upstream received. */
const cookieUpstreamSeen: string[][] = [];

beforeAll(async () => {
  cookieUpstream = createServer((req, res) => {
    cookieUpstreamSeen.push(req.rawHeaders);
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', ...upstreamHeaders, 'set-cookie': upstreamSetCookies }).end('hello');
  });
  await new Promise<void>((resolve) => cookieUpstream.listen(0, '127.0.0.1', resolve));
  cookieUpstreamUrl = `http://127.0.0.1:${(cookieUpstream.address() as AddressInfo).port}`;
  jwtKey = await makeKey('ES256');
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-oidc-attack-'));
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwtKey.publicJwk] }));
  stack = await startLoginStack({
    identity: (opIssuer) => ({
      jwt: [
        { issuer: opIssuer, audience: API_AUDIENCE, jwksFile, algorithms: ['ES256'] },
        { issuer: OTHER_ISSUER, audience: API_AUDIENCE, jwksFile, algorithms: ['ES256'] },
      ],
    }),
    routes: [
      { name: 'public-cookies', match: { pathPrefix: '/public-cookies' }, upstream: cookieUpstreamUrl, policy: { allow: { accept: true } } },
      { name: 'cookies', match: { pathPrefix: '/cookies' }, upstream: cookieUpstreamUrl, policy: { allow: { authenticated: true } } },
      { name: 'app', policy: { allow: { authenticated: true } } },
    ],
  });
  const b = new HttpBrowser();
  await loginThroughProxy(b, stack, '/app');
  alice = b.cookies.get(SESSION_COOKIE)!.value;
});

afterAll(async () => {
  await stack?.close();
  cookieUpstream?.closeAllConnections();
  await new Promise<void>((resolve) => (cookieUpstream ? cookieUpstream.close(() => resolve()) : resolve()));
});

beforeEach(() => stack.upstream.reset());

const api = { accept: 'application/json' };

function withCookie(value: string): HttpBrowser {
  const b = new HttpBrowser();
  b.cookies.set(SESSION_COOKIE, { value, line: '' });
  return b;
}

/** The cookie value gets no one in: browser → login, API → 401, both clear it, upstream untouched. */
async function expectRefused(value: string, label: string): Promise<void> {
  const page = await withCookie(value).get(`${stack.origin}/app/secret`);
  expect(page.status, label).toBe(302);
  expect(page.headers.get('location'), label).toBe('/.ztproxy/login?rd=%2Fapp%2Fsecret');
  expect(clears(page, SESSION_COOKIE), label).toBe(true);
  const call = await withCookie(value).get(`${stack.origin}/app/secret`, api);
  expect(call.status, label).toBe(401);
  expect(call.headers.get('www-authenticate'), label).toBe('Bearer');
  expect(clears(call, SESSION_COOKIE), label).toBe(true);
  expect(stack.upstream.seen, label).toEqual([]);
}

function flip(value: string, partIndex: number): string {
  const parts = value.split('.');
  const part = parts[partIndex]!;
  const i = Math.floor(part.length / 2);
  parts[partIndex] = part.slice(0, i) + (part[i] === 'A' ? 'B' : 'A') + part.slice(i + 1);
  return parts.join('.');
}

async function aliceData(): Promise<Record<string, unknown>> {
  const opened = await testCodec().open<Record<string, unknown>>('session', alice);
  if (!opened.ok) throw new Error(opened.reason);
  const data = { ...opened.payload };
  delete data['use'];
  return data;
}

describe('session cookies that must not authenticate', () => {
  it('the genuine cookie works (baseline), and one re-sealed with the configured key works too', async () => {
    expect((await withCookie(alice).get(`${stack.origin}/app/x`, api)).status).toBe(200);
    const data = await aliceData();
    const resealed = await testCodec().seal('session', data, data['exp'] as number);
    expect((await withCookie(resealed).get(`${stack.origin}/app/y`, api)).status).toBe(200);
    expect(stack.upstream.seen).toHaveLength(2);
  });

  it('bit-flipped in the header, IV, ciphertext or tag', async () => {
    for (const part of [0, 2, 3, 4]) await expectRefused(flip(alice, part), `part ${part}`);
  });

  it('truncated, parts dropped, parts swapped, empty', async () => {
    const parts = alice.split('.');
    const variants: [string, string][] = [
      ['half', alice.slice(0, Math.floor(alice.length / 2))],
      ['no tag', parts.slice(0, 4).join('.')],
      ['empty tag', [...parts.slice(0, 4), ''].join('.')],
      ['short tag', [...parts.slice(0, 4), parts[4]!.slice(0, 8)].join('.')],
      ['ciphertext cut', [parts[0], parts[1], parts[2], parts[3]!.slice(0, -4), parts[4]].join('.')],
      ['iv and tag swapped', [parts[0], parts[1], parts[4], parts[3], parts[2]].join('.')],
      ['empty', ''],
      ['dots only', '....'],
    ];
    for (const [label, v] of variants) await expectRefused(v, label);
  });

  it('sealed by another deployment (another session key)', async () => {
    const data = await aliceData();
    await expectRefused(await testCodec('another-deployment-key-0123456789abcdef').seal('session', data, nowS() + 3600), 'other key');
  });

  it('sealed with another key under our kid (kid collision)', async () => {
    const ours = deriveSessionKey(SESSION_KEY);
    const theirs = deriveSessionKey('attacker-chosen-secret-0123456789abcdef');
    const data = await aliceData();
    const forged = await new EncryptJWT({ ...data, use: 'session' })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: ours.kid })
      .setExpirationTime(nowS() + 3600)
      .encrypt(theirs.key);
    await expectRefused(forged, 'kid collision');
  });

  it('a login flow cookie presented as the session cookie (wrong use)', async () => {
    const flow = await startFlow(new HttpBrowser(), stack.origin, '/app');
    await expectRefused(flow.cookieValue, 'flow cookie');
  });

  it('the same secret, but sealed for the login use', async () => {
    const data = await aliceData();
    await expectRefused(await testCodec().seal('login', data, nowS() + 3600), 'use=login');
  });

  // (The session's `exp` and the envelope's JWT `exp` are one claim: seal() writes it.)
  it('expired: exp in the past', async () => {
    const data = await aliceData();
    await expectRefused(await testCodec().seal('session', data, nowS() - 1), 'jwe exp');
  });

  it('idle: last seen longer ago than the idle timeout (30m)', async () => {
    const data = { ...(await aliceData()), seen: nowS() - 31 * 60 };
    await expectRefused(await testCodec().seal('session', data, nowS() + 3600), 'idle');
  });

  it('malformed payloads sealed with the right key (missing sid, claims not an object, sub not a string)', async () => {
    const data = await aliceData();
    const variants: [string, Record<string, unknown>][] = [
      ['no sid', { ...data, sid: undefined }],
      ['c is a string', { ...data, c: 'admins' }],
      ['sub is a number', { ...data, sub: 1 }],
      ['seen missing', { ...data, seen: undefined }],
      ['ra is a string', { ...data, ra: 'soon' }],
    ];
    for (const [label, v] of variants) await expectRefused(await testCodec().seal('session', v, nowS() + 3600), label);
  });

  it('key-management algorithm changed (A256KW with the same key, kid kept)', async () => {
    const ours = deriveSessionKey(SESSION_KEY);
    const data = await aliceData();
    const v = await new EncryptJWT({ ...data, use: 'session' })
      .setProtectedHeader({ alg: 'A256KW', enc: 'A256GCM', kid: ours.kid })
      .setExpirationTime(nowS() + 3600)
      .encrypt(ours.key);
    await expectRefused(v, 'A256KW');
  });

  it('content encryption downgraded (dir + A128GCM with half the key)', async () => {
    const ours = deriveSessionKey(SESSION_KEY);
    const data = await aliceData();
    const v = await new EncryptJWT({ ...data, use: 'session' })
      .setProtectedHeader({ alg: 'dir', enc: 'A128GCM', kid: ours.kid })
      .setExpirationTime(nowS() + 3600)
      .encrypt(ours.key.slice(0, 16));
    await expectRefused(v, 'A128GCM');
  });

  it('the protected header rewritten (alg none / A128KW / zip) on a genuine cookie', async () => {
    const [h, ...rest] = alice.split('.');
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(h!))) as Record<string, unknown>;
    for (const patch of [{ alg: 'none' }, { alg: 'A128KW' }, { enc: 'A128GCM' }, { zip: 'DEF' }, { kid: undefined }, { crit: ['exp'] }]) {
      const edited = base64url.encode(JSON.stringify({ ...header, ...patch }));
      await expectRefused([edited, ...rest].join('.'), JSON.stringify(patch));
    }
  });

  it('a signed JWT (JWS) or plain JSON in place of the JWE', async () => {
    const jws = await mint(jwtKey, { sid: 'x', iss: stack.op.issuer, sub: 'alice', c: {}, iat: nowS(), exp: nowS() + 3600, seen: nowS(), use: 'session' });
    await expectRefused(jws, 'jws');
    await expectRefused(encodeURIComponent(JSON.stringify({ sub: 'alice' })), 'json');
  });

  it('an oversized cookie value (over 8 KiB) → refused without decrypting', async () => {
    await expectRefused(`${alice}${'A'.repeat(9000)}`, 'oversized value');
    const res = await withCookie(`${alice}${'A'.repeat(9000)}`).get(`${stack.origin}/app/x`, api);
    expect(res.status).toBe(401);
  });

  it('an oversized Cookie header (beyond the header limit) → refused, never forwarded', async () => {
    const b = new HttpBrowser();
    const res = await b.get(`${stack.origin}/app/secret`, { cookie: `${SESSION_COOKIE}=${alice}; pad=${'x'.repeat(20_000)}` });
    expect(res.status).toBe(431);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a forged cookie ahead of the genuine one: the first is read, and it is refused (no fallback to the second)', async () => {
    const res = await new HttpBrowser().get(`${stack.origin}/app/x`, { ...api, cookie: `${SESSION_COOKIE}=${flip(alice, 3)}; ${SESSION_COOKIE}=${alice}` });
    expect(res.status).toBe(401);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('cookie names differing only in case or prefix are not the session', async () => {
    for (const name of ['__host-ztproxy', '__HOST-ZTPROXY', '__Secure-ztproxy', 'ztproxy', '__Host-ztproxy-', '_Host-ztproxy']) {
      const res = await new HttpBrowser().get(`${stack.origin}/app/x`, { ...api, cookie: `${name}=${alice}` });
      expect(res.status, name).toBe(401);
    }
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('an upstream cannot set, replace or clear ztproxy cookies', () => {
  const hostile = [
    '__Host-ztproxy=evil; Path=/; Secure; HttpOnly; SameSite=Lax',
    '__Host-ztproxy-login-AAAAAAAAAAA=evil; Path=/; Secure; HttpOnly',
    '__HOST-ZTPROXY=evil; Path=/; Secure',
    '__host-ztproxy-login-x=evil; Path=/; Secure',
    '__Secure-ztproxy=evil; Path=/; Secure',
    'ztproxy=evil; Path=/',
    '__Host-ztproxy=; Max-Age=0; Path=/; Secure',
    '__Host-ztproxy; Path=/; Secure',
  ];

  function upstreamLines(res: Response): string[] {
    // ztproxy's own lines (a renewed session) carry a JWE; everything else came from the upstream.
    return res.headers.getSetCookie().filter((l) => !/^__Host-ztproxy=[^;]+\.[^;]+\.[^;]+\.[^;]+\.[^;]+;/.test(l));
  }

  it('on a route that needs a login: only the app\'s own cookie reaches the browser; the session survives', async () => {
    upstreamSetCookies = [...hostile, 'app=1; Path=/; Secure'];
    const b = withCookie(alice);
    const res = await b.get(`${stack.origin}/cookies/page`);
    expect(res.status).toBe(200);
    expect(upstreamLines(res)).toEqual(['app=1; Path=/; Secure']);
    expect(b.cookies.get(SESSION_COOKIE)?.value).toBe(alice);
    expect((await b.get(`${stack.origin}/app/still`, api)).status).toBe(200);
  });

  it('on a public route, for an anonymous browser: nothing of ours is set', async () => {
    upstreamSetCookies = [...hostile];
    const b = new HttpBrowser();
    const res = await b.get(`${stack.origin}/public-cookies/page`);
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect([...b.cookies.keys()].filter((n) => /ztproxy/i.test(n))).toEqual([]);
  });

  it("an attacker's own valid session cookie, set by an upstream (fixation), is dropped", async () => {
    const attacker = new HttpBrowser();
    await loginThroughProxy(attacker, stack, '/app', 'bob', 'bob-dev-password');
    const bobs = attacker.cookies.get(SESSION_COOKIE)!.value;
    upstreamSetCookies = [`__Host-ztproxy=${bobs}; Path=/; Secure; HttpOnly; SameSite=Lax`];
    const victim = new HttpBrowser();
    const res = await victim.get(`${stack.origin}/public-cookies/page`);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(victim.cookies.has(SESSION_COOKIE)).toBe(false);
  });

  // Was a bug (defence in depth), fixed: src/identity/session/cookies.ts setsOurCookie() takes
  // the name as everything before the first `=`; for a *nameless* cookie
  // `Set-Cookie: =__Host-ztproxy=<value>` the name is "" and the line is passed on. A
  // browser stores it as a cookie with an empty name and value `__Host-ztproxy=<value>`,
  // which it serialises as `Cookie: __Host-ztproxy=<value>` — i.e. the upstream plants a
  // session cookie (fixation with the attacker's own valid session) and bypasses the
  // `__Host-` prefix. Current Chrome and Firefox refuse nameless cookies whose value
  // starts with `__Host-`/`__Secure-` (RFC 6265bis §5.7; CVE-2022-40958), older
  // browsers and other user agents do not. Fixed: in setsOurCookie, when the name is empty
  // (`eq === 0`, after trimming), test OURS against the value part as well (or drop every
  // nameless Set-Cookie).
  it('a nameless cookie whose value spells our cookie (`=__Host-ztproxy=…`) is dropped', async () => {
    upstreamSetCookies = ['=__Host-ztproxy=evil; Path=/; Secure', '=__Host-ztproxy-login-AAAAAAAAAAA=evil; Path=/; Secure', 'app=1'];
    const res = await new HttpBrowser().get(`${stack.origin}/public-cookies/page`);
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual(['app=1']);
  });
});

describe('a response carrying ztproxy\'s Set-Cookie is never cacheable by a shared cache', () => {
  /** Alice's session, last seen two minutes ago: the next request writes `seen` back (a new Set-Cookie). */
  async function staleButValid(): Promise<string> {
    const data: Record<string, unknown> = { ...(await aliceData()), seen: nowS() - 120 };
    return testCodec().seal('session', data, data['exp'] as number);
  }

  afterEach(() => {
    upstreamHeaders = {};
    upstreamSetCookies = [];
  });

  it('baseline: a renewed session cookie is sent with the upstream response', async () => {
    const res = await withCookie(await staleButValid()).get(`${stack.origin}/cookies/asset.js`);
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie().filter((l) => l.startsWith(`${SESSION_COOKIE}=`) && !l.startsWith(`${SESSION_COOKIE}=;`))).toHaveLength(1);
  });

  // Was a bug (medium), fixed: src/proxy/forward.ts responseHeaders() appends ztproxy's own
  // Set-Cookie (a session written back after activity, a refreshed session, or a
  // cleared one — ctx.setCookies) to the upstream's response but keeps the upstream's
  // Cache-Control. When the upstream marks the response `public, max-age=3600` (a static
  // asset behind a login), a shared cache in front of ztproxy (CDN, corporate proxy) may
  // store it with the victim's `__Host-ztproxy` session cookie and hand that cookie to
  // every later visitor (RFC 9111 does not forbid storing responses with Set-Cookie;
  // several CDNs do). Fixed: whenever ctx.setCookies is added, make the response
  // uncacheable by shared caches — replace/merge Cache-Control with `private, no-store`
  // (or at least add `no-cache="Set-Cookie"` / `private`) — and likewise in
  // src/proxy/reply.ts for local replies (those already send no-store).
  it('a renewed session cookie on an upstream response marked `public, max-age=3600` → the response is made private / no-store', async () => {
    upstreamHeaders = { 'cache-control': 'public, max-age=3600' };
    const res = await withCookie(await staleButValid()).get(`${stack.origin}/cookies/asset.js`);
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie().some((l) => l.startsWith(`${SESSION_COOKIE}=`) && !l.startsWith(`${SESSION_COOKIE}=;`))).toBe(true);
    expect(res.headers.get('cache-control') ?? '').toMatch(/no-store|private/);
  });

  // Was a bug (medium), fixed: a cleared (invalid/expired) session cookie on a cacheable
  // public response — a cached `__Host-ztproxy=; Max-Age=0` logs out everyone it is served to.
  it('a cleared session cookie on a public response marked `public, max-age=3600` → not cacheable', async () => {
    upstreamHeaders = { 'cache-control': 'public, max-age=3600' };
    const res = await withCookie(flip(alice, 3)).get(`${stack.origin}/public-cookies/asset.js`);
    expect(res.status).toBe(200);
    expect(clears(res, SESSION_COOKIE)).toBe(true);
    expect(res.headers.get('cache-control') ?? '').toMatch(/no-store|private/);
  });

  it('local replies that set or clear the session are no-store', async () => {
    const page = await withCookie(flip(alice, 3)).get(`${stack.origin}/app/secret`);
    expect(page.status).toBe(302);
    expect(page.headers.get('cache-control')).toBe('no-store');
  });
});

describe("ztproxy's cookies never reach an upstream", () => {
  it('on a public route, in two Cookie headers, without spaces, with lookalike names: only the app cookies arrive', async () => {
    upstreamSetCookies = [];
    cookieUpstreamSeen.length = 0;
    const flow = await startFlow(new HttpBrowser(), stack.origin, '/x');
    const port = stack.proxy.port;
    const raw =
      `GET /public-cookies/page HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      `Cookie: theme=dark;${SESSION_COOKIE}=${alice};${flow.cookieName}=${flow.cookieValue}\r\n` +
      `Cookie: __HOST-ZTPROXY=${alice}; lang=en; __Secure-ztproxy=x;  ${SESSION_COOKIE}=${alice}\r\n` +
      `Connection: close\r\n\r\n`;
    const res = await rawRequest(port, raw);
    expect(res.status).toBe(200);
    expect(cookieUpstreamSeen).toHaveLength(1);
    const seen = cookieUpstreamSeen[0]!;
    const cookieValues = seen.filter((_, i) => i % 2 === 1 && seen[i - 1]!.toLowerCase() === 'cookie');
    expect(cookieValues.join('; ')).toBe('theme=dark; lang=en');
    expect(seen.join('\n')).not.toContain(alice);
    expect(seen.join('\n')).not.toContain(flow.cookieValue);
  });
});

describe('a bearer token and a session cookie in the same request', () => {
  async function bearer(sub: string, iss = stack.op.issuer, claims: Record<string, unknown> = {}): Promise<string> {
    return mint(jwtKey, { iss, aud: API_AUDIENCE, sub, iat: nowS(), exp: nowS() + 300, ...claims });
  }

  it("baseline: bob's token alone gets in as bob; alice's cookie with alice's own token gets in", async () => {
    const bobOnly = await new HttpBrowser().get(`${stack.origin}/app/x`, { ...api, authorization: `Bearer ${await bearer('bob')}` });
    expect(bobOnly.status).toBe(200);
    const both = await withCookie(alice).get(`${stack.origin}/app/y`, { ...api, authorization: `Bearer ${await bearer('alice')}` });
    expect(both.status).toBe(200);
    expect(stack.upstream.seen).toHaveLength(2);
  });

  it("alice's session cookie with bob's token → 401 invalid_token, nothing forwarded", async () => {
    const res = await withCookie(alice).get(`${stack.origin}/app/x`, { ...api, authorization: `Bearer ${await bearer('bob')}` });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(await reasonOf(stack.proxy, res)).toBe('bearer-session-subject-conflict');
    expect(stack.upstream.seen).toEqual([]);
  });

  it('the same subject name from another issuer is another subject → 401', async () => {
    const res = await withCookie(alice).get(`${stack.origin}/app/x`, { ...api, authorization: `Bearer ${await bearer('alice', OTHER_ISSUER)}` });
    expect(res.status).toBe(401);
    expect(await reasonOf(stack.proxy, res)).toBe('bearer-session-subject-conflict');
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a browser navigation (Accept: text/html) with a conflicting token is refused too, not sent to login', async () => {
    const res = await withCookie(alice).get(`${stack.origin}/app/x`, { authorization: `Bearer ${await bearer('bob')}` });
    expect(res.status).toBe(401);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a broken token next to a valid cookie → 401 (no fallback to the cookie)', async () => {
    for (const token of ['garbage', await bearer('alice', stack.op.issuer, { exp: nowS() - 600, iat: nowS() - 900 }), (await bearer('alice')).slice(0, -5)]) {
      const res = await withCookie(alice).get(`${stack.origin}/app/x`, { ...api, authorization: `Bearer ${token}` });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    }
    expect(stack.upstream.seen).toEqual([]);
  });

  it('two Authorization headers (alice, then bob) next to alice\'s cookie → 400', async () => {
    const port = stack.proxy.port;
    const raw =
      `GET /app/x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: application/json\r\n` +
      `Authorization: Bearer ${await bearer('alice')}\r\nAuthorization: Bearer ${await bearer('bob')}\r\n` +
      `Cookie: ${SESSION_COOKIE}=${alice}\r\nConnection: close\r\n\r\n`;
    const res = await rawRequest(port, raw);
    expect(res.status).toBe(400);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('one Authorization header listing two tokens → 401', async () => {
    const res = await withCookie(alice).get(`${stack.origin}/app/x`, { ...api, authorization: `Bearer ${await bearer('alice')}, Bearer ${await bearer('bob')}` });
    expect(res.status).toBe(401);
    expect(stack.upstream.seen).toEqual([]);
  });
});
