// Browser login through ztproxy against the real development OP (oidc-provider), over
// real sockets: the redirect to login, the code flow, the session cookie and its flags,
// the identity that reaches the upstream, logout and back-channel logout.
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpBrowser, loginThroughProxy, locationOf, startLoginStack, type LoginStack } from '../../helpers/oidc.ts';

let stack: LoginStack;

beforeAll(async () => {
  stack = await startLoginStack({
    routes: [
      { name: 'public', match: { pathPrefix: '/public' }, policy: { allow: { accept: true } } },
      { name: 'eng', match: { pathPrefix: '/eng' }, identityHeaders: true, policy: { allow: { groups: { has: 'engineering' } } } },
      { name: 'app', policy: { allow: { authenticated: true } } },
    ],
  });
});

afterAll(async () => {
  await stack?.close();
});

describe('browser login', () => {
  it('sends a browser without a session to /.ztproxy/login, an API client gets 401', async () => {
    const b = new HttpBrowser();
    const res = await b.get(`${stack.origin}/app/page?x=1`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/.ztproxy/login?rd=%2Fapp%2Fpage%3Fx%3D1');
    const api = await b.get(`${stack.origin}/app/page`, { accept: 'application/json' });
    expect(api.status).toBe(401);
    expect(api.headers.get('www-authenticate')).toBe('Bearer');
    expect(stack.upstream.seen.filter((r) => r.url.startsWith('/app'))).toHaveLength(0);
  });

  it('logs in with the code flow and lands on the page asked for, with a __Host- session cookie', async () => {
    const b = new HttpBrowser();
    const done = await loginThroughProxy(b, stack, '/eng/dashboard?tab=2');
    expect(done.status).toBe(302);
    expect(done.headers.get('location')).toBe('/eng/dashboard?tab=2');
    const session = b.cookies.get('__Host-ztproxy');
    expect(session).toBeDefined();
    const line = session!.line;
    expect(line).toMatch(/; HttpOnly/i);
    expect(line).toMatch(/; Secure/i);
    expect(line).toMatch(/; SameSite=Lax/i);
    expect(line).toMatch(/; Path=\//i);
    expect(line).not.toMatch(/Domain=/i);
    expect(Buffer.byteLength(`__Host-ztproxy=${session!.value}`)).toBeLessThan(4096);
    // A JWE (5 parts), nothing readable.
    expect(session!.value.split('.')).toHaveLength(5);
    // The flow cookie is gone.
    expect([...b.cookies.keys()].filter((n) => n.startsWith('__Host-ztproxy-login-'))).toEqual([]);

    stack.upstream.reset();
    const page = await b.get(`${stack.origin}/eng/dashboard?tab=2`);
    expect(page.status).toBe(200);
    const seen = stack.upstream.last('/eng')!;
    expect(seen.headers['x-forwarded-user']).toBe('alice');
    expect(seen.headers['x-forwarded-email']).toBe('alice@example.com');
    expect(seen.headers['x-forwarded-groups']).toBe('engineering,admins');
    const assertion = decodeJwt(String(seen.headers['x-zt-assertion']));
    expect(assertion.sub).toBe('alice');
    expect(assertion.groups).toEqual(['engineering', 'admins']);
    // ztproxy's cookies never reach the upstream.
    expect(String(seen.headers.cookie ?? '')).not.toMatch(/ztproxy/i);
  });

  it('passes the app its own cookies but never ztproxy\'s', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    stack.upstream.reset();
    const cookie = `theme=dark; __Host-ztproxy=${b.cookies.get('__Host-ztproxy')!.value}; __HOST-ZTPROXY=x; ztproxy_x=1; lang=en`;
    const res = await b.get(`${stack.origin}/app`, { cookie });
    expect(res.status).toBe(200);
    expect(stack.upstream.last('/app')!.headers.cookie).toBe('theme=dark; lang=en');
  });

  it('denies a logged-in user the policy does not allow (403, no redirect loop)', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app', 'bob', 'bob-dev-password');
    stack.upstream.reset();
    const res = await b.get(`${stack.origin}/eng/x`);
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
  });

  it('logs out with a POST carrying the page\'s CSRF token, ends the session and goes to the OP with id_token_hint', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    const stolen = b.clone();
    const page = await b.get(`${stack.origin}/.ztproxy/logout`);
    expect(page.status).toBe(200);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
    expect(csrf).toBeTruthy();
    const out = await b.postForm(`${stack.origin}/.ztproxy/logout`, { csrf: csrf! });
    expect(out.status).toBe(303);
    const endSession = locationOf(out, stack.origin);
    expect(endSession.origin).toBe(stack.op.issuer);
    expect(endSession.searchParams.get('id_token_hint')).toBeTruthy();
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${stack.origin}/`);
    expect(b.cookies.has('__Host-ztproxy')).toBe(false);
    // The copied cookie is dead too (revoked, not just cleared in this browser).
    stack.upstream.reset();
    const again = await stolen.get(`${stack.origin}/app`);
    expect(again.status).toBe(302);
    expect(stack.upstream.seen).toHaveLength(0);
  });

  it('refuses a cross-site logout POST (no token, foreign Origin)', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    const out = await b.postForm(`${stack.origin}/.ztproxy/logout`, {}, { origin: 'https://evil.example' });
    expect(out.status).toBe(403);
    const still = await b.get(`${stack.origin}/app`);
    expect(still.status).toBe(200);
  });

  it('a back-channel logout from the OP cuts the session at once', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    expect((await b.get(`${stack.origin}/app`)).status).toBe(200);
    // RP-initiated logout at the OP (not through the proxy): the OP calls the proxy's
    // back-channel endpoint with a logout token for the OP session.
    const opBrowser = b.clone();
    const endSession = new URL(`${stack.op.issuer}/session/end`);
    endSession.searchParams.set('client_id', 'ztproxy-test');
    const confirm = await opBrowser.get(endSession.href);
    const html = await confirm.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    expect(xsrf, html).toBeTruthy();
    const action = /action="([^"]+)"/.exec(html)?.[1];
    const out = await opBrowser.postForm(new URL(action!, stack.op.issuer).href, { xsrf: xsrf!, logout: 'yes' });
    expect(out.status).toBe(303);
    // The OP calls the back-channel endpoint after answering the browser.
    await expect.poll(() => stack.proxy.logs.find((l) => l.path === '/.ztproxy/backchannel-logout')?.status, { timeout: 5000 }).toBe(200);
    stack.upstream.reset();
    const res = await b.get(`${stack.origin}/app`);
    expect(res.status).toBe(302);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(stack.proxy.logs.find((l) => l.path === '/.ztproxy/backchannel-logout')?.reason).toBe('backchannel-logout-sid');
  });

  it('counts logins, logouts and back-channel logouts in /metrics', async () => {
    const res = await fetch(`http://127.0.0.1:${stack.proxy.proxy.addresses.admin.port}/metrics`);
    const text = await res.text();
    const count = (event: string) => Number(new RegExp(`ztproxy_session_events_total\\{event="${event}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    expect(count('login')).toBeGreaterThanOrEqual(6);
    expect(count('logout')).toBeGreaterThanOrEqual(1);
    expect(count('backchannel_logout')).toBeGreaterThanOrEqual(1);
  });
});
