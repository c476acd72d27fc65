// Differential table: the same requests described to `ztproxy check --tests` and sent
// to a real ztproxy over TLS, on case-insensitive, prefix, wildcard-host and deny routes —
// encoded paths, dot segments, fragments, trailing slashes, HEAD, ports, reserved paths.
// The check must report what the wire answers (forwarded, or the refusal's status).
import { afterAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../src/assembly/snapshot.ts';
import { decideCase } from '../../src/cli/policy-tests.ts';
import { describedRequestSchema } from '../../src/cli/described-request.ts';
import { parseConfig } from '../../src/config/load.ts';
import { UpstreamRegistry } from '../../src/proxy/upstream.ts';
import { rawRequest } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';
let config: Record<string, unknown>;
const registry = new UpstreamRegistry();
afterAll(() => registry.destroyAll());
const stack = useProxyStack(({ upstream }) => (config = { routes: [
  { name: 'ci', match: { host: 'app.test', pathPrefix: '/Docs' }, upstream: upstream.url, paths: 'caseInsensitive', policy: { allow: { accept: true } } },
  { name: 'exact', match: { host: 'app.test', pathPrefix: '/exact' }, upstream: upstream.url, paths: 'caseInsensitive', policy: { allow: { accept: true } } },
  { name: 'admin', match: { host: 'app.test', pathPrefix: '/admin' }, upstream: upstream.url, paths: 'caseInsensitive', policy: { allow: { accept: true }, deny: { accept: true } } },
  { name: 'wild', match: { host: '*.wild.test' }, upstream: upstream.url, paths: 'caseInsensitive', policy: { allow: { method: ['GET'] } } },
  { name: 'open', match: { host: 'app.test' }, upstream: upstream.url, paths: 'caseInsensitive', policy: { allow: { accept: true } } },
] }));
it('every request gets the same answer from the check as on the wire', async () => {
  const listen = { address: '127.0.0.1:0', tls: { cert: stack.pki.server.certPath, key: stack.pki.server.keyPath } };
  const { config: parsed, errors } = parseConfig(stringify({ ...config, listen }), '/');
  if (errors.length) throw new Error(errors.join());
  const snapshot = await buildSnapshot(parsed!, 1, registry);
  const probes: [string, string, string][] = [
    ['GET', 'app.test', '/x#frag'], ['GET', 'app.test', '/admin#x'], ['GET', 'app.test', '/é'], ['GET', 'app.test', '/%C3%A9'],
    ['GET', 'app.test', '/docs/a'], ['GET', 'app.test', '/DOCS/a'], ['GET', 'app.test', '/Docs./a'], ['GET', 'app.test', '/exact/'], ['GET', 'app.test', '/exact'],
    ['GET', 'app.test', '/EXACT'], ['GET', 'app.test', '/%61dmin'], ['GET', 'app.test', '/admin%2fx'], ['GET', 'app.test', '/x/..%2fadmin'], ['GET', 'app.test', '//admin'],
    ['GET', 'app.test', '/x/../admin'], ['GET', 'app.test', '/admin;x'], ['GET', 'app.test', '/admin\\x'], ['GET', 'a.wild.test', '/'], ['HEAD', 'a.wild.test', '/'],
    ['GET', 'wild.test', '/'], ['GET', 'a.b.wild.test', '/'], ['GET', 'A.WILD.TEST.', '/'], ['GET', 'a.wild.test:99', '/'], ['GET', 'app.test', '/x?q=%00'],
    ['GET', 'app.test', '/x?#'], ['GET', 'app.test', '/%00'], ['GET', 'app.test', '/x%20y'], ['GET', 'app.test', '/admin%00'], ['GET', '[::1]', '/'], ['GET', 'app.test', '/x?a=b#c?d'],
    ['OPTIONS', 'app.test', '*'], ['GET', 'app.test', 'http://app.test/admin'], ['GET', 'app.test', '/ADMIN'], ['GET', 'app.test', '/admin/'], ['GET', 'app.test', '/.well-known/ztproxy/jwks.json/'], ['GET', 'app.test', '/%2e%2ztproxy/x'],
    ['GET', 'app.test', '/.ztproxy'], ['GET', 'app.test', '/.%7aTproxy/login'], ['GET', 'app.test', '/x/../.ztproxy/login'], ['GET', 'app.test', '/DOCS/../.ztproxy/login'],
  ];
  const disagreements: string[] = [];
  for (const [method, host, path] of probes) {
    stack.upstream.reset();
    const r = await rawRequest(stack.proxy.port, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    const wire = stack.upstream.seen.length > 0 ? 'forwarded' : r.status;
    const got = decideCase(snapshot, { name: 'x', request: describedRequestSchema.parse({ method, host, path }), expect: { decision: 'allow' } });
    if (got.status !== wire) disagreements.push(`${method} ${host} ${JSON.stringify(path)}: wire ${wire}, check ${got.status} (${got.route}, ${got.reason})`);
  }
  expect(disagreements).toEqual([]);
});
