// The time claims of a signed token (bearer JWT, ID token, and the device-posture
// assertions to come) judged the same way everywhere. jose and oauth4webapi check only
// that `exp`/`iat`/`nbf` are JSON numbers and compare them with the clock, so
//  - `exp: 1e308` — or `1e400`, which JSON.parse reads as Infinity — is never in the past:
//    a token that never expires, from a mis-configured IdP or a leaked signing key;
//  - `exp: now + 10 years` with any `iat` is a password that can never be rotated out;
//  - a negative or pre-1970 `iat` makes "how old is this token" meaningless.
// RFC 7519 §4.1.4 lets a recipient refuse what it deems too long-lived, and RFC 8725 §3.10
// asks for checks on every claim a decision rests on. The check is a few number compares
// and no allocation, run once per verified token (a cache hit already passed it).

/**
 * The largest NumericDate ztproxy believes: 9999-12-31T23:59:59Z, the last instant ISO 8601
 * and X.509 GeneralizedTime can write. Above it the number is an error or a "never", and
 * above 2^53 it is not even an exact integer any more.
 */
export const MAX_NUMERIC_DATE = 253_402_300_799;

/** The default longest lifetime of a signed token (SPEC §6: posture issuers, default 24 h). */
export const DEFAULT_MAX_TOKEN_LIFETIME_MS = 24 * 3600_000;

/** Why a token's time claims do not count: `time-invalid` (a claim out of range), `lifetime-too-long`. */
export type TokenTimesProblem = 'time-invalid' | 'lifetime-too-long';

/**
 * A NumericDate (RFC 7519 §2): a finite JSON number of seconds from 1970 up to
 * MAX_NUMERIC_DATE. Fractions are allowed (the RFC allows them). Strings, booleans,
 * arrays, negative numbers, Infinity (`1e400` in JSON) and values beyond the year 9999 are not.
 */
export function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value <= MAX_NUMERIC_DATE;
}

/**
 * Judges a token's `exp`, `iat` and `nbf` (as read from its verified payload):
 * `exp` must be a NumericDate, and `iat`/`nbf` too when present (undefined = absent).
 * The lifetime is `exp − iat`, or `exp − now` without `iat` (then `toleranceS` is
 * granted, as the two clocks may disagree); more than `maxLifetimeS` is too long, exactly
 * `maxLifetimeS` is fine. Whether `exp` has passed, or `nbf`/`iat` lie ahead, is the
 * caller's check (jose's, with its tolerance). All times in seconds.
 */
export function tokenTimesProblem(
  exp: unknown,
  iat: unknown,
  nbf: unknown,
  nowS: number,
  maxLifetimeS: number,
  toleranceS: number,
): TokenTimesProblem | undefined {
  // NaN and ±Infinity fail these range compares too, so no separate isFinite is needed.
  if (!isNumericDate(exp)) return 'time-invalid';
  if (iat !== undefined && !isNumericDate(iat)) return 'time-invalid';
  if (nbf !== undefined && !isNumericDate(nbf)) return 'time-invalid';
  if (iat !== undefined) return exp - iat > maxLifetimeS ? 'lifetime-too-long' : undefined;
  return exp - nowS > maxLifetimeS + toleranceS ? 'lifetime-too-long' : undefined;
}
