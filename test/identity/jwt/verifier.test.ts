// BearerVerifier against honest tokens and the attacks of RFC 8725 / SPEC §5, with keys
// from a JWKS file (the loopback-server variants are in remote-jwks.test.ts). Each attack
// is a token a real attacker can produce; each must be refused with its stable reason.
import { EncryptJWT, SignJWT, base64url, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BearerVerifier, jwtIssuerSchema, type JwtIssuerInput } from '../../../src/identity/jwt/index.ts';
import {
  AUDIENCE,
  ISSUER,
  accessClaims,
  jwksOf,
  makeKey,
  mint,
  rawToken,
  startJwksServer,
  without,
  writeJwksFile,
  type JwksServer,
  type TempJwksFile,
  type TestKey,
} from '../../helpers/jwt.ts';

const ISSUER_B = 'https://other-issuer.test';
const NOW = 1_900_000_000;

let es: TestKey;
let rs: TestKey;
let ps: TestKey;
let ed: TestKey;
let keyB: TestKey;
let attacker: TestKey;
let fileA: TempJwksFile;
let fileB: TempJwksFile;
let verifier: BearerVerifier;
let typed: BearerVerifier;
let spy: JwksServer;

function issuer(input: Partial<JwtIssuerInput> & { jwksFile: string }, iss = ISSUER) {
  return jwtIssuerSchema.parse({ issuer: iss, audience: [AUDIENCE, 'https://other-api.test'], algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'], ...input });
}

beforeAll(async () => {
  [es, rs, ps, ed, keyB, attacker] = await Promise.all([
    makeKey('ES256'),
    makeKey('RS256'),
    makeKey('PS256'),
    makeKey('EdDSA'),
    makeKey('ES256', 'b-key'),
    makeKey('ES256', 'attacker'),
  ]);
  fileA = await writeJwksFile(jwksOf(es, rs, ps, ed));
  fileB = await writeJwksFile(jwksOf(keyB));
  verifier = await BearerVerifier.create([issuer({ jwksFile: fileA.path }), issuer({ jwksFile: fileB.path, algorithms: ['ES256'] }, ISSUER_B)]);
  typed = await BearerVerifier.create([issuer({ jwksFile: fileA.path, requireTyp: 'at+jwt' })]);
  spy = await startJwksServer({ keys: [] });
});

afterAll(async () => {
  verifier.close();
  typed.close();
  await Promise.all([fileA.cleanup(), fileB.cleanup(), spy.close()]);
});

describe('honest tokens from a JWKS file', () => {
  it.each([
    ['ES256', () => es],
    ['RS256', () => rs],
    ['PS256', () => ps],
    ['EdDSA', () => ed],
  ])('%s verifies and yields the subject', async (_alg, key) => {
    const token = await mint(key(), accessClaims(NOW, { email: 'alice@example.com', email_verified: true, groups: ['eng', 'ops'] }));
    const result = await verifier.verify(token, undefined, NOW);
    expect(result).toMatchObject({ ok: true, expiresAt: NOW + 300 });
    if (!result.ok) return;
    expect(result.subject).toMatchObject({
      source: 'bearer',
      issuer: ISSUER,
      sub: 'alice',
      email: 'alice@example.com',
      emailVerified: true,
      groups: ['eng', 'ops'],
    });
  });

  it('verifies a second issuer with its own keys', async () => {
    const token = await mint(keyB, accessClaims(NOW, {}, ISSUER_B));
    expect(await verifier.verify(token, undefined, NOW)).toMatchObject({ ok: true, subject: { issuer: ISSUER_B } });
  });

  it('accepts any configured audience, as a string or in a list', async () => {
    for (const aud of ['https://other-api.test', ['https://unrelated.test', AUDIENCE]]) {
      const token = await mint(es, accessClaims(NOW, { aud }));
      expect((await verifier.verify(token, undefined, NOW)).ok).toBe(true);
    }
  });
});

describe('the subject reads claims without coercing them', () => {
  it.each([
    [{ groups: 'admins' }, { groups: ['admins'] }],
    [{ groups: 7 }, { groups: [] }],
    [{ groups: { 0: 'admins' } }, { groups: [] }],
    [{ groups: ['a', 1, null, 'b'] }, { groups: ['a', 'b'] }],
    [{ email: ['a@x'] }, { email: undefined }],
    [{ email: 'a@x', email_verified: 'true' }, { email: 'a@x', emailVerified: false }],
    [{ auth_time: NOW - 60, acr: 'mfa', amr: ['pwd', 'otp'] }, { authTime: NOW - 60, acr: 'mfa', amr: ['pwd', 'otp'] }],
    [{ auth_time: '123', acr: 1, amr: 'pwd' }, { authTime: undefined, acr: undefined, amr: [] }],
  ])('%j → %j', async (claims, expected) => {
    const result = await verifier.verify(await mint(es, accessClaims(NOW, claims)), undefined, NOW);
    expect(result.ok && result.subject).toMatchObject(expected);
  });

  it('reads the configured groups and email claims', async () => {
    const v = await BearerVerifier.create([issuer({ jwksFile: fileA.path, groupsClaim: 'roles', emailClaim: 'upn' })]);
    const token = await mint(es, accessClaims(NOW, { roles: ['r1'], groups: ['g1'], upn: 'bob@corp', email: 'x@y' }));
    const result = await v.verify(token, undefined, NOW);
    expect(result.ok && result.subject).toMatchObject({ groups: ['r1'], email: 'bob@corp' });
  });

  it('freezes the subject and its claims deeply (one Subject serves every request with the token)', async () => {
    const result = await verifier.verify(await mint(es, accessClaims(NOW, { nested: { roles: ['a'] } })), undefined, NOW);
    if (!result.ok) throw new Error(result.reason);
    expect(Object.isFrozen(result.subject)).toBe(true);
    expect(Object.isFrozen(result.subject.claims)).toBe(true);
    expect(Object.isFrozen((result.subject.claims.nested as { roles: string[] }).roles)).toBe(true);
    expect(Object.isFrozen(result.subject.groups)).toBe(true);
  });
});

/** A table row: what the attacker sends, and the reason it must be refused with. */
type Attack = [name: string, token: () => Promise<string> | string, reason: string];

const claims = () => accessClaims(NOW);

describe('refused tokens', () => {
  const attacks: Attack[] = [
    // alg: none in its spellings, with and without a signature part (CVE-2015-9235 class).
    ...['none', 'None', 'NONE', 'nOnE'].flatMap((alg): Attack[] => [
      [`alg ${alg}, empty signature`, () => rawToken({ alg, kid: es.kid, typ: 'at+jwt' }, claims()), 'token-alg-not-allowed'],
      [`alg ${alg}, junk signature`, () => rawToken({ alg, kid: es.kid }, claims(), 'c2lnbmF0dXJl'), 'token-alg-not-allowed'],
    ]),
    // Algorithm confusion: HS256 keyed with the public key's own published bytes.
    ['HS256 keyed with the public PEM', () => hmacWith(new TextEncoder().encode(es.publicPem), es.kid), 'token-alg-not-allowed'],
    ['HS256 keyed with the RSA public PEM', () => hmacWith(new TextEncoder().encode(rs.publicPem), rs.kid), 'token-alg-not-allowed'],
    ['HS256 keyed with the public JWK JSON', () => hmacWith(new TextEncoder().encode(JSON.stringify(es.publicJwk)), es.kid), 'token-alg-not-allowed'],
    ['HS512 keyed with the public PEM', () => hmacWith(new TextEncoder().encode(es.publicPem), es.kid, 'HS512'), 'token-alg-not-allowed'],
    ['an algorithm the issuer does not allow (ES384)', async () => mint(await makeKey('ES384', es.kid), claims()), 'token-alg-not-allowed'],
    ['an RS256 token for issuer B, which allows only ES256', () => mint(rs, accessClaims(NOW, {}, ISSUER_B)), 'token-alg-not-allowed'],
    // Keys the token brings along: never trusted, never fetched.
    ['embedded jwk (the attacker’s own key)', () => mint(attacker, claims(), { jwk: attacker.publicJwk, kid: undefined }), 'token-unsafe-header'],
    ['embedded jwk with a real kid', () => mint(attacker, claims(), { jwk: attacker.publicJwk, kid: es.kid }), 'token-unsafe-header'],
    ['x5c chain', () => mint(attacker, claims(), { x5c: ['MIIBfake'] }), 'token-unsafe-header'],
    // Odd kids: looked up only as an opaque string, never as a path, and bounded.
    ['kid ../../etc/passwd', () => mint(attacker, claims(), { kid: '../../etc/passwd' }), 'token-unknown-key'],
    ['kid of 600 characters', () => mint(attacker, claims(), { kid: 'k'.repeat(600) }), 'token-unknown-key'],
    ['empty kid', () => mint(attacker, claims(), { kid: '' }), 'token-unknown-key'],
    ['numeric kid', () => mint(attacker, claims(), { kid: 42 }), 'token-malformed'],
    ['object kid', () => mint(attacker, claims(), { kid: { $ne: null } }), 'token-malformed'],
    ['kid of issuer A, signed by the attacker', () => mint(attacker, claims(), { kid: es.kid }), 'token-invalid-signature'],
    // Time.
    ['expired', () => mint(es, accessClaims(NOW - 1000)), 'token-expired'],
    ['expired just beyond the 30 s tolerance', () => mint(es, accessClaims(NOW, { exp: NOW - 31 })), 'token-expired'],
    ['exp exactly at the tolerance edge', () => mint(es, accessClaims(NOW, { exp: NOW - 30 })), 'token-expired'],
    ['not yet valid', () => mint(es, accessClaims(NOW, { nbf: NOW + 3600 })), 'token-not-yet-valid'],
    ['nbf just beyond the tolerance', () => mint(es, accessClaims(NOW, { nbf: NOW + 31 })), 'token-not-yet-valid'],
    ['iat in the future', () => mint(es, accessClaims(NOW, { iat: NOW + 3600, exp: NOW + 7200 })), 'token-issued-in-future'],
    ['iat just beyond the tolerance', () => mint(es, accessClaims(NOW, { iat: NOW + 31 })), 'token-issued-in-future'],
    ['exp as a string', () => mint(es, accessClaims(NOW, { exp: String(NOW + 300) as unknown as number })), 'token-time-invalid'],
    ['nbf as a string', () => mint(es, accessClaims(NOW, { nbf: String(NOW) as unknown as number })), 'token-time-invalid'],
    // Issuer and audience.
    ['unknown issuer', () => mint(es, accessClaims(NOW, {}, 'https://evil.test')), 'token-unknown-issuer'],
    ['issuer with a trailing slash (exact match only)', () => mint(es, accessClaims(NOW, {}, `${ISSUER}/`)), 'token-unknown-issuer'],
    ['iss of issuer A, signed with issuer B’s key and kid', () => mint(keyB, claims()), 'token-unknown-key'],
    ['iss of issuer B, signed with issuer A’s key and kid', () => mint(es, accessClaims(NOW, {}, ISSUER_B)), 'token-unknown-key'],
    ['iss of issuer A, B’s key under A’s kid', () => mint(keyB, claims(), { kid: es.kid }), 'token-invalid-signature'],
    ['iss not a string', () => mint(es, accessClaims(NOW, { iss: [ISSUER] as unknown as string })), 'token-malformed'],
    ['wrong audience', () => mint(es, accessClaims(NOW, { aud: 'https://elsewhere.test' })), 'token-wrong-audience'],
    ['audience list without ours', () => mint(es, accessClaims(NOW, { aud: ['https://a.test', 'https://b.test'] })), 'token-wrong-audience'],
    // Required claims.
    ['no exp', () => mint(es, without(claims(), 'exp')), 'token-missing-claim'],
    ['no sub', () => mint(es, without(claims(), 'sub')), 'token-missing-claim'],
    ['empty sub', () => mint(es, accessClaims(NOW, { sub: '' })), 'token-missing-claim'],
    ['no aud', () => mint(es, without(claims(), 'aud')), 'token-missing-claim'],
    ['no iss', () => mint(es, without(claims(), 'iss')), 'token-missing-claim'],
    // Token substitution: other tokens the same IdP signs with the same key.
    ['ID token (typ JWT + nonce)', () => mint(es, accessClaims(NOW, { nonce: 'n-0S6_WzA2Mj' }), { typ: 'JWT' }), 'token-wrong-type'],
    ['ID token without typ, with nonce', () => mint(es, accessClaims(NOW, { nonce: 'n' }), { typ: undefined }), 'token-wrong-type'],
    ['logout token (typ logout+jwt, events)', () => mint(es, logoutClaims(), { typ: 'logout+jwt' }), 'token-wrong-type'],
    ['logout token typed JWT', () => mint(es, logoutClaims(), { typ: 'JWT' }), 'token-wrong-type'],
    ['logout token typed application/logout+jwt', () => mint(es, accessClaims(NOW), { typ: 'application/logout+jwt' }), 'token-wrong-type'],
    ['refresh-typed token', () => mint(es, claims(), { typ: 'refresh+jwt' }), 'token-wrong-type'],
    ['Keycloak refresh token (typ claim Refresh)', () => mint(es, accessClaims(NOW, { typ: 'Refresh' }), { typ: 'JWT' }), 'token-wrong-type'],
    ['Cognito ID token (token_use id)', () => mint(es, accessClaims(NOW, { token_use: 'id' }), { typ: undefined }), 'token-wrong-type'],
    // crit: extensions we do not implement must fail closed (RFC 7515 §4.1.11).
    ['crit ["exp"]', () => mint(es, claims(), { crit: ['exp'], exp: NOW + 300 }), 'token-crit-unsupported'],
    ['crit with an unknown extension', () => mint(es, claims(), { crit: ['urn:x-acme:must-check'], 'urn:x-acme:must-check': true }), 'token-crit-unsupported'],
    ['crit b64:false (unencoded payload)', () => mint(es, claims(), { crit: ['b64'], b64: true }), 'token-crit-unsupported'],
    // Shapes.
    ['a JWE (5 parts)', () => jwe(), 'token-not-jws'],
    ['two parts', () => 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0', 'token-not-jws'],
    ['four parts', async () => `${await mint(es, claims())}.x`, 'token-not-jws'],
    ['oversized', async () => mint(es, accessClaims(NOW, { pad: 'x'.repeat(9000) })), 'token-too-large'],
    ['8193 characters of junk', () => 'a'.repeat(8193), 'token-too-large'],
    ['empty string', () => '', 'token-malformed'],
    ['not base64url', async () => (await mint(es, claims())).replace(/^./, '+'), 'token-malformed'],
    ['header not JSON', () => `${base64url.encode('{alg')}.${base64url.encode('{}')}.`, 'token-malformed'],
    ['payload not an object', () => rawToken({ alg: 'ES256', kid: es.kid }, [1, 2]), 'token-malformed'],
    ['Bearer prefix left on', async () => `Bearer ${await mint(es, claims())}`, 'token-malformed'],
    ['signature of another token', async () => swapSignature(await mint(es, claims()), await mint(es, accessClaims(NOW, { sub: 'bob' }))), 'token-invalid-signature'],
    ['payload changed after signing', async () => changePayload(await mint(es, claims()), { ...claims(), sub: 'admin' }), 'token-invalid-signature'],
    ['cnf with a DPoP key thumbprint (jkt) presented as bearer', () => mint(es, accessClaims(NOW, { cnf: { jkt: 'abc' } })), 'token-cnf-unsupported'],
  ];

  it.each(attacks)('%s → %s', async (_name, make, reason) => {
    const token = await make();
    expect(await verifier.verify(token, undefined, NOW)).toEqual({ ok: false, reason });
  });

  it('jku and x5u headers pointing at a loopback server: refused, and never fetched', async () => {
    const tokens = [
      await mint(attacker, claims(), { jku: `${spy.origin}/jku.json` }),
      await mint(attacker, claims(), { x5u: `${spy.origin}/x5u.pem` }),
      await mint(attacker, claims(), { jku: `${spy.origin}/jku.json`, kid: es.kid }),
    ];
    spy.setJwks(jwksOf(attacker));
    for (const token of tokens) expect(await verifier.verify(token, undefined, NOW)).toEqual({ ok: false, reason: 'token-unsafe-header' });
    expect(spy.hits()).toBe(0);
  });
});

describe('clock tolerance edges (30 s default)', () => {
  it.each([
    ['exp 29 s ago', { exp: NOW - 29, iat: NOW - 300 }],
    ['nbf 29 s ahead', { nbf: NOW + 29 }],
    ['iat 30 s ahead', { iat: NOW + 30 }],
  ])('%s is accepted', async (_n, over) => {
    expect((await verifier.verify(await mint(es, accessClaims(NOW, over)), undefined, NOW)).ok).toBe(true);
  });

  it('a 0 s tolerance refuses what 30 s accepted', async () => {
    const strict = await BearerVerifier.create([issuer({ jwksFile: fileA.path, clockTolerance: '0s' })]);
    const token = await mint(es, accessClaims(NOW, { exp: NOW - 1, iat: NOW - 300 }));
    expect(await strict.verify(token, undefined, NOW)).toEqual({ ok: false, reason: 'token-expired' });
    expect((await verifier.verify(token, undefined, NOW)).ok).toBe(true);
  });
});

describe('requireTyp at+jwt (RFC 9068 §2.1)', () => {
  it.each([['at+jwt'], ['AT+JWT'], ['application/at+jwt'], ['Application/AT+JWT']])('typ %s is accepted', async (typ) => {
    expect((await typed.verify(await mint(es, claims(), { typ }), undefined, NOW)).ok).toBe(true);
  });

  it.each([['JWT'], ['jwt'], [undefined], ['at+jwt2'], ['text/at+jwt'], ['application/jwt']])('typ %s is refused', async (typ) => {
    expect(await typed.verify(await mint(es, claims(), { typ }), undefined, NOW)).toEqual({ ok: false, reason: 'token-wrong-type' });
  });

  it('at+jwt with a nonce is an access token (its typ says so); without requireTyp a plain JWT is fine', async () => {
    expect((await typed.verify(await mint(es, accessClaims(NOW, { nonce: 'n' })), undefined, NOW)).ok).toBe(true);
    expect((await verifier.verify(await mint(es, claims(), { typ: 'JWT' }), undefined, NOW)).ok).toBe(true);
  });
});

describe('certificate-bound tokens (RFC 8705 cnf.x5t#S256)', () => {
  const thumb = 'x4Zf0Qm1cVt4-hLkTq1bKVC3VtWnHzJz2xYwQhXHk8M';
  const other = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
  it.each([
    ['the bound certificate', thumb, true],
    ['another certificate', other, false],
    ['no certificate', undefined, false],
    ['the thumbprint in another case', thumb.toLowerCase(), false],
  ])('over %s', async (_n, presented, ok) => {
    const token = await mint(es, accessClaims(NOW, { cnf: { 'x5t#S256': thumb } }));
    expect(await verifier.verify(token, presented, NOW)).toEqual(ok ? expect.objectContaining({ ok: true }) : { ok: false, reason: 'token-cnf-mismatch' });
  });

  it('an unbound token is good with or without a certificate', async () => {
    const token = await mint(es, claims());
    expect((await verifier.verify(token, other, NOW)).ok).toBe(true);
    expect((await verifier.verify(token, undefined, NOW)).ok).toBe(true);
  });

  it.each([[{ 'x5t#S256': 42 }], [{}], ['x5t'], [{ 'x5t#S256': thumb, jkt: 'abc' }]])('cnf %j cannot be checked and is refused', async (cnf) => {
    expect(await verifier.verify(await mint(es, accessClaims(NOW, { cnf })), thumb, NOW)).toEqual({ ok: false, reason: 'token-cnf-unsupported' });
  });
});

describe('construction', () => {
  it('refuses a JWKS file holding a private key, a secret, or nothing usable', async () => {
    const priv = await writeJwksFile({ keys: [{ ...es.publicJwk, d: 'secret' }] });
    const oct = await writeJwksFile({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] });
    const empty = await writeJwksFile({ keys: [] });
    const junk = await writeJwksFile('not a jwks');
    try {
      await expect(BearerVerifier.create([issuer({ jwksFile: priv.path })])).rejects.toThrow(/private key/);
      await expect(BearerVerifier.create([issuer({ jwksFile: oct.path })])).rejects.toThrow(/kty "oct"/);
      await expect(BearerVerifier.create([issuer({ jwksFile: empty.path })])).rejects.toThrow(/no keys/);
      await expect(BearerVerifier.create([issuer({ jwksFile: junk.path })])).rejects.toThrow(/not a JWKS/);
      await expect(BearerVerifier.create([issuer({ jwksFile: '/nonexistent/jwks.json' })])).rejects.toThrow(/ENOENT/);
    } finally {
      await Promise.all([priv.cleanup(), oct.cleanup(), empty.cleanup(), junk.cleanup()]);
    }
  });

  it('refuses the same issuer twice and reports every problem at once', async () => {
    const err = await BearerVerifier.create([
      issuer({ jwksFile: fileA.path }),
      issuer({ jwksFile: fileA.path }),
      issuer({ jwksFile: '/nonexistent' }, ISSUER_B),
    ]).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/configured twice[\s\S]*ENOENT/);
  });

  it('refuses HMAC or none even from a config that skipped the schema', async () => {
    for (const alg of ['HS256', 'none']) {
      const config = { ...issuer({ jwksFile: fileA.path }), algorithms: [alg] } as never;
      await expect(BearerVerifier.create([config])).rejects.toThrow(/not allowed/);
    }
  });

  it('uses the injected readFile for jwksFile', async () => {
    const v = await BearerVerifier.create([issuer({ jwksFile: 'in-memory' })], { readFile: async () => JSON.stringify(jwksOf(es)) });
    expect((await v.verify(await mint(es, claims()), undefined, NOW)).ok).toBe(true);
  });
});

function logoutClaims() {
  return { ...without(accessClaims(NOW), 'exp'), exp: NOW + 120, sid: 'sess-1', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } };
}

async function hmacWith(secret: Uint8Array, kid: string, alg = 'HS256'): Promise<string> {
  return new SignJWT(claims()).setProtectedHeader({ alg, kid, typ: 'at+jwt' }).sign(secret);
}

async function jwe(): Promise<string> {
  const { publicKey } = await generateKeyPair('ECDH-ES', { extractable: true });
  return new EncryptJWT(claims()).setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM' }).encrypt(publicKey);
}

function swapSignature(token: string, donor: string): string {
  return `${token.split('.').slice(0, 2).join('.')}.${donor.split('.')[2]}`;
}

function changePayload(token: string, payload: unknown): string {
  const [h, , s] = token.split('.');
  return `${h}.${base64url.encode(JSON.stringify(payload))}.${s}`;
}
