// A route pathPrefix that no canonical request path can ever match. The policy `path`
// criterion refuses such paths at load (src/policy/canonical-path.ts: "a deny on
// `/%61dmin` would silently protect nothing"), but `routes[].match.pathPrefix` only has
// a character-class regex (src/config/schema.ts): `/%61dmin`, lower-case hex, a broken
// escape or an encoded dot are accepted. Request paths reach the router canonical
// (`%61` decoded, hex upper-cased), so the protected route is never selected and its
// traffic goes to the broader route — with the broader route's weaker policy.
//
// Safe outcome: `ztproxy start` / `check` refuses the config; failing that, the request
// must never reach the open route's upstream. Fix: run the route prefix through
// canonicalPathProblem (allowStar: false) in the route schema, as path criteria do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StartError } from '../../src/main.ts';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { get, openRoute, startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let pki: TestPki;
let guarded: TestUpstream;
let open: TestUpstream;

beforeAll(async () => {
  pki = await makeTestPki();
  guarded = await startUpstream();
  open = await startUpstream();
});

afterAll(async () => {
  await Promise.all([guarded?.close(), open?.close()]);
});

describe('a non-canonical route pathPrefix is a config error, not a silent bypass', () => {
  // [the operator's prefix, a request path it was meant to cover]
  it.each([
    ['/%61dmin', '/admin/users'],
    ['/adm%69n', '/admin'],
    ['/admin%2e', '/admin.'],
    ['/files%2fprivate', '/files%2Fprivate'],
    ['/a%zz', '/a%zz'],
  ])('pathPrefix %s', async (prefix, path) => {
    guarded.reset();
    open.reset();
    const config = {
      listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
      routes: [
        // The protected part: only a workload with this SPIFFE ID.
        openRoute(guarded.url, { name: 'admin', match: { host: 'app.test', pathPrefix: prefix }, allowEncodedSlashes: true, policy: { allow: { spiffe: { id: 'spiffe://example.org/ns/ops/sa/admin' } } } }),
        openRoute(open.url, { name: 'site', match: { host: 'app.test' }, allowEncodedSlashes: true }),
      ],
    };
    let proxy: TestProxy | undefined;
    try {
      proxy = await startTestProxy(config);
    } catch (err) {
      expect(err).toBeInstanceOf(StartError);
      expect((err as StartError).errors.join('\n')).toMatch(/pathPrefix/);
      return;
    }
    try {
      const res = await get(proxy.port, path, { host: 'app.test' });
      // It started: the request must at least not land on the open route.
      expect(open.seen.map((s) => s.url)).toEqual([]);
      expect([400, 403, 404]).toContain(res.status);
      expect.fail(`ztproxy accepted pathPrefix ${prefix}`);
    } finally {
      await proxy.close();
    }
  });
});
