// Route key `paths` (legacy upstreams that read paths loosely): its shapes, and the
// checks across routes that keep a case-insensitive route from being bypassed through
// another route.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { RESERVED_CHARACTERS } from '../../src/basics/encoded-reserved.ts';

const CERT = 'package.json';

function withRoutes(routes: Record<string, unknown>[]): string {
  return stringify({ listen: { address: '127.0.0.1:8443', tls: { cert: CERT, key: CERT } }, routes });
}

function route(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, upstream: 'http://127.0.0.1:9000', policy: { allow: { accept: true } }, ...extra };
}

function parse(routes: Record<string, unknown>[]) {
  return parseConfig(withRoutes(routes), process.cwd(), {});
}

describe('paths: accepted shapes', () => {
  it.each([
    [undefined, { case: 'sensitive', rejectEncoded: [] }],
    ['caseSensitive', { case: 'sensitive', rejectEncoded: [] }],
    ['caseInsensitive', { case: 'insensitive', rejectEncoded: [] }],
    [{ case: 'insensitive' }, { case: 'insensitive', rejectEncoded: [] }],
    [{ rejectEncoded: ['?', '#'] }, { case: 'sensitive', rejectEncoded: ['?', '#'] }],
    [{ rejectEncoded: ['?', '?', ' '] }, { case: 'sensitive', rejectEncoded: ['?', ' '] }],
    [{ case: 'insensitive', rejectEncoded: 'reserved' }, { case: 'insensitive', rejectEncoded: RESERVED_CHARACTERS }],
  ])('paths: %j', (paths, expected) => {
    const { config, errors } = parse([route('app', paths === undefined ? {} : { paths })]);
    expect(errors).toEqual([]);
    expect(config!.routes[0]!.paths).toEqual(expected);
  });

  it('reserved is the RFC 3986 delimiters without "/", and "%"', () => {
    expect([...RESERVED_CHARACTERS].sort()).toEqual([...':?#[]@!$&\'()*+,;=%'].sort());
  });
});

describe('paths: refused', () => {
  it.each([
    ['caseinsensitive', 'routes.0.paths: must be caseSensitive, caseInsensitive or { case: sensitive | insensitive, rejectEncoded: reserved | [characters] }'],
    [{ case: 'ignore' }, 'routes.0.paths.case: Invalid option: expected one of "sensitive"|"insensitive"'],
    [{ cases: 'insensitive' }, 'routes.0.paths.cases: unknown key'],
    [{ rejectEncoded: ['/'] }, 'routes.0.paths.rejectEncoded.0: encoded slashes are governed by allowEncodedSlashes (refused unless it is true)'],
    [{ rejectEncoded: ['\\'] }, 'routes.0.paths.rejectEncoded.0: encoded slashes are governed by allowEncodedSlashes (refused unless it is true)'],
    [{ rejectEncoded: ['a'] }, 'routes.0.paths.rejectEncoded.0: "%61" is decoded to "a" before any route sees it'],
    [{ rejectEncoded: ['%3F'] }, 'routes.0.paths.rejectEncoded.0: must be one character'],
    [{ rejectEncoded: ['\t'] }, 'routes.0.paths.rejectEncoded.0: must be a printable ASCII character (encoded controls are always refused)'],
    [{ rejectEncoded: ['é'] }, 'routes.0.paths.rejectEncoded.0: must be a printable ASCII character (encoded controls are always refused)'],
    [{ rejectEncoded: 'all' }, 'routes.0.paths.rejectEncoded: must be reserved or a list of single characters, e.g. ["?", "#", ";"]'],
    [{ rejectEncoded: '?' }, 'routes.0.paths.rejectEncoded: must be reserved or a list of single characters, e.g. ["?", "#", ";"]'],
    [42, 'routes.0.paths: must be caseSensitive, caseInsensitive or { case: sensitive | insensitive, rejectEncoded: reserved | [characters] }'],
  ])('paths: %j', (paths, message) => {
    const { errors } = parse([route('app', { paths })]);
    expect(errors).toEqual([message]);
  });
});

describe('paths: checks across routes', () => {
  it('routes to one upstream must agree on case (else /ADMIN takes the case-sensitive route)', () => {
    const { errors } = parse([
      route('legacy-admin', { match: { pathPrefix: '/admin' }, paths: 'caseInsensitive', policy: { allow: { user: ['root'] } } }),
      route('legacy', { upstream: 'http://127.0.0.1:9000/' }),
    ]);
    expect(errors).toEqual([
      'routes.1.paths: route "legacy" reads paths case-sensitive but routes.0 ("legacy-admin") sends to the same upstream http://127.0.0.1:9000 case-insensitive: an upstream reads paths one way, so set the same paths.case on both',
    ]);
  });

  it('different upstreams may differ', () => {
    const { errors } = parse([
      route('legacy', { match: { pathPrefix: '/legacy' }, paths: 'caseInsensitive' }),
      route('modern', { upstream: 'http://127.0.0.1:9001' }),
    ]);
    expect(errors).toEqual([]);
  });

  it('prefixes of one host equal but for case, one case-insensitive, are ambiguous', () => {
    const { errors } = parse([
      route('a', { match: { host: 'app.test', pathPrefix: '/Admin' }, paths: 'caseInsensitive' }),
      route('b', { match: { host: 'app.test', pathPrefix: '/ADMIN/' }, upstream: 'http://127.0.0.1:9001' }),
      route('c', { match: { host: 'other.test', pathPrefix: '/admin' }, upstream: 'http://127.0.0.1:9001' }),
    ]);
    expect(errors).toEqual([
      'routes.1.match.pathPrefix: routes.0 ("a") has the same host and pathPrefix ignoring case, and one of them is case-insensitive: a request could belong to either',
    ]);
  });

  it('a case-insensitive route refuses a prefix it could never serve, and patterns it cannot fold', () => {
    const { errors } = parse([
      route('a', { match: { pathPrefix: '/admin.' }, paths: 'caseInsensitive' }),
      route('b', {
        match: { pathPrefix: '/%C4%B1' },
        paths: 'caseInsensitive',
        policy: { allow: { accept: true }, deny: { or: [{ path: { prefix: '/adm%C4%B1n' } }, { path: { glob: '/%EF%BC%A1/*' } }, { path: { exact: '/ok' } }] } },
      }),
    ]);
    const unfoldable = 'holds a character that case-insensitive routes refuse (a non-ASCII letter that some reading turns into ASCII, e.g. "ı", "ſ", "K", fullwidth forms)';
    expect(errors).toEqual([
      'routes.0.match.pathPrefix: is refused on a case-insensitive route (windows-trailing-dot-or-space), so the route could never be used',
      `routes.1.match.pathPrefix: ${unfoldable}`,
      `routes.1.policy.deny.or.0.path.prefix: ${unfoldable}`,
      `routes.1.policy.deny.or.1.path.glob: ${unfoldable}`,
    ]);
  });

  it('a case-insensitive route cannot allow encoded slashes (Windows splits on them)', () => {
    const { errors } = parse([route('a', { paths: 'caseInsensitive', allowEncodedSlashes: true })]);
    expect(errors).toEqual([
      'routes.0.allowEncodedSlashes: cannot be true on a case-insensitive route: Windows reads %5C (and HTTP.sys %2F) as a separator, so /admin%2Fx would be /admin/x to the upstream but one segment to the policy',
    ]);
  });

  it('the same patterns are fine on a case-sensitive route', () => {
    const { errors } = parse([route('b', { match: { pathPrefix: '/admin.' }, policy: { allow: { accept: true }, deny: { path: { prefix: '/adm%C4%B1n' } } } })]);
    expect(errors).toEqual([]);
  });
});
