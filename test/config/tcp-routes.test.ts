// TCP routes in the config (issue #6 point 1): `match.port` and `tcp://host:port`
// upstreams; a TCP route needs a host and a port, takes no HTTP-only key (a key that
// would be silently ignored is an error), and two TCP routes for one host:port are
// ambiguous. Its idle timeout defaults to 1h unless `timeouts.idle` is set.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { parseTcpUpstream } from '../../src/config/schema.ts';

const CERT = 'package.json';

function withRoutes(...routes: Record<string, unknown>[]): Record<string, unknown> {
  return { listen: { address: '127.0.0.1:8443', tls: { cert: CERT, key: CERT } }, routes };
}

const ssh = (extra: Record<string, unknown> = {}, match: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'ssh',
  match: { host: 'ssh.internal', port: 22, ...match },
  upstream: 'tcp://10.0.0.9:22',
  policy: { allow: { groups: { has: 'ops' } } },
  ...extra,
});

function problems(...routes: Record<string, unknown>[]): string[] {
  return parseConfig(stringify(withRoutes(...routes)), process.cwd(), {}).errors;
}

describe('TCP routes', () => {
  it('accepts the SPEC example; its idle timeout defaults to 1h, the HTTP routes keep 60s', () => {
    const { config, errors } = parseConfig(
      stringify(withRoutes(ssh(), { name: 'web', upstream: 'http://127.0.0.1:9000', policy: { allow: { accept: true } } })),
      process.cwd(),
      {},
    );
    expect(errors).toEqual([]);
    expect(config!.routes[0]!.match).toEqual({ host: 'ssh.internal', port: 22, pathPrefix: '/' });
    expect(config!.routes[0]!.timeouts.idle).toBe(3_600_000);
    expect(config!.routes[0]!.timeouts.connect).toBe(5000);
    expect(config!.routes[1]!.timeouts.idle).toBe(60_000);
  });

  it('keeps an idle timeout that is set', () => {
    const { config, errors } = parseConfig(stringify(withRoutes(ssh({ timeouts: { idle: '10m', connect: '2s' } }))), process.cwd(), {});
    expect(errors).toEqual([]);
    expect(config!.routes[0]!.timeouts).toMatchObject({ idle: 600_000, connect: 2000 });
  });

  it('accepts a wildcard host and IP literals', () => {
    expect(problems(ssh({}, { host: '*.db.internal', port: 5432 }))).toEqual([]);
    expect(problems(ssh({ upstream: 'tcp://[::1]:22' }, { host: '10.0.0.9' }))).toEqual([]);
    expect(problems(ssh({ upstream: 'tcp://db.internal:5432' }))).toEqual([]);
  });

  const bad: [string, Record<string, unknown>, string[]][] = [
    ['no port in the upstream', ssh({ upstream: 'tcp://10.0.0.9' }), ['routes.0.upstream: must name a port (tcp://host:port)']],
    ['a path in the upstream', ssh({ upstream: 'tcp://10.0.0.9:22/x' }), ['routes.0.upstream: must be tcp://host:port, without path, query or fragment']],
    ['a query in the upstream', ssh({ upstream: 'tcp://10.0.0.9:22?a' }), ['routes.0.upstream: must be tcp://host:port, without path, query or fragment']],
    ['userinfo in the upstream', ssh({ upstream: 'tcp://root@10.0.0.9:22' }), ['routes.0.upstream: must not carry credentials (tcp://host:port)']],
    ['port 0', ssh({ upstream: 'tcp://10.0.0.9:0' }), ['routes.0.upstream: must be tcp://host:port with a host name, IPv4 address or [IPv6] address and a port from 1 to 65535']],
    ['port 70000', ssh({ upstream: 'tcp://10.0.0.9:70000' }), ['routes.0.upstream: must be tcp://host:port with a host name, IPv4 address or [IPv6] address and a port from 1 to 65535']],
    ['a wildcard upstream', ssh({ upstream: 'tcp://*.x:22' }), ['routes.0.upstream: must be tcp://host:port with a host name, IPv4 address or [IPv6] address and a port from 1 to 65535']],
    ['no host', { ...ssh(), match: { port: 22 } }, ['routes.0.match.host: a TCP route needs a host (the name clients CONNECT to)']],
    ['no port', { ...ssh(), match: { host: 'ssh.internal' } }, ['routes.0.match.port: a TCP route needs a port (clients CONNECT host:port)']],
    ['a port out of range', ssh({}, { port: 65536 }), ['routes.0.match.port: Too big: expected number to be <=65535']],
    ['a port that is not an integer', ssh({}, { port: 22.5 }), ['routes.0.match.port: Invalid input: expected int, received number']],
    ['a pathPrefix', ssh({}, { pathPrefix: '/admin' }), ['routes.0.match.pathPrefix: a TCP route has no paths (it is chosen by the CONNECT target host:port)']],
    ['websocket', ssh({ websocket: true }), ['routes.0.websocket: is an HTTP setting: a TCP route (tcp:// upstream) relays bytes and cannot apply it']],
    ['websocket: false is still a key that was set', ssh({ websocket: false }), ['routes.0.websocket: is an HTTP setting: a TCP route (tcp:// upstream) relays bytes and cannot apply it']],
    ['identityHeaders', ssh({ identityHeaders: true }), ['routes.0.identityHeaders: is an HTTP setting: a TCP route (tcp:// upstream) relays bytes and cannot apply it']],
    ['templates', ssh({ templates: ['/x'] }), ['routes.0.templates: is an HTTP setting: a TCP route (tcp:// upstream) relays bytes and cannot apply it']],
    ['timeouts.headers', ssh({ timeouts: { headers: '5s' } }), ['routes.0.timeouts.headers: is an HTTP timeout: a TCP route has connect and idle']],
    [
      'several HTTP keys at once, all reported',
      ssh({ passAccessToken: true, preserveHost: false, maxRequestBody: '1MiB', upstreamTls: { ca: CERT }, allowEncodedSlashes: true, paths: 'caseInsensitive', stripHeaders: { names: ['x-a'] }, openapi: CERT }),
      ['upstreamTls', 'maxRequestBody', 'preserveHost', 'allowEncodedSlashes', 'paths', 'passAccessToken', 'stripHeaders', 'openapi'].map(
        (k) => `routes.0.${k}: is an HTTP setting: a TCP route (tcp:// upstream) relays bytes and cannot apply it`,
      ),
    ],
  ];
  it.each(bad)('refuses %s', (_name, route, expected) => {
    expect(problems(route)).toEqual(expected);
  });

  it.each(['127.1', '0x7f.0.0.1', '::ffff:10.0.0.1', '*.0x1'])('refuses a host no CONNECT can name: %s', (host) => {
    const got = problems(ssh({}, { host }));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(/^routes\.0\.match\.host: no CONNECT can name this host \(connect-target-/);
  });

  it('refuses two TCP routes for one IPv6 address in two spellings', () => {
    expect(problems(ssh({}, { host: '::1' }), ssh({ name: 'ssh2' }, { host: '0:0::1' }))).toEqual([
      'routes.1.match: routes.0 ("ssh") is a TCP route for [::1]:22 too: a CONNECT could belong to either',
    ]);
  });

  it('refuses match.port on an HTTP route', () => {
    expect(problems({ name: 'web', match: { host: 'a.test', port: 8443 }, upstream: 'http://127.0.0.1:9000', policy: { allow: { accept: true } } })).toEqual([
      'routes.0.match.port: only a TCP route (tcp:// upstream) is chosen by port; an HTTP route is chosen by host and path',
    ]);
  });

  it('refuses two TCP routes for the same host:port, not for another port or host', () => {
    expect(problems(ssh(), ssh({ name: 'ssh2', upstream: 'tcp://10.0.0.10:22' }))).toEqual([
      'routes.1.match: routes.0 ("ssh") is a TCP route for ssh.internal:22 too: a CONNECT could belong to either',
    ]);
    expect(problems(ssh(), ssh({ name: 'ssh2', upstream: 'tcp://10.0.0.10:22' }, { host: 'SSH.internal.' }))).toHaveLength(1);
    expect(problems(ssh(), ssh({ name: 'ssh2' }, { port: 2222 }), ssh({ name: 'ssh3' }, { host: 'other.internal' }))).toEqual([]);
  });

  it('lets an HTTP route and a TCP route share a host (they are never confused)', () => {
    expect(problems(ssh(), { name: 'web', match: { host: 'ssh.internal' }, upstream: 'http://127.0.0.1:9000', policy: { allow: { accept: true } } })).toEqual([]);
  });

  it('parses tcp:// upstreams strictly', () => {
    expect(parseTcpUpstream('tcp://10.0.0.9:22')).toEqual({ host: '10.0.0.9', port: 22 });
    expect(parseTcpUpstream('tcp://DB.Internal:5432')).toEqual({ host: 'db.internal', port: 5432 });
    expect(parseTcpUpstream('tcp://[::1]:22')).toEqual({ host: '::1', port: 22 });
    for (const bad of ['tcp://[::1]', 'tcp://a:b', 'tcp://a:22:33', 'tcp://[zz]:22', 'tcp://a b:22', 'tcp://:22', 'tcp://a:22#x']) {
      expect(parseTcpUpstream(bad), bad).toBeUndefined();
    }
  });
});
