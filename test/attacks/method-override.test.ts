// Method-policy bypass through method-override headers. A route whose policy allows only
// GET and HEAD (a read-only API) denies DELETE — but the same DELETE arrives as
// `GET` + `X-HTTP-Method-Override: DELETE`, which Express's method-override, Symfony
// (`http_method_override`), Laravel, Spring's HiddenHttpMethodFilter variants, ASP.NET
// Web API and many API gateways execute as DELETE. The policy judges GET; the upstream
// runs DELETE. ztproxy strips the URL-override headers (`X-Original-URL`,
// `X-Rewrite-URL`) for exactly this reason (policy checks one thing, the upstream does
// another), but not their method twins.
//
// Safe outcome: the override header never reaches the upstream (or the request is
// refused). Fix: add `x-http-method-override`, `x-http-method`, `x-method-override` to
// IDENTITY_HEADERS in src/pipeline/headers.ts (or refuse a request carrying one whose
// value differs from the request method). A `_method` query/body parameter cannot be
// seen by a proxy; the README should tell operators to turn method override off upstream.
import { describe, expect, it } from 'vitest';
import { get, openRoute } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const stack = useProxyStack(({ upstream }) => ({
  routes: [openRoute(upstream.url, { name: 'readonly', match: { host: 'ro.test' }, policy: { allow: { method: ['GET', 'HEAD'] } } })],
}));

/** Every header value the upstream saw that names the overriding method. */
function overridesSeen(method: string): string[] {
  return stack.upstream.seen.flatMap((s) => {
    const out: string[] = [];
    for (let i = 0; i < s.rawHeaders.length; i += 2) if (s.rawHeaders[i + 1]!.toUpperCase() === method) out.push(`${s.rawHeaders[i]}: ${s.rawHeaders[i + 1]}`);
    return out;
  });
}

describe('read-only route (allow method GET, HEAD)', () => {
  it('control: a real DELETE is denied and not forwarded', async () => {
    const res = await get(stack.proxy.port, '/items/1', { host: 'ro.test', method: 'DELETE' });
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toEqual([]);
  });

  it.each([
    ['X-HTTP-Method-Override', 'DELETE'],
    ['X-HTTP-Method', 'DELETE'],
    ['X-Method-Override', 'DELETE'],
    ['X-HTTP-Method-Override', 'PUT'],
    ['X_HTTP_Method_Override', 'DELETE'],
  ])('GET with %s: %s never reaches the upstream as an override', async (name, method) => {
    const res = await get(stack.proxy.port, '/items/1', { host: 'ro.test', headers: { [name]: method } });
    if (res.status === 200) expect(overridesSeen(method)).toEqual([]);
    else {
      expect([400, 403]).toContain(res.status);
      expect(stack.upstream.seen).toEqual([]);
    }
  });
});
