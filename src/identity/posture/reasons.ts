// Why a device-posture assertion does not count, as data (kebab-case, for the access
// log's `posture` field and the `ztproxy_posture_checks_total{result}` label). None of
// them is an error reply: an assertion that does not count is *no posture*, and the
// route's policy decides what that means (SPEC §6).
import type { BearerFailureReason } from '../jwt/reasons.ts';

export const POSTURE_FAILURE_REASONS = [
  /** More than one posture header (in any spelling): which one counts would be a guess. */
  'posture-several-headers',
  /** The header came under another spelling (`X_Device_Posture`): stripped, never read. */
  'posture-header-spelling',
  'posture-too-large',
  'posture-malformed',
  'posture-not-jws',
  'posture-alg-not-allowed',
  'posture-unsafe-header',
  'posture-crit-unsupported',
  'posture-unknown-issuer',
  'posture-unknown-key',
  'posture-signature-invalid',
  'posture-expired',
  'posture-not-yet-valid',
  'posture-issued-in-future',
  /** `iat` older than `device.maxAge`: the device may have changed since. */
  'posture-stale',
  'posture-time-invalid',
  'posture-lifetime-too-long',
  'posture-missing-claim',
  /** A `posture` field of the wrong type (`"managed": "yes"`): the whole assertion is void. */
  'posture-claims-invalid',
  'posture-cnf-unsupported',
  /** `cnf.x5t#S256` names another certificate than the request's (or there is none). */
  'posture-cert-mismatch',
  /** `uid` names another user than the authenticated subject (or there is none). */
  'posture-user-mismatch',
  /** The issuer's JWKS could not be fetched: no posture (fail closed), not an error reply. */
  'posture-jwks-unavailable',
] as const;

export type PostureFailureReason = (typeof POSTURE_FAILURE_REASONS)[number];

/** The bearer verifier's reasons (shared JOSE error mapping) in posture terms. */
export const FROM_BEARER: Readonly<Record<BearerFailureReason, PostureFailureReason>> = {
  'token-too-large': 'posture-too-large',
  'token-malformed': 'posture-malformed',
  'token-not-jws': 'posture-not-jws',
  'token-alg-not-allowed': 'posture-alg-not-allowed',
  'token-unsafe-header': 'posture-unsafe-header',
  'token-unknown-issuer': 'posture-unknown-issuer',
  'token-unknown-key': 'posture-unknown-key',
  'token-invalid-signature': 'posture-signature-invalid',
  'token-expired': 'posture-expired',
  'token-not-yet-valid': 'posture-not-yet-valid',
  'token-issued-in-future': 'posture-issued-in-future',
  'token-time-invalid': 'posture-time-invalid',
  'token-lifetime-too-long': 'posture-lifetime-too-long',
  // No audience is asked of a posture assertion; should jose ever say so, it is no posture.
  'token-wrong-audience': 'posture-malformed',
  'token-wrong-issuer': 'posture-unknown-issuer',
  'token-missing-claim': 'posture-missing-claim',
  'token-wrong-type': 'posture-malformed',
  'token-crit-unsupported': 'posture-crit-unsupported',
  'token-cnf-mismatch': 'posture-cert-mismatch',
  'token-cnf-unsupported': 'posture-cnf-unsupported',
  'jwks-unavailable': 'posture-jwks-unavailable',
};
