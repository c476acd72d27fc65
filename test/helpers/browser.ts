// A real browser for tests: Debian's Chromium (`apt-get install -y chromium`, which
// .ci/run does on a fresh machine) driven by playwright-core. Playwright's own browser
// download is never used. A missing executable is an error, never a silent skip.
import { access, constants } from 'node:fs/promises';
import { chromium, type Browser, type BrowserContext, type Cookie } from 'playwright-core';

/** `CHROMIUM_PATH` when set, else Debian's launcher. */
export const chromiumPath = process.env['CHROMIUM_PATH'] || '/usr/bin/chromium';

// The network here is closed: without the background-networking flags Chromium stalls
// on its own update, sync and component requests. QUIC is off so every request is the
// TCP+TLS the proxy serves; no GPU and no /dev/shm so it runs in small containers.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Launches headless Chromium; close it with `browser.close()`. */
export async function launchBrowser(): Promise<Browser> {
  try {
    await access(chromiumPath, constants.X_OK);
  } catch {
    throw new Error(
      `Chromium not found at ${chromiumPath}: install it with \`apt-get install -y chromium\` ` +
        '(or set CHROMIUM_PATH to a Chromium executable)',
    );
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: ARGS });
}

/** A fresh profile that accepts the throwaway test CA's certificates. */
export function newBrowserContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ ignoreHTTPSErrors: true });
}

/** The cookies `context` would send to `url`, by name. */
export async function cookiesFor(context: BrowserContext, url: string): Promise<Map<string, Cookie>> {
  return new Map((await context.cookies(url)).map((c) => [c.name, c]));
}
