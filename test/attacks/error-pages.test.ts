// Attacks on the error pages, with a login configured, over real sockets:
// - XSS through what the page shows: a malicious IdP's `sub`, `name` and `email` laden
//   with markup and quotes, and a request target full of it;
// - the page's sign-out form: it works exactly as a browser submits it from the page
//   (`Referrer-Policy: no-referrer` makes Chromium send `Origin: null`), and only with
//   this session's CSRF token; a cross-site POST still cannot sign anyone out;
// - nothing about the session reaches the page of someone else, nothing reaches the upstream.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NAVIGATION, expectJsonError, expectPage } from '../helpers/error-pages.ts';
import { HttpBrowser } from '../helpers/oidc.ts';
import { SESSION_COOKIE, fakeCallback, fakeLogin, startFakeOpStack, startFlow, type FakeOpStack } from '../helpers/oidc-attacker.ts';
import { get, type SimpleResponse } from '../helpers/proxy.ts';

let stack: FakeOpStack;

beforeAll(async () => {
  stack = await startFakeOpStack({
    oidc: { claims: ['name'] },
    routes: (u) => [
      { name: 'app', upstream: u, match: { pathPrefix: '/app' }, policy: { allow: { authenticated: true } } },
      { name: 'admin', upstream: u, match: { pathPrefix: '/admin' }, policy: { allow: { groups: { has: 'admins' } } } },
    ],
  });
});

afterAll(() => stack?.close());

beforeEach(() => stack.upstream.reset());

const EVIL_SUB = `"><script>alert('sub')</script>`;
const EVIL_NAME = `<img src=x onerror="alert('name')"> O'Brien & "Co"`;
const EVIL_EMAIL = `"'><svg/onload=alert(1)>@evil.test`;

/**
 * A request as a browser's navigation sends it, with `b`'s cookies (kept up to date from
 * the answer). Not through HttpBrowser: undici's fetch always sends `Sec-Fetch-Mode: cors`.
 */
async function navigate(
  b: HttpBrowser,
  target: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<SimpleResponse> {
  const cookie = [...b.cookies].map(([k, v]) => `${k}=${v.value}`).join('; ');
  const port = Number(new URL(stack.origin).port);
  const res = await get(port, target, {
    host: `127.0.0.1:${port}`,
    method: init.method ?? 'GET',
    headers: { ...NAVIGATION, ...(cookie === '' ? {} : { cookie }), ...init.headers },
    body: init.body,
  });
  const set = res.headers['set-cookie'];
  for (const line of typeof set === 'string' ? [set] : (set ?? [])) {
    const [name, value] = (line.split(';', 1)[0] ?? '').split('=', 2) as [string, string];
    if (/max-age=0/i.test(line) || value === '') b.cookies.delete(name);
    else b.cookies.set(name, { value, line });
  }
  return res;
}

async function signedIn(sub: string, claims: Record<string, unknown> = {}): Promise<HttpBrowser> {
  const b = new HttpBrowser();
  const res = await fakeLogin(stack, b, sub, claims);
  expect(res.status).toBe(302);
  expect(b.cookies.has(SESSION_COOKIE)).toBe(true);
  return b;
}

async function page(b: HttpBrowser, path: string, status: number): Promise<string> {
  return expectPage(await navigate(b, path), status);
}

function csrfOf(html: string): string | undefined {
  return /<form method="post" action="\/\.ztproxy\/logout"><input type="hidden" name="csrf" value="([A-Za-z0-9_-]{43})">/.exec(html)?.[1];
}

function postLogout(b: HttpBrowser, body: string, headers: Record<string, string>): Promise<SimpleResponse> {
  return navigate(b, '/.ztproxy/logout', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
}

/** What Chromium sends when the error page's form is submitted (no-referrer → Origin: null). */
const FROM_THE_PAGE = { origin: 'null', 'sec-fetch-site': 'same-origin' };
const API = { accept: 'application/json' };

describe('XSS through the page', () => {
  it('markup and quotes in sub, name and email are shown as text, never as markup', async () => {
    const b = await signedIn(EVIL_SUB, { name: EVIL_NAME, email: EVIL_EMAIL });
    const html = await page(b, '/admin/x', 403);
    for (const raw of ['<script', '<img', '<svg', 'onerror="', 'onload=alert(1)>']) expect(html).not.toContain(raw);
    expect(html).toContain('Signed in as <strong>&#60;img src=x onerror=&#34;alert(&#39;name&#39;)&#34;&#62; O&#39;Brien &#38; &#34;Co&#34; (&#34;&#39;&#62;&#60;svg/onload=alert(1)&#62;@evil.test)</strong>');
    expect(stack.upstream.seen).toEqual([]);
  });

  it('without name and email the subject is shown, escaped', async () => {
    const b = await signedIn(EVIL_SUB);
    const html = await page(b, '/admin/x', 403);
    expect(html).not.toContain('<script');
    expect(html).toContain('&#34;&#62;&#60;script&#62;alert(&#39;sub&#39;)&#60;/script&#62;');
  });

  it('a request target full of markup cannot break out of the sign-in link', async () => {
    const b = await signedIn('alice', { email: 'alice@example.com' });
    for (const target of [`/admin/"><script>alert(1)</script>`, `/admin/x?q="><script>alert(1)</script>&'`, `/admin/x?next=javascript:alert(1)`]) {
      const res = await navigate(b, target);
      const html = res.status === 400 ? expectPage(res, 400) : expectPage(res, 403);
      expect(html, target).not.toMatch(/<script|javascript:alert/);
      const href = /<a href="([^"]*)">Sign in as someone else<\/a>/.exec(html)?.[1];
      if (href !== undefined) expect(href, target).toMatch(/^\/\.ztproxy\/login\?rd=%2F[^"<>']*&#38;reauth=1$/);
    }
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a very long request target keeps the page small (the link returns to the path only)', async () => {
    const b = await signedIn('alice', { email: 'alice@example.com' });
    const path = `/admin/${'a'.repeat(300)}`;
    const html = await page(b, `${path}?${'q=%3Cx%3E&'.repeat(700)}`, 403);
    expect(html).toContain(`<a href="/.ztproxy/login?rd=${encodeURIComponent(path)}&#38;reauth=1">`);
    const huge = await page(b, `/admin/${'b'.repeat(3000)}`, 403);
    expect(huge).toContain('<a href="/.ztproxy/login?rd=%2F&#38;reauth=1">');
  });
});

describe('the signed-in user and the sign-out form', () => {
  it('names the user and offers a sign-out form with the session\'s CSRF token, and "sign in as someone else"', async () => {
    const b = await signedIn('alice', { email: 'alice@example.com', name: 'Alice Example' });
    const html = await page(b, '/admin/reports?x=1', 403);
    expect(html).toContain('Signed in as <strong>Alice Example (alice@example.com)</strong>');
    // The same token the logout page carries: one mechanism.
    const logoutPage = (await navigate(b, '/.ztproxy/logout')).body;
    const fromLogoutPage = /name="csrf" value="([^"]+)"/.exec(logoutPage)?.[1];
    expect(csrfOf(html)).toBe(fromLogoutPage);
    expect(html).toContain(`<a href="/.ztproxy/login?rd=${encodeURIComponent('/admin/reports?x=1')}&#38;reauth=1">Sign in as someone else</a>`);
  });

  it('"Sign in as someone else" starts a login that makes the IdP ask again (prompt=login)', async () => {
    const b = await signedIn('alice', { email: 'alice@example.com' });
    const html = await page(b, '/admin/x', 403);
    const href = /<a href="([^"]*)">Sign in as someone else<\/a>/.exec(html)![1]!.replaceAll('&#38;', '&');
    const res = await navigate(b, href);
    expect(res.status).toBe(302);
    const to = new URL(res.headers['location'] as string);
    expect(to.origin).toBe(stack.op.issuer);
    expect(to.searchParams.get('prompt')).toBe('login');
  });

  it('the form, submitted as Chromium submits it from the page (Origin: null), signs out', async () => {
    const b = await signedIn('alice', { email: 'alice@example.com' });
    const csrf = csrfOf(await page(b, '/admin/x', 403));
    const res = await postLogout(b, `csrf=${csrf}`, FROM_THE_PAGE);
    expect(res.status).toBe(303);
    expect(b.cookies.has(SESSION_COOKIE)).toBe(false);
    expectJsonError(await navigate(b, '/app/x', { headers: API }), 401);
  });

  it('without the token the same POST is refused with a page that points to the sign-out page; the session lives on', async () => {
    const b = await signedIn('alice', { email: 'alice@example.com' });
    const html = expectPage(await postLogout(b, '', FROM_THE_PAGE), 403);
    expect(html).toContain('Sign-out not confirmed');
    expect(html).toContain('<a href="/.ztproxy/logout">');
    expect((await navigate(b, '/app/x', { headers: API })).status).toBe(200);
  });

  it('another session\'s page token cannot sign this session out (cross-site, as an attacker would post it)', async () => {
    const victim = await signedIn('alice', { email: 'alice@example.com' });
    const attacker = await signedIn('mallory', { email: 'mallory@evil.test' });
    const attackersToken = csrfOf(await page(attacker, '/admin/x', 403));
    const res = await postLogout(victim, `csrf=${attackersToken}`, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
    expect(res.status).toBe(403);
    expect((await navigate(victim, '/app/x', { headers: API })).status).toBe(200);
  });

  it('an anonymous refusal shows no user and no sign-out form', async () => {
    const html = await page(new HttpBrowser(), '/nothing', 404);
    expect(html).not.toMatch(/Signed in|<form|csrf/);
  });

  it('an invalid session cookie is cleared and the page shows nobody', async () => {
    const b = new HttpBrowser();
    b.cookies.set(SESSION_COOKIE, { value: 'not-a-session', line: '' });
    const res = await navigate(b, '/admin/x', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
    const html = expectPage(res, 401);
    expect(html).not.toMatch(/Signed in|<form/);
    expect(b.cookies.has(SESSION_COOKIE)).toBe(false);
  });
});

describe('login configured: the pages point to the sign-in', () => {
  it('a form POST that needs a login (no redirect for a POST) → 401 page with a sign-in link back to the page', async () => {
    const res = await navigate(new HttpBrowser(), '/app/form', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
    const html = expectPage(res, 401);
    expect(html).toContain('Sign-in required');
    expect(html).toContain(`<a href="/.ztproxy/login?rd=${encodeURIComponent('/app/form')}">Sign in</a>`);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a GET navigation still goes to the login (302), not to a page', async () => {
    const res = await navigate(new HttpBrowser(), '/app/x');
    expect(res.status).toBe(302);
    expect(res.headers['location']).toMatch(/^\/\.ztproxy\/login\?rd=/);
  });

  it('a failed callback (state mismatch) → "Sign-in failed" page with a fresh sign-in link, no session', async () => {
    const b = new HttpBrowser();
    const flow = await startFlow(b, stack.origin, '/app/x');
    const cb = new URL(fakeCallback(stack, flow, { state: `${flow.flowId}.forged` }));
    const html = expectPage(await navigate(b, cb.pathname + cb.search), 400);
    expect(html).toContain('Sign-in failed');
    expect(html).toContain('<a href="/.ztproxy/login?rd=%2F">Sign in</a>');
    expect(b.cookies.has(SESSION_COOKIE)).toBe(false);
  });

  it('the IdP refusing the login (error=access_denied) → page; the IdP\'s error text is not echoed', async () => {
    const b = new HttpBrowser();
    const flow = await startFlow(b, stack.origin, '/app/x');
    const cb = new URL(fakeCallback(stack, flow, { error: 'access_denied<script>', error_description: '<b>no</b>' }));
    const html = expectPage(await navigate(b, cb.pathname + cb.search), 401);
    expect(html).toContain('Sign-in failed');
    expect(html).not.toMatch(/access_denied|<script|<b>/);
  });
});
