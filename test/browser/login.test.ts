// A full login in a real browser (Debian's Chromium driven by playwright-core) against
// the real development OP and ztproxy: log in through the OP's form and reach the app,
// survive access-token expiries through refresh (one refresh for a burst of requests),
// log out through ztproxy's page and at the OP, and be cut off by a back-channel logout.
//
// Chromium enforces CSP `form-action` on every redirect that follows a form submission
// (the HTTP-level tests in test/identity follow redirects by hand and cannot see it). The
// dev OP's login form and ztproxy's logout page both answer their POST with a redirect to
// another origin, so neither may send `form-action 'self'`: the first describe block
// guards that (it found both, now fixed).
//
// Cookies ignore ports: the OP (http://127.0.0.1:<op>) and ztproxy (https://127.0.0.1:<proxy>)
// share a cookie jar. ztproxy's `__Host-` cookies are Secure, so the plain-HTTP OP never
// sees them; but the OP's own session cookies (`_session`, `_session.sig`, not Secure) go
// to ztproxy, which passes them to the upstream like any app cookie. Only a test/dev
// artefact (a real OP lives on its own host), so nothing here depends on it.
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
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
}

/** A fresh browser profile (cookie jar) with one tab. */
async function newProfile(): Promise<Profile> {
  const context = await newBrowserContext(browser!);
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return { context, page };
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

describe('CSP form-action in Chromium', () => {
  // The dev OP's login POST ends in a redirect to the proxy's callback (another origin).
  it('the dev OP login form redirects back to the proxy', async () => {
    const p = await newProfile();
    const first = await p.page.goto(`${origin}/app/hello`);
    expect(first?.status()).toBe(200);
    const violations = cspViolations(p.page);
    await fillAndSubmit(p, 'alice', 'alice-dev-password');
    await p.page.waitForURL(`${origin}/app/hello`, { timeout: BLOCKED_MS }).catch(() => undefined);
    expect(p.page.url()).toBe(`${origin}/app/hello`);
    expect(violations).toEqual([]);
  }, 30_000);

  // The logout POST answers 303 to the OP's end-session endpoint (another origin).
  it('"Sign out" on /.ztproxy/logout reaches the OP\'s end-session page', async () => {
    const p = await newProfile();
    await logIn(p, '/app/hello');
    await p.page.goto(`${origin}/.ztproxy/logout`);
    const violations = cspViolations(p.page);
    await p.page.click('button:has-text("Sign out")', { noWaitAfter: true });
    await p.page.waitForURL((u) => u.origin === opOrigin && u.pathname === '/session/end', { timeout: BLOCKED_MS }).catch(() => undefined);
    expect(new URL(p.page.url()).origin).toBe(opOrigin);
    expect(violations).toEqual([]);
  }, 30_000);
});

describe('login in a real browser (Chromium, dev OP, ztproxy)', () => {
  // The steps run in order in one profile: each starts where the previous left it.
  let p: Profile;
  let loggedInAt = 0;

  beforeAll(async () => {
    p = await newProfile();
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
    const q = await newProfile();
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
