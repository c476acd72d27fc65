// Why a bearer token was refused, as data: stable kebab-case strings for the access log,
// the metrics and the tests (Pomerium's denial reasons, Envoy's response details). Every
// `token-*` reason is the client's problem (401, `invalid_token`); `jwks-unavailable` is
// ours (503): the token may be fine, its issuer's keys could not be fetched.
import { errors } from 'jose';
import { JwksUnavailableError } from './key-set.ts';

export const BEARER_FAILURE_REASONS = [
  'token-too-large',
  'token-malformed',
  'token-not-jws',
  'token-alg-not-allowed',
  'token-unsafe-header',
  'token-unknown-issuer',
  'token-unknown-key',
  'token-invalid-signature',
  'token-expired',
  'token-not-yet-valid',
  'token-issued-in-future',
  /** `exp`, `iat` or `nbf` not a NumericDate from 1970 to 9999 (a string, Infinity, 1e308, negative). */
  'token-time-invalid',
  /** `exp − iat` (or `exp − now`) above the issuer's `maxLifetime`. */
  'token-lifetime-too-long',
  'token-wrong-audience',
  'token-wrong-issuer',
  'token-missing-claim',
  'token-wrong-type',
  'token-crit-unsupported',
  'token-cnf-mismatch',
  'token-cnf-unsupported',
  'jwks-unavailable',
] as const;

export type BearerFailureReason = (typeof BEARER_FAILURE_REASONS)[number];

/** The claims a bearer token must carry (SPEC §5); absent or of the wrong type, it is refused. */
export const REQUIRED_CLAIMS: readonly string[] = ['exp', 'iss', 'aud', 'sub'];

/**
 * Maps what jwtVerify (or our key resolver) threw to a reason. Anything unexpected is a
 * refusal too: fail closed, and name it after the step that could not complete.
 */
export function reasonForError(err: unknown): BearerFailureReason {
  if (err instanceof JwksUnavailableError) return 'jwks-unavailable';
  if (!(err instanceof errors.JOSEError)) return 'token-invalid-signature';
  switch (err.code) {
    case errors.JWSSignatureVerificationFailed.code:
      return 'token-invalid-signature';
    case errors.JWTExpired.code:
      return 'token-expired';
    case errors.JWKSNoMatchingKey.code:
    // Two keys match the header (e.g. no kid and a rotating set): refusing is the only
    // answer that does not guess which key the token meant.
    case errors.JWKSMultipleMatchingKeys.code:
      return 'token-unknown-key';
    case errors.JOSEAlgNotAllowed.code:
      return 'token-alg-not-allowed';
    case errors.JOSENotSupported.code:
      // Raised for an unrecognised `crit` extension and for an alg the key set cannot
      // use; both are checked before jwtVerify, so this is the backstop.
      return /crit|Extension Header/i.test(err.message) ? 'token-crit-unsupported' : 'token-alg-not-allowed';
    case errors.JWTClaimValidationFailed.code: {
      const { claim, reason } = err as errors.JWTClaimValidationFailed;
      if (reason === 'missing') return 'token-missing-claim';
      // A time claim that is no number at all ("exp": "2030-01-01", true, [1]).
      if (reason === 'invalid' && (claim === 'exp' || claim === 'iat' || claim === 'nbf')) return 'token-time-invalid';
      if (claim === 'nbf') return reason === 'check_failed' ? 'token-not-yet-valid' : 'token-malformed';
      if (claim === 'aud') return 'token-wrong-audience';
      if (claim === 'iss') return 'token-wrong-issuer';
      if (claim === 'iat') return reason === 'check_failed' ? 'token-issued-in-future' : 'token-malformed';
      if (claim === 'typ') return 'token-wrong-type';
      if (REQUIRED_CLAIMS.includes(claim)) return 'token-missing-claim';
      return 'token-malformed';
    }
    case errors.JWSInvalid.code:
      return /crit/i.test(err.message) ? 'token-crit-unsupported' : 'token-malformed';
    default:
      return 'token-malformed';
  }
}
