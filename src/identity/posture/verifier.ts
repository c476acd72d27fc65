// Device-posture assertion verification (SPEC §6). A posture assertion is a credential:
// whoever forges one is "managed and compliant", so it gets the bearer token's checks
// (../jwt/precheck.ts, the issuer's JWKS by ../jwt/key-set.ts, jose's signature check
// with the issuer's algorithm allowlist, basics/token-times.ts for exp/iat/nbf and the
// lifetime cap) plus what makes posture posture:
//  - `iat` is required and at most `maxAge` old: a device reported healthy an hour ago
//    may have switched its firewall off since (stale posture is no posture);
//  - `sub` names the device; `posture` has the SPEC's types field by field, and one
//    wrongly-typed field voids the whole assertion — an agent that writes
//    `"managed": "false"` is broken, and reading around the break would be a guess;
//  - `cnf.x5t#S256` (RFC 8705 thumbprint) binds it to the device's client certificate:
//    presented over any other connection — another device's certificate, or none — it is
//    a replay (a posture header copied off a healthy laptop);
//  - `uid` binds it to the user: presented by another user (or by nobody), a replay too.
// Verified assertions are cached by SHA-256 of the token until their exp, and never past
// maxAge from iat; a hit re-checks the times and both bindings, which depend on the
// request and the clock, not on the token — a cached assertion never lets another
// certificate or user through.
import { hash } from 'node:crypto';
import { readFile as readFileFromDisk } from 'node:fs/promises';
import type { JWTPayload } from 'jose';
import { verifyJwt } from '../jwt/jws-verify.ts';
import { LRUCache } from 'lru-cache';
import type { Device, DevicePosture } from '../../basics/device.ts';
import { tokenTimesProblem } from '../../basics/token-times.ts';
import { readConfirmation } from '../jwt/confirmation.ts';
import { keySetFor, type KeyResolver } from '../jwt/key-set.ts';
import { precheckJws, type PrecheckProblem } from '../jwt/precheck.ts';
import { reasonForError } from '../jwt/reasons.ts';
import { issuerSettingsProblem } from '../jwt/schema.ts';
import { FROM_BEARER, POSTURE_FAILURE_REASONS, type PostureFailureReason } from './reasons.ts';
import { MAX_POSTURE_MAX_AGE_MS, type DeviceConfig } from './schema.ts';

export type PostureResult =
  | { readonly ok: true; readonly device: Device }
  | { readonly ok: false; readonly reason: PostureFailureReason };

export interface PostureVerifierOptions {
  /** Longer assertions are refused before any parsing. Default 8192 (characters). */
  readonly maxTokenBytes?: number;
  /** Minimum time between JWKS refetches an unknown `kid` can cause. Default 30000. */
  readonly jwksRefetchCooldownMs?: number;
  /** Fetched keys are refetched once this old. Default 600000 (10 min). */
  readonly jwksMaxAgeMs?: number;
  /** JWKS request timeout. Default 5000. */
  readonly jwksTimeoutMs?: number;
  /** Reads `jwksFile`. Default: fs.promises.readFile. */
  readonly readFile?: (path: string) => Promise<string | Uint8Array>;
}

interface Issuer {
  readonly algorithms: string[];
  readonly algorithmSet: ReadonlySet<string>;
  readonly keys: KeyResolver;
  readonly toleranceS: number;
  readonly maxLifetimeS: number;
}

interface CacheEntry {
  readonly result: { readonly ok: true; readonly device: Device };
  readonly exp: number;
  readonly iat: number;
  readonly nbf: number | undefined;
  readonly toleranceS: number;
  readonly thumbprint: string | undefined;
  readonly uid: string | undefined;
}

/** The claims every posture assertion carries (SPEC §6). */
const REQUIRED_CLAIMS = ['iss', 'sub', 'iat', 'exp'];

/** Device ids, user ids, OS names and versions are short; a giant one is junk meant for our logs. */
const MAX_TEXT = 256;

const PRECHECK_REASONS: Readonly<Record<PrecheckProblem, PostureFailureReason>> = {
  'not-jws': 'posture-not-jws',
  malformed: 'posture-malformed',
  'unsafe-header': 'posture-unsafe-header',
  'crit-unsupported': 'posture-crit-unsupported',
  'alg-not-allowed': 'posture-alg-not-allowed',
  'unknown-key': 'posture-unknown-key',
  'missing-iss': 'posture-missing-claim',
};

/** One frozen result per reason: refusing allocates nothing. */
const FAILURES = Object.freeze(
  Object.fromEntries(POSTURE_FAILURE_REASONS.map((reason) => [reason, Object.freeze({ ok: false as const, reason })])),
) as Readonly<Record<PostureFailureReason, PostureResult>>;

export function postureFailure(reason: PostureFailureReason): PostureResult {
  return FAILURES[reason];
}

function nonNegativeInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`"${name}" option must be a non-negative integer`);
  return value;
}

const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT;

function optionalBoolean(v: unknown): boolean | undefined | null {
  if (v === undefined) return undefined;
  return typeof v === 'boolean' ? v : null;
}

/**
 * The `posture` claim with the SPEC types, or null when any field has another type.
 * Fields the SPEC does not name are ignored (an agent may report more); `null` is a type
 * like any other, not "absent".
 */
export function readPosture(claim: unknown): DevicePosture | null {
  if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) return null;
  const c = claim as Record<string, unknown>;
  const get = (k: string): unknown => (Object.hasOwn(c, k) ? c[k] : undefined);
  const managed = optionalBoolean(get('managed'));
  const compliant = optionalBoolean(get('compliant'));
  const diskEncrypted = optionalBoolean(get('diskEncrypted'));
  const firewall = optionalBoolean(get('firewall'));
  const edr = optionalBoolean(get('edr'));
  const screenLock = optionalBoolean(get('screenLock'));
  if (managed === null || compliant === null || diskEncrypted === null || firewall === null || edr === null || screenLock === null) return null;
  const age = get('patchAgeDays');
  // Days since the last patch: a finite number from 0; a negative age or 1e400 (Infinity) is broken.
  if (age !== undefined && !(typeof age === 'number' && age >= 0 && age <= 1e6)) return null;
  const rawOs = get('os');
  let os: DevicePosture['os'];
  if (rawOs !== undefined) {
    if (typeof rawOs !== 'object' || rawOs === null || Array.isArray(rawOs)) return null;
    const o = rawOs as Record<string, unknown>;
    const name = Object.hasOwn(o, 'name') ? o.name : undefined;
    const version = Object.hasOwn(o, 'version') ? o.version : undefined;
    if ((name !== undefined && !isText(name)) || (version !== undefined && !isText(version))) return null;
    os = Object.freeze({ name, version });
  }
  return Object.freeze({ managed, compliant, os, patchAgeDays: age, diskEncrypted, firewall, edr, screenLock });
}

export class PostureVerifier {
  /** The request header, lower-case as configured (`x-device-posture`). */
  readonly header: string;
  private readonly issuers: ReadonlyMap<string, Issuer>;
  private readonly anyAlgorithm: ReadonlySet<string>;
  private readonly maxAgeS: number;
  private readonly maxTokenBytes: number;
  /** Keyed by base64url SHA-256 of the assertion: the cache never holds a presentable credential. */
  private readonly cache: LRUCache<string, CacheEntry> | undefined;

  /** Reads any `jwksFile`s and builds the verifier; throws with every problem named. */
  static async create(config: DeviceConfig, opts: PostureVerifierOptions = {}): Promise<PostureVerifier> {
    const read = opts.readFile ?? ((path: string) => readFileFromDisk(path, 'utf8'));
    const cooldownMs = nonNegativeInteger(opts.jwksRefetchCooldownMs, 30_000, 'jwksRefetchCooldownMs');
    const maxAgeMs = nonNegativeInteger(opts.jwksMaxAgeMs, 600_000, 'jwksMaxAgeMs');
    const timeoutMs = nonNegativeInteger(opts.jwksTimeoutMs, 5_000, 'jwksTimeoutMs');
    const problems: string[] = [];
    if (!(config.maxAge >= 1000 && config.maxAge <= MAX_POSTURE_MAX_AGE_MS)) problems.push('maxAge must be 1 s to 24 h');
    const built = new Map<string, Issuer>();
    for (const [i, c] of config.issuers.entries()) {
      const where = `issuers.${i} (${c.issuer})`;
      if (built.has(c.issuer)) {
        problems.push(`${where}: configured twice`);
        continue;
      }
      const problem = issuerSettingsProblem(c);
      if (problem !== undefined) {
        problems.push(`${where}: ${problem}`);
        continue;
      }
      try {
        const keys = await keySetFor(c, { read, cooldownMs, maxAgeMs, timeoutMs });
        built.set(c.issuer, {
          algorithms: [...c.algorithms],
          algorithmSet: new Set(c.algorithms),
          keys,
          toleranceS: c.clockTolerance / 1000,
          maxLifetimeS: c.maxLifetime / 1000,
        });
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
      }
    }
    if (problems.length === 1) throw new Error(problems[0]);
    if (problems.length > 1) throw new Error(`${problems.length} problems:\n  ${problems.join('\n  ')}`);
    return new PostureVerifier(config, built, opts);
  }

  private constructor(config: DeviceConfig, issuers: ReadonlyMap<string, Issuer>, opts: PostureVerifierOptions) {
    this.header = config.header.toLowerCase();
    this.issuers = issuers;
    this.anyAlgorithm = new Set([...issuers.values()].flatMap((i) => i.algorithms));
    this.maxAgeS = config.maxAge / 1000;
    this.maxTokenBytes = nonNegativeInteger(opts.maxTokenBytes, 8192, 'maxTokenBytes');
    // Failures are not cached (as for bearer tokens): an attacker varies the junk anyway,
    // and a failure cache would only let junk evict verified assertions.
    this.cache = config.cache.max > 0 ? new LRUCache<string, CacheEntry>({ max: config.cache.max, ttl: config.maxAge, ttlAutopurge: false, ttlResolution: 0 }) : undefined;
  }

  /** Does this verifier accept assertions of `issuer`? (An open stream's device, after a reload.) */
  hasIssuer(issuer: string): boolean {
    return this.issuers.has(issuer);
  }

  /** Verified assertions currently cached. */
  get cacheSize(): number {
    return this.cache?.size ?? 0;
  }

  /**
   * Verifies one posture assertion for one request: `certThumbprint` is the RFC 8705
   * thumbprint of the request's client certificate (if any), `subject` the authenticated
   * user's `sub` (if any), `now` epoch seconds (tests). Never throws; a cache hit (or a
   * refusal before any parsing) is answered synchronously.
   */
  verify(token: string, certThumbprint: string | undefined, subject: string | undefined, now: number = Date.now() / 1000): PostureResult | Promise<PostureResult> {
    if (typeof token !== 'string' || token.length === 0) return FAILURES['posture-malformed'];
    if (token.length > this.maxTokenBytes) return FAILURES['posture-too-large'];
    const nowS = Math.floor(now);
    const key = this.cache === undefined ? undefined : hash('sha256', token, 'base64url');
    if (key !== undefined) {
      // A hit (the common case) answers synchronously: no promise on the hot path.
      const hit = this.cache!.get(key);
      if (hit !== undefined) return this.recheck(hit, key, nowS, certThumbprint, subject);
    }
    return this.verifyCold(token, key, nowS, certThumbprint, subject);
  }

  private async verifyCold(token: string, key: string | undefined, nowS: number, certThumbprint: string | undefined, subject: string | undefined): Promise<PostureResult> {
    const pre = precheckJws(token, this.anyAlgorithm);
    if (!pre.ok) return FAILURES[PRECHECK_REASONS[pre.problem]];
    const issuer = this.issuers.get(pre.iss);
    if (issuer === undefined) return FAILURES['posture-unknown-issuer'];
    if (!issuer.algorithmSet.has(pre.alg)) return FAILURES['posture-alg-not-allowed'];

    let payload: JWTPayload;
    try {
      ({ payload } = await verifyJwt(token, issuer.keys, {
        algorithms: issuer.algorithms,
        issuer: pre.iss,
        clockTolerance: issuer.toleranceS,
        requiredClaims: REQUIRED_CLAIMS,
        currentDate: new Date(nowS * 1000),
      }));
    } catch (err) {
      return FAILURES[FROM_BEARER[reasonForError(err)]];
    }

    // From here on the claims are the issuer's.
    const { sub, exp, iat, nbf } = payload;
    if (typeof exp !== 'number' || typeof iat !== 'number') return FAILURES['posture-time-invalid'];
    const times = tokenTimesProblem(exp, iat, nbf, nowS, issuer.maxLifetimeS, issuer.toleranceS);
    if (times !== undefined) return FAILURES[times === 'time-invalid' ? 'posture-time-invalid' : 'posture-lifetime-too-long'];
    if (iat > nowS + issuer.toleranceS) return FAILURES['posture-issued-in-future'];
    if (nowS - iat > this.maxAgeS) return FAILURES['posture-stale'];
    if (!isText(sub)) return FAILURES['posture-claims-invalid'];
    if (!Object.hasOwn(payload, 'posture')) return FAILURES['posture-missing-claim'];
    const posture = readPosture(payload.posture);
    if (posture === null) return FAILURES['posture-claims-invalid'];
    let uid: string | undefined;
    if (Object.hasOwn(payload, 'uid')) {
      if (!isText(payload.uid)) return FAILURES['posture-claims-invalid'];
      uid = payload.uid;
    }
    const confirmation = readConfirmation(payload);
    if (confirmation.kind === 'unsupported') return FAILURES['posture-cnf-unsupported'];

    const entry: CacheEntry = {
      result: Object.freeze({
        ok: true as const,
        device: Object.freeze({ issuer: pre.iss, id: sub, issuedAt: iat, expiresAt: exp, posture }),
      }),
      exp,
      iat,
      nbf: typeof nbf === 'number' ? nbf : undefined,
      toleranceS: issuer.toleranceS,
      thumbprint: confirmation.kind === 'x5t#S256' ? confirmation.thumbprint : undefined,
      uid,
    };
    if (key !== undefined) {
      // Until exp (+ tolerance, as jose judges it) and never past maxAge from iat.
      const ttlMs = Math.floor(Math.min(exp + issuer.toleranceS - nowS, iat + this.maxAgeS - nowS) * 1000);
      if (ttlMs > 0) this.cache!.set(key, entry, { ttl: ttlMs });
    }
    return this.bound(entry, certThumbprint, subject);
  }

  /** Drops every cached assertion. Call when the config snapshot is replaced. */
  close(): void {
    this.cache?.clear();
  }

  private recheck(hit: CacheEntry, key: string, nowS: number, certThumbprint: string | undefined, subject: string | undefined): PostureResult {
    if (hit.exp <= nowS - hit.toleranceS) {
      this.cache!.delete(key);
      return FAILURES['posture-expired'];
    }
    if (nowS - hit.iat > this.maxAgeS) {
      this.cache!.delete(key);
      return FAILURES['posture-stale'];
    }
    if (hit.iat > nowS + hit.toleranceS) return FAILURES['posture-issued-in-future'];
    if (hit.nbf !== undefined && hit.nbf > nowS + hit.toleranceS) return FAILURES['posture-not-yet-valid'];
    return this.bound(hit, certThumbprint, subject);
  }

  /** The bindings: over the certificate it names, for the user it names (SPEC §6). */
  private bound(entry: CacheEntry, certThumbprint: string | undefined, subject: string | undefined): PostureResult {
    if (entry.thumbprint !== undefined && entry.thumbprint !== certThumbprint) return FAILURES['posture-cert-mismatch'];
    if (entry.uid !== undefined && entry.uid !== subject) return FAILURES['posture-user-mismatch'];
    return entry.result;
  }
}
