// Session lifecycle against the real development OP, over real sockets: refresh before
// the access token lapses (one refresh per session however many requests arrive, with a
// provider that rotates refresh tokens), a provider that goes down (logins 503, sessions
// go on), key rotation by config reload, idle and absolute expiry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCodec, deriveSessionKey } from '../../../src/identity/session/codec.ts';
import type { SessionData } from '../../../src/identity/session/manager.ts';
import { HttpBrowser, SESSION_KEY, loginThroughProxy, startLoginStack, type LoginStack } from '../../helpers/oidc.ts';

const codec = new EnvelopeCodec([deriveSessionKey(SESSION_KEY)]);

async function sessionOf(b: HttpBrowser): Promise<SessionData> {
  const opened = await codec.open<SessionData>('session', b.cookies.get('__Host-ztproxy')!.value);
  if (!opened.ok) throw new Error(opened.reason);
  return opened.payload;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('refresh', () => {
  let stack: LoginStack;
  beforeAll(async () => {
    // A public client: the OP rotates its refresh token at every use, and a reused one
    // revokes the whole grant — so two refreshes racing would end the session.
    stack = await startLoginStack({ accessTokenTtl: 2, publicClient: true });
  });
  afterAll(() => stack?.close());

  it('renews the session before the access token lapses, once however many requests arrive', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    const first = await sessionOf(b);
    expect(first.rt).toBeTruthy();
    expect(first.ra).toBeDefined();
    const before = stack.op.grants['refresh_token'] ?? 0;
    const oldCookie = b.cookies.get('__Host-ztproxy')!.value;
    await sleep(2200);
    // 20 requests at once with the same (due) cookie.
    const results = await Promise.all(Array.from({ length: 20 }, () => b.clone().get(`${stack.origin}/app/x`)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect((stack.op.grants['refresh_token'] ?? 0) - before).toBe(1);
    const cookies = new Set(results.flatMap((r) => r.headers.getSetCookie()).filter((c) => c.startsWith('__Host-ztproxy=')));
    expect(cookies.size).toBe(1);
    // The browser keeps the renewed cookie: a new refresh token, a later refresh time.
    await b.get(`${stack.origin}/app/x`);
    const second = await sessionOf(b);
    expect(second.sid).toBe(first.sid);
    expect(second.rt).not.toBe(first.rt);
    expect(second.ra!).toBeGreaterThan(first.ra!);
    // A request still carrying the old cookie (in flight during the refresh) is not
    // refused, and does not refresh again (that would reuse a rotated refresh token).
    const stale = new HttpBrowser();
    stale.cookies.set('__Host-ztproxy', { value: oldCookie, line: '' });
    expect((await stale.get(`${stack.origin}/app/x`)).status).toBe(200);
    expect((stack.op.grants['refresh_token'] ?? 0) - before).toBe(1);
    // And it keeps working through the next generation.
    await sleep(2200);
    const later = await b.get(`${stack.origin}/app/x`);
    expect(later.status).toBe(200);
    expect((stack.op.grants['refresh_token'] ?? 0) - before).toBe(2);
  });

  it('ends the session when the provider refuses the refresh (grant revoked)', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    const data = await sessionOf(b);
    // Revoke the refresh token at the OP (RFC 7009), as an admin disabling the user would.
    const res = await fetch(`${stack.op.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: data.rt!, client_id: 'ztproxy-test' }).toString(),
    });
    expect(res.status).toBe(200);
    await sleep(2200);
    stack.upstream.reset();
    const after = await b.get(`${stack.origin}/app/x`);
    expect(after.status).toBe(302);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(b.cookies.has('__Host-ztproxy')).toBe(false);
  });
});

describe('provider down', () => {
  let stack: LoginStack;
  beforeAll(async () => {
    stack = await startLoginStack();
  });
  afterAll(() => stack?.close());

  it('answers a login 503 while existing sessions keep working', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    await stack.op.close();
    // The provider's last answer must be older than the liveness window (5 s).
    await sleep(5200);
    const ok = await b.get(`${stack.origin}/app/still`);
    expect(ok.status).toBe(200);
    const other = new HttpBrowser();
    const toLogin = await other.get(`${stack.origin}/app`);
    expect(toLogin.status).toBe(302);
    const login = await other.get(`${stack.origin}${toLogin.headers.get('location')}`);
    expect(login.status).toBe(503);
    expect(await login.json()).toMatchObject({ error: 'service unavailable' });
    expect(other.cookies.size).toBe(0);
  });
});

describe('keys, idle and absolute expiry', () => {
  let stack: LoginStack;
  const NEW_KEY = 'rotated-session-key-abcdefghijklmnopqrstuvwxyz0123';
  beforeAll(async () => {
    stack = await startLoginStack({ session: { idleTimeout: '2m', ttl: '1h' } });
  });
  afterAll(() => stack?.close());

  it('rotates keys: a new first key encrypts, the old one still decrypts until removed', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    const oldCookie = b.cookies.get('__Host-ztproxy')!.value;
    const config = (await import('yaml')).parse((await import('node:fs')).readFileSync(stack.proxy.configFile, 'utf8')) as Record<string, any>;
    config.identity.session.keys = [NEW_KEY, SESSION_KEY];
    stack.proxy.writeConfig(config);
    expect((await stack.proxy.proxy.reload()).ok).toBe(true);
    expect((await b.get(`${stack.origin}/app`)).status).toBe(200);
    // A new login is sealed with the new key.
    const c = new HttpBrowser();
    await loginThroughProxy(c, stack, '/app');
    const header = JSON.parse(Buffer.from(c.cookies.get('__Host-ztproxy')!.value.split('.')[0]!, 'base64url').toString());
    const newCodec = new EnvelopeCodec([deriveSessionKey(NEW_KEY)]);
    expect((await newCodec.open('session', c.cookies.get('__Host-ztproxy')!.value)).ok).toBe(true);
    expect(header).toMatchObject({ alg: 'dir', enc: 'A256GCM' });
    // The old key removed: its cookies stop working.
    config.identity.session.keys = [NEW_KEY];
    stack.proxy.writeConfig(config);
    expect((await stack.proxy.proxy.reload()).ok).toBe(true);
    const old = new HttpBrowser();
    old.cookies.set('__Host-ztproxy', { value: oldCookie, line: '' });
    expect((await old.get(`${stack.origin}/app`)).status).toBe(302);
    expect((await c.get(`${stack.origin}/app`)).status).toBe(200);
    // Back to the test key for the next tests.
    config.identity.session.keys = [SESSION_KEY];
    stack.proxy.writeConfig(config);
    expect((await stack.proxy.proxy.reload()).ok).toBe(true);
  });

  it('ends an idle session and an expired one', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    const data = await sessionOf(b);
    const now = Math.floor(Date.now() / 1000);
    const idle = await codec.seal('session', { ...data, seen: now - 121 }, data.exp);
    const expired = await codec.seal('session', { ...data, sid: 'x', exp: now - 1 }, now - 1);
    for (const value of [idle, expired]) {
      const c = new HttpBrowser();
      c.cookies.set('__Host-ztproxy', { value, line: '' });
      stack.upstream.reset();
      const res = await c.get(`${stack.origin}/app`);
      expect(res.status).toBe(302);
      expect(stack.upstream.seen).toHaveLength(0);
      expect(res.headers.getSetCookie().some((l) => /^__Host-ztproxy=;/.test(l) && /Max-Age=0/i.test(l))).toBe(true);
    }
    // Activity is written back: a cookie last seen a minute ago gets a renewed one.
    const recent = await codec.seal('session', { ...data, seen: now - 60 }, data.exp);
    const c = new HttpBrowser();
    c.cookies.set('__Host-ztproxy', { value: recent, line: '' });
    expect((await c.get(`${stack.origin}/app`)).status).toBe(200);
    const renewed = await sessionOf(c);
    expect(renewed.seen).toBeGreaterThanOrEqual(now);
  });
});
