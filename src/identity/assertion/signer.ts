// The identity assertion (SPEC §4): a short-lived ES256 JWT, `X-ZT-Assertion`, that tells
// the upstream who ztproxy let through — subject, email, groups, SPIFFE ID, the device
// id and the posture ztproxy verified (`device`) — for which route (`aud`). Upstreams
// verify it with the keys at /.well-known/ztproxy/jwks.json, so an app that trusts it
// need not trust the network path (Pomerium's X-Pomerium-Jwt-Assertion, Google IAP's
// x-goog-iap-jwt-assertion).
//
// Signing costs tens of microseconds, so an assertion is reused for the same identity on
// the same route until half its lifetime has passed: requests within that window carry
// the same token (same `jti`), and no assertion reaching an upstream is ever older than
// half its TTL plus the TTL itself.
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SignJWT, calculateJwkThumbprint, exportJWK, importJWK, type JWK } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Device } from '../../basics/device.ts';
import type { Subject } from '../../basics/subject.ts';

export interface AssertionKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
}

export interface AssertionInput {
  readonly route: string;
  readonly subject: Subject | undefined;
  readonly spiffeId: string | undefined;
  /** The device a verified posture assertion describes, if any. */
  readonly device: Device | undefined;
}

/**
 * The `device` claim: the device id, who vouched for it, and the posture fields the
 * verified assertion carried — nothing it did not (unknown stays absent, never false).
 */
export function deviceClaim(device: Device): Record<string, unknown> {
  const p = device.posture;
  const claim: Record<string, unknown> = { id: device.id, iss: device.issuer };
  if (p.managed !== undefined) claim.managed = p.managed;
  if (p.compliant !== undefined) claim.compliant = p.compliant;
  if (p.os !== undefined) {
    const os: Record<string, string> = {};
    if (p.os.name !== undefined) os.name = p.os.name;
    if (p.os.version !== undefined) os.version = p.os.version;
    claim.os = os;
  }
  if (p.patchAgeDays !== undefined) claim.patchAgeDays = p.patchAgeDays;
  if (p.diskEncrypted !== undefined) claim.diskEncrypted = p.diskEncrypted;
  if (p.firewall !== undefined) claim.firewall = p.firewall;
  if (p.edr !== undefined) claim.edr = p.edr;
  if (p.screenLock !== undefined) claim.screenLock = p.screenLock;
  return claim;
}

interface Cached {
  readonly token: string;
  readonly refreshAt: number;
}

async function keyFromJwk(jwk: JWK): Promise<AssertionKey> {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
    throw new Error('an assertion key must be a private EC P-256 JWK (ES256)');
  }
  const privateKey = (await importJWK({ ...jwk, alg: 'ES256' }, 'ES256', { extractable: true })) as unknown as KeyObject;
  const { d: _d, ...pub } = jwk;
  const publicJwk: JWK = { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y };
  const kid = jwk.kid ?? (await calculateJwkThumbprint(publicJwk, 'sha256'));
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: 'ES256', use: 'sig' } };
}

/** Loads keys from files (private JWKs, as `certs init` writes them). */
export async function loadAssertionKeys(files: readonly string[]): Promise<AssertionKey[]> {
  const keys: AssertionKey[] = [];
  for (const [i, file] of files.entries()) {
    let jwk: JWK;
    try {
      jwk = JSON.parse(await readFile(file, 'utf8')) as JWK;
    } catch (err) {
      throw new Error(`keys.${i}: cannot read ${file} as a JWK (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      keys.push(await keyFromJwk(jwk));
    } catch (err) {
      throw new Error(`keys.${i}: ${(err as Error).message}`);
    }
  }
  return keys;
}

let ephemeral: Promise<AssertionKey> | undefined;

/**
 * A key for this process only, when none is configured (made once, kept across config
 * reloads): fine for one instance, but several instances behind one balancer must share
 * configured keys, or an upstream would see assertions signed by a key that the instance
 * it fetched the JWKS from does not publish.
 */
export function ephemeralAssertionKey(): Promise<AssertionKey> {
  ephemeral ??= exportJWK(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey).then(keyFromJwk);
  return ephemeral;
}

export class AssertionSigner {
  readonly issuer: string;
  readonly ttlSeconds: number;
  /** The JWKS document served at /.well-known/ztproxy/jwks.json (every key: rotation). */
  readonly jwksJson: string;
  readonly #signing: AssertionKey;
  readonly #cache: LRUCache<string, Cached>;
  /**
   * A verified Device is one frozen object per cached posture assertion, so its part of
   * the cache key is computed once per Device, not once per request.
   */
  readonly #deviceKeys = new WeakMap<Device, string>();

  /** `keys[0]` signs; all are published, so an upstream accepts tokens across a rotation. */
  constructor(keys: readonly AssertionKey[], opts: { issuer: string; ttlSeconds: number; cacheMax?: number }) {
    if (keys.length === 0) throw new Error('an assertion signer needs a key');
    this.#signing = keys[0]!;
    this.issuer = opts.issuer;
    this.ttlSeconds = opts.ttlSeconds;
    this.jwksJson = JSON.stringify({ keys: keys.map((k) => k.publicJwk) });
    this.#cache = new LRUCache({ max: opts.cacheMax ?? 10_000 });
  }

  /** The assertion for this request's identity on this route (synchronous on a cache hit). */
  assertionFor(input: AssertionInput, nowMs = Date.now()): string | Promise<string> {
    const s = input.subject;
    // Exactly the claims that go into the assertion, in an encoding no claim value can
    // forge (separators inside a claim would let two identities share one assertion).
    const d = input.device;
    const device = d === undefined ? null : this.#deviceKey(d);
    const key = JSON.stringify(
      s
        ? [input.route, input.spiffeId ?? null, device, s.issuer, s.sub, s.emailVerified ? (s.email ?? null) : null, s.groups]
        : [input.route, input.spiffeId ?? null, device],
    );
    const hit = this.#cache.get(key);
    if (hit && hit.refreshAt > nowMs) return hit.token;
    return this.#sign(key, input, nowMs);
  }

  #deviceKey(device: Device): string {
    let key = this.#deviceKeys.get(device);
    if (key === undefined) {
      key = JSON.stringify(deviceClaim(device));
      this.#deviceKeys.set(device, key);
    }
    return key;
  }

  async #sign(key: string, input: AssertionInput, nowMs: number): Promise<string> {
    const s = input.subject;
    const now = Math.floor(nowMs / 1000);
    const claims: Record<string, unknown> = {};
    if (s) {
      // Only a verified email is an identity claim worth passing on.
      if (s.emailVerified && s.email !== undefined) claims.email = s.email;
      claims.groups = s.groups;
      claims.idp = s.issuer;
    }
    if (input.spiffeId) claims.spiffe_id = input.spiffeId;
    if (input.device) claims.device = deviceClaim(input.device);
    // A statement about a device is no longer true than the posture assertion behind it:
    // an upstream must not keep trusting the device claim past the assertion's own exp.
    const exp = input.device ? Math.min(now + this.ttlSeconds, input.device.expiresAt) : now + this.ttlSeconds;
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: this.#signing.kid })
      .setIssuer(this.issuer)
      .setAudience(input.route)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .setJti(randomUUID());
    if (s) jwt.setSubject(s.sub);
    else if (input.spiffeId) jwt.setSubject(input.spiffeId);
    const token = await jwt.sign(this.#signing.privateKey);
    this.#cache.set(key, { token, refreshAt: nowMs + ((exp - now) * 1000) / 2 });
    return token;
  }
}

