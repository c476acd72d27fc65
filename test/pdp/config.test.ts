// `pdp`, `templates` and `openapi` validation: every problem reported at once as
// `path.to.key: message`, and nothing half-configured gets through — a remote mode
// without a URL, a plain-http PDP across the network, a template no request path can
// equal, a route that would silently have no policy.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { effectivePdp, pdpSchema } from '../../src/config/pdp.ts';

const CERT = 'package.json';
const dir = mkdtempSync(join(tmpdir(), 'ztproxy-pdp-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function base(route: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { address: '127.0.0.1:8443', tls: { cert: CERT, key: CERT } },
    ...top,
    routes: [{ name: 'api', upstream: 'http://127.0.0.1:9000', ...route }],
  };
}

function problems(config: unknown): string[] {
  return parseConfig(stringify(config), process.cwd(), {}).errors;
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const AZ = { mode: 'authzen', url: 'https://pdp.example.com' };

describe('pdp config', () => {
  it('defaults: embedded, 100ms, cache 5s / 100000, breaker 5 / 10s', () => {
    const { config, errors } = parseConfig(stringify(base({ policy: { allow: { accept: true } } })), process.cwd(), {});
    expect(errors).toEqual([]);
    expect(config!.pdp).toEqual({ mode: 'embedded', timeout: 100, cache: { ttl: 5000, max: 100_000 }, breaker: { failures: 5, coolDown: 10_000 } });
  });

  it('a remote route needs no policy (its gate defaults to authenticated); a route override inherits the top level of the same mode', () => {
    const { config, errors } = parseConfig(
      stringify(base({ pdp: { timeout: '250ms' }, templates: ['/users/{userId}'] }, { pdp: { ...AZ, cache: { ttl: '1m' } } })),
      process.cwd(),
      {},
    );
    expect(errors).toEqual([]);
    expect(effectivePdp(config!.pdp, config!.routes[0]!.pdp)).toEqual({
      mode: 'authzen',
      url: 'https://pdp.example.com',
      timeout: 250,
      cache: { ttl: 60_000, max: 100_000 },
      breaker: { failures: 5, coolDown: 10_000 },
    });
  });

  it('a route with another mode does not inherit the top level url (an OPA path is no AuthZEN base URL), but its timeout, cache and breaker', () => {
    expect(effectivePdp(pdpSchema.parse(AZ), { mode: 'opa' })).toBe('mode opa needs a url');
    const top = pdpSchema.parse({ mode: 'embedded', timeout: '300ms', breaker: { failures: 2 } });
    expect(effectivePdp(top, { mode: 'opa', url: 'http://127.0.0.1:8181/v1/data/z/allow' })).toEqual({
      mode: 'opa',
      url: 'http://127.0.0.1:8181/v1/data/z/allow',
      timeout: 300,
      cache: { ttl: 5000, max: 100_000 },
      breaker: { failures: 2, coolDown: 10_000 },
    });
    expect(effectivePdp(top, undefined)).toBeUndefined();
  });

  const cases: [string, Record<string, unknown>, string[]][] = [
    ['remote mode without url', base({}, { pdp: { mode: 'authzen' } }), ['pdp.url: mode authzen needs a url']],
    ['route mode without url', base({ pdp: { mode: 'opa' } }, { pdp: AZ }), ['routes.0.pdp.url: mode opa needs a url']],
    ['bad mode', base({ policy: { allow: { accept: true } } }, { pdp: { mode: 'xacml' } }), ['pdp.mode: Invalid option: expected one of "embedded"|"opa"|"authzen"']],
    ['url with credentials', base({}, { pdp: { mode: 'authzen', url: 'https://u:p@pdp.example.com' } }), ['pdp.url: must not carry credentials']],
    [
      'plain http across the network',
      base({}, { pdp: { mode: 'authzen', url: 'http://10.0.0.5:8080' } }),
      ['pdp.url: plain http is only allowed to a loopback address (127.0.0.1, ::1, localhost): use https, so nobody on the way can answer for the PDP'],
    ],
    ['another scheme', base({}, { pdp: { mode: 'authzen', url: 'ftp://pdp' } }), ['pdp.url: scheme ftp: is not supported (https, or http on loopback)']],
    ['a query', base({}, { pdp: { mode: 'authzen', url: 'https://pdp/x?y=1' } }), ['pdp.url: must not have a query or fragment']],
    [
      'an OPA url without the decision path',
      base({}, { pdp: { mode: 'opa', url: 'http://127.0.0.1:8181' } }),
      ['pdp.url: an OPA url is the Data API path of the decision, e.g. http://127.0.0.1:8181/v1/data/ztproxy/allow'],
    ],
    ['timeout 0', base({}, { pdp: { ...AZ, timeout: '0ms' } }), ['pdp.timeout: must be from 1ms to 30s']],
    ['breaker failures 0', base({}, { pdp: { ...AZ, breaker: { failures: 0 } } }), ['pdp.breaker.failures: Too small: expected number to be >=1']],
    ['an embedded route without policy', base(), ['routes.0.policy: is required (the route decides with its embedded policy: pdp mode embedded)']],
    ['route mode embedded without policy', base({ pdp: { mode: 'embedded' } }, { pdp: AZ }), ['routes.0.policy: is required (the route decides with its embedded policy: pdp mode embedded)']],
    [
      'templates on an embedded route',
      base({ policy: { allow: { accept: true } }, templates: ['/a'] }),
      ['routes.0.templates: names resources for a remote PDP, but this route decides with its embedded policy (pdp mode embedded)'],
    ],
    ['templates and openapi', base({ templates: ['/a'], openapi: CERT }, { pdp: AZ }), ['routes.0.openapi: give templates or openapi, not both']],
    ['a parameter inside a segment', base({ templates: ['/files/{name}.pdf'] }, { pdp: AZ }), [
      'routes.0.templates.0: segment "{name}.pdf": a parameter is a whole segment {name} (letters, digits, "_", "-", "."), e.g. /users/{userId}',
    ]],
    ['a parameter twice', base({ templates: ['/u/{id}/x/{id}'] }, { pdp: AZ }), ['routes.0.templates.0: parameter {id} appears twice (each parameter needs its own name)']],
    ['not a path', base({ templates: ['users'] }, { pdp: AZ }), ['routes.0.templates.0: must be a path starting with "/"']],
    ['a dot segment', base({ templates: ['/a/../b'] }, { pdp: AZ }), ['routes.0.templates.0: must be a canonical path (no dot segments, no empty segments, no escapes of letters, digits or -._~)']],
    ['an empty segment', base({ templates: ['/a//b'] }, { pdp: AZ }), ['routes.0.templates.0: must be a canonical path (no dot segments, no empty segments, no escapes of letters, digits or -._~)']],
    ['an escaped letter', base({ templates: ['/%61dmin'] }, { pdp: AZ }), ['routes.0.templates.0: must be a canonical path (no dot segments, no empty segments, no escapes of letters, digits or -._~)']],
    ['an encoded slash', base({ templates: ['/a%2Fb'] }, { pdp: AZ }), ['routes.0.templates.0: must not contain an encoded slash or backslash']],
    ['two templates of one shape', base({ templates: ['/u/{a}', '/u/{b}'] }, { pdp: AZ }), ['routes.0.templates.1: matches the same paths as "/u/{a}" (which one would the PDP be told?)']],
    [
      'a template outside the route prefix',
      base({ match: { pathPrefix: '/api' }, templates: ['/api/{x}', '/other/{x}'] }, { pdp: AZ }),
      ['routes.0.templates.1: can never match: the route only gets paths under /api'],
    ],
    ['an empty list', base({ templates: [] }, { pdp: AZ }), ['routes.0.templates: list at least one template, or leave templates out (the PDP is then asked about the route prefix)']],
    ['an unreadable openapi file', base({ openapi: '/nonexistent/api.yaml' }, { pdp: AZ }), ['routes.0.openapi: cannot read /nonexistent/api.yaml (ENOENT)']],
  ];
  it.each(cases)('%s', (_name, config, expected) => {
    expect(problems(config)).toEqual(expected);
  });

  it('reports pdp problems beside the others, all at once', () => {
    const config = base({ upstream: 'nope', templates: ['/a/{x}{y}'] }, { pdp: { mode: 'opa', url: 'http://127.0.0.1:8181/v1/data/z' } });
    (config.routes as Record<string, unknown>[]).push({ name: 'b', upstream: 'http://127.0.0.1:9001', pdp: { mode: 'embedded' } });
    expect(problems(config)).toEqual([
      'routes.0.upstream: must be an absolute http:// or https:// URL, or tcp://host:port',
      'routes.0.templates.0: segment "{x}{y}": a parameter is a whole segment {name} (letters, digits, "_", "-", "."), e.g. /users/{userId}',
      'routes.1.policy: is required (the route decides with its embedded policy: pdp mode embedded)',
    ]);
  });
});

describe('openapi', () => {
  it('a YAML or JSON OpenAPI 3 document: its paths keys are the templates', () => {
    const yaml = file('api.yaml', stringify({ openapi: '3.1.0', info: { title: 't', version: '1' }, paths: { '/users/{userId}': {}, '/todos': {} } }));
    const json = file('api.json', JSON.stringify({ openapi: '3.0.3', paths: { '/todos/{todoId}': {} } }));
    expect(problems(base({ openapi: yaml }, { pdp: AZ }))).toEqual([]);
    expect(problems(base({ openapi: json }, { pdp: AZ }))).toEqual([]);
  });

  it.each([
    ['not OpenAPI 3', JSON.stringify({ swagger: '2.0', paths: {} }), 'is not an OpenAPI 3 document (its "openapi" field is missing, expected e.g. "3.1.0")'],
    ['no paths', JSON.stringify({ openapi: '3.1.0' }), 'has no "paths" mapping'],
    ['not YAML', '{ "openapi": ', 'is not JSON or YAML'],
    ['a repeated path', 'openapi: 3.1.0\npaths:\n  /a: {}\n  /a: {}\n', 'is not JSON or YAML'],
  ])('%s → an error at routes.N.openapi', (name, text, message) => {
    const path = file(`${name.replaceAll(' ', '-')}.yaml`, text);
    const errors = problems(base({ openapi: path }, { pdp: AZ }));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`routes.0.openapi: ${path} ${message}`);
  });

  it('a paths key that is no valid template is reported with the key', () => {
    const path = file('bad-key.yaml', stringify({ openapi: '3.1.0', paths: { '/files/{name}.{ext}': {}, '/ok/{id}': {} } }));
    expect(problems(base({ openapi: path }, { pdp: AZ }))).toEqual([
      'routes.0.openapi: paths key "/files/{name}.{ext}" segment "{name}.{ext}": a parameter is a whole segment {name} (letters, digits, "_", "-", "."), e.g. /users/{userId}',
    ]);
  });
});
