// Keys fetched from a real JWKS endpoint on loopback: honest tokens, key rotation, the
// refetch rate an unknown kid can cause (counted at the server), and an unreachable IdP,
// which must read as `jwks-unavailable` (503), never as a bad token (401).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BearerVerifier, jwtIssuerSchema, type BearerVerifierOptions } from '../../../src/identity/jwt/index.ts';
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
  type TestKey,
} from '../../helpers/jwt.ts';

// Long enough that the sequential floods below finish inside one window even on a loaded machine.
const COOLDOWN_MS = 1_000;

let es: TestKey;
let rs: TestKey;
let next: TestKey;
const servers: JwksServer[] = [];

beforeAll(async () => {
  [es, rs, next] = await Promise.all([makeKey('ES256'), makeKey('RS256'), makeKey('ES256', 'rotated-in')]);
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(keys: TestKey[], opts: BearerVerifierOptions = {}) {
  const server = await startJwksServer(jwksOf(...keys));
  servers.push(server);
  const config = jwtIssuerSchema.parse({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256', 'RS256'], jwksUri: server.jwksUrl });
  const verifier = await BearerVerifier.create([config], { jwksRefetchCooldownMs: COOLDOWN_MS, ...opts });
  return { server, verifier };
}

const now = () => Math.floor(Date.now() / 1000);

describe('honest tokens from a JWKS URL', () => {
  it.each([
    ['ES256', () => es],
    ['RS256', () => rs],
  ])('%s verifies; the JWKS is fetched once for many tokens', async (_alg, key) => {
    const { server, verifier } = await setup([es, rs]);
    for (let i = 0; i < 5; i++) {
      const result = await verifier.verify(await mint(key(), accessClaims(now(), { sub: `user-${i}` })), undefined);
      expect(result).toMatchObject({ ok: true, subject: { sub: `user-${i}`, issuer: ISSUER } });
    }
    expect(server.hits()).toBe(1);
    expect(server.hits('/jwks')).toBe(1);
  });
});

describe('key rotation and unknown kids', () => {
  it('a new kid refetches once the cooldown has passed, not before', async () => {
    const { server, verifier } = await setup([es]);
    expect((await verifier.verify(await mint(es, accessClaims(now())), undefined)).ok).toBe(true);
    expect(server.hits()).toBe(1);

    server.setJwks(jwksOf(es, next));
    const rotated = await mint(next, accessClaims(now()));
    // Inside the cooldown: the new key is not fetched yet.
    expect(await verifier.verify(rotated, undefined)).toEqual({ ok: false, reason: 'token-unknown-key' });
    expect(server.hits()).toBe(1);

    await sleep(COOLDOWN_MS + 50);
    expect((await verifier.verify(rotated, undefined)).ok).toBe(true);
    expect(server.hits()).toBe(2);
    // Old and new keys both verify from the one refetched set.
    expect((await verifier.verify(await mint(es, accessClaims(now())), undefined)).ok).toBe(true);
    expect(server.hits()).toBe(2);
  });

  it('a flood of unknown kids refetches at most once per cooldown, sequential or concurrent', async () => {
    const { server, verifier } = await setup([es]);
    const attacker = await makeKey('ES256', 'attacker');
    const forged = (i: number) => mint(attacker, accessClaims(now()), { kid: `unknown-${i}-${Math.random()}` });
    expect((await verifier.verify(await mint(es, accessClaims(now())), undefined)).ok).toBe(true);
    expect(server.hits()).toBe(1);

    for (let i = 0; i < 50; i++) expect(await verifier.verify(await forged(i), undefined)).toEqual({ ok: false, reason: 'token-unknown-key' });
    expect(server.hits()).toBe(1); // still inside the first fetch's cooldown

    await sleep(COOLDOWN_MS + 50);
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => forged(i)));
    const results = await Promise.all(tokens.map((t) => verifier.verify(t, undefined)));
    expect(results.every((r) => !r.ok && r.reason === 'token-unknown-key')).toBe(true);
    expect(server.hits()).toBe(2); // one refetch for all fifty

    for (let i = 0; i < 20; i++) await verifier.verify(await forged(i), undefined);
    expect(server.hits()).toBe(2);
  });

  it('odd kids: empty or huge never reach the key set; a path-like kid is only a name', async () => {
    const { server, verifier } = await setup([es], { jwksRefetchCooldownMs: 0 });
    const attacker = await makeKey('ES256', 'attacker');
    for (const kid of ['', 'k'.repeat(600)]) {
      expect(await verifier.verify(await mint(attacker, accessClaims(now()), { kid }), undefined)).toEqual({ ok: false, reason: 'token-unknown-key' });
    }
    expect(server.hits()).toBe(0);
    expect(await verifier.verify(await mint(attacker, accessClaims(now()), { kid: '../../etc/passwd' }), undefined)).toEqual({
      ok: false,
      reason: 'token-unknown-key',
    });
    expect(server.hits()).toBe(server.hits('/jwks')); // the configured URL only, whatever the kid
  });
});

describe('an unreachable IdP is an error, not a bad token', () => {
  it.each([
    ['answers 500', (s: JwksServer) => s.setStatus(500)],
    ['redirects (not followed)', (s: JwksServer) => s.setStatus(302)],
    ['answers 200 with something that is not a JWKS', (s: JwksServer) => s.setBody('<html>maintenance</html>')],
    ['answers 200 with a JSON that is not a JWKS', (s: JwksServer) => s.setBody('{"keys": "none"}')],
    ['is down', (s: JwksServer) => s.close()],
  ])('an IdP that %s → jwks-unavailable, retried at a bounded rate', async (_n, breakIt) => {
    const { server, verifier } = await setup([es], { jwksRefetchCooldownMs: 1_000 });
    await Promise.resolve(breakIt(server));
    const token = await mint(es, accessClaims(now()));
    expect(await verifier.verify(token, undefined)).toEqual({ ok: false, reason: 'jwks-unavailable' });
    const hits = server.hits();
    expect(hits).toBeLessThanOrEqual(1);
    for (let i = 0; i < 20; i++) expect(await verifier.verify(token, undefined)).toEqual({ ok: false, reason: 'jwks-unavailable' });
    expect(server.hits()).toBe(hits); // backing off: no fetch per request
  });

  it('an IdP that hangs times out → jwks-unavailable', async () => {
    const { server, verifier } = await setup([es], { jwksTimeoutMs: 200 });
    server.setHang(true);
    const started = Date.now();
    expect(await verifier.verify(await mint(es, accessClaims(now())), undefined)).toEqual({ ok: false, reason: 'jwks-unavailable' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('recovers when the IdP is back, after the backoff', async () => {
    const { server, verifier } = await setup([es], { jwksRefetchCooldownMs: 200 });
    server.setStatus(503);
    const token = await mint(es, accessClaims(now()));
    expect(await verifier.verify(token, undefined)).toEqual({ ok: false, reason: 'jwks-unavailable' });
    server.setStatus(200);
    await sleep(250);
    expect((await verifier.verify(token, undefined)).ok).toBe(true);
  });

  it('keys already fetched keep verifying while a refresh fails (stale-if-error)', async () => {
    const { server, verifier } = await setup([es], { jwksMaxAgeMs: 100, jwksRefetchCooldownMs: 1_000 });
    expect((await verifier.verify(await mint(es, accessClaims(now(), { sub: 'a' })), undefined)).ok).toBe(true);
    server.setStatus(500);
    await sleep(150); // the fetched set is now older than jwksMaxAgeMs: the next use refetches, and that fails
    expect((await verifier.verify(await mint(es, accessClaims(now(), { sub: 'b' })), undefined)).ok).toBe(true);
    expect(server.hits()).toBe(2);
    // A kid the stale set does not know may be a key rotated in meanwhile: unavailable, not forged.
    expect(await verifier.verify(await mint(next, accessClaims(now())), undefined)).toEqual({ ok: false, reason: 'jwks-unavailable' });
    // And forged signatures under a known kid are still forged.
    const attacker = await makeKey('ES256', es.kid);
    expect(await verifier.verify(await mint(attacker, accessClaims(now())), undefined)).toEqual({ ok: false, reason: 'token-invalid-signature' });
  });
});

describe('RSA keys with an unusable public exponent', () => {
  // e = 1: every properly padded hash is its own signature, so anyone could sign for the key.
  const weak = (e: string, kid: string) => ({ ...rs.publicJwk, e, kid });

  it('are left out of a fetched key set; the issuer\'s other keys keep working', async () => {
    const server = await startJwksServer({ keys: [weak('AQ', 'weak'), weak('Ag', 'even'), es.publicJwk] });
    servers.push(server);
    const config = jwtIssuerSchema.parse({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256', 'RS256'], jwksUri: server.jwksUrl });
    const verifier = await BearerVerifier.create([config], { jwksRefetchCooldownMs: COOLDOWN_MS });
    expect(await verifier.verify(await mint(es, accessClaims(now())), undefined)).toMatchObject({ ok: true });
    // A token naming the weak key (signed with the real RSA key: same n) finds no key at all.
    for (const kid of ['weak', 'even']) {
      const token = await mint({ ...rs, kid }, accessClaims(now()));
      expect(await verifier.verify(token, undefined)).toEqual({ ok: false, reason: 'token-unknown-key' });
    }
  });

  it('make a JWKS file refused at start, naming the key', async () => {
    for (const [e, shown] of [
      ['AQ', 'keys[1] has public exponent 1'],
      ['AAE', 'keys[1] has public exponent 1'],
      ['Ag', 'keys[1] has public exponent 2'],
      ['', 'keys[1] has no valid public exponent'],
    ] as const) {
      const file = await writeJwksFile({ keys: [es.publicJwk, weak(e, 'weak')] });
      const config = jwtIssuerSchema.parse({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256', 'RS256'], jwksFile: file.path });
      await expect(BearerVerifier.create([config])).rejects.toThrow(shown);
      await file.cleanup();
    }
    const ok = await writeJwksFile({ keys: [es.publicJwk, rs.publicJwk] });
    const config = jwtIssuerSchema.parse({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256', 'RS256'], jwksFile: ok.path });
    await expect(BearerVerifier.create([config])).resolves.toBeDefined();
    await ok.cleanup();
  });
});
