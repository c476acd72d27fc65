// jose's jwtVerify with one step moved: the signature check runs synchronously through
// node:crypto instead of WebCrypto. jose still parses the header (decodeProtectedHeader),
// resolves and imports the key (the issuer's KeyResolver), decodes the payload and
// validates every claim (UnsecuredJWT.decode → jose's own claims-set validation). Only the
// one call that checks the signature is ours, with the key jose imported.
//
// Why: WebCrypto's `subtle.verify` costs a job, a promise and algorithm normalisation per
// call; under load that was ~100 µs of the ~300 µs a new ES256 token added to a request
// (bench/results, "every token new"), against ~75 µs for the signature itself.
//
// Anything this path does not model exactly is handed to jose's jwtVerify whole, so the
// outcome is jose's by construction: a `crit` or `b64` header, an algorithm outside the
// table below or not allowed, a token that is not three base64url parts, and a key whose
// WebCrypto algorithm is not exactly the one the `alg` names (jose refuses those in its
// own words). test/identity/jwt/jws-verify.test.ts checks that both agree on every
// fixture, good and bad.
import { KeyObject, constants, verify as verifySignature, type VerifyKeyObjectInput } from 'node:crypto';
import {
  UnsecuredJWT,
  base64url,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type CryptoKey,
  type JWTPayload,
  type JWTVerifyOptions,
  type ProtectedHeaderParameters,
} from 'jose';
import type { KeyResolver } from './key-set.ts';

export interface VerifiedJwt {
  readonly payload: JWTPayload;
  readonly protectedHeader: ProtectedHeaderParameters;
}

interface Signing {
  /** node:crypto's digest name; null for Ed25519 (the algorithm fixes it). */
  readonly digest: string | null;
  /** The key's WebCrypto algorithm must be exactly this (name, and curve or hash). */
  readonly name: string;
  readonly namedCurve?: string;
  readonly hash?: string;
  readonly options: Omit<VerifyKeyObjectInput, 'key'>;
}

const ecdsa = (digest: string, namedCurve: string): Signing => ({ digest, name: 'ECDSA', namedCurve, options: { dsaEncoding: 'ieee-p1363' } });
const pkcs1 = (digest: string, hash: string): Signing => ({ digest, name: 'RSASSA-PKCS1-v1_5', hash, options: {} });
// The salt length RFC 7518 §3.5 fixes (the hash size), as jose passes it to WebCrypto;
// left to OpenSSL's default a verify would accept any salt length.
const pss = (digest: string, hash: string, saltLength: number): Signing => ({
  digest,
  name: 'RSA-PSS',
  hash,
  options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength },
});
const ed25519: Signing = { digest: null, name: 'Ed25519', options: {} };

const SIGNING: ReadonlyMap<string, Signing> = new Map([
  ['ES256', ecdsa('sha256', 'P-256')],
  ['ES384', ecdsa('sha384', 'P-384')],
  ['ES512', ecdsa('sha512', 'P-521')],
  ['RS256', pkcs1('sha256', 'SHA-256')],
  ['RS384', pkcs1('sha384', 'SHA-384')],
  ['RS512', pkcs1('sha512', 'SHA-512')],
  ['PS256', pss('sha256', 'SHA-256', 32)],
  ['PS384', pss('sha384', 'SHA-384', 48)],
  ['PS512', pss('sha512', 'SHA-512', 64)],
  ['EdDSA', ed25519],
  ['Ed25519', ed25519],
]);

/** jose's minimum for RSA keys (RFC 7518 §3.3); a shorter key goes to jose, which refuses it. */
const MIN_RSA_BITS = 2048;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The node:crypto key for each CryptoKey jose handed out; null: not one this path uses. */
const nodeKeys = new WeakMap<CryptoKey, KeyObject | null>();

function nodeKeyFor(key: unknown, signing: Signing): KeyObject | undefined {
  if (!isCryptoKey(key)) return undefined;
  let keyObject = nodeKeys.get(key);
  if (keyObject === undefined) {
    keyObject = usableKey(key) ? keyObjectOf(key) : null;
    nodeKeys.set(key, keyObject);
  }
  return keyObject !== null && matches(key, signing) ? keyObject : undefined;
}

function isCryptoKey(key: unknown): key is CryptoKey {
  return typeof key === 'object' && key !== null && (key as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'CryptoKey';
}

/**
 * KeyObject.from of a non-extractable CryptoKey is deprecated (DEP0204) and will throw: such
 * a key (jose's key sets import public keys extractable; a resolver of its own may not) goes
 * to jose, as does any key node:crypto will not take, rather than failing a good token.
 */
function keyObjectOf(key: CryptoKey): KeyObject | null {
  if (!key.extractable) return null;
  try {
    return KeyObject.from(key);
  } catch {
    return null;
  }
}

function usableKey(key: CryptoKey): boolean {
  if (key.type !== 'public' || !key.usages.includes('verify')) return false;
  const { modulusLength } = key.algorithm as { modulusLength?: number };
  return modulusLength === undefined || modulusLength >= MIN_RSA_BITS;
}

function matches(key: CryptoKey, signing: Signing): boolean {
  const algorithm = key.algorithm as { name: string; namedCurve?: string; hash?: { name?: string } };
  if (algorithm.name !== signing.name) return false;
  if (signing.namedCurve !== undefined && algorithm.namedCurve !== signing.namedCurve) return false;
  if (signing.hash !== undefined && algorithm.hash?.name !== signing.hash) return false;
  return true;
}

/** The header jose's UnsecuredJWT.decode sees: `alg: none`, and the token's `typ` for a `typ` check. */
const unsecuredHeaders = new Map<string, string>();
const PLAIN_HEADER = base64url.encode(JSON.stringify({ alg: 'none' }));

function unsecuredHeader(typ: unknown): string {
  if (typeof typ !== 'string') return PLAIN_HEADER;
  let encoded = unsecuredHeaders.get(typ);
  if (encoded === undefined) {
    encoded = base64url.encode(JSON.stringify({ alg: 'none', typ }));
    // Issuers use a handful of typ values; anything past that is not worth keeping.
    if (unsecuredHeaders.size < 64) unsecuredHeaders.set(typ, encoded);
  }
  return encoded;
}

/**
 * jwtVerify(token, keys, options), same result, same errors (jose's classes and codes).
 * `options.algorithms` is required: the allowlist is never left to the key.
 */
export async function verifyJwt(
  token: string,
  keys: KeyResolver,
  options: JWTVerifyOptions & { readonly algorithms: readonly string[] },
): Promise<VerifiedJwt> {
  if (typeof token !== 'string' || !COMPACT_JWS.test(token)) return jwtVerify(token, keys, options);
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return jwtVerify(token, keys, options); // not a JSON object: jose refuses it in its own words
  }
  const alg = header.alg;
  const signing = typeof alg === 'string' ? SIGNING.get(alg) : undefined;
  if (signing === undefined || !options.algorithms.includes(alg!) || Object.hasOwn(header, 'crit') || Object.hasOwn(header, 'b64')) {
    return jwtVerify(token, keys, options);
  }
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  const encodedPayload = token.slice(firstDot + 1, secondDot);
  const encodedSignature = token.slice(secondDot + 1);
  const key = nodeKeyFor(
    await keys(header, { protected: token.slice(0, firstDot), payload: encodedPayload, signature: encodedSignature }),
    signing,
  );
  if (key === undefined) return jwtVerify(token, keys, options);

  let signature: Uint8Array;
  try {
    signature = base64url.decode(encodedSignature);
  } catch (cause) {
    throw new errors.JWSInvalid('Failed to base64url decode the signature', { cause });
  }
  let valid: boolean;
  try {
    const input: VerifyKeyObjectInput = { key, ...signing.options };
    valid = verifySignature(signing.digest, Buffer.from(token.slice(0, secondDot), 'latin1'), input, signature);
  } catch (cause) {
    throw new errors.JWSSignatureVerificationFailed(undefined, { cause });
  }
  if (!valid) throw new errors.JWSSignatureVerificationFailed();
  // The signature holds: jose decodes the payload and validates the claims set.
  const { payload } = UnsecuredJWT.decode(`${unsecuredHeader(header.typ)}.${encodedPayload}.`, options);
  return { payload, protectedHeader: header };
}
