// The identity assertion towards upstreams (SPEC §4): ztproxy's signed statement of who
// it let through, and the JWKS that verifies it.
export { AssertionSigner, deviceClaim, ephemeralAssertionKey, loadAssertionKeys, type AssertionInput, type AssertionKey } from './signer.ts';
