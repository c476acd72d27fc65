// Where an issuer's verification keys come from: a JWKS file read once at start, or a
// JWKS URL fetched by jose's createRemoteJWKSet. The remote set is wrapped for the two
// things jose leaves to the caller:
//  - an unreachable IdP is an *error*, not a bad token: it surfaces as JwksUnavailableError
//    so the caller answers 503 and the client retries, instead of a 401 that sends every
//    user to log in again;
//  - jose rate-limits refetches only after a *successful* fetch (cooldownDuration). While
//    the IdP is down every verification would fetch again, so a flood of tokens becomes a
//    flood against the IdP. Failed fetches back off here, and the keys last fetched keep
//    verifying for a bounded time (stale-if-error) so an IdP blip does not lock everyone out.
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type FlattenedJWSInput,
  type CryptoKey,
} from 'jose';

/** A key resolver as jose's jwtVerify takes it: header → the one key to verify with. */
export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/** The issuer's JWKS could not be fetched (network, timeout, non-200, not a JWKS). Answer 503, not 401. */
export class JwksUnavailableError extends Error {
  readonly code = 'ERR_ZTPROXY_JWKS_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JwksUnavailableError';
  }
}

/** Members that only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/**
 * Why an RSA JWK's public exponent is unusable, or undefined. With e = 1 every properly
 * padded hash is its own signature (anyone can "sign" for that key), and an even or
 * missing exponent is no RSA key; jose verifies with whatever a key set holds, so such a
 * key never enters one.
 */
export function rsaExponentProblem(jwk: Record<string, unknown>): string | undefined {
  if (jwk.kty !== 'RSA') return undefined;
  if (typeof jwk.e !== 'string' || !/^[A-Za-z0-9_-]+$/.test(jwk.e)) return 'has no valid public exponent "e"';
  const bytes = Buffer.from(jwk.e, 'base64url');
  const e = bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`);
  if (e < 3n || e % 2n === 0n) return `has public exponent ${e} (an RSA exponent is odd and at least 3)`;
  return undefined;
}

/**
 * Checks a JWKS read from a file and returns jose's resolver for it. Refuses private or
 * symmetric keys outright: a file meant to hold public keys that holds a signing key (or
 * an `oct` secret) is a leak waiting to be committed, and a secret would make HMAC
 * possible if an algorithm check ever slipped.
 */
export function localKeySet(jwks: unknown, source: string): KeyResolver {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) {
    throw new Error(`${source}: not a JWKS (expected {"keys": [...]})`);
  }
  const keys = (jwks as { keys: unknown[] }).keys;
  if (keys.length === 0) throw new Error(`${source}: the JWKS has no keys`);
  keys.forEach((key, i) => {
    if (typeof key !== 'object' || key === null) throw new Error(`${source}: keys[${i}] is not a JWK object`);
    const jwk = key as Record<string, unknown>;
    if (jwk.kty !== 'RSA' && jwk.kty !== 'EC' && jwk.kty !== 'OKP') {
      throw new Error(`${source}: keys[${i}] has kty ${JSON.stringify(jwk.kty)} (RSA, EC or OKP public keys only)`);
    }
    const secret = PRIVATE_MEMBERS.find((m) => Object.hasOwn(jwk, m));
    if (secret !== undefined) throw new Error(`${source}: keys[${i}] is a private key (has "${secret}"); publish public keys only`);
    const exponent = rsaExponentProblem(jwk);
    if (exponent !== undefined) throw new Error(`${source}: keys[${i}] ${exponent}`);
  });
  try {
    return createLocalJWKSet(jwks as JSONWebKeySet);
  } catch (err) {
    throw new Error(`${source}: ${(err as Error).message}`, { cause: err });
  }
}

export interface RemoteKeySetOptions {
  /** Minimum time between refetches that an unknown `kid` triggers. */
  readonly cooldownMs: number;
  /** Keys older than this are refetched before use. */
  readonly maxAgeMs: number;
  readonly timeoutMs: number;
  /** How long to wait after a failed fetch before trying again. */
  readonly failureBackoffMs: number;
  /** How long after the last good fetch its keys may still verify while fetches fail. */
  readonly staleIfErrorMs: number;
  /** For tests: the fetch to use (default: the global fetch). */
  readonly fetch?: FetchImplementation;
}

/** jose errors that are about the token's header against a good key set, not about fetching it. */
const KEY_SELECTION_CODES: ReadonlySet<string> = new Set([
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
  errors.JOSENotSupported.code,
  errors.JOSEAlgNotAllowed.code,
]);

export function remoteKeySet(url: URL, opts: RemoteKeySetOptions): KeyResolver {
  const fetchImpl: FetchImplementation = opts.fetch ?? ((u, init) => fetch(u, init));
  let lastOkAt = Number.NEGATIVE_INFINITY;
  let lastFailedAt = Number.NEGATIVE_INFINITY;
  let stale: { at: number; resolve: KeyResolver } | undefined;

  // Every fetch jose makes passes here: refused outright while backing off, and judged
  // (status and body) so that only a usable JWKS counts as a good fetch.
  const guardedFetch: FetchImplementation = async (u, init) => {
    if (Date.now() < lastFailedAt + opts.failureBackoffMs) {
      throw new Error(`the last fetch failed less than ${opts.failureBackoffMs} ms ago; backing off`);
    }
    try {
      const res = await fetchImpl(u, init);
      if (res.status !== 200) {
        lastFailedAt = Date.now();
        return res;
      }
      const body = await res.text();
      const jwks = asJwks(body);
      if (jwks === undefined) {
        lastFailedAt = Date.now();
        throw new Error('the response is not a JSON Web Key Set');
      }
      lastOkAt = Date.now();
      // An unusable RSA key is left out, not the whole set: the issuer's other keys keep
      // working, and a token naming that key finds none.
      const usable = jwks.keys.filter((k) => rsaExponentProblem(k) === undefined);
      const text = usable.length === jwks.keys.length ? body : JSON.stringify({ ...jwks, keys: usable });
      return new Response(text, { status: 200, headers: res.headers });
    } catch (err) {
      lastFailedAt = Date.now();
      throw err;
    }
  };

  const remote = createRemoteJWKSet(url, {
    cooldownDuration: opts.cooldownMs,
    cacheMaxAge: opts.maxAgeMs,
    timeoutDuration: opts.timeoutMs,
    [customFetch]: guardedFetch,
  });

  /** The last good key set, rebuilt only when a newer one was fetched. */
  const staleKeys = (): KeyResolver | undefined => {
    if (Date.now() > lastOkAt + opts.staleIfErrorMs) return undefined;
    if (stale?.at !== lastOkAt) {
      const jwks = remote.jwks();
      if (jwks === undefined) return undefined;
      stale = { at: lastOkAt, resolve: createLocalJWKSet(jwks) };
    }
    return stale.resolve;
  };

  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      if (KEY_SELECTION_CODES.has((err as { code?: string }).code ?? '')) throw err;
      // Everything else is the fetch: network error, timeout, non-200, not a JWKS.
      const fallback = staleKeys();
      if (fallback !== undefined) {
        try {
          return await fallback(header, token);
        } catch (staleErr) {
          // A kid the stale set does not know may well be a key the IdP rotated in while
          // we could not fetch: that is unavailability, not a forged token.
          if ((staleErr as { code?: string }).code !== errors.JWKSNoMatchingKey.code) throw staleErr;
        }
      }
      throw new JwksUnavailableError(`JWKS ${url.href} unavailable: ${(err as Error).message}`, { cause: err });
    }
  };
}

/** Where an issuer's keys come from, as its config names them (exactly one of the two). */
export interface KeySource {
  readonly jwksFile?: string | undefined;
  readonly jwksUri?: string | undefined;
}

export interface KeySetOptions {
  /** Reads `jwksFile`. */
  readonly read: (path: string) => Promise<string | Uint8Array>;
  readonly cooldownMs: number;
  readonly maxAgeMs: number;
  readonly timeoutMs: number;
}

/**
 * Keys last fetched from an issuer keep verifying for this long while its JWKS cannot be
 * fetched: long enough to ride out an IdP outage, short enough that an attacker who can
 * block the fetch cannot keep a withdrawn key alive indefinitely.
 */
const STALE_IF_ERROR_MS = 3_600_000;

/**
 * The resolver for one issuer's keys: a `jwksFile` read and checked now (throws, naming
 * the file, when it cannot be used), or a `jwksUri` fetched on first use and refreshed on
 * an unknown kid at a bounded rate. Shared by bearer tokens and device-posture
 * assertions, so both trust keys the same way.
 */
export async function keySetFor(source: KeySource, opts: KeySetOptions): Promise<KeyResolver> {
  if (source.jwksFile !== undefined) {
    const where = `jwksFile ${source.jwksFile}`;
    let text: string | Uint8Array;
    try {
      text = await opts.read(source.jwksFile);
    } catch (err) {
      throw new Error(`${where}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    let json: unknown;
    try {
      json = JSON.parse(typeof text === 'string' ? text : new TextDecoder().decode(text));
    } catch (err) {
      throw new Error(`${where}: not JSON (${(err as Error).message})`);
    }
    return localKeySet(json, where);
  }
  if (source.jwksUri !== undefined) {
    return remoteKeySet(new URL(source.jwksUri), {
      cooldownMs: opts.cooldownMs,
      maxAgeMs: opts.maxAgeMs,
      timeoutMs: opts.timeoutMs,
      // A failing IdP is retried at most this often; never more often than the cooldown
      // allows for an unknown kid, never less often than every 5 s.
      failureBackoffMs: Math.min(opts.cooldownMs, 5_000),
      staleIfErrorMs: STALE_IF_ERROR_MS,
    });
  }
  throw new Error('needs jwksUri or jwksFile');
}

function asJwks(body: string): { keys: Record<string, unknown>[] } | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const keys = typeof json === 'object' && json !== null ? (json as { keys?: unknown }).keys : undefined;
  const ok = Array.isArray(keys) && keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k));
  return ok ? (json as { keys: Record<string, unknown>[] }) : undefined;
}
