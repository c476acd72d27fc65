// The verified-token cache: a hit skips the key set and the signature check, yet still
// re-checks what depends on the request (time, certificate binding); it is keyed by a
// hash, so a memory dump of the cache yields no usable token; it is bounded by size and
// by each token's exp.
import { createHash } from 'node:crypto';
import type { LRUCache } from 'lru-cache';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BearerVerifier, jwtIssuerSchema } from '../../../src/identity/jwt/index.ts';

const signatureChecks = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  const verify = ((...args: Parameters<typeof actual.verify>) => {
    signatureChecks.count++;
    return actual.verify(...args);
  }) as typeof actual.verify;
  return { ...actual, default: { ...actual, verify }, verify };
});
import {
  AUDIENCE,
  ISSUER,
  accessClaims,
  jwksOf,
  makeKey,
  mint,
  startJwksServer,
  writeJwksFile,
  type JwksServer,
  type TempJwksFile,
  type TestKey,
} from '../../helpers/jwt.ts';

const NOW = 1_900_000_000;
let key: TestKey;
let file: TempJwksFile;
let server: JwksServer;

const fromFile = () => jwtIssuerSchema.parse({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], jwksFile: file.path });
const fromServer = () => jwtIssuerSchema.parse({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], jwksUri: server.jwksUrl });

/** The verifier's private cache, read the way a heap dump would see it. */
function cacheOf(v: BearerVerifier): LRUCache<string, object> {
  return (v as unknown as { cache: LRUCache<string, object> }).cache;
}

beforeAll(async () => {
  key = await makeKey('ES256');
  file = await writeJwksFile(jwksOf(key));
  server = await startJwksServer(jwksOf(key));
});

afterAll(async () => {
  await Promise.all([file.cleanup(), server.close()]);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a cache hit', () => {
  it('does not touch the key set: with keys refetched on every use, only the first verify fetches', async () => {
    // jwksMaxAgeMs 0: every key lookup refetches, so JWKS hits count key-set calls.
    const v = await BearerVerifier.create([fromServer()], { jwksMaxAgeMs: 0 });
    const token = await mint(key, accessClaims(NOW));
    const before = server.hits('/jwks');
    expect((await v.verify(token, undefined, NOW)).ok).toBe(true);
    expect(server.hits('/jwks')).toBe(before + 1);
    for (let i = 0; i < 5; i++) expect((await v.verify(token, undefined, NOW + i)).ok).toBe(true);
    expect(server.hits('/jwks')).toBe(before + 1);
    // The same token through a verifier without a cache goes to the key set every time.
    const uncached = await BearerVerifier.create([fromServer()], { jwksMaxAgeMs: 0, cacheMax: 0 });
    await uncached.verify(token, undefined, NOW);
    await uncached.verify(token, undefined, NOW);
    expect(server.hits('/jwks')).toBe(before + 3);
  });

  it('does not verify the signature again', async () => {
    const v = await BearerVerifier.create([fromFile()]);
    const token = await mint(key, accessClaims(NOW));
    // The signature is checked through node:crypto (jws-verify.ts) or, on the paths it
    // leaves to jose, WebCrypto: count both.
    const subtleVerify = vi.spyOn(globalThis.crypto.subtle, 'verify');
    const before = signatureChecks.count;
    const checks = () => signatureChecks.count - before + subtleVerify.mock.calls.length;
    const first = await v.verify(token, undefined, NOW);
    expect(checks()).toBe(1);
    const second = await v.verify(token, undefined, NOW);
    expect(checks()).toBe(1);
    expect(second).toBe(first);
  });

  it('refuses the token once its exp has passed, and drops it', async () => {
    const v = await BearerVerifier.create([fromFile()]);
    const token = await mint(key, accessClaims(NOW, { exp: NOW + 60 }));
    expect((await v.verify(token, undefined, NOW)).ok).toBe(true);
    expect(v.cacheSize).toBe(1);
    expect((await v.verify(token, undefined, NOW + 60 + 29)).ok).toBe(true); // within the 30 s tolerance
    expect(await v.verify(token, undefined, NOW + 60 + 30)).toEqual({ ok: false, reason: 'token-expired' });
    expect(v.cacheSize).toBe(0);
  });

  it('re-checks nbf and iat against the current time', async () => {
    const v = await BearerVerifier.create([fromFile()]);
    const token = await mint(key, accessClaims(NOW, { nbf: NOW, iat: NOW }));
    expect((await v.verify(token, undefined, NOW)).ok).toBe(true);
    expect(await v.verify(token, undefined, NOW - 31)).toEqual({ ok: false, reason: 'token-not-yet-valid' });
    const iatOnly = await mint(key, accessClaims(NOW, { iat: NOW }));
    expect((await v.verify(iatOnly, undefined, NOW)).ok).toBe(true);
    expect(await v.verify(iatOnly, undefined, NOW - 31)).toEqual({ ok: false, reason: 'token-issued-in-future' });
  });

  it('re-checks the certificate binding against the connection at hand', async () => {
    const v = await BearerVerifier.create([fromFile()]);
    const thumb = createHash('sha256').update('client certificate').digest('base64url');
    const token = await mint(key, accessClaims(NOW, { cnf: { 'x5t#S256': thumb } }));
    expect((await v.verify(token, thumb, NOW)).ok).toBe(true);
    expect(v.cacheSize).toBe(1);
    expect(await v.verify(token, undefined, NOW)).toEqual({ ok: false, reason: 'token-cnf-mismatch' });
    expect(await v.verify(token, 'A'.repeat(43), NOW)).toEqual({ ok: false, reason: 'token-cnf-mismatch' });
    expect((await v.verify(token, thumb, NOW)).ok).toBe(true);
  });
});

describe('what the cache holds', () => {
  it('keys are SHA-256 of the token; neither keys nor values contain the token or its signature', async () => {
    const v = await BearerVerifier.create([fromFile()]);
    const tokens = await Promise.all([1, 2, 3].map((i) => mint(key, accessClaims(NOW, { sub: `user-${i}` }))));
    for (const t of tokens) expect((await v.verify(t, undefined, NOW)).ok).toBe(true);
    const cache = cacheOf(v);
    const keys = [...cache.keys()];
    expect(keys.sort()).toEqual(tokens.map((t) => createHash('sha256').update(t).digest('base64url')).sort());
    for (const t of tokens) {
      const signature = t.split('.')[2]!;
      for (const k of keys) {
        expect(k).not.toContain(t);
        expect(k).not.toContain(signature);
      }
      const values = JSON.stringify([...cache.values()]);
      expect(values).not.toContain(t);
      expect(values).not.toContain(signature);
    }
  });

  it('failures are not cached', async () => {
    const v = await BearerVerifier.create([fromFile()]);
    await v.verify(await mint(key, accessClaims(NOW, { aud: 'https://elsewhere.test' })), undefined, NOW);
    await v.verify(await mint(key, accessClaims(NOW - 3600)), undefined, NOW);
    await v.verify('a.b.c', undefined, NOW);
    expect(v.cacheSize).toBe(0);
  });

  it('is bounded by cacheMax', async () => {
    const v = await BearerVerifier.create([fromFile()], { cacheMax: 3 });
    for (let i = 0; i < 6; i++) expect((await v.verify(await mint(key, accessClaims(NOW, { sub: `u${i}` })), undefined, NOW)).ok).toBe(true);
    expect(v.cacheSize).toBe(3);
  });

  it('an entry lives until exp + tolerance, and never longer than cacheMaxTtlMs', async () => {
    const v = await BearerVerifier.create([fromFile()], { cacheMaxTtlMs: 120_000 });
    const short = await mint(key, accessClaims(NOW, { exp: NOW + 10 }));
    const long = await mint(key, accessClaims(NOW, { exp: NOW + 86_400 }));
    await v.verify(short, undefined, NOW);
    await v.verify(long, undefined, NOW);
    const cache = cacheOf(v);
    const ttl = (t: string) => cache.getRemainingTTL(createHash('sha256').update(t).digest('base64url'));
    expect(ttl(short)).toBeGreaterThan(35_000);
    expect(ttl(short)).toBeLessThanOrEqual(40_000);
    expect(ttl(long)).toBeGreaterThan(110_000);
    expect(ttl(long)).toBeLessThanOrEqual(120_000);
  });

  it('the lifetime cap bounds the cache too: with a 10-day cache TTL, a 1 h issuer\'s entries live at most 1 h, and a token claiming more is never cached', async () => {
    const oneHour = jwtIssuerSchema.parse({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], jwksFile: file.path, maxLifetime: '1h' });
    const v = await BearerVerifier.create([oneHour], { cacheMaxTtlMs: 10 * 86_400_000 });
    const hour = await mint(key, accessClaims(NOW, { exp: NOW + 3600 }));
    const forever = await mint(key, accessClaims(NOW, { exp: NOW + 10 * 365 * 86_400 }));
    expect((await v.verify(hour, undefined, NOW)).ok).toBe(true);
    expect(await v.verify(forever, undefined, NOW)).toEqual({ ok: false, reason: 'token-lifetime-too-long' });
    expect(v.cacheSize).toBe(1);
    const ttl = cacheOf(v).getRemainingTTL(createHash('sha256').update(hour).digest('base64url'));
    expect(ttl).toBeLessThanOrEqual((3600 + 30) * 1000);
    // and the refused token stays refused: it is not in the cache to be found later
    expect(await v.verify(forever, undefined, NOW + 60)).toEqual({ ok: false, reason: 'token-lifetime-too-long' });
  });

  it('close() empties it', async () => {
    const v = await BearerVerifier.create([fromFile()]);
    await v.verify(await mint(key, accessClaims(NOW)), undefined, NOW);
    expect(v.cacheSize).toBe(1);
    v.close();
    expect(v.cacheSize).toBe(0);
  });
});
