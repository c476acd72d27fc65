// One bearer-token issuer as the operator configures it (SPEC §5). Everything an attacker
// could exploit through a lax setting is closed here, before a verifier exists:
// asymmetric algorithms only (no `none`, no HMAC — CVE-2015-9235 class "alg confusion"),
// keys only from an https JWKS or a local file, and a clock tolerance that cannot grow
// into "expired tokens stay good for an hour".
import { isIP } from '../../basics/ip.ts';
import { z } from 'zod';
import { durationWithin } from '../../basics/duration.ts';
import { DEFAULT_MAX_TOKEN_LIFETIME_MS } from '../../basics/token-times.ts';

/**
 * The signature algorithms a bearer token may use. Asymmetric only: with an HMAC
 * algorithm the verification key is the signing key, so a public JWKS key used as an
 * HS256 secret lets anyone mint tokens (RFC 8725 §2.1, §3.1).
 */
export const BEARER_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const;

export type BearerAlgorithm = (typeof BEARER_ALGORITHMS)[number];

/** RFC 8725 §3.2 caps how far clocks may disagree; SPEC §5 says at most 60 s. */
export const MAX_CLOCK_TOLERANCE_MS = 60_000;

/** `localhost`, 127.0.0.0/8 and ::1: the only hosts where plain http cannot be intercepted on the wire. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (host.toLowerCase() === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

/**
 * An https URL (http only on loopback, for development and tests). Keys fetched or
 * issuers trusted over plain http can be swapped by anyone on the path.
 */
export function secureUrlProblem(text: string, what: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `must be an absolute https:// URL (${what})`;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    return url.protocol === 'http:'
      ? `must use https (plain http is accepted only for localhost, 127.0.0.0/8 and [::1])`
      : `scheme ${url.protocol} is not supported (https)`;
  }
  if (url.username || url.password) return 'must not carry credentials';
  if (url.hash) return 'must not have a fragment';
  return undefined;
}

const issuerUrl = z
  .string()
  .min(1, 'must name the issuer (the exact `iss` value of its tokens)')
  .superRefine((s, ctx) => {
    const problem = secureUrlProblem(s, 'the exact `iss` value of the tokens');
    // OpenID Connect Discovery §3: an issuer has no query or fragment.
    if (problem === undefined && new URL(s).search) ctx.addIssue({ code: 'custom', message: 'must not have a query' });
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Where an issuer publishes its JWKS: https (http on loopback only). */
export const jwksUrl = z.string().superRefine((s, ctx) => {
  const problem = secureUrlProblem(s, 'where the issuer publishes its JWKS');
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const audienceValue = z.string().min(1, 'must not be empty');

/** One allowlisted signature algorithm; `none` and HMAC get a message saying why never. */
export const algorithm = z.enum(BEARER_ALGORITHMS, {
  error: (issue) => {
    const input = typeof issue.input === 'string' ? issue.input : '';
    if (/^none$/i.test(input)) return `"${input}" is never allowed: an unsigned token proves nothing (RFC 8725 §3.1)`;
    if (/^HS\d*$/i.test(input)) {
      return `"${input}" is never allowed: with HMAC the verification key also signs, so a published key could mint tokens (RFC 8725 §2.1)`;
    }
    return `must be one of ${BEARER_ALGORITHMS.join(', ')}`;
  },
});

/** A duration string within [minMs, maxMs], parsed to milliseconds, with a default. */
export function boundedDuration(minMs: number, maxMs: number, range: string, fallback: string) {
  return durationWithin(minMs, maxMs, range, { echo: true }).prefault(fallback);
}

export const clockTolerance = boundedDuration(0, MAX_CLOCK_TOLERANCE_MS, 'at most 60s', '30s');

/**
 * The longest lifetime (`exp − iat`) a token of this issuer may claim. Above a year a
 * bearer token is a password that never rotates; a mistake in the IdP's config (or a
 * forged-looking `exp: 1e308` from a leaked key) must not become such a password here.
 */
export const MAX_MAX_LIFETIME_MS = 365 * 24 * 3600_000;

export const maxLifetime = boundedDuration(1000, MAX_MAX_LIFETIME_MS, 'from 1s to 365d', `${DEFAULT_MAX_TOKEN_LIFETIME_MS / 3600_000}h`);

/** A JOSE `typ` media type, with or without the `application/` prefix (RFC 7515 §4.1.9). */
const typValue = z
  .string()
  .regex(/^[A-Za-z0-9!#$&^_.+-]+(\/[A-Za-z0-9!#$&^_.+-]+)?$/, 'must be a media type such as at+jwt or application/at+jwt');

const claimName = z.string().min(1, 'must name a claim');

export const jwtIssuerSchema = z
  .strictObject({
    /** The exact `iss` of this issuer's tokens, compared as a string (no normalisation). */
    issuer: issuerUrl,
    /** The `aud` this proxy answers to; a token must name at least one of them. */
    audience: z
      .union([audienceValue, z.array(audienceValue).min(1, 'must list at least one audience')])
      .transform((a): string[] => (typeof a === 'string' ? [a] : a)),
    jwksUri: jwksUrl.optional(),
    jwksFile: z.string().min(1, 'must name a file').optional(),
    algorithms: z.array(algorithm).min(1, 'must list at least one algorithm'),
    /** Milliseconds (written as a duration: `30s`); at most 60 s. */
    clockTolerance,
    /**
     * Milliseconds (written as a duration: `24h`): tokens whose `exp − iat` (or, without
     * `iat`, `exp − now`) is longer are refused (`token-lifetime-too-long`). Default 24h.
     */
    maxLifetime,
    /** When set, the token's JOSE `typ` must be this (e.g. `at+jwt`, RFC 9068 §2.1). */
    requireTyp: typValue.optional(),
    groupsClaim: claimName.default('groups'),
    emailClaim: claimName.default('email'),
  })
  .superRefine(oneKeySource);

export type JwtIssuerConfig = z.output<typeof jwtIssuerSchema>;
export type JwtIssuerInput = z.input<typeof jwtIssuerSchema>;

const ASYMMETRIC: ReadonlySet<string> = new Set(BEARER_ALGORITHMS);

/**
 * What is wrong with an issuer's verification settings, or undefined. The schema already
 * refuses all of it; verifiers (bearer tokens, posture assertions) check again because
 * one built from a hand-made config must never be the way HMAC or `none` gets in.
 */
export function issuerSettingsProblem(c: { readonly algorithms: readonly string[]; readonly clockTolerance: number; readonly maxLifetime: number }): string | undefined {
  const bad = c.algorithms.find((a) => !ASYMMETRIC.has(a));
  if (bad !== undefined || c.algorithms.length === 0) return `algorithm ${bad ?? '(none listed)'} is not allowed`;
  if (!(c.clockTolerance >= 0 && c.clockTolerance <= MAX_CLOCK_TOLERANCE_MS)) return 'clockTolerance must be 0 to 60 s';
  if (!(c.maxLifetime >= 1000 && c.maxLifetime <= MAX_MAX_LIFETIME_MS)) return 'maxLifetime must be 1 s to 365 d';
  return undefined;
}

/** An issuer's keys come from exactly one place: a JWKS URI or a JWKS file (bearer and posture issuers). */
export function oneKeySource(c: { readonly jwksUri?: string | undefined; readonly jwksFile?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((c.jwksUri === undefined) === (c.jwksFile === undefined)) {
    ctx.addIssue({
      code: 'custom',
      message: 'needs exactly one of jwksUri (fetched, refreshed on an unknown kid) or jwksFile (read at start)',
      path: c.jwksUri === undefined ? [] : ['jwksFile'],
    });
  }
}
