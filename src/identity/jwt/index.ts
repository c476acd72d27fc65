// Bearer JWT authentication: the PIP that turns an `Authorization: Bearer` token into a
// Subject the policy (PE) can judge (SPEC §5). It verifies signatures with each issuer's
// JWKS (file or URL), enforces the algorithm allowlist, iss/aud/exp/nbf, token type and
// certificate binding, and caches verified tokens by hash. It answers with data — a
// Subject or a stable failure reason — and never decides access itself.
export { BearerVerifier, type BearerVerifierOptions, type VerifyResult } from './verifier.ts';
export { BEARER_FAILURE_REASONS, type BearerFailureReason } from './reasons.ts';
export {
  jwtIssuerSchema,
  BEARER_ALGORITHMS,
  MAX_CLOCK_TOLERANCE_MS,
  type BearerAlgorithm,
  type JwtIssuerConfig,
  type JwtIssuerInput,
} from './schema.ts';
export { certificateThumbprint } from './confirmation.ts';
export { normalizeTyp } from './token-type.ts';
export { JwksUnavailableError } from './key-set.ts';
