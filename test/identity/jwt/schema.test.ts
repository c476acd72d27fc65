// The issuer schema: what an operator may write, the defaults, and the messages for what
// they may not — every one a setting that would open the door (http keys, `none`, HMAC,
// an hour of clock skew).
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { jwtIssuerSchema } from '../../../src/identity/jwt/index.ts';

const base = { issuer: 'https://idp.example.com', audience: 'https://api.example.com', algorithms: ['ES256'], jwksUri: 'https://idp.example.com/jwks' };

function problems(input: unknown): string[] {
  const r = jwtIssuerSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('jwtIssuerSchema', () => {
  it('fills the defaults and normalises the audience to a list', () => {
    expect(jwtIssuerSchema.parse(base)).toEqual({
      issuer: 'https://idp.example.com',
      audience: ['https://api.example.com'],
      algorithms: ['ES256'],
      jwksUri: 'https://idp.example.com/jwks',
      clockTolerance: 30_000,
      maxLifetime: 86_400_000,
      groupsClaim: 'groups',
      emailClaim: 'email',
    });
  });

  it.each([
    [{ issuer: 'http://127.0.0.1:9000', jwksUri: 'http://127.0.0.1:9000/jwks' }],
    [{ issuer: 'http://localhost:9000', jwksUri: 'http://[::1]:9000/jwks' }],
    [{ jwksUri: undefined, jwksFile: 'config/jwks.json' }],
    [{ audience: ['a', 'b'], algorithms: ['RS256', 'PS512', 'EdDSA'], clockTolerance: '60s', requireTyp: 'application/at+jwt' }],
    [{ clockTolerance: '0s' }],
    [{ clockTolerance: '500ms' }],
    [{ maxLifetime: '1s' }],
    [{ maxLifetime: '365d' }],
  ])('accepts %j', (over) => {
    expect(problems({ ...base, ...over })).toEqual([]);
  });

  it.each([
    [{ issuer: 'http://idp.example.com' }, 'issuer: must use https'],
    [{ issuer: 'http://127.0.0.1.nip.io' }, 'issuer: must use https'],
    [{ issuer: 'ftp://idp.example.com' }, 'issuer: scheme ftp: is not supported'],
    [{ issuer: 'idp.example.com' }, 'issuer: must be an absolute https:// URL'],
    [{ issuer: 'https://idp.example.com/?tenant=a' }, 'issuer: must not have a query'],
    [{ jwksUri: 'http://idp.example.com/jwks' }, 'jwksUri: must use https'],
    [{ jwksUri: 'https://user:pw@idp.example.com/jwks' }, 'jwksUri: must not carry credentials'],
    [{ jwksFile: 'jwks.json' }, 'jwksFile: needs exactly one of jwksUri'],
    [{ jwksUri: undefined }, ': needs exactly one of jwksUri'],
    [{ audience: [] }, 'audience: must list at least one audience'],
    [{ audience: '' }, 'audience'],
    [{ algorithms: [] }, 'algorithms: must list at least one algorithm'],
    [{ algorithms: ['ES256', 'none'] }, 'algorithms.1: "none" is never allowed'],
    [{ algorithms: ['NONE'] }, 'algorithms.0: "NONE" is never allowed'],
    [{ algorithms: ['ES256', 'HS256'] }, 'algorithms.1: "HS256" is never allowed'],
    [{ algorithms: ['RSA-OAEP'] }, 'algorithms.0: must be one of RS256'],
    [{ clockTolerance: '61s' }, 'clockTolerance: must be at most 60s'],
    [{ clockTolerance: '1h' }, 'clockTolerance: must be at most 60s'],
    [{ clockTolerance: '30' }, 'clockTolerance: "30" is not a duration'],
    [{ maxLifetime: '0s' }, 'maxLifetime: must be from 1s to 365d'],
    [{ maxLifetime: '366d' }, 'maxLifetime: must be from 1s to 365d'],
    [{ maxLifetime: '86400' }, 'maxLifetime: "86400" is not a duration'],
    [{ maxLifetime: 86400 }, 'maxLifetime'],
    [{ requireTyp: 'at jwt' }, 'requireTyp: must be a media type'],
    [{ groupsClaim: '' }, 'groupsClaim: must name a claim'],
    [{ audiences: ['x'] }, 'Unrecognized key'],
  ])('refuses %j', (over, message) => {
    expect(problems({ ...base, ...over }).join('\n')).toContain(message);
  });

  it('survives z.toJSONSchema with io: input (the generated config/schema.json)', () => {
    const schema = z.toJSONSchema(jwtIssuerSchema, { io: 'input' }) as { properties: Record<string, unknown>; additionalProperties: boolean; required: string[] };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required.sort()).toEqual(['algorithms', 'audience', 'issuer']);
    expect(schema.properties.clockTolerance).toMatchObject({ type: 'string', default: '30s' });
    expect(schema.properties.maxLifetime).toMatchObject({ type: 'string', default: '24h' });
    expect(JSON.stringify(schema.properties.algorithms)).not.toMatch(/none|HS256/);
  });
});
