// The error pages in a real browser (Debian's Chromium through playwright-core), with
// their real CSP enforced: a real login at the development OP, then a 403 page that
// names the user, whose "Sign out" button signs out (its POST carries `Origin: null`
// under no-referrer, so the CSRF token is what lets it through) and whose "Sign in as
// someone else" makes the OP ask again. axe-core checks the 403, 404 and 401 pages
// (zero violations, best practices included); the 403 page is screenshotted to
// test-results/error-pages/403.png.
//
// axe runs through page.evaluate (DevTools' Runtime.evaluate), which the page's CSP
// does not govern, so the page is checked exactly as served — no bypassCSP context.
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookiesFor, launchBrowser, newBrowserContext } from '../helpers/browser.ts';
import { startLoginStack, type LoginStack } from '../helpers/oidc.ts';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';

const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'error-pages');

let stack: LoginStack;
let plainPki: TestPki;
/** A proxy without any login configured: its refusals for want of credentials are 401 pages. */
let plain: TestProxy;
let browser: Browser | undefined;
let origin: string;
let axeSource: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  stack = await startLoginStack({
    routes: [
      { name: 'app', match: { pathPrefix: '/app' }, policy: { allow: { authenticated: true } } },
      { name: 'admin', match: { pathPrefix: '/admin' }, policy: { allow: { groups: { has: 'auditors' } } } },
    ],
  });
  origin = stack.origin;
  plainPki = await makeTestPki();
  plain = await startTestProxy({
    listen: { tls: { cert: plainPki.server.certPath, key: plainPki.server.keyPath } },
    routes: [{ name: 'app', upstream: stack.upstream.url, policy: { allow: { authenticated: true } } }],
  });
  axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  browser = await launchBrowser();
  await mkdir(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await plain?.close();
  await plainPki?.cleanup();
  await stack?.close();
});

interface Profile {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Content Security Policy violations reported on the tab's console. */
  readonly cspViolations: string[];
}

async function newProfile(): Promise<Profile> {
  const context = await newBrowserContext(browser!);
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const cspViolations: string[] = [];
  page.on('console', (m) => {
    if (m.text().includes('Content Security Policy')) cspViolations.push(m.text());
  });
  return { context, page, cspViolations };
}

/** Logs in at the OP from a navigation to a route that needs a login; ends back at `path`. */
async function logIn(p: Profile, path: string, username = 'alice', password = `${username}-dev-password`): Promise<void> {
  await p.page.goto(`${origin}${path}`);
  await signInAtOp(p, username, password, `${origin}${path}`);
}

async function signInAtOp(p: Profile, username: string, password: string, landing: string): Promise<void> {
  expect(new URL(p.page.url()).origin).toBe(stack.op.issuer);
  await p.page.fill('input[name="username"]', username);
  await p.page.fill('input[name="password"]', password);
  await Promise.all([p.page.waitForURL(landing), p.page.click('button[type="submit"]')]);
}

interface AxeResult {
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown }[] }[];
  passes: unknown[];
}

/** axe-core on the page as served (CSP enforced); every rule, best practices included. */
async function axe(page: Page): Promise<AxeResult> {
  const loaded = await page.evaluate(`${axeSource};typeof axe`);
  expect(loaded).toBe('object');
  // A string: it runs in the page (this file is type-checked without the DOM library).
  return page.evaluate<AxeResult>(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => ({
      violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })),
      passes: r.passes.map((v) => v.id),
    }))`,
  );
}

async function expectAccessible(page: Page): Promise<void> {
  const result = await axe(page);
  expect(result.violations).toEqual([]);
  // It did check something (contrast, lang, title, landmarks, ...).
  expect(result.passes).toEqual(expect.arrayContaining(['color-contrast', 'html-has-lang', 'document-title', 'landmark-one-main', 'page-has-heading-one']));
}

/** The page's own style applied under its CSP (a wrong hash would leave the browser's 8px body margin). */
async function expectStyled(p: Profile): Promise<void> {
  expect(await p.page.evaluate('getComputedStyle(document.body).marginTop')).toBe('0px');
  expect(p.cspViolations).toEqual([]);
}

describe('error pages in Chromium', () => {
  it('403 after a real login: names the user, accessible, screenshot; "Sign out" signs out', async () => {
    const p = await newProfile();
    await logIn(p, '/app/hello');
    const res = await p.page.goto(`${origin}/admin/reports`);
    expect(res?.status()).toBe(403);
    expect(res?.headers()['content-type']).toBe('text/html; charset=utf-8');
    await expect.poll(() => p.page.title()).toBe('Access denied (403)');
    expect(await p.page.locator('h1').textContent()).toBe('Access denied');
    expect(await p.page.locator('.who strong').textContent()).toBe('alice@example.com');
    expect(await p.page.locator('.id code').textContent()).toBe(res?.headers()['x-request-id']);
    await expectStyled(p);
    await p.page.screenshot({ path: join(SCREENSHOTS, '403.png'), fullPage: true });
    await expectAccessible(p.page);
    expect(stack.upstream.seen.some((r) => r.url.startsWith('/admin'))).toBe(false);

    // Sign out from the error page: ztproxy ends the session and sends the browser to
    // the OP's end-session page (another origin: the reason the CSP has no form-action).
    const logout = p.page.waitForRequest((r) => r.url() === `${origin}/.ztproxy/logout` && r.method() === 'POST');
    await Promise.all([
      p.page.waitForURL((u) => u.origin === stack.op.issuer && u.pathname === '/session/end'),
      p.page.click('button:has-text("Sign out")'),
    ]);
    // What Chromium sent: no usable Origin (no-referrer), so the token did the work.
    expect((await logout).headers()['origin']).toBe('null');
    expect((await cookiesFor(p.context, origin)).has('__Host-ztproxy')).toBe(false);
    expect(p.cspViolations).toEqual([]);
    // The proxy session is gone: the app sends the browser through a new login (which the
    // OP, whose own session the user has not ended yet, may answer without a form).
    const visited: string[] = [];
    p.page.on('request', (r) => visited.push(r.url()));
    await p.page.goto(`${origin}/app/hello`);
    expect(visited[1]).toBe(`${origin}/.ztproxy/login?rd=%2Fapp%2Fhello`);
  }, 60_000);

  it('"Sign in as someone else" makes the OP ask again, and the page then names the other user', async () => {
    const p = await newProfile();
    await logIn(p, '/app/hello');
    await p.page.goto(`${origin}/admin/reports?tab=2`);
    await p.page.click('a:has-text("Sign in as someone else")');
    // prompt=login: the OP shows its login form although alice's OP session is alive.
    await p.page.waitForURL((u) => u.origin === stack.op.issuer);
    await signInAtOp(p, 'bob', 'bob-dev-password', `${origin}/admin/reports?tab=2`);
    expect(await p.page.locator('.who strong').textContent()).toBe('bob@example.com');
  }, 60_000);

  it('404 page: accessible, styled under its CSP', async () => {
    const p = await newProfile();
    const res = await p.page.goto(`${origin}/no/such/page`);
    expect(res?.status()).toBe(404);
    expect(await p.page.locator('h1').textContent()).toBe('Page not found');
    await expectStyled(p);
    await expectAccessible(p.page);
  }, 30_000);

  it('401 page (no login configured): says credentials are needed, accessible', async () => {
    const p = await newProfile();
    const res = await p.page.goto(`https://127.0.0.1:${plain.port}/anything`);
    expect(res?.status()).toBe(401);
    expect(await p.page.locator('h1').textContent()).toBe('Credentials needed');
    expect(await p.page.locator('form').count()).toBe(0);
    await expectStyled(p);
    await expectAccessible(p.page);
  }, 30_000);

  it('a fetch() by an app\'s script, even asking for HTML, keeps the JSON body', async () => {
    const p = await newProfile();
    // A page of the app (the test upstream's, without a CSP), signed in.
    await logIn(p, '/app/hello');
    const answer = await p.page.evaluate<{ status: number; type: string | null; body: string }>(
      `fetch('/admin/reports', { headers: { accept: 'text/html' } }).then(async (r) => ({ status: r.status, type: r.headers.get('content-type'), body: await r.text() }))`,
    );
    expect(answer.status).toBe(403);
    expect(answer.type).toBe('application/json');
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'forbidden' });
  }, 30_000);
});
