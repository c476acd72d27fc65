// The `device` config block (SPEC §3, §6): defaults, every refusal with its path, and a
// `device` rule without the block (it could never match) as a config error.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';

const CERT = 'package.json';

function base(device?: unknown, policy: unknown = { allow: { accept: true } }): Record<string, unknown> {
  return {
    listen: { address: '127.0.0.1:8443', tls: { cert: CERT, key: CERT } },
    ...(device === undefined ? {} : { device }),
    routes: [{ name: 'app', upstream: 'http://127.0.0.1:9000', policy }],
  };
}

const parse = (config: unknown) => parseConfig(stringify(config), process.cwd(), {});
// Any readable file stands in for the JWKS here: load checks readability, the verifier the content.
const ISSUER = { issuer: 'device-agent.example.com', jwksFile: 'package.json' };

describe('device config', () => {
  it('fills the SPEC defaults: X-Device-Posture, ES256, 24h lifetime, 5m maxAge, a cache', () => {
    const { config, errors } = parse(base({ issuers: [ISSUER] }));
    expect(errors).toEqual([]);
    expect(config!.device).toEqual({
      header: 'X-Device-Posture',
      issuers: [{ ...ISSUER, jwksFile: `${process.cwd()}/package.json`, algorithms: ['ES256'], clockTolerance: 30_000, maxLifetime: 24 * 3600_000 }],
      maxAge: 300_000,
      cache: { max: 10_000 },
    });
  });

  it('absent: no device block at all', () => {
    expect(parse(base()).config!.device).toBeUndefined();
  });

  const cases: [string, unknown, string[]][] = [
    ['no issuers', { issuers: [] }, ['device.issuers: list at least one device-trust issuer, or leave device out']],
    ['unknown key', { issuers: [ISSUER], maxAgee: '1m' }, ['device.maxAgee: unknown key']],
    ['both jwksFile and jwksUri', { issuers: [{ ...ISSUER, jwksUri: 'https://mdm.example.com/jwks' }] }, ['device.issuers.0.jwksFile: needs exactly one of jwksUri (fetched, refreshed on an unknown kid) or jwksFile (read at start)']],
    ['neither', { issuers: [{ issuer: 'x' }] }, ['device.issuers.0: needs exactly one of jwksUri (fetched, refreshed on an unknown kid) or jwksFile (read at start)']],
    ['plain http JWKS off loopback', { issuers: [{ issuer: 'x', jwksUri: 'http://mdm.example.com/jwks' }] }, ['device.issuers.0.jwksUri: must use https (plain http is accepted only for localhost, 127.0.0.0/8 and [::1])']],
    ['alg none', { issuers: [{ ...ISSUER, algorithms: ['none'] }] }, ['device.issuers.0.algorithms.0: "none" is never allowed: an unsigned token proves nothing (RFC 8725 §3.1)']],
    ['HS256', { issuers: [{ ...ISSUER, algorithms: ['HS256'] }] }, ['device.issuers.0.algorithms.0: "HS256" is never allowed: with HMAC the verification key also signs, so a published key could mint tokens (RFC 8725 §2.1)']],
    ['maxLifetime over a year', { issuers: [{ ...ISSUER, maxLifetime: '400d' }] }, ['device.issuers.0.maxLifetime: must be from 1s to 365d (got 400d)']],
    ['maxAge over a day', { issuers: [ISSUER], maxAge: '2d' }, ['device.maxAge: must be from 1s to 24h (got 2d)']],
    ['maxAge not a duration', { issuers: [ISSUER], maxAge: 'soon' }, ['device.maxAge: "soon" is not a duration (use e.g. 100ms, 5s, 30m, 8h, 7d)']],
    ['duplicate issuer', { issuers: [ISSUER, ISSUER] }, ['device.issuers.1.issuer: duplicate issuer (also device.issuers.0.issuer)']],
    ['header Authorization', { issuers: [ISSUER], header: 'Authorization' }, ['device.header: Authorization is a header ztproxy reads or sets for itself; name the posture header something of its own']],
    ['header Cookie', { issuers: [ISSUER], header: 'cookie' }, ['device.header: cookie is a header ztproxy reads or sets for itself; name the posture header something of its own']],
    ['header Host', { issuers: [ISSUER], header: 'Host' }, ['device.header: would remove host, which the upstream needs to read the request as ztproxy judged it']],
    ['header Connection', { issuers: [ISSUER], header: 'Connection' }, ['device.header: Connection is a hop-by-hop header; it never reaches a stage']],
    ['header X-Forwarded-For', { issuers: [ISSUER], header: 'X-Forwarded-For' }, ['device.header: X-Forwarded-For is a header ztproxy reads or sets for itself; name the posture header something of its own']],
    ['header with a space', { issuers: [ISSUER], header: 'X Posture' }, ["device.header: must be a header name (letters, digits and !#$%&'*+-.^_`|~ only)"]],
    ['negative cache', { issuers: [ISSUER], cache: { max: -1 } }, ['device.cache.max: Too small: expected number to be >=0']],
  ];
  it.each(cases)('%s', (_name, device, expected) => {
    expect(parse(base(device)).errors).toEqual(expected);
  });

  it('a device rule without a device block is an error at the rule, wherever it sits', () => {
    const policy = {
      allow: [{ and: [{ authenticated: true }, { device: { managed: true } }] }, { not: { device: { compliant: false } } }],
      deny: { device: { compliant: false } },
    };
    expect(parse(base(undefined, policy)).errors).toEqual([
      'routes.0.policy.allow.0.and.1.device: a device rule needs the top-level device block (the issuers whose posture assertions count); without it no request has posture',
      'routes.0.policy.allow.1.not.device: a device rule needs the top-level device block (the issuers whose posture assertions count); without it no request has posture',
      'routes.0.policy.deny.device: a device rule needs the top-level device block (the issuers whose posture assertions count); without it no request has posture',
    ]);
    expect(parse(base({ issuers: [ISSUER] }, policy)).errors).toEqual([]);
  });
});

describe('device jwksFile at load', () => {
  it('is checked for readability with the other files', () => {
    expect(parse(base({ issuers: [{ ...ISSUER, jwksFile: '/nonexistent/agent.jwks.json' }] })).errors).toEqual([
      'device.issuers.0.jwksFile: cannot read /nonexistent/agent.jwks.json (ENOENT)',
    ]);
  });
});
