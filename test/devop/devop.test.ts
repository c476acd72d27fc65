// The development OP driven by hand over loopback, the way a relying party and a
// browser would: discovery, the authorization code flow with PKCE, the login form,
// the token endpoint, refresh, userinfo, RP-initiated and back-channel logout.
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevOp } from '../../src/devop/index.ts';
import type { DevOp } from '../../src/devop/index.ts';

const CLIENT_ID = 'devop-test';
const CLIENT_SECRET = 'devop-test-secret-0123456789abcdef';
// Never contacted: the test reads the code off the redirect's Location.
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const POST_LOGOUT_URI = 'http://127.0.0.1:9/logged-out';

let op: DevOp;
let rp: Server;
const logoutTokens: string[] = [];
let discovery: Record<string, unknown>;

function b64url(buf: Buffer): string {
  return buf.toString('base64url');
}

/** A minimal cookie jar: one origin, every cookie sent everywhere. */
class Browser {
  readonly cookies = new Map<string, string>();
  async get(url: string): Promise<Response> {
    return this.send(url, { method: 'GET' });
  }
  async post(url: string, form: Record<string, string>): Promise<Response> {
    return this.send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  }
  private async send(url: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) {
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';', 1)[0] ?? '';
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
}

function location(res: Response, base: string): URL {
  const loc = res.headers.get('location');
  expect(loc, `status ${res.status} without Location`).toBeTruthy();
  return new URL(loc ?? '', base);
}

interface AuthRequest {
  url: URL;
  state: string;
  nonce: string;
  verifier: string;
}

function authRequest(extra: Record<string, string> = {}, pkce = true): AuthRequest {
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const verifier = b64url(randomBytes(32));
  const url = new URL(String(discovery.authorization_endpoint));
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile groups',
    state,
    nonce,
    ...(pkce ? { code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256' } : {}),
    ...extra,
  }).toString();
  return { url, state, nonce, verifier };
}

/** GET /auth and follow the OP's redirects up to the login form; returns the form's action. */
async function openLoginForm(browser: Browser, req: AuthRequest): Promise<URL> {
  const res = await browser.get(req.url.href);
  expect(res.status).toBe(303);
  const formUrl = location(res, op.issuer);
  expect(formUrl.pathname).toMatch(/^\/interaction\/[\w-]+$/);
  const page = await browser.get(formUrl.href);
  expect(page.status).toBe(200);
  const html = await page.text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  expect(action).toBe(`${formUrl.pathname}/login`);
  return new URL(action ?? '', op.issuer);
}

/** Follow redirects (login → resume → consent → resume) until one leaves the OP. */
async function followToClient(browser: Browser, res: Response): Promise<URL> {
  let current = res;
  for (let hops = 0; hops < 10; hops++) {
    expect([302, 303]).toContain(current.status);
    const next = location(current, op.issuer);
    if (next.origin !== op.issuer) return next;
    current = await browser.get(next.href);
  }
  throw new Error('too many redirects');
}

async function login(username: string, password: string, extra: Record<string, string> = {}) {
  const browser = new Browser();
  const req = authRequest(extra);
  const action = await openLoginForm(browser, req);
  const res = await browser.post(action.href, { username, password });
  const callback = await followToClient(browser, res);
  return { browser, req, callback };
}

async function token(params: Record<string, string>): Promise<Response> {
  return fetch(String(discovery.token_endpoint), {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
    },
    body: new URLSearchParams(params).toString(),
  });
}

beforeAll(async () => {
  rp = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('logout_token');
      if (token !== null) logoutTokens.push(token);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => rp.listen(0, '127.0.0.1', resolve));
  const rpPort = (rp.address() as AddressInfo).port;
  op = await startDevOp({
    port: 0,
    accessTokenTtl: 30,
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [REDIRECT_URI],
        post_logout_redirect_uris: [POST_LOGOUT_URI],
        backchannel_logout_uri: `http://127.0.0.1:${rpPort}/backchannel-logout`,
        backchannel_logout_session_required: true,
      },
    ],
  });
  const res = await fetch(`${op.issuer}/.well-known/openid-configuration`);
  expect(res.status).toBe(200);
  discovery = (await res.json()) as Record<string, unknown>;
});

afterAll(async () => {
  await op?.close();
  await new Promise<void>((resolve) => (rp ? rp.close(() => resolve()) : resolve()));
});

describe('dev OP discovery', () => {
  it('listens on loopback over HTTP with a matching issuer', () => {
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(discovery.issuer).toBe(op.issuer);
  });

  it('advertises S256-only PKCE, RFC 9207 iss, RP-initiated and back-channel logout', () => {
    expect(discovery.code_challenge_methods_supported).toEqual(['S256']);
    expect(discovery.authorization_response_iss_parameter_supported).toBe(true);
    expect(discovery.end_session_endpoint).toBe(`${op.issuer}/session/end`);
    expect(discovery.backchannel_logout_supported).toBe(true);
    expect(discovery.backchannel_logout_session_supported).toBe(true);
    expect(discovery.id_token_signing_alg_values_supported).toContain('ES256');
    expect(discovery.claims_supported).toEqual(expect.arrayContaining(['sub', 'email', 'email_verified', 'groups']));
  });

  it('publishes only ES256 public keys', async () => {
    const jwks = (await (await fetch(String(discovery.jwks_uri))).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
      expect(key).not.toHaveProperty('d');
    }
  });

  it('exports the demo users with their passwords and groups', () => {
    expect(op.users.map((u) => u.username)).toEqual(['alice', 'bob']);
    expect(op.users[0]?.groups).toEqual(['engineering', 'admins']);
    for (const u of op.users) expect(u.password.length).toBeGreaterThan(8);
  });
});

describe('dev OP authorization', () => {
  it('refuses an authorization request without PKCE', async () => {
    const browser = new Browser();
    const req = authRequest({}, false);
    const res = await browser.get(req.url.href);
    const back = location(res, op.issuer);
    expect(back.origin + back.pathname).toBe(REDIRECT_URI);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/PKCE/);
    expect(back.searchParams.get('code')).toBeNull();
    expect(back.searchParams.get('iss')).toBe(op.issuer);
  });

  it('refuses the plain PKCE method', async () => {
    const browser = new Browser();
    const req = authRequest({ code_challenge_method: 'plain', code_challenge: 'x'.repeat(43) });
    const back = location(await browser.get(req.url.href), op.issuer);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('code')).toBeNull();
  });

  it('runs the code flow: login form, code + state + iss, token exchange, verified ID token with groups', async () => {
    const user = op.users[0];
    if (user === undefined) throw new Error('no demo user');
    const { req, callback } = await login(user.username, user.password);
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
    expect(callback.searchParams.get('error')).toBeNull();
    expect(callback.searchParams.get('state')).toBe(req.state);
    expect(callback.searchParams.get('iss')).toBe(op.issuer);
    const code = callback.searchParams.get('code');
    expect(code).toBeTruthy();

    const res = await token({ grant_type: 'authorization_code', code: code ?? '', redirect_uri: REDIRECT_URI, code_verifier: req.verifier });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.token_type).toBe('Bearer');
    expect(typeof body.refresh_token).toBe('string');
    expect(body.expires_in).toBeLessThanOrEqual(30);

    const idToken = String(body.id_token);
    expect(decodeProtectedHeader(idToken).alg).toBe('ES256');
    const jwks = createRemoteJWKSet(new URL(String(discovery.jwks_uri)));
    const { payload } = await jwtVerify(idToken, jwks, { issuer: op.issuer, audience: CLIENT_ID, algorithms: ['ES256'] });
    expect(payload).toMatchObject({
      sub: 'alice',
      email: 'alice@example.com',
      email_verified: true,
      groups: ['engineering', 'admins'],
      nonce: req.nonce,
      acr: 'urn:ztproxy:dev:pwd',
      amr: ['pwd'],
    });
    expect(typeof payload.auth_time).toBe('number');
    expect(typeof payload.sid).toBe('string');

    // userinfo with the (opaque) access token carries the same claims.
    const info = await fetch(String(discovery.userinfo_endpoint), { headers: { authorization: `Bearer ${String(body.access_token)}` } });
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({ sub: 'alice', email: 'alice@example.com', groups: ['engineering', 'admins'] });

    // The refresh token works and is rotated-or-reused without error.
    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: String(body.refresh_token) });
    expect(refreshed.status).toBe(200);
    const rbody = (await refreshed.json()) as Record<string, unknown>;
    expect(typeof rbody.access_token).toBe('string');
    expect(rbody.access_token).not.toBe(body.access_token);
    const { payload: rid } = await jwtVerify(String(rbody.id_token), jwks, { issuer: op.issuer, audience: CLIENT_ID });
    expect(rid.groups).toEqual(['engineering', 'admins']);
  });

  it('refuses the token exchange with a wrong code_verifier', async () => {
    const user = op.users[1];
    if (user === undefined) throw new Error('no demo user');
    const { callback } = await login(user.username, user.password);
    const res = await token({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code') ?? '',
      redirect_uri: REDIRECT_URI,
      code_verifier: b64url(randomBytes(32)),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Record<string, unknown>).error).toBe('invalid_grant');
  });

  it('does not log in with a wrong password or an unknown user', async () => {
    for (const [username, password] of [['alice', 'bob-dev-password'], ['mallory', 'x']] as const) {
      const browser = new Browser();
      const action = await openLoginForm(browser, authRequest());
      const res = await browser.post(action.href, { username, password });
      expect(res.status).toBe(401);
      expect(res.headers.get('location')).toBeNull();
      expect(await res.text()).toContain('Invalid username or password');
      // The interaction is still open: the right password then succeeds.
      const good = await browser.post(action.href, { username: 'alice', password: 'alice-dev-password' });
      const callback = await followToClient(browser, good);
      expect(callback.searchParams.get('code')).toBeTruthy();
    }
  });

  it('refuses a login POST without the interaction cookie (cross-site form)', async () => {
    const browser = new Browser();
    const action = await openLoginForm(browser, authRequest());
    const res = await new Browser().post(action.href, { username: 'alice', password: 'alice-dev-password' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  it('refuses a login POSTed to another interaction than the browser\'s own', async () => {
    const victim = new Browser();
    const victimAction = await openLoginForm(victim, authRequest());
    const attacker = new Browser();
    await openLoginForm(attacker, authRequest());
    // The attacker's interaction cookie with the victim's uid must not complete either one.
    const res = await attacker.post(victimAction.href, { username: 'alice', password: 'alice-dev-password' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  it('issues an RFC 9068 JWT access token for the API resource', async () => {
    const { req, callback } = await login('bob', 'bob-dev-password', { resource: op.apiResource, scope: 'openid email groups api' });
    const res = await token({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code') ?? '',
      redirect_uri: REDIRECT_URI,
      code_verifier: req.verifier,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    const at = String(body.access_token);
    const jwks = createRemoteJWKSet(new URL(String(discovery.jwks_uri)));
    const { payload, protectedHeader } = await jwtVerify(at, jwks, {
      issuer: op.issuer,
      audience: op.apiResource,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload.sub).toBe('bob');
    expect(payload.client_id).toBe(CLIENT_ID);
    expect(payload.exp! - payload.iat!).toBe(30);
  });
});

describe('dev OP logout', () => {
  it('RP-initiated logout ends the session and sends a back-channel logout token', async () => {
    const { browser, req, callback } = await login('alice', 'alice-dev-password');
    const tokens = (await (
      await token({ grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: REDIRECT_URI, code_verifier: req.verifier })
    ).json()) as Record<string, unknown>;
    const jwks = createRemoteJWKSet(new URL(String(discovery.jwks_uri)));
    const { payload: id } = await jwtVerify(String(tokens.id_token), jwks, { issuer: op.issuer, audience: CLIENT_ID });
    logoutTokens.length = 0;

    const end = new URL(String(discovery.end_session_endpoint));
    end.search = new URLSearchParams({ id_token_hint: String(tokens.id_token), post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye' }).toString();
    const confirm = await browser.get(end.href);
    expect(confirm.status).toBe(200);
    const html = await confirm.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    const action = /action="([^"]+)"/.exec(html)?.[1];
    expect(xsrf).toBeTruthy();
    const done = await browser.post(new URL(action ?? '', op.issuer).href, { xsrf: xsrf ?? '', logout: 'yes' });
    const back = location(done, op.issuer);
    expect(back.origin + back.pathname).toBe(POST_LOGOUT_URI);
    expect(back.searchParams.get('state')).toBe('bye');

    await expect.poll(() => logoutTokens.length, { timeout: 5000 }).toBe(1);
    const { payload: lt, protectedHeader } = await jwtVerify(logoutTokens[0] ?? '', jwks, {
      issuer: op.issuer,
      audience: CLIENT_ID,
      typ: 'logout+jwt',
    });
    expect(protectedHeader.typ).toBe('logout+jwt');
    expect(lt.sub).toBe('alice');
    expect(lt.sid).toBe(id.sid);
    expect(lt.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    expect(lt).not.toHaveProperty('nonce');

    // The OP session is gone: a new authorization request asks for the password again.
    const again = await browser.get(authRequest().url.href);
    const next = location(again, op.issuer);
    expect(next.pathname).toMatch(/^\/interaction\//);
    const page = await browser.get(next.href);
    expect(await page.text()).toContain('type="password"');
  });
});
