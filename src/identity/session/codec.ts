// The encrypted envelopes ztproxy gives the browser: the session cookie and the login
// flow cookie. Both are compact JWEs (jose, `dir` + A256GCM): the browser can neither read
// nor change them, and a value sealed for one use is refused for the other (`use`).
// Keys come from the configured secrets through HKDF-SHA256; the `kid` (a digest of the
// derived key, never the key) picks the decrypting key, so rotation is "list the new
// secret first".
import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { EncryptJWT, jwtDecrypt, type JWTPayload } from 'jose';

export interface SessionKey {
  readonly kid: string;
  readonly key: Uint8Array;
}

function keyFrom(material: Uint8Array): SessionKey {
  const key = new Uint8Array(hkdfSync('sha256', material, 'ztproxy/session', 'A256GCM', 32));
  const kid = createHash('sha256').update(key).digest('base64url').slice(0, 12);
  return { kid, key };
}

export function deriveSessionKey(secret: string): SessionKey {
  return keyFrom(Buffer.from(secret, 'utf8'));
}

export function randomSessionKey(): SessionKey {
  return keyFrom(randomBytes(32));
}

export type EnvelopeUse = 'session' | 'login';

export type OpenResult<T> = { ok: true; payload: T } | { ok: false; reason: string };

export class EnvelopeCodec {
  readonly #encryptWith: SessionKey;
  readonly #byKid: ReadonlyMap<string, Uint8Array>;

  constructor(keys: readonly SessionKey[]) {
    if (keys.length === 0) throw new TypeError('at least one session key');
    this.#encryptWith = keys[0]!;
    this.#byKid = new Map(keys.map((k) => [k.kid, k.key]));
  }

  /** A compact JWE of `payload` for `use`, expiring at `exp` (epoch seconds). */
  seal(use: EnvelopeUse, payload: Record<string, unknown>, exp: number): Promise<string> {
    return new EncryptJWT({ ...payload, use })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: this.#encryptWith.kid })
      .setExpirationTime(exp)
      .encrypt(this.#encryptWith.key);
  }

  /** Decrypts and checks `use` and `exp` (no tolerance: our own clock wrote it). */
  async open<T>(use: EnvelopeUse, token: string): Promise<OpenResult<T>> {
    // A cookie value is short; anything long is not ours (and not worth decrypting).
    if (token.length > 8192) return { ok: false, reason: 'too-large' };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtDecrypt(
        token,
        (header) => {
          const key = typeof header.kid === 'string' ? this.#byKid.get(header.kid) : undefined;
          if (key === undefined) throw new Error('unknown key');
          return key;
        },
        { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'], requiredClaims: ['exp'] },
      ));
    } catch (err) {
      const code = (err as { code?: string }).code;
      return { ok: false, reason: code === 'ERR_JWT_EXPIRED' ? 'expired' : 'undecryptable' };
    }
    if (payload['use'] !== use) return { ok: false, reason: 'wrong-use' };
    return { ok: true, payload: payload as T };
  }
}
