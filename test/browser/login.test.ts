// A full login in a real browser (Debian's Chromium driven by playwright-core) against
// the real development OP and ztproxy: log in through the OP's form and reach the app,
// survive access-token expiries through refresh (one refresh for a burst of requests),
// log out through ztproxy's page and at the OP, and be cut off by a back-channel logout.
//
// Chromium enforces CSP `form-action` on every redirect that follows a form submission
// (the HTTP-level tests in test/identity follow redirects by hand and cannot see it), and two pages of the login flow send
// `form-action 'self'` while their form's answer redirects to another origin:
//   - the dev OP's login form: its POST ends in a redirect to the proxy's callback;
//   - ztproxy's /.ztproxy/logout page: its POST answers 303 to the OP's end-session URL.
// Both are bugs (see the two `it.fails` below). Until they are fixed, the main flow
// relaxes exactly that directive on exactly those two pages (`relax*` in newProfile), so
// refresh, logout and back-channel logout are still covered in the browser.
//
// Cookies ignore ports: the OP (http://127.0.0.1:<op>) and ztproxy (https://127.0.0.1:<proxy>)
// share a cookie jar. ztproxy's `__Host-` cookies are Secure, so the plain-HTTP OP never
// sees them; but the OP's own session cookies (`_session`, `_session.sig`, not Secure) go
// to ztproxy, which passes them to the upstream like any app cookie. Only a test/dev
// artefact (a real OP lives on its own host), so nothing here depends on it.
import type { Browser, BrowserContext, Page, Response, Route } from 'playwright-core';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookiesFor, launchBrowser, newBrowserContext } from '../helpers/browser.ts';
import { startLoginStack, type LoginStack } from '../helpers/oidc.ts';
import type { LogLine } from '../helpers/proxy.ts';

/** The OP's access token lifetime (s): refresh is due at exp - min(60, ttl/2) = exp - 2 s. */
const ACCESS_TOKEN_TTL = 4;
/** Past the access token's expiry, whole seconds included (sessions compare epoch seconds). */
const PAST_EXPIRY_MS = ACCESS_TOKEN_TTL * 1000 + 300;
/** How long a step that should be instant may take before it counts as blocked. */
const BLOCKED_MS = 3000;

let stack: LoginStack;
let browser: Browser | undefined;
let origin: string;
let opOrigin: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  stack = await startLoginStack({ accessTokenTtl: ACCESS_TOKEN_TTL });
  origin = stack.origin;
  opOrigin = stack.op.issuer;
  browser = await launchBrowser();
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await stack?.close();
});

interface Profile {
  readonly context: BrowserContext;
  readonly page: Page;
  /**
   * Relax the OP login page's CSP. A route never sees a redirect's target, and the form
   * is reached by redirects: fillAndSubmit reloads it (a direct load) before filling it.
   */
  readonly relaxOpLogin: boolean;
}

/** Answers the page itself with `form-action` also allowing `allowed` (the workaround for the CSP bugs). */
async function relaxFormAction(route: Route, allowed: string): Promise<void> {
  if (route.request().method() !== 'GET') return route.continue();
  const res = await route.fetch({ maxRedirects: 0 });
  const headers = res.headers();
  const csp = headers['content-security-policy'];
  if (csp !== undefined) headers['content-security-policy'] = csp.replace("form-action 'self'", `form-action 'self' ${allowed}`);
  await route.fulfill({ response: res, headers });
}

/** A fresh browser profile (cookie jar) with one tab. */
async function newProfile(opts: { relaxOpLogin: boolean; relaxLogoutPage: boolean }): Promise<Profile> {
  const context = await newBrowserContext(browser!);
  contexts.push(context);
  if (opts.relaxOpLogin) await context.route(`${opOrigin}/interaction/**`, (route) => relaxFormAction(route, origin));
  if (opts.relaxLogoutPage) await context.route(`${origin}/.ztproxy/logout`, (route) => relaxFormAction(route, opOrigin));
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return { context, page, relaxOpLogin: opts.relaxOpLogin };
}

async function sessionCookie(p: Profile): Promise<string | undefined> {
  return (await cookiesFor(p.context, origin)).get('__Host-ztproxy')?.value;
}

function logsSince(mark: number): LogLine[] {
  return stack.proxy.logs.slice(mark).filter((l) => l.msg === 'request');
}

/** The tab shows the OP's login form. */
async function expectOpLoginForm(page: Page): Promise<void> {
  const url = new URL(page.url());
  expect(url.origin).toBe(opOrigin);
  expect(url.pathname).toMatch(/^\/interaction\/[A-Za-z0-9_-]+$/);
  expect(await page.locator('input[name="username"]').count()).toBe(1);
  expect(await page.locator('input[name="password"]').count()).toBe(1);
}

/** From the OP's login form: fills it in and submits it; resolves with the form's POST on its way. */
async function fillAndSubmit(p: Profile, username: string, password: string): Promise<void> {
  await expectOpLoginForm(p.page);
  if (p.relaxOpLogin) {
    await p.page.reload();
    await expectOpLoginForm(p.page);
  }
  await p.page.fill('input[name="username"]', username);
  await p.page.fill('input[name="password"]', password);
  await p.page.click('button[type="submit"]', { noWaitAfter: true });
}

/**
 * From the OP's login form: signs in and follows the redirects back through the
 * proxy's callback to `path`. Returns the final response (the upstream's answer).
 */
async function submitLogin(p: Profile, path: string, username = 'alice', password = 'alice-dev-password'): Promise<Response> {
  const target = `${origin}${path}`;
  const landed = p.page.waitForResponse((r) => r.url() === target && r.request().isNavigationRequest());
  await fillAndSubmit(p, username, password);
  const res = await landed;
  await p.page.waitForURL(target);
  return res;
}

/** A full login from a fresh navigation to `path`. */
async function logIn(p: Profile, path: string): Promise<Response> {
  const start = await p.page.goto(`${origin}${path}`);
  expect(start?.status()).toBe(200);
  return submitLogin(p, path);
}

/** Content Security Policy violations the tab reports on its console from now on. */
function cspViolations(page: Page): string[] {
  const seen: string[] = [];
  page.on('console', (m) => {
    if (m.text().includes('Content Security Policy')) seen.push(m.text());
  });
  return seen;
}

/** The upstream's echo of what reached it (its JSON body). */
async function echo(res: Response): Promise<{ url: string; headers: Record<string, string> }> {
  return JSON.parse(await res.text()) as { url: string; headers: Record<string, string> };
}

describe('CSP form-action in Chromium (bugs)', () => {
  // BUG: src/devop/dev-op.ts:107 (sendHtml) sends `form-action 'self'` with the login
  // form; Chromium applies form-action to the redirects after the POST, and the last one
  // goes to the relying party's redirect_uri (https://127.0.0.1:<proxy>/.ztproxy/callback),
  // so Chromium blocks it ("Sending form data to '.../interaction/<uid>/login' violates
  // ... form-action 'self'", net::ERR_ABORTED on /auth/<uid>): nobody can log in with
  // Chrome against the dev OP (npm start's demo included). Fix: add the origins of the
  // registered clients' redirect_uris to form-action (or drop form-action from that page).
  it.fails('the dev OP login form redirects back to the proxy', async () => {
    const p = await newProfile({ relaxOpLogin: false, relaxLogoutPage: false });
    const first = await p.page.goto(`${origin}/app/hello`);
    expect(first?.status()).toBe(200);
    const violations = cspViolations(p.page);
    await fillAndSubmit(p, 'alice', 'alice-dev-password');
    await p.page.waitForURL(`${origin}/app/hello`, { timeout: BLOCKED_MS }).catch(() => undefined);
    // Today: "Sending form data to '<op>/interaction/<uid>/login' violates ... form-action 'self'".
    expect(p.page.url()).toBe(`${origin}/app/hello`);
    expect(violations).toEqual([]);
  }, 30_000);

  // BUG: src/pipeline/stages/login-endpoints.ts:147 (HTML_HEADERS of the GET
  // /.ztproxy/logout page) sends `form-action 'self'`, but the form's POST answers 303 to
  // the OP's end-session endpoint (another origin): Chromium blocks that redirect. The
  // POST itself is handled (303, reason `logout`: session revoked, cookie cleared), but
  // the tab stays on the Sign out page and never reaches the OP, whose session lives on:
  // the next visit to the app logs the user straight back in without a password
  // (observed: /app/hello answers 200 from the upstream right after). Fix: add the OP's end_session_endpoint origin
  // (and the postLogoutRedirectUri's) to form-action on that page, or drop form-action
  // there (the CSRF token and SameSite=Lax already protect the POST).
  // (src/demo/upstream.ts:47 has the same problem with the demo app's Sign out form.)
  it.fails('"Sign out" on /.ztproxy/logout reaches the OP\'s end-session page', async () => {
    const p = await newProfile({ relaxOpLogin: true, relaxLogoutPage: false });
    await logIn(p, '/app/hello');
    await p.page.goto(`${origin}/.ztproxy/logout`);
    const violations = cspViolations(p.page);
    await p.page.click('button:has-text("Sign out")', { noWaitAfter: true });
    await p.page.waitForURL((u) => u.origin === opOrigin && u.pathname === '/session/end', { timeout: BLOCKED_MS }).catch(() => undefined);
    expect(new URL(p.page.url()).origin).toBe(opOrigin);
    // Today: "Sending form data to '<proxy>/.ztproxy/logout' violates ... form-action 'self'".
    expect(violations).toEqual([]);
  }, 30_000);
});

describe('login in a real browser (Chromium, dev OP, ztproxy)', () => {
  // The steps run in order in one profile: each starts where the previous left it.
  let p: Profile;
  let loggedInAt = 0;

  beforeAll(async () => {
    p = await newProfile({ relaxOpLogin: true, relaxLogoutPage: true });
  });

  it('logs in through the OP and lands on the app with a __Host- cookie scripts cannot read', async () => {
    const upstreamMark = stack.upstream.seen.length;
    const first = await p.page.goto(`${origin}/app/hello`);
    // app → /.ztproxy/login → the OP's authorization endpoint → its login form.
    expect(first?.status()).toBe(200);
    await expectOpLoginForm(p.page);
    const chain: string[] = [];
    for (let r = first?.request().redirectedFrom(); r; r = r.redirectedFrom()) chain.unshift(r.url());
    expect(chain.map((u) => new URL(u).pathname).slice(0, 3)).toEqual(['/app/hello', '/.ztproxy/login', '/auth']);
    expect(new URL(chain[2]!).origin).toBe(opOrigin);
    expect(stack.upstream.seen.slice(upstreamMark)).toEqual([]);

    const landed = await submitLogin(p, '/app/hello');
    loggedInAt = Date.now();
    expect(landed.status()).toBe(200);
    expect(landed.headers()['x-upstream']).toBe('yes');
    expect(p.page.url()).toBe(`${origin}/app/hello`);
    const body = await echo(landed);
    expect(body.url).toBe('/app/hello');

    const seen = stack.upstream.last('/app/hello');
    expect(seen).toBeDefined();
    const assertion = decodeJwt(String(seen!.headers['x-zt-assertion']));
    expect(assertion.sub).toBe('alice');
    expect(body.headers['x-zt-assertion']).toBe(seen!.headers['x-zt-assertion']);
    expect(String(seen!.headers.cookie ?? '')).not.toMatch(/ztproxy/i);

    const cookies = await cookiesFor(p.context, origin);
    const cookie = cookies.get('__Host-ztproxy');
    expect(cookie).toMatchObject({ domain: '127.0.0.1', path: '/', secure: true, httpOnly: true, sameSite: 'Lax' });
    expect(cookie!.value.split('.')).toHaveLength(5);
    // The login flow's cookie is gone once the callback is done.
    expect([...cookies.keys()].filter((n) => n.startsWith('__Host-ztproxy-login-'))).toEqual([]);
    // (A string expression: the project's TypeScript config has no DOM types.)
    expect(await p.page.evaluate<string>('document.cookie')).not.toContain('ztproxy');
  }, 30_000);

  it('survives access token expiries through refresh: one refresh even for a burst of requests', async () => {
    expect(loggedInAt).toBeGreaterThan(0);
    const before = await sessionCookie(p);
    expect(before).toBeDefined();
    const refreshes = (): number => stack.op.grants['refresh_token'] ?? 0;

    // 1. A navigation after the access token expired: refreshed in place, no login.
    await sleep(Math.max(0, loggedInAt + PAST_EXPIRY_MS - Date.now()));
    let logMark = stack.proxy.logs.length;
    let refreshMark = refreshes();
    const again = await p.page.goto(`${origin}/app/hello`);
    const refreshedAt = Date.now();
    expect(again?.status()).toBe(200);
    expect(again?.request().redirectedFrom()).toBeNull();
    expect(again?.headers()['x-upstream']).toBe('yes');
    expect(p.page.url()).toBe(`${origin}/app/hello`);
    const after = await sessionCookie(p);
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    const lines = logsSince(logMark);
    expect(lines.filter((l) => l.path === '/app/hello').map((l) => [l.status, l.subject])).toEqual([[200, 'alice']]);
    expect(lines.filter((l) => l.status === 302 || String(l.path).startsWith('/.ztproxy/'))).toEqual([]);
    expect(refreshes() - refreshMark).toBe(1);

    // 2. Ten requests at once from the page after the next expiry: all pass, and the OP
    //    sees one refresh (the others wait for it and get the same new cookie).
    await sleep(Math.max(0, refreshedAt + PAST_EXPIRY_MS - Date.now()));
    logMark = stack.proxy.logs.length;
    refreshMark = refreshes();
    const upstreamMark = stack.upstream.seen.length;
    const newCookies = new Set<string>();
    let renewed = 0;
    const reading: Promise<void>[] = [];
    const watch = (r: Response): void => {
      if (!r.url().startsWith(`${origin}/app/x`)) return;
      reading.push(
        r.headerValue('set-cookie').then((v) => {
          const m = /^__Host-ztproxy=([^;]*)/m.exec(v ?? '');
          if (m) {
            newCookies.add(m[1]!);
            renewed++;
          }
        }),
      );
    };
    p.page.on('response', watch);
    const statuses = await p.page.evaluate(() =>
      Promise.all(Array.from({ length: 10 }, (_, i) => fetch(`/app/x?i=${i}`).then((r) => r.status))),
    );
    p.page.off('response', watch);
    await Promise.all(reading);
    expect(statuses).toEqual(Array(10).fill(200));
    expect(refreshes() - refreshMark).toBe(1);
    expect(stack.upstream.seen.slice(upstreamMark).filter((r) => r.url.startsWith('/app/x'))).toHaveLength(10);
    const burst = logsSince(logMark);
    expect(burst.filter((l) => String(l.path).startsWith('/app/x')).map((l) => l.status)).toEqual(Array(10).fill(200));
    expect(burst.filter((l) => String(l.path).startsWith('/.ztproxy/'))).toEqual([]);
    // Every response that renewed the cookie carried the same one: one refresh, one
    // sealing, shared by the requests that came with the expired generation (in practice
    // all ten: Chromium attaches cookies when it queues a request).
    expect(newCookies.size).toBe(1);
    expect(renewed).toBeGreaterThanOrEqual(2);
    const final = await sessionCookie(p);
    expect(final).not.toBe(after);
    expect(newCookies.has(final!)).toBe(true);
  }, 30_000);

  it('logs out through /.ztproxy/logout and at the OP; the app then needs a new login', async () => {
    expect(await sessionCookie(p)).toBeDefined();
    const logoutPage = await p.page.goto(`${origin}/.ztproxy/logout`);
    expect(logoutPage?.status()).toBe(200);
    const upstreamMark = stack.upstream.seen.length;
    await Promise.all([
      p.page.waitForURL((u) => u.origin === opOrigin && u.pathname === '/session/end'),
      p.page.click('button:has-text("Sign out")'),
    ]);
    // The proxy's session is over; the OP asks to confirm its own (RP-initiated logout).
    const endSession = new URL(p.page.url());
    expect(endSession.searchParams.get('id_token_hint')).toBeTruthy();
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${origin}/`);
    expect(await sessionCookie(p)).toBeUndefined();

    // Confirming ends the OP's session too; the post-logout redirect goes to the proxy's
    // "/", which (no session) starts a login: the OP's form.
    await Promise.all([
      p.page.waitForURL((u) => u.origin === opOrigin && u.pathname.startsWith('/interaction/')),
      p.page.click('button[name="logout"]'),
    ]);
    await expectOpLoginForm(p.page);

    const back = await p.page.goto(`${origin}/app/hello`);
    expect(back?.status()).toBe(200);
    await expectOpLoginForm(p.page);
    expect(stack.upstream.seen.slice(upstreamMark)).toEqual([]);
  }, 30_000);

  it('a back-channel logout from the OP cuts the browser off at once', async () => {
    const q = await newProfile({ relaxOpLogin: true, relaxLogoutPage: true });
    const landed = await logIn(q, '/app/hello');
    expect(landed.status()).toBe(200);
    expect(await sessionCookie(q)).toBeDefined();

    // Logout at the OP directly (not through the proxy): the OP posts a logout token to
    // the proxy's back-channel endpoint.
    const logMark = stack.proxy.logs.length;
    await q.page.goto(`${opOrigin}/session/end?client_id=ztproxy-test`);
    await Promise.all([
      q.page.waitForURL((u) => u.origin === opOrigin && u.pathname === '/session/end/success'),
      q.page.click('button[name="logout"]'),
    ]);
    await expect
      .poll(() => logsSince(logMark).find((l) => l.path === '/.ztproxy/backchannel-logout')?.status, { timeout: 5000, interval: 20 })
      .toBe(200);
    expect(logsSince(logMark).find((l) => l.path === '/.ztproxy/backchannel-logout')?.reason).toBe('backchannel-logout-sid');
    // The browser still holds its cookie: the session is ended on the proxy's side.
    expect(await sessionCookie(q)).toBeDefined();

    const upstreamMark = stack.upstream.seen.length;
    const navMark = stack.proxy.logs.length;
    const next = await q.page.goto(`${origin}/app/hello`);
    expect(next?.status()).toBe(200);
    await expectOpLoginForm(q.page);
    expect(stack.upstream.seen.slice(upstreamMark)).toEqual([]);
    // (The access log's reason is the redirect's, 'login-required', not 'session-revoked'.)
    const line = logsSince(navMark).find((l) => l.path === '/app/hello');
    expect(line?.status).toBe(302);
    expect(line?.subject).toBeUndefined();
    expect(await sessionCookie(q)).toBeUndefined();
  }, 30_000);
});
