// Attacks that need tokens an honest OP never issues: ztproxy logs in at a tiny
// malicious OpenID Provider (test/helpers/oidc-attacker.ts — discovery, JWKS, token and
// userinfo endpoints on 127.0.0.1) whose answers each test chooses. The browser side is
// driven by hand: /.ztproxy/login → read state and nonce → /.ztproxy/callback.
// - ID tokens: replayed (stale) nonce, wrong aud / azp, wrong iss, alg none, HS256,
//   expired, issued in the future, missing claims, unknown signing key, step-up without
//   a fresh auth_time, userinfo naming another subject: every one → 400, no session.
// - Back-channel logout tokens signed with the OP's own (trusted) key but wrong in one
//   claim each, so the claim checks themselves are exercised: every one → 400 and the
//   session still works; a correct one ends it.
import { SignJWT, base64url, decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLIENT_ID, CLIENT_SECRET, HttpBrowser } from '../helpers/oidc.ts';
import { mintRawPayload } from '../helpers/jwt.ts';
import {
  LOGOUT_EVENT,
  SESSION_COOKIE,
  fakeCallback,
  fakeLogin,
  issuesSession,
  nowS,
  reasonOf,
  s256,
  startFakeOpStack,
  startFlow,
  testCodec,
  tokenAnswer,
  unsignedToken,
  type FakeOpStack,
  type StartedFlow,
  backchannel as postBackchannel,
  logoutForm,
} from '../helpers/oidc-attacker.ts';

let stack: FakeOpStack;

beforeAll(async () => {
  stack = await startFakeOpStack();
});

afterAll(async () => {
  await stack?.close();
});

beforeEach(() => {
  stack.upstream.reset();
});

const api = { accept: 'application/json' };

/** The browser has no session; a page load goes to login and an API call gets 401; the upstream saw nothing. */
async function expectLockedOut(b: HttpBrowser): Promise<void> {
  expect(b.cookies.has(SESSION_COOKIE)).toBe(false);
  expect((await b.get(`${stack.origin}/app/secret`)).status).toBe(302);
  expect((await b.get(`${stack.origin}/app/secret`, api)).status).toBe(401);
  expect(stack.upstream.seen).toEqual([]);
}

/** Starts a login, makes the OP's token endpoint answer with `idToken(flow)`, calls the callback. */
async function callbackWith(idToken: (flow: StartedFlow) => Promise<string> | string, opts: { sub?: string; loginQuery?: string; answer?: Record<string, unknown> } = {}): Promise<{ b: HttpBrowser; res: Response }> {
  const b = new HttpBrowser();
  const flow = await startFlow(b, stack.origin, '/app', opts.loginQuery);
  const token = await idToken(flow);
  stack.op.onToken = () => tokenAnswer(token, opts.sub ?? 'mallory', opts.answer);
  const res = await b.get(fakeCallback(stack, flow));
  return { b, res };
}

describe('the honest baseline (so every refusal below is for its one defect)', () => {
  it('an ID token with the flow\'s nonce logs in; the token request carried the PKCE verifier, the redirect_uri and client authentication', async () => {
    const b = new HttpBrowser();
    const flow = await startFlow(b, stack.origin, '/app/landing');
    const idToken = await stack.op.idToken({ sub: 'mallory', nonce: flow.nonce });
    stack.op.onToken = () => tokenAnswer(idToken, 'mallory');
    const before = stack.op.tokenRequests.length;
    const res = await b.get(fakeCallback(stack, flow));
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/app/landing');
    expect(issuesSession(res)).toBe(true);
    const tr = stack.op.tokenRequests[before]!;
    expect(tr.form.get('grant_type')).toBe('authorization_code');
    expect(tr.form.get('code')).toBe('attacker-chosen-code');
    expect(tr.form.get('redirect_uri')).toBe(`${stack.origin}/.ztproxy/callback`);
    expect(s256(tr.form.get('code_verifier')!)).toBe(flow.authUrl.searchParams.get('code_challenge'));
    // client_secret_basic: form-urlencoded id and secret (RFC 6749 §2.3.1).
    const basic = /^Basic (.+)$/.exec(tr.authorization ?? '')?.[1];
    const [id, secret] = Buffer.from(basic ?? '', 'base64').toString().split(':').map(decodeURIComponent);
    expect([id, secret]).toEqual([CLIENT_ID, CLIENT_SECRET]);
    expect(tr.form.get('client_secret')).toBeNull();
    const page = await b.get(`${stack.origin}/app/x`, api);
    expect(page.status).toBe(200);
    expect(stack.upstream.seen).toHaveLength(1);
  });
});

describe('ID tokens that must not log anyone in', () => {
  const variants: [string, (flow: StartedFlow) => Promise<string> | string][] = [
    [
      'a replayed nonce (the nonce of an earlier login flow)',
      async () => {
        const earlier = await startFlow(new HttpBrowser(), stack.origin, '/');
        return stack.op.idToken({ sub: 'mallory', nonce: earlier.nonce });
      },
    ],
    ['no nonce', () => stack.op.idToken({ sub: 'mallory' })],
    ['the nonce inside an array', (f) => stack.op.idToken({ sub: 'mallory', nonce: [f.nonce] as unknown })],
    ['the nonce with a different case', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce.toUpperCase() === f.nonce ? f.nonce.toLowerCase() : f.nonce.toUpperCase() })],
    ['aud of another client', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, aud: 'another-client' })],
    ['aud listing us and another client, no azp', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, aud: [CLIENT_ID, 'another-client'] })],
    ['aud listing us and another client, azp the other', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, aud: [CLIENT_ID, 'another-client'], azp: 'another-client' })],
    ['no aud', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, aud: undefined })],
    ['iss of another provider', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, iss: 'https://evil.example' })],
    ['iss with a trailing slash', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, iss: `${stack.op.issuer}/` })],
    ['no iss', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, iss: undefined })],
    [
      'alg none (unsigned)',
      (f) => {
        const now = nowS();
        return unsignedToken({ typ: 'JWT' }, { iss: stack.op.issuer, aud: CLIENT_ID, sub: 'mallory', nonce: f.nonce, iat: now, exp: now + 300 });
      },
    ],
    [
      'alg HS256 keyed with the OP\'s public JWK (algorithm confusion)',
      async (f) => {
        const now = nowS();
        const secret = new TextEncoder().encode(JSON.stringify(stack.op.key.publicJwk));
        return new SignJWT({ iss: stack.op.issuer, aud: CLIENT_ID, sub: 'mallory', nonce: f.nonce, iat: now, exp: now + 300 })
          .setProtectedHeader({ alg: 'HS256', kid: stack.op.key.kid })
          .sign(secret);
      },
    ],
    ['expired an hour ago', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, iat: nowS() - 7200, exp: nowS() - 3600 })],
    ['not valid before an hour from now (nbf)', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, nbf: nowS() + 3600 })],
    ['no exp', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, exp: undefined })],
    ['no iat', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, iat: undefined })],
    ['no sub', (f) => stack.op.idToken({ nonce: f.nonce })],
    ['a numeric sub', (f) => stack.op.idToken({ sub: 42 as unknown as string, nonce: f.nonce })],
    ['exp as a string', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, exp: String(nowS() + 300) as unknown as number })],
    ['a critical header extension', (f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce }, { header: { crit: ['urn:example:must-understand'], 'urn:example:must-understand': true } })],
    ['not a JWT at all', () => 'not-a-jwt'],
    ['a JWE-shaped token (5 parts)', () => 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.AAAA.AAAA'],
  ];

  it.each(variants)('%s → 400, no session', async (_name, make) => {
    const { b, res } = await callbackWith(make);
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    expect(String(await reasonOf(stack.proxy, res))).toMatch(/^login-/);
    await expectLockedOut(b);
  });

  // Was a bug, fixed (enableNonRepudiationChecks): openid-client v6 does not verify the signature of an ID token received from
  // the token endpoint unless `client.enableNonRepudiationChecks(configuration)` is
  // called (OIDC Core §3.1.3.7 (6) lets TLS stand in for it). src/identity/oidc/
  // relying-party.ts never calls it, although finishLogin's doc comment says it "verifies
  // the ID token (signature, iss, aud, exp, nonce)" — and `identity.oidc.issuer` may be
  // plain http:// on loopback, where there is no TLS to stand in. A token signed by a key
  // the OP never published (or with a garbage signature) logs the browser in.
  it('an ID token signed by a key the OP never published (same kid) → 400, no session', async () => {
    const { b, res } = await callbackWith((f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce }, { key: stack.op.rogueKey }));
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  // Was a bug, fixed: same as above (no signature verification of the token endpoint's ID token).
  it('an ES256 ID token whose signature is garbage → 400, no session', async () => {
    const { b, res } = await callbackWith(async (f) => {
      const good = await stack.op.idToken({ sub: 'mallory', nonce: f.nonce, groups: ['admins'] });
      const [h, p] = good.split('.');
      return `${h}.${p}.${base64url.encode(new Uint8Array(64))}`;
    });
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('an empty sub → no session', async () => {
    const { b, res } = await callbackWith((f) => stack.op.idToken({ sub: '', nonce: f.nonce }));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  // Was a bug (low), fixed: an ID token with `sub: ""` is answered 503 "oidc-unavailable"
  // instead of 400. finishLogin (src/identity/oidc/relying-party.ts, the fetchUserInfo
  // call) passes the empty `idClaims.sub` as expectedSubject; openid-client throws a
  // TypeError for the empty argument, and isUnavailable() classifies every TypeError
  // as "the provider did not answer". No session is created (fail closed), but a bad
  // token from the OP is reported as an outage. Fixed: in finishLogin refuse an empty or
  // non-string `idClaims.sub` before userinfo (OidcRejectedError 'id-token-claims'), and
  // make isUnavailable() treat only network TypeErrors (undici `fetch failed`, no `code`
  // starting with ERR_INVALID_ARG) as unavailability.
  it('an empty sub → 400 (not 503)', async () => {
    const { res } = await callbackWith((f) => stack.op.idToken({ sub: '', nonce: f.nonce }));
    expect(res.status).toBe(400);
  });

  // Was a bug (low), fixed: an ID token issued an hour in the future (iat = now + 1h) logs in.
  // oauth4webapi only type-checks `iat`; relying-party.ts adds no check, while ztproxy's
  // own jose-based verifiers (bearer tokens, logout tokens) refuse a future iat. Only an
  // OP with a broken clock, or whoever controls the token endpoint channel (plain http
  // on loopback is allowed), can send one. Fixed: in finishLogin reject `iat > now + 60`
  // (OidcRejectedError 'id-token-iat').
  it('an ID token issued an hour in the future → 400, no session', async () => {
    const { b, res } = await callbackWith((f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, iat: nowS() + 3600, exp: nowS() + 7200 }));
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  // Issue #4: oauth4webapi only type-checks exp/iat, so an ID token "valid until" 1e308
  // or Infinity (`1e400` in the JSON), or issued before 1970, logged in.
  it.each([
    ['exp: 1e308', (now: number) => `"exp":1e308,"iat":${now}`],
    ['exp: 1e400 (JSON.parse → Infinity)', (now: number) => `"exp":1e400,"iat":${now}`],
    ['exp beyond the year 9999', (now: number) => `"exp":253402300800,"iat":${now}`],
    ['iat: -1', (now: number) => `"exp":${now + 300},"iat":-1`],
    ['iat: -1e400 (−Infinity)', (now: number) => `"exp":${now + 300},"iat":-1e400`],
  ])('an ID token with %s → 400 login-id-token-time-invalid, no session', async (_why, times) => {
    const { b, res } = await callbackWith((f) => {
      const head = JSON.stringify({ iss: stack.op.issuer, aud: CLIENT_ID, sub: 'mallory', nonce: f.nonce });
      return mintRawPayload(stack.op.key, `${head.slice(0, -1)},${times(nowS())}}`, { typ: 'JWT' });
    });
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    expect(await reasonOf(stack.proxy, res)).toBe('login-id-token-time-invalid');
    await expectLockedOut(b);
  });

  it('an ID token valid for 10 days (longer than the session) still logs in: the session ttl, not the ID token, bounds it', async () => {
    const { res } = await callbackWith((f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, exp: nowS() + 10 * 86_400 }));
    expect(res.status).toBe(302);
    expect(issuesSession(res)).toBe(true);
  });

  it('a token response without an id_token (plain OAuth) → 400', async () => {
    const b = new HttpBrowser();
    const flow = await startFlow(b, stack.origin, '/app');
    stack.op.onToken = () => ({ body: { access_token: 'at.mallory', token_type: 'Bearer', expires_in: 300 } });
    const res = await b.get(fakeCallback(stack, flow));
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('the token endpoint refusing the code (invalid_grant) → 400', async () => {
    const b = new HttpBrowser();
    const flow = await startFlow(b, stack.origin, '/app');
    stack.op.onToken = () => ({ status: 400, body: { error: 'invalid_grant' } });
    const res = await b.get(fakeCallback(stack, flow));
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-provider-invalid_grant');
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('an unknown token_type → 400', async () => {
    const { b, res } = await callbackWith((f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce }), { answer: { token_type: 'mac' } });
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('userinfo naming another subject than the ID token → 400', async () => {
    const { b, res } = await callbackWith((f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce }), { sub: 'admin' });
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('userinfo cannot replace the ID token\'s iss or sub', async () => {
    const b = new HttpBrowser();
    const flow = await startFlow(b, stack.origin, '/app');
    const idToken = await stack.op.idToken({ sub: 'mallory', nonce: flow.nonce });
    stack.op.onToken = () => tokenAnswer(idToken, 'mallory');
    const saved = stack.op.onUserinfo;
    stack.op.onUserinfo = () => ({ body: { sub: 'mallory', iss: 'https://evil.example', email: 'm@example.com' } });
    try {
      const res = await b.get(fakeCallback(stack, flow));
      expect(res.status).toBe(302);
    } finally {
      stack.op.onUserinfo = saved;
    }
    const page = await b.get(`${stack.origin}/app/x`, api);
    expect(page.status).toBe(200);
    const line = stack.proxy.logs.findLast((l) => l.msg === 'request' && l.path === '/app/x')!;
    expect(line.subject).toBe('mallory');
    expect(line.issuer).toBe(stack.op.issuer);
  });
});

describe('step-up (reauth=1): the ID token must prove a fresh login', () => {
  it('an auth_time an hour old → 400', async () => {
    const { b, res } = await callbackWith((f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, auth_time: nowS() - 3600 }), { loginQuery: 'reauth=1' });
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('no auth_time at all → 400', async () => {
    const { b, res } = await callbackWith((f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce }), { loginQuery: 'reauth=1' });
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  // Was a bug (low), fixed: a step-up login whose ID token claims auth_time a day in the FUTURE passes
  // the max_age=0 check (auth_time + 0 < now - tolerance is false) and the session then
  // carries that auth_time: every `authAge` rule is satisfied without a real fresh login
  // until the session ends. Needs a lying/broken-clock OP or a tampered token channel.
  // Fixed: in finishLogin (or SessionManager.create) reject auth_time > now + 60.
  it('an auth_time a day in the future → 400', async () => {
    const { b, res } = await callbackWith((f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, auth_time: nowS() + 86_400 }), { loginQuery: 'reauth=1' });
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('the authorization request asks for prompt=login and max_age=0; a fresh auth_time passes', async () => {
    const { b, res } = await callbackWith(
      (f) => {
        expect(f.authUrl.searchParams.get('prompt')).toBe('login');
        expect(f.authUrl.searchParams.get('max_age')).toBe('0');
        return stack.op.idToken({ sub: 'mallory', nonce: f.nonce, auth_time: nowS() });
      },
      { loginQuery: 'reauth=1' },
    );
    expect(res.status).toBe(302);
    expect(issuesSession(res)).toBe(true);
    expect((await b.get(`${stack.origin}/app/x`, api)).status).toBe(200);
  });
});

// --- back-channel logout with the OP's own key ------------------------------------------------

async function loggedIn(sub: string, sid: string): Promise<HttpBrowser> {
  const b = new HttpBrowser();
  const res = await fakeLogin(stack, b, sub, { sid });
  expect(res.status).toBe(302);
  expect((await b.get(`${stack.origin}/app/check`, api)).status).toBe(200);
  return b;
}

const backchannel = (body: string, contentType?: string, method?: string, query?: string): Promise<Response> =>
  postBackchannel(stack.origin, body, contentType, method, query);
const form = logoutForm;

describe('back-channel logout tokens signed with the trusted key', () => {
  const bad: [string, (sid: string) => Promise<string> | string][] = [
    ['signed by a key the OP never published (same kid)', (sid) => stack.op.logoutToken({ sid }, { key: stack.op.rogueKey })],
    [
      'alg none',
      (sid) => {
        const now = nowS();
        return unsignedToken({ typ: 'logout+jwt' }, { iss: stack.op.issuer, aud: CLIENT_ID, iat: now, exp: now + 60, jti: `j-${sid}-none`, sid, events: { [LOGOUT_EVENT]: {} } });
      },
    ],
    [
      'HS256 keyed with the public JWK',
      async (sid) => {
        const now = nowS();
        return new SignJWT({ iss: stack.op.issuer, aud: CLIENT_ID, iat: now, exp: now + 60, jti: `j-${sid}-hs`, sid, events: { [LOGOUT_EVENT]: {} } })
          .setProtectedHeader({ alg: 'HS256', typ: 'logout+jwt', kid: stack.op.key.kid })
          .sign(new TextEncoder().encode(JSON.stringify(stack.op.key.publicJwk)));
      },
    ],
    ['typ at+jwt (an access token\'s type)', (sid) => stack.op.logoutToken({ sid }, { header: { typ: 'at+jwt' } })],
    ['typ application/at+jwt', (sid) => stack.op.logoutToken({ sid }, { header: { typ: 'application/at+jwt' } })],
    ['an ID token: nonce, no events', (sid) => stack.op.idToken({ sub: 'mallory', sid, nonce: 'n-123', jti: `j-${sid}-idt` })],
    ['a nonce next to the events', (sid) => stack.op.logoutToken({ sid, nonce: 'n-123' })],
    ['no events', (sid) => stack.op.logoutToken({ sid, events: undefined })],
    ['events without the back-channel logout event', (sid) => stack.op.logoutToken({ sid, events: { 'http://schemas.openid.net/event/other': {} } })],
    ['the event as a string', (sid) => stack.op.logoutToken({ sid, events: { [LOGOUT_EVENT]: 'yes' } })],
    ['events as an array', (sid) => stack.op.logoutToken({ sid, events: [LOGOUT_EVENT] as unknown })],
    ['aud of another client', (sid) => stack.op.logoutToken({ sid, aud: 'another-client' })],
    ['no aud', (sid) => stack.op.logoutToken({ sid, aud: undefined })],
    ['iss of another provider', (sid) => stack.op.logoutToken({ sid, iss: 'https://evil.example' })],
    ['neither sid nor sub', () => stack.op.logoutToken({})],
    ['an empty sid and an empty sub', () => stack.op.logoutToken({ sid: '', sub: '' })],
    ['a numeric sid', () => stack.op.logoutToken({ sid: 12345 })],
    ['no jti', (sid) => stack.op.logoutToken({ sid, jti: undefined })],
    ['iat ten minutes old', (sid) => stack.op.logoutToken({ sid, iat: nowS() - 600, exp: nowS() + 60 })],
    ['iat an hour in the future', (sid) => stack.op.logoutToken({ sid, iat: nowS() + 3600, exp: nowS() + 7200 })],
    ['no iat', (sid) => stack.op.logoutToken({ sid, iat: undefined })],
    ['expired', (sid) => stack.op.logoutToken({ sid, iat: nowS() - 200, exp: nowS() - 100 })],
    ['no exp', (sid) => stack.op.logoutToken({ sid, exp: undefined })],
  ];

  let victim: HttpBrowser;
  const sid = 'op-session-victim';

  beforeAll(async () => {
    victim = await loggedIn('victim', sid);
  });

  it.each(bad)('%s → 400, the session still works', async (_name, make) => {
    const res = await backchannel(form(await make(sid)));
    expect(res.status).toBe(400);
    expect(String(await reasonOf(stack.proxy, res))).toMatch(/^backchannel-/);
    const still = await victim.get(`${stack.origin}/app/still`, api);
    expect(still.status).toBe(200);
  });

  // typ logout+jwt is only RECOMMENDED; Keycloak < 25, Duende IdentityServer 6 and others
  // send `JWT` or nothing. The events claim and the absent nonce still tell it from an ID token.
  it.each([
    ['typ JWT', { typ: 'JWT' }],
    ['no typ', { typ: undefined }],
  ])('a logout token with %s (providers that send it) is accepted', async (name, header) => {
    const osid = `op-session-${name.replace(/\W/g, '')}`;
    const b = await loggedIn('victim', osid);
    const res = await backchannel(form(await stack.op.logoutToken({ sid: osid }, { header })));
    expect(res.status).toBe(200);
    expect((await b.get(`${stack.origin}/app/still`, api)).status).toBe(401);
  });

  it('a JSON body, a form with two logout_token values, an empty form, a token in the query → 400; GET → 405', async () => {
    const token = await stack.op.logoutToken({ sid });
    const cases: [string, Promise<Response>, number][] = [
      ['json', backchannel(JSON.stringify({ logout_token: token }), 'application/json'), 400],
      ['text/plain form', backchannel(form(token), 'text/plain'), 400],
      ['two tokens', backchannel(`${form(token)}&${form(token)}`), 400],
      ['empty', backchannel(''), 400],
      ['query', backchannel('', 'application/x-www-form-urlencoded', 'POST', `?${form(token)}`), 400],
      ['GET', backchannel('', 'application/x-www-form-urlencoded', 'GET', `?${form(token)}`), 405],
      ['PUT', backchannel(form(token), 'application/x-www-form-urlencoded', 'PUT'), 405],
      ['oversized', backchannel(`${form(token)}&pad=${'x'.repeat(17 * 1024)}`), 400],
    ];
    for (const [name, pending, status] of cases) {
      const res = await pending;
      expect(res.status, name).toBe(status);
    }
    const still = await victim.get(`${stack.origin}/app/still`, api);
    expect(still.status).toBe(200);
    // None of those consumed the token: it still works once, and only once.
    const ok = await backchannel(form(token));
    expect(ok.status).toBe(200);
    expect((await victim.get(`${stack.origin}/app/after`, api)).status).toBe(401);
  });
});

describe('back-channel logout: replay and what a valid token cuts', () => {
  it('a valid token (sid) ends exactly that provider session; the same token again → 400 replayed', async () => {
    const a = await loggedIn('alice-f', 'op-sid-a');
    const other = await loggedIn('alice-f', 'op-sid-other');
    const token = await stack.op.logoutToken({ sid: 'op-sid-a' });
    const first = await backchannel(form(token));
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-store');
    stack.upstream.reset();
    const cut = await a.get(`${stack.origin}/app/x`);
    expect(cut.status).toBe(302);
    expect(stack.upstream.seen).toEqual([]);
    expect((await other.get(`${stack.origin}/app/x`, api)).status).toBe(200);
    const replay = await backchannel(form(token));
    expect(replay.status).toBe(400);
    expect(await reasonOf(stack.proxy, replay)).toBe('backchannel-logout-token-replayed');
  });

  it('a valid token (sub only) ends every earlier session of that subject, and no one else\'s', async () => {
    const s1 = await loggedIn('carol', 'op-sid-c1');
    const s2 = await loggedIn('carol', 'op-sid-c2');
    const dave = await loggedIn('dave', 'op-sid-d');
    const res = await backchannel(form(await stack.op.logoutToken({ sub: 'carol', iat: nowS() + 1 })));
    expect(res.status).toBe(200);
    expect(await reasonOf(stack.proxy, res)).toBe('backchannel-logout-sub');
    expect((await s1.get(`${stack.origin}/app/x`, api)).status).toBe(401);
    expect((await s2.get(`${stack.origin}/app/x`, api)).status).toBe(401);
    expect((await dave.get(`${stack.origin}/app/x`, api)).status).toBe(200);
  });

  it('a token for a sid of another subject leaves this session alone', async () => {
    const erin = await loggedIn('erin', 'op-sid-e');
    const res = await backchannel(form(await stack.op.logoutToken({ sid: 'op-sid-nobody' })));
    expect(res.status).toBe(200);
    expect((await erin.get(`${stack.origin}/app/x`, api)).status).toBe(200);
  });
});

describe('refresh: the token endpoint cannot switch or forge the identity', () => {
  it('a refreshed ID token for another subject, or for another audience, ends the session; an honest refresh keeps it', async () => {
    // Three sessions whose access tokens expire in a second, so the next request refreshes.
    const sessions: Record<string, HttpBrowser> = {};
    for (const rt of ['rt-switch', 'rt-badaud', 'rt-same']) {
      const b = new HttpBrowser();
      const flow = await startFlow(b, stack.origin, '/app');
      const idToken = await stack.op.idToken({ sub: `refresher-${rt}`, nonce: flow.nonce });
      stack.op.onToken = () => tokenAnswer(idToken, `refresher-${rt}`, { refresh_token: rt, expires_in: 1 });
      expect((await b.get(fakeCallback(stack, flow))).status).toBe(302);
      sessions[rt] = b;
    }
    stack.op.onToken = async (req) => {
      expect(req.form.get('grant_type')).toBe('refresh_token');
      const rt = req.form.get('refresh_token')!;
      const claims =
        rt === 'rt-switch'
          ? { sub: 'admin', groups: ['admins'] }
          : rt === 'rt-badaud'
            ? { sub: `refresher-${rt}`, aud: 'another-client' }
            : { sub: `refresher-${rt}` };
      return tokenAnswer(await stack.op.idToken(claims), String(claims.sub), { refresh_token: rt, expires_in: 300 });
    };
    await new Promise((r) => setTimeout(r, 1200));
    stack.upstream.reset();
    const before = stack.op.tokenRequests.length;
    const switched = await sessions['rt-switch']!.get(`${stack.origin}/app/x`, api);
    expect(switched.status).toBe(401);
    const badAud = await sessions['rt-badaud']!.get(`${stack.origin}/app/x`, api);
    expect(badAud.status).toBe(401);
    expect(stack.upstream.seen).toEqual([]);
    // Ended for good, not just for one request.
    expect((await sessions['rt-switch']!.get(`${stack.origin}/app/y`, api)).status).toBe(401);
    const same = await sessions['rt-same']!.get(`${stack.origin}/app/x`, api);
    expect(same.status).toBe(200);
    expect(stack.op.tokenRequests.length - before).toBe(3);
    const line = stack.proxy.logs.findLast((l) => l.msg === 'request' && l.path === '/app/x' && l.status === 200)!;
    expect(line.subject).toBe('refresher-rt-same');
    expect(stack.proxy.logs.some((l) => l.msg === 'request' && l.subject === 'admin')).toBe(false);
  });

  it('a refreshed ID token whose exp is 1e400 (Infinity) ends the session', async () => {
    const b = new HttpBrowser();
    const flow = await startFlow(b, stack.origin, '/app');
    const idToken = await stack.op.idToken({ sub: 'forever', nonce: flow.nonce });
    stack.op.onToken = () => tokenAnswer(idToken, 'forever', { refresh_token: 'rt-forever', expires_in: 1 });
    expect((await b.get(fakeCallback(stack, flow))).status).toBe(302);
    stack.op.onToken = async () => {
      const head = JSON.stringify({ iss: stack.op.issuer, aud: CLIENT_ID, sub: 'forever' });
      const token = await mintRawPayload(stack.op.key, `${head.slice(0, -1)},"iat":${nowS()},"exp":1e400}`, { typ: 'JWT' });
      return tokenAnswer(token, 'forever', { refresh_token: 'rt-forever', expires_in: 300 });
    };
    await new Promise((r) => setTimeout(r, 1200));
    stack.upstream.reset();
    expect((await b.get(`${stack.origin}/app/x`, api)).status).toBe(401);
    expect((await b.get(`${stack.origin}/app/y`, api)).status).toBe(401);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a refreshed ID token without the groups claim removes the groups (not kept from the login); the login time stays', async () => {
    const b = new HttpBrowser();
    const flow = await startFlow(b, stack.origin, '/app');
    const authTime = nowS() - 30;
    const idToken = await stack.op.idToken({ sub: 'demoted', nonce: flow.nonce, groups: ['admins'], auth_time: authTime });
    stack.op.onToken = () => tokenAnswer(idToken, 'demoted', { refresh_token: 'rt-demoted', expires_in: 1 });
    expect((await b.get(fakeCallback(stack, flow))).status).toBe(302);
    stack.op.onToken = async () => tokenAnswer(await stack.op.idToken({ sub: 'demoted' }), 'demoted', { expires_in: 300 });
    await new Promise((r) => setTimeout(r, 1200));
    stack.upstream.reset();
    expect((await b.get(`${stack.origin}/app/x`, api)).status).toBe(200);
    const assertion = decodeJwt(String(stack.upstream.last('/app')!.headers['x-zt-assertion']));
    expect(assertion.sub).toBe('demoted');
    expect(assertion.groups ?? []).toEqual([]);
    const data = await testCodec().open<{ c: Record<string, unknown>; rt?: string; ra?: number }>('session', b.cookies.get(SESSION_COOKIE)!.value);
    expect(data.ok && data.payload.c['auth_time']).toBe(authTime);
    // No new refresh token in the answer: the old one stays and the next refresh is scheduled.
    expect(data.ok && data.payload.rt).toBe('rt-demoted');
    expect(data.ok && data.payload.ra).toBeGreaterThan(nowS());
  });

  it('an ID token with thousands of groups (a session that cannot fit in a cookie) → no session, a clean error', async () => {
    const { b, res } = await callbackWith((f) => stack.op.idToken({ sub: 'mallory', nonce: f.nonce, groups: Array.from({ length: 3000 }, (_, i) => `group-${i}`) }));
    expect(res.status).toBe(500);
    expect(await reasonOf(stack.proxy, res)).toBe('login-session-too-large');
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });
});
