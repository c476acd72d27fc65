// Device posture: the PIP that turns a device-trust issuer's signed assertion (an MDM
// or endpoint agent's JWS in the posture header, SPEC §6) into a Device the policy can
// judge. It verifies signature, issuer, algorithm, lifetime, freshness and the
// certificate and user bindings, and answers with data — a Device or a stable reason —
// never with a decision: an assertion that does not count is simply no posture.
export { PostureVerifier, readPosture, postureFailure, type PostureResult, type PostureVerifierOptions } from './verifier.ts';
export { POSTURE_FAILURE_REASONS, type PostureFailureReason } from './reasons.ts';
export { DEFAULT_POSTURE_HEADER, deviceSchema, type DeviceConfig, type DeviceIssuerConfig } from './schema.ts';
