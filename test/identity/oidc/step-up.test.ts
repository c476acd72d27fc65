// Step-up (issue 3 point 6): a route that wants a recent login (authAge) sends a browser
// whose login is too old to log in again — at the real OP, with prompt=login and
// max_age=0, so the OP's own session does not answer for the user — and lets it through
// after a fresh login. An API client with a bearer token gets RFC 9470's challenge instead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpBrowser, loginThroughProxy, locationOf, signInAtOp, startLoginStack, type LoginStack } from '../../helpers/oidc.ts';

let stack: LoginStack;

beforeAll(async () => {
  stack = await startLoginStack({
    routes: [
      { name: 'admin', match: { pathPrefix: '/admin' }, policy: { allow: { and: [{ groups: { has: 'admins' } }, { authAge: { maxSeconds: 2 } }] } } },
      { name: 'app', policy: { allow: { authenticated: true } } },
    ],
  });
});

afterAll(() => stack?.close());

describe('step-up login', () => {
  it('right after a login, a route wanting a fresher one is a plain 403 (no redirect loop)', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    // Fresh enough right after the login.
    expect((await b.get(`${stack.origin}/admin/panel`)).status).toBe(200);
    // Past the route's 2 s but within the 30 s grace after a login: an IdP that ignored
    // prompt=login would otherwise send the browser round in circles.
    await new Promise((r) => setTimeout(r, 2100));
    const api = await b.get(`${stack.origin}/admin/panel`, { accept: 'application/json' });
    expect(api.status).toBe(403);
    stack.upstream.reset();
    const page = await b.get(`${stack.origin}/admin/panel`);
    // Within 30 s of the login: no redirect loop, a plain 403.
    expect(page.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
  });

  it('sends an aged session to log in again and admits it after the fresh login', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    // Pretend the login happened a minute ago (the OP's auth_time is what authAge reads;
    // rewriting the session's copy stands in for the passing of time).
    const { EnvelopeCodec, deriveSessionKey } = await import('../../../src/identity/session/codec.ts');
    const { SESSION_KEY } = await import('../../helpers/oidc.ts');
    const codec = new EnvelopeCodec([deriveSessionKey(SESSION_KEY)]);
    const opened = await codec.open<Record<string, unknown>>('session', b.cookies.get('__Host-ztproxy')!.value);
    if (!opened.ok) throw new Error(opened.reason);
    const aged = { ...opened.payload, c: { ...(opened.payload['c'] as object), auth_time: Math.floor(Date.now() / 1000) - 60 } };
    b.cookies.set('__Host-ztproxy', { value: await codec.seal('session', aged, opened.payload['exp'] as number), line: '' });

    stack.upstream.reset();
    const denied = await b.get(`${stack.origin}/admin/panel?x=1`);
    expect(denied.status).toBe(302);
    expect(denied.headers.get('location')).toBe('/.ztproxy/login?rd=%2Fadmin%2Fpanel%3Fx%3D1&reauth=1');
    expect(stack.upstream.seen).toHaveLength(0);
    const login = await b.get(`${stack.origin}${denied.headers.get('location')}`);
    const toOp = locationOf(login, stack.origin);
    expect(toOp.searchParams.get('prompt')).toBe('login');
    expect(toOp.searchParams.get('max_age')).toBe('0');
    // The OP asks for the password again although its own session is alive.
    const peek = b.clone();
    const interaction = await peek.get(locationOf(await peek.get(toOp.href), stack.op.issuer).href);
    expect(interaction.status).toBe(200);
    expect(await interaction.text()).toContain('name="password"');
    const callback = await signInAtOp(b, stack, login, 'alice', 'alice-dev-password');
    const back = await b.get(callback.href);
    expect(back.status).toBe(302);
    expect(back.headers.get('location')).toBe('/admin/panel?x=1');
    expect((await b.get(`${stack.origin}/admin/panel?x=1`)).status).toBe(200);
  });
});
