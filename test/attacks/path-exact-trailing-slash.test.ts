// `deny: { path: { exact: /admin } }` and a trailing slash. Express (non-strict routing,
// its default), Spring MVC before 6, Rails, IIS and most static servers serve `/admin/`
// as `/admin`; if `exact` compared byte for byte, one `/` (or `//`, merged into one, or
// a `/.` resolved to one) would bypass the deny.
//
// Safe outcome: every spelling that canonicalises to `/admin` or `/admin/` is denied
// and never forwarded; `/admin/x` is another path (exact is not prefix).
import { describe, expect, it } from 'vitest';
import { openRoute, rawGet } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const stack = useProxyStack(({ upstream }) => ({
  routes: [
    openRoute(upstream.url, {
      name: 'app',
      match: { host: 'app.test' },
      policy: { allow: { accept: true }, deny: { or: [{ path: { exact: '/admin' } }, { path: { glob: '/private/*.pdf' } }] } },
    }),
  ],
}));

const send = (target: string) => rawGet(stack.proxy.port, 'app.test', target);

describe('exact: /admin covers /admin with or without one trailing slash', () => {
  it.each(['/admin', '/admin/', '/admin//', '/admin/.', '/admin/x/..', '/admin?x=1', '/private/a.pdf', '/private/a.pdf/'])(
    'GET %s → 403, nothing forwarded',
    async (target) => {
      const res = await send(target);
      expect(res.status).toBe(403);
      expect(stack.upstream.seen.map((s) => s.url)).toEqual([]);
    },
  );

  it.each(['/admin/x', '/administrator', '/Admin', '/private/a.pdf/x'])('GET %s is another path: forwarded', async (target) => {
    const res = await send(target);
    expect(res.status).toBe(200);
    expect(stack.upstream.seen.map((s) => s.url)).toEqual([target]);
  });
});
