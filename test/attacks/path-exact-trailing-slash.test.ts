// `deny: { path: { exact: /admin } }` and a trailing slash. Express (non-strict routing,
// its default), Spring MVC before 6, Rails, IIS and most static servers serve `/admin/`
// as `/admin`; if `exact` compared byte for byte, one `/` (or `//`, merged into one, or
// a `/.` resolved to one) would bypass the deny.
//
// Safe outcome: every spelling that canonicalises to `/admin` or `/admin/` is denied
// and never forwarded; `/admin/x` is another path (exact is not prefix).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { openRoute, rawRequest, startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let pki: TestPki;
let upstream: TestUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startUpstream();
  proxy = await startTestProxy({
    listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
    routes: [
      openRoute(upstream.url, {
        name: 'app',
        match: { host: 'app.test' },
        policy: { allow: { accept: true }, deny: { or: [{ path: { exact: '/admin' } }, { path: { glob: '/private/*.pdf' } }] } },
      }),
    ],
  });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

beforeEach(() => upstream.reset());

const send = (target: string) => rawRequest(proxy.port, `GET ${target} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`);

describe('exact: /admin covers /admin with or without one trailing slash', () => {
  it.each(['/admin', '/admin/', '/admin//', '/admin/.', '/admin/x/..', '/admin?x=1', '/private/a.pdf', '/private/a.pdf/'])(
    'GET %s → 403, nothing forwarded',
    async (target) => {
      const res = await send(target);
      expect(res.status).toBe(403);
      expect(upstream.seen.map((s) => s.url)).toEqual([]);
    },
  );

  it.each(['/admin/x', '/administrator', '/Admin', '/private/a.pdf/x'])('GET %s is another path: forwarded', async (target) => {
    const res = await send(target);
    expect(res.status).toBe(200);
    expect(upstream.seen.map((s) => s.url)).toEqual([target]);
  });
});
