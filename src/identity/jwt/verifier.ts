// Bearer JWT verification (SPEC §5; RFC 8725 JWT BCP; RFC 9068 access tokens; RFC 8705
// certificate-bound tokens). The order is the security argument:
//  1. cheap refusals on the raw text (size, shape) and on header fields we never honour
//     (`jwk`/`jku`/`x5u`/`x5c`, `crit`, an alg off the allowlist; ./precheck.ts) — they can only refuse;
//  2. the unverified `iss` picks which issuer's keys to try, and nothing else is read from
//     the unverified payload;
//  3. jose verifies the signature with that issuer's keys and algorithms (the check itself
//     through node:crypto with the key jose imported, ./jws-verify.ts), then iss, aud,
//     exp, nbf; only then are claims read: the time claims' range and the lifetime the
//     token claims (basics/token-times.ts), then typ, iat, cnf, the Subject.
// Verified tokens are cached by SHA-256 of the token until their `exp`; a hit re-checks
// the time and the certificate binding, which depend on the request, not on the token.
import { hash } from 'node:crypto';
import { readFile as readFileFromDisk } from 'node:fs/promises';
import type { JWTPayload, ProtectedHeaderParameters } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Subject } from '../../basics/subject.ts';
import { readConfirmation } from './confirmation.ts';
import { verifyJwt } from './jws-verify.ts';
import { keySetFor, type KeyResolver } from './key-set.ts';
import { precheckJws, type PrecheckProblem } from './precheck.ts';
import { BEARER_FAILURE_REASONS, REQUIRED_CLAIMS, reasonForError, type BearerFailureReason } from './reasons.ts';
import { issuerSettingsProblem, type JwtIssuerConfig } from './schema.ts';
import { tokenTimesProblem } from '../../basics/token-times.ts';
import { subjectFromClaims } from './subject-from-claims.ts';
import { normalizeTyp, tokenTypeProblem } from './token-type.ts';

export type VerifyResult =
  | { readonly ok: true; readonly subject: Subject; /** `exp`, epoch seconds. */ readonly expiresAt: number }
  | { readonly ok: false; readonly reason: BearerFailureReason };

export interface BearerVerifierOptions {
  /** Verified tokens kept (LRU). Default 10000; 0 turns the cache off. */
  readonly cacheMax?: number;
  /**
   * Longest a verified token stays cached, whatever its `exp`. Default 300000 (5 min):
   * bounds how long a key the issuer withdrew from its JWKS keeps its tokens working.
   */
  readonly cacheMaxTtlMs?: number;
  /** Longer tokens are refused before any parsing. Default 8192 (characters; a JWS is ASCII). */
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
  readonly issuer: string;
  readonly audience: string[];
  readonly algorithms: string[];
  readonly algorithmSet: ReadonlySet<string>;
  readonly keys: KeyResolver;
  /** Seconds, as jose takes it. */
  readonly toleranceS: number;
  /** Longest `exp − iat` accepted, seconds. */
  readonly maxLifetimeS: number;
  readonly requiredTyp: string | undefined;
  readonly groupsClaim: string;
  readonly emailClaim: string;
}

interface CacheEntry {
  readonly result: Extract<VerifyResult, { ok: true }>;
  readonly exp: number;
  readonly nbf: number | undefined;
  readonly iat: number | undefined;
  readonly toleranceS: number;
  /** The certificate the token is bound to (RFC 8705), if any. */
  readonly thumbprint: string | undefined;
}

/** One frozen result per reason: refusing allocates nothing. */
const FAILURES = Object.freeze(
  Object.fromEntries(BEARER_FAILURE_REASONS.map((reason) => [reason, Object.freeze({ ok: false as const, reason })])),
) as Readonly<Record<BearerFailureReason, VerifyResult>>;

const PRECHECK_REASONS: Readonly<Record<PrecheckProblem, BearerFailureReason>> = {
  'not-jws': 'token-not-jws',
  malformed: 'token-malformed',
  'unsafe-header': 'token-unsafe-header',
  'crit-unsupported': 'token-crit-unsupported',
  'alg-not-allowed': 'token-alg-not-allowed',
  'unknown-key': 'token-unknown-key',
  'missing-iss': 'token-missing-claim',
};

function fail(reason: BearerFailureReason): VerifyResult {
  return FAILURES[reason];
}

function nonNegativeInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`"${name}" option must be a non-negative integer`);
  return value;
}

function numberClaim(payload: JWTPayload, name: string): number | undefined {
  const v = payload[name];
  return typeof v === 'number' ? v : undefined;
}

export class BearerVerifier {
  private readonly issuers: ReadonlyMap<string, Issuer>;
  /** Every algorithm some issuer allows: an alg outside it is refused before anything else is read. */
  private readonly anyAlgorithm: ReadonlySet<string>;
  private readonly maxTokenBytes: number;
  private readonly cacheMaxTtlMs: number;
  /** Keyed by base64url SHA-256 of the token: the cache never holds a usable credential. */
  private readonly cache: LRUCache<string, CacheEntry> | undefined;

  /**
   * Reads any `jwksFile`s and builds the verifier. Throws (with every problem named) when
   * an issuer is configured twice, a JWKS file cannot be used, or an option is invalid.
   */
  static async create(issuers: readonly JwtIssuerConfig[], opts: BearerVerifierOptions = {}): Promise<BearerVerifier> {
    const read = opts.readFile ?? ((path: string) => readFileFromDisk(path, 'utf8'));
    const cooldownMs = nonNegativeInteger(opts.jwksRefetchCooldownMs, 30_000, 'jwksRefetchCooldownMs');
    const maxAgeMs = nonNegativeInteger(opts.jwksMaxAgeMs, 600_000, 'jwksMaxAgeMs');
    const timeoutMs = nonNegativeInteger(opts.jwksTimeoutMs, 5_000, 'jwksTimeoutMs');
    const problems: string[] = [];
    const built = new Map<string, Issuer>();
    for (const [i, config] of issuers.entries()) {
      const where = `issuer ${i} (${config.issuer})`;
      if (built.has(config.issuer)) {
        problems.push(`${where}: configured twice; list every audience of one issuer under a single entry`);
        continue;
      }
      const problem = issuerSettingsProblem(config);
      if (problem !== undefined) {
        problems.push(`${where}: ${problem}`);
        continue;
      }
      let keys: KeyResolver;
      try {
        keys = await keySetFor(config, { read, cooldownMs, maxAgeMs, timeoutMs });
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
        continue;
      }
      built.set(config.issuer, {
        issuer: config.issuer,
        audience: [...config.audience],
        algorithms: [...config.algorithms],
        algorithmSet: new Set(config.algorithms),
        keys,
        toleranceS: config.clockTolerance / 1000,
        maxLifetimeS: config.maxLifetime / 1000,
        requiredTyp: config.requireTyp === undefined ? undefined : normalizeTyp(config.requireTyp),
        groupsClaim: config.groupsClaim,
        emailClaim: config.emailClaim,
      });
    }
    if (problems.length === 1) throw new Error(problems[0]);
    if (problems.length > 1) throw new Error(`${problems.length} problems:\n  ${problems.join('\n  ')}`);
    return new BearerVerifier(built, opts);
  }

  private constructor(issuers: ReadonlyMap<string, Issuer>, opts: BearerVerifierOptions) {
    this.issuers = issuers;
    this.anyAlgorithm = new Set([...issuers.values()].flatMap((i) => i.algorithms));
    this.maxTokenBytes = nonNegativeInteger(opts.maxTokenBytes, 8192, 'maxTokenBytes');
    this.cacheMaxTtlMs = nonNegativeInteger(opts.cacheMaxTtlMs, 300_000, 'cacheMaxTtlMs');
    const cacheMax = nonNegativeInteger(opts.cacheMax, 10_000, 'cacheMax');
    // ttlResolution 0: lru-cache otherwise caches its clock reading for 1 ms by arming a
    // timer, one per millisecond under load, from a lookup on every request.
    // Failures are not cached. A failure costs at most one signature check (the same as
    // a cold success), and an attacker varies the token anyway, so a failure cache would
    // never hit — it would only let junk tokens evict verified ones. `jwks-unavailable`
    // in particular must be retried as soon as the IdP is back.
    this.cache =
      cacheMax > 0 && this.cacheMaxTtlMs > 0
        ? new LRUCache<string, CacheEntry>({ max: cacheMax, ttl: this.cacheMaxTtlMs, ttlAutopurge: false, ttlResolution: 0 })
        : undefined;
  }

  /** Does this verifier accept tokens of `issuer`? (An open stream's token, after a reload.) */
  hasIssuer(issuer: string): boolean {
    return this.issuers.has(issuer);
  }

  /** Verified tokens currently cached. */
  get cacheSize(): number {
    return this.cache?.size ?? 0;
  }

  /**
   * Verifies a bearer token. `certThumbprint` is the RFC 8705 thumbprint (base64url SHA-256
   * of the DER) of the client certificate this request arrived over, if any; `now` is
   * epoch seconds (tests). Never throws: every outcome is a result.
   */
  async verify(token: string, certThumbprint: string | undefined, now: number = Date.now() / 1000): Promise<VerifyResult> {
    if (typeof token !== 'string' || token.length === 0) return fail('token-malformed');
    if (token.length > this.maxTokenBytes) return fail('token-too-large');
    const nowS = Math.floor(now);

    const key = this.cache === undefined ? undefined : hash('sha256', token, 'base64url');
    if (key !== undefined) {
      const hit = this.cache!.get(key);
      if (hit !== undefined) return this.recheck(hit, key, nowS, certThumbprint);
    }

    const pre = precheckJws(token, this.anyAlgorithm);
    if (!pre.ok) return fail(PRECHECK_REASONS[pre.problem]);
    const issuer = this.issuers.get(pre.iss);
    if (issuer === undefined) return fail('token-unknown-issuer');
    if (!issuer.algorithmSet.has(pre.alg)) return fail('token-alg-not-allowed');

    let payload: JWTPayload;
    let verifiedHeader: ProtectedHeaderParameters;
    try {
      const verified = await verifyJwt(token, issuer.keys, {
        algorithms: issuer.algorithms,
        issuer: issuer.issuer,
        audience: issuer.audience,
        clockTolerance: issuer.toleranceS,
        requiredClaims: REQUIRED_CLAIMS as string[],
        currentDate: new Date(nowS * 1000),
      });
      payload = verified.payload;
      verifiedHeader = verified.protectedHeader;
    } catch (err) {
      return fail(reasonForError(err));
    }

    // From here on the claims are the issuer's.
    const { sub, exp } = payload;
    if (typeof sub !== 'string' || sub === '' || typeof exp !== 'number') return fail('token-missing-claim');
    // jose accepted any JSON number: `exp: 1e400` (Infinity) never expires, and a token
    // claiming ten years is a password nobody can rotate. This also bounds the cache TTL
    // (exp − now ≤ the lifetime cap + tolerance).
    const times = tokenTimesProblem(exp, payload.iat, payload.nbf, nowS, issuer.maxLifetimeS, issuer.toleranceS);
    if (times !== undefined) return fail(times === 'time-invalid' ? 'token-time-invalid' : 'token-lifetime-too-long');
    const iat = numberClaim(payload, 'iat');
    // jose checks `iat` only with maxTokenAge; a token "issued" in the future is either a
    // broken IdP clock or a token minted to outlive its apparent age.
    if (iat !== undefined && iat > nowS + issuer.toleranceS) return fail('token-issued-in-future');
    if (tokenTypeProblem(verifiedHeader.typ, payload, issuer.requiredTyp) !== undefined) return fail('token-wrong-type');
    const confirmation = readConfirmation(payload);
    if (confirmation.kind === 'unsupported') return fail('token-cnf-unsupported');

    const entry: CacheEntry = {
      result: Object.freeze({
        ok: true as const,
        subject: subjectFromClaims(payload, issuer.issuer, sub, issuer),
        expiresAt: exp,
      }),
      exp,
      nbf: numberClaim(payload, 'nbf'),
      iat,
      toleranceS: issuer.toleranceS,
      thumbprint: confirmation.kind === 'x5t#S256' ? confirmation.thumbprint : undefined,
    };
    if (key !== undefined) {
      // Until exp (+ tolerance, as jose judges it), never beyond the cache's own bound.
      const ttlMs = Math.min(this.cacheMaxTtlMs, Math.floor((exp + issuer.toleranceS - nowS) * 1000));
      if (ttlMs > 0) this.cache!.set(key, entry, { ttl: ttlMs });
    }
    return bindingProblem(entry, certThumbprint) ? fail('token-cnf-mismatch') : entry.result;
  }

  /** Drops every cached token; the verifier stays usable. Call when its config snapshot is replaced. */
  close(): void {
    this.cache?.clear();
  }

  /** A cached token was valid when cached; what depends on the request is checked again. */
  private recheck(hit: CacheEntry, key: string, nowS: number, certThumbprint: string | undefined): VerifyResult {
    if (hit.exp <= nowS - hit.toleranceS) {
      this.cache!.delete(key);
      return fail('token-expired');
    }
    if (hit.nbf !== undefined && hit.nbf > nowS + hit.toleranceS) return fail('token-not-yet-valid');
    if (hit.iat !== undefined && hit.iat > nowS + hit.toleranceS) return fail('token-issued-in-future');
    if (bindingProblem(hit, certThumbprint)) return fail('token-cnf-mismatch');
    return hit.result;
  }
}

/** RFC 8705 §3: a bound token is good only over the certificate it names. */
function bindingProblem(entry: CacheEntry, certThumbprint: string | undefined): boolean {
  return entry.thumbprint !== undefined && entry.thumbprint !== certThumbprint;
}
