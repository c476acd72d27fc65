// Lockout and browser sessions (docs/design.md "Lockout"): a signed-in user's denials
// count against them — unless another site chose the navigation. A SameSite=Lax cookie
// rides along on a top-level cross-site GET, so any page could otherwise send a user's
// browser to a forbidden URL maxFailures times and ban them (and their address).
import { describe, expect, it } from 'vitest';
import { HttpBrowser, loginThroughProxy, useLoginStack, type LoginStack } from '../helpers/oidc.ts';

let stack: LoginStack;
useLoginStack(
  {
    routes: [
      { name: 'forbidden', match: { pathPrefix: '/forbidden' }, policy: { allow: { user: ['nobody'] } } },
      { name: 'app', policy: { allow: { authenticated: true } } },
    ],
    config: { lockout: { maxFailures: 3, window: '1m', banFor: '1m' } },
  },
  (s) => (stack = s),
);

describe('lockout with a session cookie', () => {
  it('cross-site navigations to a forbidden page do not count; same-origin ones do, and ban the user', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    expect((await b.get(`${stack.origin}/app`)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await b.get(`${stack.origin}/forbidden/x`, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await b.get(`${stack.origin}/app`)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await b.get(`${stack.origin}/forbidden/x`, { 'sec-fetch-site': 'same-origin' })).status).toBe(403);
    const banned = await b.get(`${stack.origin}/app`, { accept: 'application/json' });
    expect(banned.status).toBe(429);
    expect(Number(banned.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(stack.proxy.logs.find((l) => l.msg === 'lockout: banned' && l.kind === 'subject')).toMatchObject({ subject: expect.any(String), failures: 3 });
  });
});
