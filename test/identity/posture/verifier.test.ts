// The posture verifier on its own, with the clock as a parameter: keys by JWKS URL
// (refetched on an unknown kid, a down JWKS is no posture), the cache that never
// outlives exp nor maxAge from iat and re-checks the bindings, and the SPEC types of
// every posture field. The attacks over real sockets are in test/attacks/posture.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostureVerifier, readPosture, type PostureResult } from '../../../src/identity/posture/index.ts';
import { deviceSchema } from '../../../src/identity/posture/schema.ts';
import { jwksOf, makeKey, mintRawPayload, startJwksServer, writeJwksFile, type JwksServer, type TempJwksFile, type TestKey } from '../../helpers/jwt.ts';
import { SignJWT } from 'jose';

const ISS = 'mdm.test';
const T = 1_800_000_000;
const POSTURE = { managed: true, compliant: true };

let key: TestKey;
let rotated: TestKey;
let server: JwksServer;
let file: TempJwksFile;

beforeAll(async () => {
  key = await makeKey('ES256');
  rotated = await makeKey('ES256');
  server = await startJwksServer(jwksOf(key));
  file = await writeJwksFile(jwksOf(key));
});
afterAll(async () => {
  await server.close();
  await file.cleanup();
});

function config(input: Record<string, unknown>) {
  return deviceSchema.parse(input);
}

async function assertion(k: TestKey, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: ISS, sub: 'dev-1', iat: T, exp: T + 600, posture: POSTURE, ...claims })
    .setProtectedHeader({ alg: k.alg, kid: k.kid })
    .sign(k.privateKey);
}

const reason = (r: PostureResult): string => (r.ok ? 'ok' : r.reason);

describe('keys by JWKS URL', () => {
  it('fetches the JWKS, and refetches it for a key rotated in', async () => {
    const v = await PostureVerifier.create(config({ issuers: [{ issuer: ISS, jwksUri: server.jwksUrl }], maxAge: '15m' }), { jwksRefetchCooldownMs: 0 });
    expect(reason(await v.verify(await assertion(key), undefined, undefined, T + 1))).toBe('ok');
    const before = server.hits('/jwks');
    server.setJwks(jwksOf(key, rotated));
    expect(reason(await v.verify(await assertion(rotated), undefined, undefined, T + 1))).toBe('ok');
    expect(server.hits('/jwks')).toBe(before + 1);
    v.close();
  });

  it('a JWKS that cannot be fetched is no posture (posture-jwks-unavailable), not an exception', async () => {
    const down = await startJwksServer(jwksOf(key));
    down.setStatus(500);
    const v = await PostureVerifier.create(config({ issuers: [{ issuer: ISS, jwksUri: down.jwksUrl }] }));
    expect(reason(await v.verify(await assertion(key), undefined, undefined, T + 1))).toBe('posture-jwks-unavailable');
    await down.close();
  });

  it('refuses a JWKS file holding a private key', async () => {
    const leaked = await writeJwksFile({ keys: [{ ...key.publicJwk, d: 'secret' }] });
    await expect(PostureVerifier.create(config({ issuers: [{ issuer: ISS, jwksFile: leaked.path }] }))).rejects.toThrow(/private key/);
    await leaked.cleanup();
  });
});

describe('the cache', () => {
  it('a hit goes stale at maxAge from iat, though exp is later', async () => {
    const v = await PostureVerifier.create(config({ issuers: [{ issuer: ISS, jwksFile: file.path }], maxAge: '5m' }));
    const token = await assertion(key, { exp: T + 3600 });
    expect(reason(await v.verify(token, undefined, undefined, T + 10))).toBe('ok');
    expect(v.cacheSize).toBe(1);
    expect(reason(await v.verify(token, undefined, undefined, T + 300))).toBe('ok');
    expect(reason(await v.verify(token, undefined, undefined, T + 301))).toBe('posture-stale');
    expect(v.cacheSize).toBe(0);
  });

  it('a hit expires at exp (with the clock tolerance)', async () => {
    const v = await PostureVerifier.create(config({ issuers: [{ issuer: ISS, jwksFile: file.path, clockTolerance: '0s' }], maxAge: '1h' }));
    const token = await assertion(key, { exp: T + 120 });
    expect(reason(await v.verify(token, undefined, undefined, T))).toBe('ok');
    expect(reason(await v.verify(token, undefined, undefined, T + 120))).toBe('posture-expired');
  });

  it('a hit is re-bound: certificate and user are compared on every request', async () => {
    const v = await PostureVerifier.create(config({ issuers: [{ issuer: ISS, jwksFile: file.path }] }));
    const token = await assertion(key, { uid: 'alice', cnf: { 'x5t#S256': 'thumb-a' } });
    expect(reason(await v.verify(token, 'thumb-a', 'alice', T))).toBe('ok');
    expect(reason(await v.verify(token, 'thumb-b', 'alice', T))).toBe('posture-cert-mismatch');
    expect(reason(await v.verify(token, undefined, 'alice', T))).toBe('posture-cert-mismatch');
    expect(reason(await v.verify(token, 'thumb-a', 'bob', T))).toBe('posture-user-mismatch');
    expect(reason(await v.verify(token, 'thumb-a', undefined, T))).toBe('posture-user-mismatch');
    expect(reason(await v.verify(token, 'thumb-a', 'alice', T))).toBe('ok');
  });

  it('max 0 verifies every time and keeps nothing', async () => {
    const v = await PostureVerifier.create(config({ issuers: [{ issuer: ISS, jwksFile: file.path }], cache: { max: 0 } }));
    expect(reason(await v.verify(await assertion(key), undefined, undefined, T))).toBe('ok');
    expect(v.cacheSize).toBe(0);
  });

  it('the Device carries what was verified', async () => {
    const v = await PostureVerifier.create(config({ issuers: [{ issuer: ISS, jwksFile: file.path }] }));
    const r = await v.verify(await assertion(key), undefined, undefined, T);
    expect(r.ok && r.device).toEqual({
      issuer: ISS,
      id: 'dev-1',
      issuedAt: T,
      expiresAt: T + 600,
      posture: { managed: true, compliant: true, os: undefined, patchAgeDays: undefined, diskEncrypted: undefined, firewall: undefined, edr: undefined, screenLock: undefined },
    });
  });

  it('exp 1e400 (JSON Infinity) is refused, not cached forever', async () => {
    const v = await PostureVerifier.create(config({ issuers: [{ issuer: ISS, jwksFile: file.path }] }));
    const token = await mintRawPayload(key, `{"iss":"${ISS}","sub":"d","iat":${T},"exp":1e400,"posture":{}}`, { typ: undefined });
    expect(reason(await v.verify(token, undefined, undefined, T))).toBe('posture-time-invalid');
    expect(v.cacheSize).toBe(0);
  });
});

describe('readPosture: the SPEC types, or nothing', () => {
  it.each([
    [{}, true],
    [{ managed: true, compliant: false, os: { name: 'Windows', version: '10.0.19045' }, patchAgeDays: 0, diskEncrypted: true, firewall: false, edr: true, screenLock: true }, true],
    [{ vendorField: 'anything', managed: true }, true],
    [{ os: {} }, true],
    [{ managed: 'true' }, false],
    [{ managed: 1 }, false],
    [{ compliant: null }, false],
    [{ patchAgeDays: -1 }, false],
    [{ patchAgeDays: '3' }, false],
    [{ os: 'macOS' }, false],
    [{ os: { name: 14 } }, false],
    [{ os: { version: 'x'.repeat(300) } }, false],
    [{ os: { name: '' } }, false],
    [[], false],
    ['posture', false],
    [null, false],
  ])('%j → valid %s', (claim, valid) => {
    expect(readPosture(claim) !== null).toBe(valid);
  });

  it('does not read inherited properties', () => {
    const claim = Object.create({ managed: true }) as object;
    expect(readPosture(claim)?.managed).toBeUndefined();
  });
});
