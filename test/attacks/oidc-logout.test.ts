// Attacks on logout over real sockets against the real development OP:
// - logout CSRF: a cross-site POST (foreign / null / look-alike Origin, Sec-Fetch-Site
//   cross-site or same-site), a GET, another session's CSRF token, the token in the
//   query, repeated or non-form bodies — none may end the session;
// - back-channel logout: tokens forged with our own key, alg none, the OP's genuine ID
//   token posted as a logout token, wrong body shapes — all 4xx and the session lives on;
//   a genuine logout token from the OP (RP-initiated logout at the OP) ends it.
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeKey } from '../helpers/jwt.ts';
import { CLIENT_ID, HttpBrowser, loginThroughProxy, useLoginStack, type LoginStack } from '../helpers/oidc.ts';
import { LOGOUT_EVENT, SESSION_COOKIE, issuesSession, nowS, reasonOf, testCodec, unsignedToken, backchannel as postBackchannel, logoutForm } from '../helpers/oidc-attacker.ts';

let stack: LoginStack;
useLoginStack({}, (s) => (stack = s));

const api = { accept: 'application/json' };

async function signedIn(user = 'alice', password = 'alice-dev-password'): Promise<HttpBrowser> {
  const b = new HttpBrowser();
  await loginThroughProxy(b, stack, '/app', user, password);
  expect(b.cookies.has(SESSION_COOKIE)).toBe(true);
  return b;
}

async function csrfOf(b: HttpBrowser): Promise<string> {
  const page = await b.get(`${stack.origin}/.ztproxy/logout`);
  expect(page.status).toBe(200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  expect(csrf).toBeTruthy();
  return csrf!;
}

/** The session in `b` still gets through to the upstream. */
async function expectAlive(b: HttpBrowser, label = ''): Promise<void> {
  stack.upstream.reset();
  const res = await b.get(`${stack.origin}/app/alive`, api);
  expect(res.status, label).toBe(200);
  expect(stack.upstream.seen, label).toHaveLength(1);
}

async function expectEnded(b: HttpBrowser): Promise<void> {
  stack.upstream.reset();
  const res = await b.get(`${stack.origin}/app/ended`, api);
  expect(res.status).toBe(401);
  expect(stack.upstream.seen).toEqual([]);
}

function postLogout(b: HttpBrowser, body: string, headers: Record<string, string> = {}, query = ''): Promise<Response> {
  return b.request(`${stack.origin}/.ztproxy/logout${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
}

describe('logout CSRF', () => {
  it('a cross-site form POST without the token (Origin of another site) → 403, the session lives on', async () => {
    const b = await signedIn();
    const res = await postLogout(b, '', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
    expect(res.status).toBe(403);
    expect(await reasonOf(stack.proxy, res)).toBe('logout-csrf');
    expect(res.headers.getSetCookie().some((l) => l.startsWith(`${SESSION_COOKIE}=;`))).toBe(false);
    await expectAlive(b);
  });

  it.each([
    ['no Origin, no Sec-Fetch-Site', {}],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site (a sibling subdomain)', { 'sec-fetch-site': 'same-site' }],
    ['Sec-Fetch-Site: none', { 'sec-fetch-site': 'none' }],
    ['Origin: null (sandboxed iframe, data: URL)', { origin: 'null' }],
    ['a look-alike Origin (our origin as a prefix)', { origin: '__ORIGIN__.evil.example' }],
    ['our host over http', { origin: '__HTTP_ORIGIN__' }],
    ['our origin with a trailing slash', { origin: '__ORIGIN__/' }],
    ['a foreign Origin claiming Sec-Fetch-Site: same-origin', { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' }],
    ['Referer of our origin only', { referer: '__ORIGIN__/app' }],
  ] as [string, Record<string, string>][])('%s, no token → 403', async (_name, raw) => {
    const b = await signedIn();
    const headers = Object.fromEntries(
      Object.entries(raw).map(([k, v]) => [k, v.replace('__HTTP_ORIGIN__', stack.origin.replace('https:', 'http:')).replace('__ORIGIN__', stack.origin)]),
    );
    const res = await postLogout(b, 'x=1', headers);
    expect(res.status).toBe(403);
    await expectAlive(b);
  });

  it('GET and HEAD /.ztproxy/logout show a page and log no one out (even with a valid token in the query)', async () => {
    const b = await signedIn();
    const csrf = await csrfOf(b);
    const page = await b.get(`${stack.origin}/.ztproxy/logout?csrf=${encodeURIComponent(csrf)}`);
    expect(page.status).toBe(200);
    expect(issuesSession(page)).toBe(false);
    expect(page.headers.getSetCookie()).toEqual([]);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    const head = await b.request(`${stack.origin}/.ztproxy/logout`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    await expectAlive(b);
  });

  it("another session's CSRF token → 403, both sessions live on", async () => {
    const victim = await signedIn();
    const attacker = await signedIn('bob', 'bob-dev-password');
    const attackersToken = await csrfOf(attacker);
    const res = await postLogout(victim, new URLSearchParams({ csrf: attackersToken }).toString());
    expect(res.status).toBe(403);
    await expectAlive(victim, 'victim');
    await expectAlive(attacker, 'attacker');
  });

  it('the anonymous logout page carries no token, and a token computed for no session is refused', async () => {
    const anon = await new HttpBrowser().get(`${stack.origin}/.ztproxy/logout`);
    expect(anon.status).toBe(200);
    expect(await anon.text()).not.toMatch(/name="csrf"/);
    const b = await signedIn();
    const res = await postLogout(b, 'csrf=');
    expect(res.status).toBe(403);
    await expectAlive(b);
  });

  it('the valid token in the query string instead of the body → 403', async () => {
    const b = await signedIn();
    const csrf = await csrfOf(b);
    const res = await postLogout(b, '', {}, `?csrf=${encodeURIComponent(csrf)}`);
    expect(res.status).toBe(403);
    await expectAlive(b);
  });

  it('two csrf fields (a wrong one and the right one, either order) → 403', async () => {
    const b = await signedIn();
    const csrf = await csrfOf(b);
    for (const body of [`csrf=wrong&csrf=${encodeURIComponent(csrf)}`, `csrf=${encodeURIComponent(csrf)}&csrf=wrong`]) {
      const res = await postLogout(b, body);
      expect(res.status, body).toBe(403);
    }
    await expectAlive(b);
  });

  it('the token in a JSON or text/plain body (what a cross-site form or fetch could send) → 4xx', async () => {
    const b = await signedIn();
    const csrf = await csrfOf(b);
    const json = await postLogout(b, JSON.stringify({ csrf }), { 'content-type': 'application/json' });
    expect(json.status).toBe(400);
    const text = await postLogout(b, `csrf=${csrf}`, { 'content-type': 'text/plain' });
    expect(text.status).toBe(400);
    await expectAlive(b);
  });

  it('logout with PUT or DELETE → 405', async () => {
    const b = await signedIn();
    for (const method of ['PUT', 'DELETE']) {
      const res = await b.request(`${stack.origin}/.ztproxy/logout`, { method, headers: { origin: stack.origin } });
      expect(res.status, method).toBe(405);
    }
    await expectAlive(b);
  });

  it('baseline: the page\'s token, or a same-origin POST, does log out (and the cookie is dead everywhere)', async () => {
    const a = await signedIn();
    const aCopy = a.clone();
    const out = await postLogout(a, new URLSearchParams({ csrf: await csrfOf(a) }).toString(), { origin: 'https://evil.example' });
    expect(out.status).toBe(303);
    await expectEnded(aCopy);
    const b = await signedIn();
    const bCopy = b.clone();
    const same = await postLogout(b, '', { origin: stack.origin });
    expect(same.status).toBe(303);
    await expectEnded(bCopy);
  });
});

// --- back-channel logout -----------------------------------------------------------------

const backchannel = (body: string, contentType?: string, method?: string, query?: string): Promise<Response> =>
  postBackchannel(stack.origin, body, contentType, method, query);
const form = logoutForm;

/** The OP session id and the OP-signed ID token held in a browser's session cookie. */
async function sessionSecrets(b: HttpBrowser): Promise<{ osid: string; idt: string; sub: string }> {
  const opened = await testCodec().open<{ osid: string; idt: string; sub: string }>('session', b.cookies.get(SESSION_COOKIE)!.value);
  if (!opened.ok) throw new Error(opened.reason);
  expect(opened.payload.osid).toBeTruthy();
  expect(opened.payload.idt).toBeTruthy();
  return opened.payload;
}

describe('back-channel logout against the real OP', () => {
  let victim: HttpBrowser;
  let secrets: { osid: string; idt: string; sub: string };

  beforeAll(async () => {
    victim = await signedIn();
    secrets = await sessionSecrets(victim);
  });

  it('a logout token forged with our own key (right iss, aud, sid, typ; same kid as the OP) → 400', async () => {
    const opKid = decodeProtectedHeader(secrets.idt).kid;
    const key = await makeKey('ES256', String(opKid));
    const now = nowS();
    const forged = await new SignJWT({ iss: stack.op.issuer, aud: CLIENT_ID, iat: now, exp: now + 120, jti: 'forged-1', sid: secrets.osid, sub: secrets.sub, events: { [LOGOUT_EVENT]: {} } })
      .setProtectedHeader({ alg: 'ES256', kid: String(opKid), typ: 'logout+jwt' })
      .sign(key.privateKey);
    const res = await backchannel(form(forged));
    expect(res.status).toBe(400);
    expect(String(await reasonOf(stack.proxy, res))).toMatch(/^backchannel-logout-token-/);
    await expectAlive(victim);
  });

  it('an unsigned (alg none) logout token → 400', async () => {
    const now = nowS();
    const token = unsignedToken({ typ: 'logout+jwt' }, { iss: stack.op.issuer, aud: CLIENT_ID, iat: now, exp: now + 120, jti: 'none-1', sid: secrets.osid, events: { [LOGOUT_EVENT]: {} } });
    const res = await backchannel(form(token));
    expect(res.status).toBe(400);
    await expectAlive(victim);
  });

  it("the OP's genuine ID token posted as a logout token (has a nonce, no events, typ not logout+jwt) → 400", async () => {
    const claims = decodeJwt(secrets.idt);
    expect(claims.nonce).toBeTruthy();
    expect(claims.events).toBeUndefined();
    const res = await backchannel(form(secrets.idt));
    expect(res.status).toBe(400);
    await expectAlive(victim);
  });

  it('body shapes: JSON, text/plain, two logout_token values, empty, token in the query → 400; GET → 405', async () => {
    const t = secrets.idt;
    const cases: [string, () => Promise<Response>, number][] = [
      ['json', () => backchannel(JSON.stringify({ logout_token: t }), 'application/json'), 400],
      ['text/plain', () => backchannel(form(t), 'text/plain'), 400],
      ['two values', () => backchannel(`${form(t)}&${form('x')}`), 400],
      ['empty', () => backchannel(''), 400],
      ['query', () => backchannel('', 'application/x-www-form-urlencoded', 'POST', `?${form(t)}`), 400],
      ['GET', () => backchannel('', 'application/x-www-form-urlencoded', 'GET', `?${form(t)}`), 405],
      ['DELETE', () => backchannel(form(t), 'application/x-www-form-urlencoded', 'DELETE'), 405],
    ];
    for (const [name, send, status] of cases) expect((await send()).status, name).toBe(status);
    await expectAlive(victim);
  });

  it('a genuine logout token from the OP (RP-initiated logout at the OP) ends the session; another user\'s session lives on', async () => {
    const bystander = await signedIn('bob', 'bob-dev-password');
    const before = stack.proxy.logs.filter((l) => l.path === '/.ztproxy/backchannel-logout' && l.status === 200).length;
    const opBrowser = victim.clone();
    const endSession = new URL(`${stack.op.issuer}/session/end`);
    endSession.searchParams.set('client_id', CLIENT_ID);
    const confirm = await opBrowser.get(endSession.href);
    const html = await confirm.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    const action = /action="([^"]+)"/.exec(html)?.[1];
    expect(xsrf && action, html).toBeTruthy();
    const out = await opBrowser.postForm(new URL(action!, stack.op.issuer).href, { xsrf: xsrf!, logout: 'yes' });
    expect(out.status).toBe(303);
    await expect
      .poll(() => stack.proxy.logs.filter((l) => l.path === '/.ztproxy/backchannel-logout' && l.status === 200).length, { timeout: 5000 })
      .toBeGreaterThan(before);
    await expectEnded(victim);
    await expectAlive(bystander, 'bystander');
  });
});
