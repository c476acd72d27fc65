// The real-browser infrastructure works, and the one thing login tests rely on: Chromium
// keeps a `__Host-` cookie (Secure, HttpOnly, SameSite=Lax) from an HTTPS server with a
// test-CA certificate for localhost, and sends it back.
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext } from 'playwright-core';
import { cookiesFor, launchBrowser, newBrowserContext } from '../helpers/browser.ts';
import { makeTestPki } from '../helpers/pki.ts';

describe('real browser (Chromium via playwright-core)', () => {
  let browser: Browser | undefined;
  let context: BrowserContext;
  let server: Server | undefined;
  let origin: string;

  beforeAll(async () => {
    const pki = await makeTestPki();
    server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
      if (req.url === '/set') {
        res.writeHead(200, {
          'set-cookie': '__Host-t=1; Path=/; Secure; HttpOnly; SameSite=Lax',
          'content-type': 'text/plain',
        });
        res.end('set');
      } else if (req.url === '/echo') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(req.headers.cookie ?? '');
      } else {
        res.writeHead(404).end();
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `https://localhost:${(server.address() as AddressInfo).port}`;

    browser = await launchBrowser();
    context = await newBrowserContext(browser);
  });

  afterAll(async () => {
    await browser?.close();
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
  });

  it('keeps a __Host- cookie from HTTPS localhost and sends it back', async () => {
    const page = await context.newPage();
    const set = await page.goto(`${origin}/set`);
    expect(set?.status()).toBe(200);

    const echo = await page.goto(`${origin}/echo`);
    expect(echo?.status()).toBe(200);
    expect(await echo?.text()).toBe('__Host-t=1');

    const cookie = (await cookiesFor(context, origin)).get('__Host-t');
    expect(cookie).toMatchObject({
      value: '1', domain: 'localhost', path: '/', secure: true, httpOnly: true, sameSite: 'Lax',
    });
    await page.close();
  });
});
