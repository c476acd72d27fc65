// `ztproxy login` with a real browser (issue #6 point 2): the command runs as a child
// process with --no-browser and prints the authorization URL; headless Chromium opens
// it, signs in at the development OP's form, is sent to the CLI's loopback callback and
// shows the "return to the terminal" page. The stored token (mode 0600) is accepted by
// the proxy, refreshed when it expires, and gone after logout.
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginFilePath, storedAccessToken, type StoredLogin } from '../../src/cli/credentials.ts';
import { launchBrowser, newBrowserContext } from '../helpers/browser.ts';
import { cli, runCli, startCliStack, tempConfigDir } from '../helpers/cli-login.ts';
import type { LoginStack } from '../helpers/oidc.ts';
import { get } from '../helpers/proxy.ts';

/** Short, so a refresh is due (after half the lifetime) within the test. */
const ACCESS_TOKEN_TTL = 4;

let stack: LoginStack;
let browser: Browser | undefined;

beforeAll(async () => {
  stack = await startCliStack({ accessTokenTtl: ACCESS_TOKEN_TTL });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('ztproxy login in Chromium', () => {
  it('signs in through the browser, stores a token the proxy accepts, refreshes it, and logs out', async () => {
    const dir = await tempConfigDir();
    const run = runCli(['login', '--via', stack.origin, '--ca', stack.pki.ca.certPath, '--no-browser'], dir);
    const authUrl = await run.authUrl;
    expect(authUrl.origin).toBe(stack.op.issuer);

    const context = await newBrowserContext(browser!);
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      await page.goto(authUrl.href);
      await page.fill('input[name="username"]', 'alice');
      await page.fill('input[name="password"]', 'alice-dev-password');
      await page.click('button[type="submit"]');
      await page.waitForURL((u) => u.hostname === '127.0.0.1' && u.pathname === '/callback');
      await page.waitForSelector('h1');
      expect(await page.textContent('h1')).toBe('Logged in');
      expect(await page.textContent('body')).toContain('return to the terminal');
    } finally {
      await context.close();
    }

    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`logged in to ${stack.origin} as alice (alice@example.com)`);
    const file = loginFilePath(dir, stack.origin);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as StoredLogin;

    // The stored token gets the upstream's answer through the proxy.
    const token = await storedAccessToken(stack.origin, { configDir: dir });
    expect(token).toBe(stored.accessToken);
    stack.upstream.reset();
    const res = await get(stack.proxy.port, '/api/hello', { headers: { authorization: `Bearer ${token!}` } });
    expect(res.status).toBe(200);
    expect(stack.upstream.seen.map((r) => r.url)).toEqual(['/api/hello']);

    // Past half its lifetime: refreshed at the OP, and the new token works too.
    const refreshes = stack.op.grants['refresh_token'] ?? 0;
    await sleep((ACCESS_TOKEN_TTL / 2) * 1000 + 1100);
    const renewed = await storedAccessToken(stack.origin, { configDir: dir });
    expect(renewed).not.toBe(token);
    expect(stack.op.grants['refresh_token'] ?? 0).toBe(refreshes + 1);
    expect((await get(stack.proxy.port, '/api/hello', { headers: { authorization: `Bearer ${renewed!}` } })).status).toBe(200);

    const out = await cli(['logout', '--via', stack.origin], dir);
    expect(out.code, out.stderr).toBe(0);
    expect(await storedAccessToken(stack.origin, { configDir: dir })).toBeUndefined();
  });
});
