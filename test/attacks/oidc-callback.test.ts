// Attacks on /.ztproxy/callback against the real development OP, over real sockets:
// missing / forged / cross-flow state, tampered, expired, foreign and replayed flow
// cookies, authorization code injection (an attacker's code in the victim's browser:
// PKCE), login CSRF, RFC 9207 `iss` (wrong, missing), error responses, repeated
// parameters, the wrong method or host, and session fixation across a login.
// Every attack: no `__Host-ztproxy` is issued and the protected upstream sees nothing.
import { describe, expect, it } from 'vitest';
import { HttpBrowser, loginThroughProxy, useLoginStack, type LoginStack } from '../helpers/oidc.ts';
import {
  FLOW_PREFIX,
  SESSION_COOKIE,
  clears,
  issuesSession,
  nowS,
  reasonOf,
  signInFromFlow,
  startFlow,
  testCodec,
  type StartedFlow,
} from '../helpers/oidc-attacker.ts';

let stack: LoginStack;
useLoginStack({}, (s) => (stack = s));

/** A callback URL on the proxy with exactly these query parameters (repeats allowed). */
function callbackUrl(params: [string, string][], origin = stack.origin): string {
  return `${origin}/.ztproxy/callback?${new URLSearchParams(params).toString()}`;
}

function paramsOf(cb: URL): [string, string][] {
  return [...cb.searchParams.entries()];
}

/** The attacked browser has no session, and its next page load is sent to log in; the upstream saw nothing. */
async function expectLockedOut(b: HttpBrowser): Promise<void> {
  expect(b.cookies.has(SESSION_COOKIE)).toBe(false);
  const page = await b.get(`${stack.origin}/app/secret`);
  expect(page.status).toBe(302);
  expect(page.headers.get('location')).toMatch(/^\/\.ztproxy\/login\?/);
  expect(stack.upstream.seen).toEqual([]);
}

/** A fresh browser with a login started and completed at the OP as `user`; the callback URL is not visited. */
async function atCallback(user = 'alice', password = 'alice-dev-password'): Promise<{ b: HttpBrowser; flow: StartedFlow; cb: URL }> {
  const b = new HttpBrowser();
  const flow = await startFlow(b, stack.origin, '/app/after');
  const cb = await signInFromFlow(b, stack, flow, user, password);
  expect(cb.pathname).toBe('/.ztproxy/callback');
  return { b, flow, cb };
}

function flipChar(value: string, partIndex: number): string {
  const parts = value.split('.');
  const part = parts[partIndex]!;
  const i = Math.floor(part.length / 2);
  parts[partIndex] = part.slice(0, i) + (part[i] === 'A' ? 'B' : 'A') + part.slice(i + 1);
  return parts.join('.');
}

describe('the login redirect itself', () => {
  it('uses PKCE S256, a nonce, and a state that names its own flow cookie (__Host-, HttpOnly, Secure, Lax, short-lived)', async () => {
    const b = new HttpBrowser();
    const flow = await startFlow(b, stack.origin, '/x');
    const q = flow.authUrl.searchParams;
    expect(flow.authUrl.origin).toBe(stack.op.issuer);
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('nonce')!.length).toBeGreaterThanOrEqual(22);
    expect(q.get('response_type')).toBe('code');
    expect(flow.state).toMatch(/^[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]{22,}$/);
    const line = b.cookies.get(flow.cookieName)!.line;
    expect(line).toMatch(/; HttpOnly/i);
    expect(line).toMatch(/; Secure/i);
    expect(line).toMatch(/; SameSite=Lax/i);
    expect(line).toMatch(/; Path=\//i);
    expect(line).not.toMatch(/Domain=/i);
    const maxAge = Number(/Max-Age=(\d+)/i.exec(line)?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(600);
    // The flow cookie is a JWE: neither the verifier nor the nonce can be read from it.
    expect(flow.cookieValue.split('.')).toHaveLength(5);
    expect(flow.cookieValue).not.toContain(flow.nonce);
    expect(issuesSession(flow.res)).toBe(false);
  });
});

describe('the login endpoint and planted flow cookies', () => {
  it('five or more flows in flight: the old ones are cleared, a new one starts', async () => {
    const b = new HttpBrowser();
    for (let i = 0; i < 4; i++) await startFlow(b, stack.origin, `/t${i}`);
    const res = await b.get(`${stack.origin}/.ztproxy/login?rd=%2Ft4`);
    expect(res.status).toBe(302);
    const cleared = res.headers.getSetCookie().filter((l) => l.startsWith(FLOW_PREFIX) && /max-age=0/i.test(l));
    expect(cleared).toHaveLength(4);
  });

  // Was a bug (low, DoS), fixed: src/pipeline/stages/login-endpoints.ts login() — with 4+ cookies named
  // `__Host-ztproxy-login-*` it clears them all with clearCookie(name) for every name
  // read from the Cookie header, unvalidated; the `cookie` package's stringifySetCookie
  // throws "argument name is invalid" for a name containing a space (or other chars
  // browsers accept in cookie names), the TypeError escapes login(), and the request
  // ends 500 "internal-error". Script on any page of the same host (XSS in one app,
  // `document.cookie = "__Host-ztproxy-login-a b=1; Secure; Path=/; Max-Age=31536000"`)
  // can plant such names and lock that browser out of logging in for as long as it
  // likes. Fixed: only clear names matching LOGIN_COOKIE_PREFIX + FLOW_ID (ignore the
  // others), or catch the error per name.
  it('planted flow-cookie names that are not valid Set-Cookie names do not break the login (no 500)', async () => {
    const b = new HttpBrowser();
    const cookie = [`${FLOW_PREFIX}a b=1`, `${FLOW_PREFIX}c d=1`, `${FLOW_PREFIX}AAAAAAAAAAA=1`, `${FLOW_PREFIX}BBBBBBBBBBB=1`].join('; ');
    const res = await b.get(`${stack.origin}/.ztproxy/login?rd=%2Fapp`, { cookie });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get('location')!).origin).toBe(stack.op.issuer);
  });
});

describe('callback: state and the flow cookie', () => {
  it('no state at all → 400', async () => {
    const { b, cb } = await atCallback();
    const res = await b.get(callbackUrl(paramsOf(cb).filter(([k]) => k !== 'state')));
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-state-invalid');
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('a state that is not ours (wrong random part, right flow id) → 400, the flow cookie is cleared', async () => {
    const { b, flow, cb } = await atCallback();
    const forged = `${flow.flowId}.${'A'.repeat(43)}`;
    const res = await b.get(callbackUrl(paramsOf(cb).map(([k, v]) => [k, k === 'state' ? forged : v])));
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-state-mismatch');
    expect(issuesSession(res)).toBe(false);
    expect(clears(res, flow.cookieName)).toBe(true);
    await expectLockedOut(b);
  });

  it.each([
    ['a flow id with path characters', '../../etc.x'],
    ['a flow id of the wrong length', 'abc.def'],
    ['an empty state', ''],
    ['a cookie-name injection in the flow id', 'a;b=c,d=e.x'],
  ])('%s → 400 before any cookie is read', async (_name, state) => {
    const { b, cb } = await atCallback();
    const res = await b.get(callbackUrl(paramsOf(cb).map(([k, v]) => [k, k === 'state' ? state : v])));
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-state-invalid');
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('a genuine state whose flow cookie is missing → 400', async () => {
    const { b, flow, cb } = await atCallback();
    b.cookies.delete(flow.cookieName);
    const res = await b.get(cb.href);
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-state-missing');
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it("tab A's flow cookie presented under tab B's name with tab B's state → 400", async () => {
    const b = new HttpBrowser();
    const tabA = await startFlow(b, stack.origin, '/a');
    const tabB = await startFlow(b, stack.origin, '/b');
    const cb = await signInFromFlow(b, stack, tabB, 'alice', 'alice-dev-password');
    expect(cb.searchParams.get('state')).toBe(tabB.state);
    b.cookies.set(tabB.cookieName, { value: tabA.cookieValue, line: '' });
    const res = await b.get(cb.href);
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-state-mismatch');
    expect(issuesSession(res)).toBe(false);
    b.cookies.delete(tabA.cookieName);
    await expectLockedOut(b);
  });

  it('a bit-flipped flow cookie (ciphertext, tag or header) → 400', async () => {
    for (const part of [0, 2, 3, 4]) {
      const { b, flow, cb } = await atCallback();
      b.cookies.set(flow.cookieName, { value: flipChar(flow.cookieValue, part), line: '' });
      const res = await b.get(cb.href);
      expect(res.status, `part ${part}`).toBe(400);
      expect(await reasonOf(stack.proxy, res)).toBe('login-state-undecryptable');
      expect(issuesSession(res)).toBe(false);
      expect(clears(res, flow.cookieName)).toBe(true);
      await expectLockedOut(b);
    }
  });

  it('a truncated flow cookie → 400', async () => {
    const { b, flow, cb } = await atCallback();
    b.cookies.set(flow.cookieName, { value: flow.cookieValue.slice(0, -10), line: '' });
    const res = await b.get(cb.href);
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('a flow cookie sealed under another key → 400', async () => {
    const { b, flow, cb } = await atCallback();
    const opened = await testCodec().open<Record<string, unknown>>('login', flow.cookieValue);
    expect(opened.ok).toBe(true);
    const forged = await testCodec('another-deployment-key-0123456789abcdef').seal('login', (opened as { payload: Record<string, unknown> }).payload, nowS() + 600);
    b.cookies.set(flow.cookieName, { value: forged, line: '' });
    const res = await b.get(cb.href);
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-state-undecryptable');
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('an expired flow cookie (the same secrets, sealed with exp in the past) → 400', async () => {
    const { b, flow, cb } = await atCallback();
    const opened = await testCodec().open<Record<string, unknown>>('login', flow.cookieValue);
    const payload = { ...(opened as { payload: Record<string, unknown> }).payload };
    delete payload['exp'];
    delete payload['use'];
    b.cookies.set(flow.cookieName, { value: await testCodec().seal('login', payload, nowS() - 5), line: '' });
    const res = await b.get(cb.href);
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-state-expired');
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('a session cookie presented as the flow cookie (wrong use) → 400', async () => {
    const victim = new HttpBrowser();
    await loginThroughProxy(victim, stack, '/app');
    const session = victim.cookies.get(SESSION_COOKIE)!.value;
    const { b, flow, cb } = await atCallback();
    b.cookies.set(flow.cookieName, { value: session, line: '' });
    const res = await b.get(cb.href);
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-state-wrong-use');
    expect(issuesSession(res)).toBe(false);
    stack.upstream.reset();
    await expectLockedOut(b);
  });

  it('the callback on another host name of the same proxy (cookie copied across) → 400', async () => {
    const { b, cb } = await atCallback();
    // Same listener, but https://localhost:<port>: the flow's redirect_uri named 127.0.0.1.
    const elsewhere = new URL(cb.href);
    elsewhere.hostname = 'localhost';
    const res = await b.get(elsewhere.href);
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-redirect-uri-mismatch');
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });
});

describe('callback: replay and code injection', () => {
  it('replaying the whole callback (URL and the old flow cookie) after a completed login → 400 (code already used)', async () => {
    const { b, flow, cb } = await atCallback();
    const done = await b.get(cb.href);
    expect(done.status).toBe(302);
    expect(issuesSession(done)).toBe(true);
    // The completed callback clears its flow cookie…
    expect(clears(done, flow.cookieName)).toBe(true);
    expect(b.cookies.has(flow.cookieName)).toBe(false);
    // …and an attacker who kept both (history, logs, a shared machine) gets nothing.
    const attacker = new HttpBrowser();
    attacker.cookies.set(flow.cookieName, { value: flow.cookieValue, line: '' });
    const replay = await attacker.get(cb.href);
    expect(replay.status).toBe(400);
    expect(await reasonOf(stack.proxy, replay)).toBe('login-provider-invalid_grant');
    expect(issuesSession(replay)).toBe(false);
    await expectLockedOut(attacker);
  });

  it('the same callback fired five times at once → at most one session', async () => {
    const { b, cb } = await atCallback();
    const results = await Promise.all(Array.from({ length: 5 }, () => b.clone().get(cb.href)));
    const statuses = results.map((r) => r.status);
    // The OP redeems the code once; on the reuse it also revokes what it issued for it,
    // which may fail the first redemption too (its userinfo call): zero or one session.
    expect(statuses.filter((s) => s === 302).length).toBeLessThanOrEqual(1);
    expect(statuses.filter((s) => s !== 302).every((s) => s === 400)).toBe(true);
    expect(results.filter(issuesSession).length).toBeLessThanOrEqual(1);
  });

  it("the attacker's own authorization code (bob) in the victim's browser with the victim's state → 400 (PKCE)", async () => {
    const attacker = await atCallback('bob', 'bob-dev-password');
    const victim = new HttpBrowser();
    const vflow = await startFlow(victim, stack.origin, '/app');
    const injected = callbackUrl([
      ['code', attacker.cb.searchParams.get('code')!],
      ['state', vflow.state],
      ['iss', stack.op.issuer],
    ]);
    const res = await victim.get(injected);
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-provider-invalid_grant');
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(victim);
  });

  it("login CSRF: the attacker's complete callback URL opened in the victim's browser → 400 (no flow cookie)", async () => {
    const attacker = await atCallback('bob', 'bob-dev-password');
    const victim = new HttpBrowser();
    await startFlow(victim, stack.origin, '/app'); // the victim has a flow of its own, just not that one
    const res = await victim.get(attacker.cb.href);
    expect(res.status).toBe(400);
    expect(await reasonOf(stack.proxy, res)).toBe('login-state-missing');
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(victim);
  });

  it('an id_token smuggled into the callback query (implicit / hybrid injection) → 400', async () => {
    const { b, cb } = await atCallback();
    const res = await b.get(callbackUrl([...paramsOf(cb), ['id_token', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.']]));
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('a JARM `response` parameter in the callback → 400', async () => {
    const { b, cb } = await atCallback();
    const res = await b.get(callbackUrl([...paramsOf(cb), ['response', 'eyJhbGciOiJub25lIn0.e30.']]));
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('a valid state without a code → 400', async () => {
    const { b, cb } = await atCallback();
    const res = await b.get(callbackUrl(paramsOf(cb).filter(([k]) => k !== 'code')));
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });
});

describe('callback: RFC 9207 iss and error responses', () => {
  it('a wrong iss (mix-up) → 400', async () => {
    for (const iss of ['https://evil.example', `${stack.op.issuer}/`, stack.op.issuer.replace('127.0.0.1', 'localhost')]) {
      const { b, cb } = await atCallback();
      const res = await b.get(callbackUrl(paramsOf(cb).map(([k, v]) => [k, k === 'iss' ? iss : v])));
      expect(res.status, iss).toBe(400);
      expect(issuesSession(res)).toBe(false);
      await expectLockedOut(b);
    }
  });

  it('a missing iss (the OP advertises authorization_response_iss_parameter_supported) → 400', async () => {
    const { b, cb } = await atCallback();
    const res = await b.get(callbackUrl(paramsOf(cb).filter(([k]) => k !== 'iss')));
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('error=access_denied with the flow\'s state → 401, no session, the flow is over', async () => {
    const b = new HttpBrowser();
    const flow = await startFlow(b, stack.origin, '/app');
    const res = await b.get(callbackUrl([['error', 'access_denied'], ['state', flow.state], ['iss', stack.op.issuer]]));
    expect(res.status).toBe(401);
    expect(await reasonOf(stack.proxy, res)).toBe('login-refused-access_denied');
    expect(issuesSession(res)).toBe(false);
    expect(clears(res, flow.cookieName)).toBe(true);
    await expectLockedOut(b);
  });

  it('error=access_denied together with a (stolen) valid code → still refused', async () => {
    const { b, cb } = await atCallback();
    const res = await b.get(callbackUrl([...paramsOf(cb), ['error', 'access_denied']]));
    expect(res.status).toBe(401);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });

  it('error=access_denied with a forged state → 400', async () => {
    const b = new HttpBrowser();
    await startFlow(b, stack.origin, '/app');
    const res = await b.get(callbackUrl([['error', 'access_denied'], ['state', 'AAAAAAAAAAA.forged']]));
    expect(res.status).toBe(400);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });
});

describe('callback: ambiguous requests', () => {
  it.each(['state', 'code', 'iss'])('a repeated %s parameter → 400', async (name) => {
    const { b, cb } = await atCallback();
    const params = paramsOf(cb);
    const value = cb.searchParams.get(name)!;
    // The genuine value first and an attacker's second, and the other way round.
    for (const extra of [[...params, [name, `${value}x`]], [[name, `${value}x`], ...params]] as [string, string][][]) {
      const b2 = b.clone();
      const res = await b2.get(callbackUrl(extra));
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(issuesSession(res)).toBe(false);
      await expectLockedOut(b2);
    }
  });

  it.each(['POST', 'HEAD', 'PUT'])('the callback with %s → 405, nothing redeemed', async (method) => {
    const { b, cb } = await atCallback();
    const res = await b.request(cb.href, {
      method,
      ...(method === 'POST' ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: cb.searchParams.toString() } : {}),
    });
    expect(res.status).toBe(405);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
    // The code was not redeemed: the genuine GET still works (nothing was consumed by the refusal).
    const ok = await b.get(cb.href);
    expect(ok.status).toBe(302);
    expect(issuesSession(ok)).toBe(true);
  });

  it('a POSTed form callback (response_mode=form_post) carrying code and state in the body → 405', async () => {
    const { b, cb } = await atCallback();
    const res = await b.postForm(`${stack.origin}/.ztproxy/callback`, Object.fromEntries(cb.searchParams));
    expect(res.status).toBe(405);
    expect(issuesSession(res)).toBe(false);
    await expectLockedOut(b);
  });
});

describe('session fixation across a login', () => {
  it("a session cookie planted before login (bob's) is replaced and revoked; the new session is alice's", async () => {
    // The attacker (bob) logs in and plants his valid session cookie in the victim's browser.
    const attacker = new HttpBrowser();
    await loginThroughProxy(attacker, stack, '/app', 'bob', 'bob-dev-password');
    const planted = attacker.cookies.get(SESSION_COOKIE)!.value;
    const victim = new HttpBrowser();
    victim.cookies.set(SESSION_COOKIE, { value: planted, line: '' });
    // The victim logs in (explicitly, as alice) with the planted cookie in the jar.
    const flow = await startFlow(victim, stack.origin, '/app');
    const cb = await signInFromFlow(victim, stack, flow, 'alice', 'alice-dev-password');
    const done = await victim.get(cb.href);
    expect(done.status).toBe(302);
    const fresh = victim.cookies.get(SESSION_COOKIE)!.value;
    expect(fresh).not.toBe(planted);
    const codec = testCodec();
    const oldData = await codec.open<{ sid: string; sub: string }>('session', planted);
    const newData = await codec.open<{ sid: string; sub: string }>('session', fresh);
    expect(oldData.ok && newData.ok).toBe(true);
    if (!oldData.ok || !newData.ok) return;
    expect(newData.payload.sid).not.toBe(oldData.payload.sid);
    expect(newData.payload.sub).toBe('alice');
    // The planted session is dead wherever it is copied.
    stack.upstream.reset();
    const again = await attacker.get(`${stack.origin}/app/again`);
    expect(again.status).toBe(302);
    expect(clears(again, SESSION_COOKIE)).toBe(true);
    expect(stack.upstream.seen).toEqual([]);
    // The victim is alice upstream, never bob.
    const page = await victim.get(`${stack.origin}/app/mine`);
    expect(page.status).toBe(200);
    expect(stack.upstream.seen).toHaveLength(1);
    const assertion = String(stack.upstream.last('/app/mine')!.headers['x-zt-assertion']);
    expect(JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString()).sub).toBe('alice');
  });

  it('a login never reuses the session id of the cookie the browser had (same user again)', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    const first = b.cookies.get(SESSION_COOKIE)!.value;
    const flow = await startFlow(b, stack.origin, '/app');
    const cb = await signInFromFlow(b, stack, flow, 'alice', 'alice-dev-password');
    await b.get(cb.href);
    const second = b.cookies.get(SESSION_COOKIE)!.value;
    const codec = testCodec();
    const a = await codec.open<{ sid: string }>('session', first);
    const c = await codec.open<{ sid: string }>('session', second);
    expect(a.ok && c.ok && a.payload.sid !== c.payload.sid).toBe(true);
    stack.upstream.reset();
    const stale = new HttpBrowser();
    stale.cookies.set(SESSION_COOKIE, { value: first, line: '' });
    expect((await stale.get(`${stack.origin}/app`)).status).toBe(302);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a flow cookie never becomes a session: nothing named __Host-ztproxy-login-* is accepted as one', async () => {
    const b = new HttpBrowser();
    const flow = await startFlow(b, stack.origin, '/app');
    const res = await b.get(`${stack.origin}/app`, { accept: 'application/json', cookie: `${SESSION_COOKIE}=${flow.cookieValue}` });
    expect(res.status).toBe(401);
    expect(clears(res, SESSION_COOKIE)).toBe(true);
    expect(await reasonOf(stack.proxy, res)).toBe('authentication-required');
    expect(stack.upstream.seen).toEqual([]);
    expect(flow.cookieName.startsWith(FLOW_PREFIX)).toBe(true);
  });
});

