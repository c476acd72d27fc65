// Config validation: every problem reported at once as `path.to.key: message`, unknown
// keys rejected, ${ENV} interpolation, and config/schema.json in sync with the code.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { configJsonSchemaText } from '../../src/config/json-schema.ts';

const CERT = 'package.json'; // any readable file stands in for a PEM here: load checks readability, not content

function base(): Record<string, any> {
  return {
    listen: { address: '127.0.0.1:8443', tls: { cert: CERT, key: CERT } },
    routes: [{ name: 'app', upstream: 'http://127.0.0.1:9000', policy: { allow: { accept: true } } }],
  };
}

function problems(config: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  return parseConfig(typeof config === 'string' ? config : stringify(config), process.cwd(), env).errors;
}

describe('config validation', () => {
  it('accepts a minimal config and fills defaults', () => {
    const { config, errors } = parseConfig(stringify(base()), process.cwd(), {});
    expect(errors).toEqual([]);
    expect(config!.listen.clientAuth.mode).toBe('off');
    expect(config!.listen.tls.minVersion).toBe('TLSv1.2');
    expect(config!.routes[0]!.timeouts).toEqual({ connect: 5000, headers: 30000, body: 60000, idle: 60000 });
    expect(config!.routes[0]!.maxRequestBody).toBe(10 * 1024 * 1024);
    expect(config!.admin.address).toBe('127.0.0.1:9901');
  });

  const cases: [string, (c: Record<string, any>) => void, string[]][] = [
    ['unknown top-level key', (c) => (c.listne = {}), ['listne: unknown key']],
    ['unknown nested key', (c) => (c.listen.clientAuht = { mode: 'require' }), ['listen.clientAuht: unknown key']],
    ['bad clientAuth mode', (c) => (c.listen.clientAuth = { mode: 'maybe' }), ['listen.clientAuth.mode: Invalid option: expected one of "off"|"optional"|"require"']],
    ['mTLS without a CA', (c) => (c.listen.clientAuth = { mode: 'require' }), ['listen.clientAuth.ca: mode optional or require needs a ca bundle']],
    ['bad address', (c) => (c.listen.address = 'localhost'), ['listen.address: must be host:port (e.g. 0.0.0.0:8443, [::1]:8443, :8443) with a port from 0 to 65535']],
    ['bad minVersion', (c) => (c.listen.tls.minVersion = 'TLSv1.0'), ['listen.tls.minVersion: Invalid option: expected one of "TLSv1.2"|"TLSv1.3"']],
    ['missing tls', (c) => delete c.listen.tls, ['listen.tls: is required']],
    ['bad CIDR', (c) => (c.listen.trustedProxies = ['10.0.0.0/33']), ['listen.trustedProxies.0: must be an IP address or CIDR (10.0.0.0/8, 2001:db8::/32)']],
    ['bad duration', (c) => (c.routes[0].timeouts = { connect: '5 seconds' }), ['routes.0.timeouts.connect: "5 seconds" is not a duration (use e.g. 100ms, 5s, 30m, 8h, 7d)']],
    ['bad size', (c) => (c.routes[0].maxRequestBody = '10 megs'), ['routes.0.maxRequestBody: "10 megs" is not a size (use e.g. 65536, 64KiB, 10MB)']],
    ['upstream with a path', (c) => (c.routes[0].upstream = 'http://a:1/x'), ['routes.0.upstream: must be an origin only (scheme://host:port), without path, query or fragment']],
    ['upstream scheme', (c) => (c.routes[0].upstream = 'ftp://a'), ['routes.0.upstream: scheme ftp: is not supported (http, https or tcp)']],
    ['upstream credentials', (c) => (c.routes[0].upstream = 'http://u:p@a'), ['routes.0.upstream: must not carry credentials']],
    ['no routes', (c) => (c.routes = []), ['routes: at least one route is needed (nothing is reachable without one)']],
    ['route without policy', (c) => delete c.routes[0].policy, ['routes.0.policy: is required (the route decides with its embedded policy: pdp mode embedded)']],
    // A value of the wrong type is not a missing one (it was reported as "is required").
    ['route name of the wrong type', (c) => (c.routes[0].name = 5), ['routes.0.name: Invalid input: expected string, received number']],
    [
      'duplicate route names',
      (c) => c.routes.push({ ...c.routes[0] }),
      ['routes.1.name: duplicate route name "app" (also routes.0.name)'],
    ],
    ['bad host', (c) => (c.routes[0].match = { host: 'a b.com' }), ['routes.0.match.host: must be a host name (app.example.com), a wildcard (*.example.com) or an IP address, without port']],
    ['prefix with dot segment', (c) => (c.routes[0].match = { pathPrefix: '/a/../b' }), ['routes.0.match.pathPrefix: must be a canonical path: request paths read it as "/b"']],
    ['upstream cert without key', (c) => (c.routes[0].upstreamTls = { cert: CERT }), ['routes.0.upstreamTls: cert and key go together (upstream mTLS needs both)']],
    ['unreadable file', (c) => (c.listen.tls.key = '/nonexistent/key.pem'), ['listen.tls.key: cannot read /nonexistent/key.pem (ENOENT)']],
    // A shadow policy is a policy: the same strict rules, checked at load, not at the first request.
    [
      'typo in a shadowPolicy',
      (c) => (c.routes[0].shadowPolicy = { allow: { metod: ['GET'] } }),
      ['routes.0.shadowPolicy.allow.metod: unknown key "metod"; a rule takes exactly one of: and, or, not, accept, authenticated, user, email, domain, groups, claim, spiffe, device, method, path, host, sourceIp, time, authAge'],
    ],
    [
      'a device rule in a shadowPolicy without the device block',
      (c) => (c.routes[0].shadowPolicy = { allow: { and: [{ accept: true }, { device: { managed: true } }] } }),
      ['routes.0.shadowPolicy.allow.and.1.device: a device rule needs the top-level device block (the issuers whose posture assertions count); without it no request has posture'],
    ],
  ];
  it.each(cases)('%s', (_name, mutate, expected) => {
    const c = base();
    mutate(c);
    expect(problems(c)).toEqual(expected);
  });

  it('reports every problem at once', () => {
    const c = base();
    c.listne = 1;
    c.listen.address = 'x';
    c.routes[0].upstream = 'nope';
    expect(problems(c)).toEqual([
      'listen.address: must be host:port (e.g. 0.0.0.0:8443, [::1]:8443, :8443) with a port from 0 to 65535',
      'routes.0.upstream: must be an absolute http:// or https:// URL, or tcp://host:port',
      'listne: unknown key',
    ]);
  });

  it('interpolates ${ENV} in values, never in structure', () => {
    const text = stringify(base()).replace('http://127.0.0.1:9000', '${UPSTREAM}');
    const { config, errors } = parseConfig(text, process.cwd(), { UPSTREAM: 'http://10.1.2.3:80' });
    expect(errors).toEqual([]);
    expect(config!.routes[0]!.upstream).toBe('http://10.1.2.3:80');
    // A value that looks like YAML stays a string.
    const injected = parseConfig(text, process.cwd(), { UPSTREAM: 'http://a\npolicy: {allow: {accept: true}}' });
    expect(injected.errors).toEqual(['routes.0.upstream: must be an absolute http:// or https:// URL, or tcp://host:port']);
  });

  it('reports an unset variable at its key, and $${X} stays literal', () => {
    const c = base();
    c.routes[0].upstream = '${NOT_SET_ANYWHERE}';
    expect(problems(c)).toEqual(['routes.0.upstream: environment variable NOT_SET_ANYWHERE is not set']);
    c.routes[0].name = 'x$${Y}';
    expect(problems(c, { NOT_SET_ANYWHERE: 'http://a:1' })[0]).toMatch(/^routes\.0\.name: must be/);
  });

  it('rejects YAML duplicate keys, non-mappings and alias bombs', () => {
    expect(problems('listen: {}\nlisten: {}\n')[0]).toMatch(/^\(yaml line 2 column 1\): Map keys must be unique/);
    expect(problems('- a\n- b\n')).toEqual(['(root): must be a mapping of keys (listen, routes, ...)']);
    const bomb = ['a: &a [x,x,x,x,x,x,x,x,x,x]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]'].join('\n');
    expect(problems(bomb)[0]).toMatch(/^\(yaml\): /);
  });
});

describe('config/schema.json', () => {
  it('is generated from the code schema (run `npm run schema` after changing it)', () => {
    expect(readFileSync('config/schema.json', 'utf8')).toBe(configJsonSchemaText());
  });

  it('the demo config is valid', () => {
    const text = readFileSync('config/ztproxy.yaml', 'utf8');
    // The demo's certificate files are generated on first start; only the schema matters here.
    const errors = parseConfig(text, process.cwd(), {}).errors.filter((e) => !/cannot read/.test(e));
    expect(errors).toEqual([]);
  });
});
