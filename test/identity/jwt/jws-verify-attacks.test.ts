// Differential fixtures from the JWT attack literature, beside jws-verify.test.ts: what the
// node:crypto signature check (verifyJwt) must decide exactly as jose's jwtVerify does.
// Signatures are built by hand — ECDSA psychic signatures (CVE-2022-21449) and high S,
// Ed25519 non-canonical S and small-order keys, RSA signatures that are not the modulus
// length or whose PKCS#1 v1.5 / PSS encoding a lenient verifier would take (the raw RSA
// operation through privateDecrypt without padding), base64url trailing bits — and so are
// headers and payloads: duplicate and `__proto__` members, `typ` values the claims step must
// see as the token carried them, keys jose hands out non-extractable or under another EdDSA
// name, and a remote JWKS whose kid now names another key (the KeyObject cache must follow).
import { constants, createHash, generateKeyPairSync, privateDecrypt, sign as nodeSign, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { base64url, createLocalJWKSet, createRemoteJWKSet, exportJWK, importJWK, jwtVerify, type JWK, type JWTVerifyOptions } from 'jose';
import { verifyJwt } from '../../../src/identity/jwt/jws-verify.ts';
import { reasonForError } from '../../../src/identity/jwt/reasons.ts';
import type { KeyResolver } from '../../../src/identity/jwt/key-set.ts';
import { startJwksServer, type JwksServer } from '../../helpers/jwt.ts';

// Counts every jwtVerify call, ours and verifyJwt's fallback: a fixture meant for the
// node:crypto check must not pass merely because verifyJwt handed it to jose.
const joseCalls = vi.hoisted(() => ({ count: 0 }));
vi.mock('jose', async (importOriginal) => {
  const jose = await importOriginal<typeof import('jose')>();
  return {
    ...jose,
    jwtVerify: ((...args: Parameters<typeof jose.jwtVerify>) => {
      joseCalls.count++;
      return jose.jwtVerify(...args);
    }) as typeof jose.jwtVerify,
  };
});

const ISS = 'https://issuer.test';
const AUD = 'api';
const NOW = 1_800_000_000;

type Pair = { privateKey: KeyObject; publicKey: KeyObject };
const P256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const P384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const P521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
const RSA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ED = generateKeyPairSync('ed25519');

const b64 = (v: unknown) => base64url.encode(typeof v === 'string' ? v : JSON.stringify(v));
const claims = (extra: Record<string, unknown> = {}) => ({ iss: ISS, aud: AUD, sub: 'alice', iat: NOW - 10, exp: NOW + 600, ...extra });
const opts = (alg: string, extra: Partial<JWTVerifyOptions> = {}) => ({
  algorithms: [alg],
  issuer: ISS,
  audience: AUD,
  requiredClaims: ['exp', 'iss', 'aud', 'sub'],
  currentDate: new Date(NOW * 1000),
  ...extra,
});

async function jwks(pair: Pair, extra: Partial<JWK> = {}): Promise<KeyResolver> {
  return createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', ...extra }] });
}

type Outcome = { ok: true; payload: unknown; header: unknown } | { ok: false; reason: string; code: string | undefined };

async function outcome(run: () => Promise<{ payload: unknown; protectedHeader?: unknown }>): Promise<Outcome> {
  try {
    const r = await run();
    return { ok: true, payload: r.payload, header: r.protectedHeader };
  } catch (err) {
    return { ok: false, reason: reasonForError(err), code: (err as { code?: string }).code };
  }
}

/**
 * Both accept with the same payload and header, or both refuse for the same reason and
 * code; jose's outcome. `path`: which check verifyJwt used ('node' for node:crypto,
 * 'jose' when it handed the token to jwtVerify), asserted when given.
 */
async function expectSame(tok: string, keys: KeyResolver, options: ReturnType<typeof opts>, path?: 'node' | 'jose'): Promise<Outcome> {
  const viaJose = await outcome(() => jwtVerify(tok, keys, options));
  const before = joseCalls.count;
  const viaNode = await outcome(() => verifyJwt(tok, keys, options));
  expect(viaNode, tok.slice(0, 80)).toEqual(viaJose);
  if (path !== undefined) expect(joseCalls.count === before ? 'node' : 'jose', tok.slice(0, 80)).toBe(path);
  return viaJose;
}

const flipLast = (text: string) => `${text.slice(0, -3)}${text.at(-3) === 'A' ? 'B' : 'A'}${text.slice(-2)}`;
const input = (header: unknown, payload: unknown = claims()) => `${b64(header)}.${b64(payload)}`;
const withSig = (signingInput: string, sig: Uint8Array) => `${signingInput}.${base64url.encode(sig)}`;

// ---- big-endian / little-endian integers ----
const toBig = (bytes: Uint8Array) => BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
function toBytes(n: bigint, length: number): Buffer {
  const hex = n.toString(16).padStart(length * 2, '0');
  if (hex.length > length * 2) throw new Error('does not fit');
  return Buffer.from(hex, 'hex');
}
const toBytesLE = (n: bigint, length: number) => toBytes(n, length).reverse();
const fromLE = (bytes: Uint8Array) => toBig(Buffer.from(bytes).reverse());

describe('the node:crypto check is the one that runs', () => {
  // jws-verify.test.ts holds both checks to the same answers; this holds verifyJwt to
  // deciding them itself for every alg it models (a table entry lost, a key check too
  // strict, would otherwise pass unnoticed through the fallback to jose).
  const rsaSign = (alg: string) => (t: string) =>
    alg.startsWith('PS')
      ? nodeSign(`sha${alg.slice(2)}`, Buffer.from(t), { key: RSA.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 })
      : nodeSign(`sha${alg.slice(2)}`, Buffer.from(t), RSA.privateKey);
  const cases: [string, Pair, (t: string) => Buffer][] = [
    ['ES256', P256, (t) => nodeSign('sha256', Buffer.from(t), { key: P256.privateKey, dsaEncoding: 'ieee-p1363' })],
    ['ES384', P384, (t) => nodeSign('sha384', Buffer.from(t), { key: P384.privateKey, dsaEncoding: 'ieee-p1363' })],
    ['ES512', P521, (t) => nodeSign('sha512', Buffer.from(t), { key: P521.privateKey, dsaEncoding: 'ieee-p1363' })],
    ...['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'].map((alg): [string, Pair, (t: string) => Buffer] => [alg, RSA, rsaSign(alg)]),
    ['EdDSA', ED, (t) => nodeSign(null, Buffer.from(t), ED.privateKey)],
    ['Ed25519', ED, (t) => nodeSign(null, Buffer.from(t), ED.privateKey)],
  ];
  it.each(cases)('%s: a good token, a tampered one and an expired one are decided by node:crypto', async (alg, pair, sign) => {
    const keys = await jwks(pair);
    const text = input({ alg, kid: 'k1', typ: 'at+jwt' });
    const good = withSig(text, sign(text));
    expect((await expectSame(good, keys, opts(alg), 'node')).ok).toBe(true);
    expect((await expectSame(`${text}.${flipLast(good.split('.')[2]!)}`, keys, opts(alg), 'node')).ok).toBe(false);
    const old = input({ alg, kid: 'k1' }, claims({ exp: NOW - 60 }));
    expect(await expectSame(withSig(old, sign(old)), keys, opts(alg), 'node')).toMatchObject({ ok: false, reason: 'token-expired' });
  });
});

describe('ECDSA: psychic signatures, out-of-range r and s, high S, swapped halves', () => {
  // Group orders (SEC 2): r and s must be in [1, n-1].
  const curves = [
    { alg: 'ES256', pair: P256, size: 32, digest: 'sha256', n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n },
    {
      alg: 'ES384',
      pair: P384,
      size: 48,
      digest: 'sha384',
      n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    },
    {
      alg: 'ES512',
      pair: P521,
      size: 66,
      digest: 'sha512',
      n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    },
  ];
  for (const c of curves) {
    it(`${c.alg}: refuses every forged signature, as jose does`, async () => {
      const keys = await jwks(c.pair);
      const signing = input({ alg: c.alg, kid: 'k1' });
      const real = nodeSign(c.digest, Buffer.from(signing), { key: c.pair.privateKey, dsaEncoding: 'ieee-p1363' });
      expect((await expectSame(withSig(signing, real), keys, opts(c.alg), 'node')).ok).toBe(true);
      const r = real.subarray(0, c.size);
      const s = real.subarray(c.size);
      const nBytes = toBytes(c.n, c.size);
      const forged: [string, Buffer][] = [
        ['r = s = 0 (CVE-2022-21449)', Buffer.alloc(2 * c.size)],
        ['r = s = n', Buffer.concat([nBytes, nBytes])],
        ['r = 0', Buffer.concat([Buffer.alloc(c.size), s])],
        ['s = 0', Buffer.concat([r, Buffer.alloc(c.size)])],
        ['r = n', Buffer.concat([nBytes, s])],
        ['s = n', Buffer.concat([r, nBytes])],
        ['r + n, s', Buffer.concat([toBytes(toBig(r) + c.n, c.size + 1).subarray(1), s])],
        ['all ones', Buffer.alloc(2 * c.size, 0xff)],
        ['s, r swapped', Buffer.concat([s, r])],
        ['r only', Buffer.from(r)],
        ['one byte short, zero-padded in front', Buffer.concat([Buffer.alloc(1), real.subarray(0, -1)])],
      ];
      for (const [name, sig] of forged) {
        const result = await expectSame(withSig(signing, sig), keys, opts(c.alg), 'node');
        expect(result.ok, name).toBe(false);
      }
    });

    it(`${c.alg}: n − s (high S) is judged as jose judges it (ECDSA malleability: a second token, the same claims)`, async () => {
      const keys = await jwks(c.pair);
      const signing = input({ alg: c.alg, kid: 'k1' });
      const real = nodeSign(c.digest, Buffer.from(signing), { key: c.pair.privateKey, dsaEncoding: 'ieee-p1363' });
      const highS = Buffer.concat([real.subarray(0, c.size), toBytes(c.n - toBig(real.subarray(c.size)), c.size)]);
      // JWS (RFC 7518 §3.4) does not require low S, and neither WebCrypto nor OpenSSL checks it:
      // both accept, and the verified-token cache keys the second string separately.
      expect((await expectSame(withSig(signing, highS), keys, opts(c.alg), 'node')).ok).toBe(true);
    });
  }
});

describe('Ed25519: non-canonical S, small-order keys', () => {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;

  for (const alg of ['EdDSA', 'Ed25519']) {
    it(`${alg}: S + L, S = L and a zero signature are refused as jose refuses them`, async () => {
      const keys = await jwks(ED);
      const signing = input({ alg, kid: 'k1' });
      const real = nodeSign(null, Buffer.from(signing), ED.privateKey);
      expect((await expectSame(withSig(signing, real), keys, opts(alg), 'node')).ok).toBe(true);
      const R = real.subarray(0, 32);
      const S = fromLE(real.subarray(32));
      for (const sig of [
        Buffer.concat([R, toBytesLE(S + L, 32)]),
        Buffer.concat([R, toBytesLE(L, 32)]),
        Buffer.concat([R, toBytesLE(2n ** 256n - 1n, 32)]),
        Buffer.alloc(64),
        Buffer.concat([real, Buffer.alloc(1)]),
      ]) {
        expect((await expectSame(withSig(signing, sig), keys, opts(alg), 'node')).ok).toBe(false);
      }
    });
  }

  it('a small-order public key in the key set: the identity-point signature is decided as jose decides it', async () => {
    // Points of order 1, 2, 4 and 8 (RFC 8032 §5.1.3 encodings). With such a key, R = the
    // identity and S = 0 satisfy the verification equation for every message unless the
    // verifier refuses small-order keys. Only an issuer can publish one, but whatever the
    // outcome, both checks must share it.
    const identity = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);
    const p = 2n ** 255n - 19n;
    const smallOrder = [identity, toBytesLE(p - 1n, 32), Buffer.alloc(32), toBytesLE(2n ** 255n - 1n, 32)];
    const signing = input({ alg: 'EdDSA', kid: 'k1' });
    for (const x of smallOrder) {
      const keys = createLocalJWKSet({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: base64url.encode(x), kid: 'k1' }] }) as KeyResolver;
      for (const sig of [Buffer.concat([identity, Buffer.alloc(32)]), Buffer.alloc(64)]) await expectSame(withSig(signing, sig), keys, opts('EdDSA'));
    }
  });
});

describe('RSA: signature length, PKCS#1 v1.5 encodings, PSS MGF', () => {
  const k = 256; // 2048-bit modulus
  const nOf = async () => toBig(base64url.decode((await exportJWK(RSA.publicKey)).n!));
  /** The raw RSA private operation m^d mod n: signatures with any encoding we choose. */
  const rawSign = (em: Buffer) => privateDecrypt({ key: RSA.privateKey, padding: constants.RSA_NO_PADDING }, em);
  const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');
  const SHA256_NO_NULL = Buffer.from('302f300b0609608648016503040201' + '0420', 'hex');

  function pkcs1(t: Buffer, opts: { garbage?: Buffer; blockType?: number; pad?: number } = {}): Buffer {
    const garbage = opts.garbage ?? Buffer.alloc(0);
    const ps = Buffer.alloc(k - 3 - t.length - garbage.length, opts.pad ?? 0xff);
    return Buffer.concat([Buffer.from([0, opts.blockType ?? 1]), ps, Buffer.from([0]), t, garbage]);
  }

  it('RS256: hand-made encodings — only the exact DER DigestInfo with NULL passes, in both', async () => {
    const keys = await jwks(RSA);
    const signing = input({ alg: 'RS256', kid: 'k1' });
    const h = createHash('sha256').update(signing).digest();
    const proper = rawSign(pkcs1(Buffer.concat([SHA256_DIGEST_INFO, h])));
    // The construction is right: jose accepts it.
    expect((await expectSame(withSig(signing, proper), keys, opts('RS256'), 'node')).ok).toBe(true);
    const encodings: [string, Buffer][] = [
      ['DigestInfo without the NULL parameters', pkcs1(Buffer.concat([SHA256_NO_NULL, h]))],
      ['bytes after the hash (Bleichenbacher 2006)', pkcs1(Buffer.concat([SHA256_DIGEST_INFO, h]), { garbage: Buffer.from('0badc0de', 'hex') })],
      ['block type 2', pkcs1(Buffer.concat([SHA256_DIGEST_INFO, h]), { blockType: 2, pad: 0x42 })],
      ['padding of zeros', pkcs1(Buffer.concat([SHA256_DIGEST_INFO, h]), { pad: 0 })],
      ['the bare hash, no DigestInfo', pkcs1(h)],
      ['SHA-384 DigestInfo over a SHA-256 alg', pkcs1(Buffer.concat([Buffer.from('3041300d060960864801650304020205000430', 'hex'), createHash('sha384').update(signing).digest()]))],
    ];
    for (const [name, em] of encodings) expect((await expectSame(withSig(signing, rawSign(em)), keys, opts('RS256'), 'node')).ok, name).toBe(false);
  });

  it('RS256 and PS256: signatures of the wrong length or out of range', async () => {
    const keys = await jwks(RSA);
    const n = await nOf();
    for (const alg of ['RS256', 'PS256']) {
      const signing = input({ alg, kid: 'k1' });
      const sign = (text: string) =>
        alg === 'RS256'
          ? nodeSign('sha256', Buffer.from(text), RSA.privateKey)
          : nodeSign('sha256', Buffer.from(text), { key: RSA.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
      const real = sign(signing);
      for (const sig of [
        Buffer.concat([Buffer.alloc(1), real]),
        toBytes(0n, k),
        toBytes(1n, k),
        toBytes(n - 1n, k),
        toBytes(n, k),
        toBytes(toBig(real) + n, k + 1).subarray(-k),
        Buffer.alloc(k, 0xff),
      ]) {
        expect((await expectSame(withSig(signing, sig), keys, opts(alg), 'node')).ok).toBe(false);
      }
      // A genuine signature that starts with a zero byte, sent without it: whatever the
      // RSA implementation makes of a short signature, both checks make the same of it.
      let text = signing;
      let sig = real;
      for (let i = 0; sig[0] !== 0; i++) {
        text = input({ alg, kid: 'k1' }, claims({ jti: String(i) }));
        sig = sign(text);
      }
      expect((await expectSame(withSig(text, sig), keys, opts(alg), 'node')).ok).toBe(true);
      await expectSame(withSig(text, sig.subarray(1)), keys, opts(alg), 'node');
    }
  });

  it('PS256: an EMSA-PSS encoding with MGF1-SHA1 or a bad trailer is refused in both', async () => {
    const keys = await jwks(RSA);
    const signing = input({ alg: 'PS256', kid: 'k1' });
    const mHash = createHash('sha256').update(signing).digest();
    /** RFC 8017 §9.1.1 with a chosen MGF1 hash, salt and trailer byte. */
    function emsaPss(mgfHash: string, salt: Buffer, trailer = 0xbc): Buffer {
      const emLen = k; // modBits − 1 = 2047: emLen = 256, top bit cleared
      const H = createHash('sha256').update(Buffer.concat([Buffer.alloc(8), mHash, salt])).digest();
      const db = Buffer.concat([Buffer.alloc(emLen - salt.length - H.length - 2), Buffer.from([1]), salt]);
      const mask = Buffer.alloc(db.length);
      for (let counter = 0, off = 0; off < mask.length; counter++) {
        const block = createHash(mgfHash).update(Buffer.concat([H, toBytes(BigInt(counter), 4)])).digest();
        block.copy(mask, off);
        off += block.length;
      }
      const masked = Buffer.from(db.map((b, i) => b ^ mask[i]!));
      masked[0]! &= 0x7f;
      return Buffer.concat([masked, H, Buffer.from([trailer])]);
    }
    const salt = Buffer.alloc(32, 7);
    // The construction is right: MGF1-SHA256 with a 32-byte salt is PS256.
    expect((await expectSame(withSig(signing, rawSign(emsaPss('sha256', salt))), keys, opts('PS256'), 'node')).ok).toBe(true);
    for (const em of [emsaPss('sha1', salt), emsaPss('sha384', salt), emsaPss('sha256', salt, 0xbd), emsaPss('sha256', Buffer.alloc(31, 7))]) {
      expect((await expectSame(withSig(signing, rawSign(em)), keys, opts('PS256'), 'node')).ok).toBe(false);
    }
  });

  it('an RSA key with public exponent 1 or 3 in the key set is judged as jose judges it', async () => {
    // e = 1 makes every properly padded message its own signature; only an issuer can
    // publish such a key, but both checks must treat it alike.
    const jwk = await exportJWK(RSA.publicKey);
    const signing = input({ alg: 'RS256', kid: 'k1' });
    const em = pkcs1(Buffer.concat([SHA256_DIGEST_INFO, createHash('sha256').update(signing).digest()]));
    for (const e of [1n, 3n]) {
      let keys: KeyResolver;
      try {
        keys = createLocalJWKSet({ keys: [{ ...jwk, e: base64url.encode(toBytes(e, 1)), kid: 'k1' }] });
      } catch {
        continue;
      }
      await expectSame(withSig(signing, em), keys, opts('RS256'));
    }
  });
});

describe('base64url and JSON', () => {
  it('non-canonical trailing bits in the signature are decoded as jose decodes them', async () => {
    const cases: [string, Pair, (text: string) => Buffer][] = [
      ['ES256', P256, (t) => nodeSign('sha256', Buffer.from(t), { key: P256.privateKey, dsaEncoding: 'ieee-p1363' })],
      ['RS256', RSA, (t) => nodeSign('sha256', Buffer.from(t), RSA.privateKey)],
      ['EdDSA', ED, (t) => nodeSign(null, Buffer.from(t), ED.privateKey)],
    ];
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const [alg, pair, sign] of cases) {
      const keys = await jwks(pair);
      const signing = input({ alg, kid: 'k1' });
      const sig = base64url.encode(sign(signing));
      const last = ALPHABET.indexOf(sig.at(-1)!);
      // 64 and 256 bytes leave 4 unused bits in the last character.
      for (const low of [1, 2, 8, 15]) {
        const odd = `${sig.slice(0, -1)}${ALPHABET[(last & ~15) | low]}`;
        await expectSame(`${signing}.${odd}`, keys, opts(alg), 'node');
      }
    }
  });

  it('duplicate and __proto__ members in the header and the payload are read as jose reads them', async () => {
    const keys = await jwks(P256);
    const sign = (h: string, p: string) => {
      const text = `${b64(h)}.${b64(p)}`;
      return withSig(text, nodeSign('sha256', Buffer.from(text), { key: P256.privateKey, dsaEncoding: 'ieee-p1363' }));
    };
    const good = JSON.stringify(claims()).slice(1, -1);
    const headers = [
      '{"alg":"HS256","alg":"ES256","kid":"k1"}',
      '{"alg":"ES256","alg":"none","kid":"k1"}',
      '{"alg":"ES256","kid":"nope","kid":"k1"}',
      '{"alg":"ES256","kid":"k1","typ":"at+jwt","typ":"JWT"}',
      '{"alg":"ES256","kid":"k1","__proto__":{"crit":["exp"],"b64":false,"alg":"none"}}',
      '{"alg":"ES256","kid":"k1","constructor":{"prototype":{"crit":["x"]}}}',
      '{"\\u0061lg":"ES256","kid":"k1"}',
      '\ufeff{"alg":"ES256","kid":"k1"}',
      '{"alg":"ES256","kid":"k1","crit":null}',
      '{"alg":"ES256 ","kid":"k1"}',
      '{"alg":"es256","kid":"k1"}',
    ];
    for (const h of headers) await expectSame(sign(h, `{${good}}`), keys, opts('ES256'));
    const payloads = [
      `{${good},"iss":"https://evil.test"}`,
      `{"iss":"https://evil.test",${good}}`,
      `{${good},"aud":"other"}`,
      `{${good},"exp":1}`,
      `{"exp":1,${good}}`,
      `{${good},"sub":""}`,
      `{"iss":"${ISS}","sub":"alice","exp":${NOW + 600},"__proto__":{"aud":"${AUD}"}}`,
      `{${good},"__proto__":{"exp":1}}`,
      `{${good},"__proto__":null}`,
      `\ufeff{${good}}`,
    ];
    for (const p of payloads) {
      await expectSame(sign('{"alg":"ES256","kid":"k1"}', p), keys, opts('ES256'));
      await expectSame(sign('{"alg":"ES256","kid":"k1"}', p), keys, opts('ES256', { maxTokenAge: 60, subject: 'alice' }));
    }
  });

  it('the typ the claims step checks is the one the token carried, whatever its characters', async () => {
    const keys = await jwks(P256);
    const typs: unknown[] = ['at+jwt', 'AT+JWT', 'application/at+jwt', 'Application/AT+JWT', 'at+jwt ', '\u0000', '\ud800', 'é', 'x'.repeat(2000), '', null, ['at+jwt'], { typ: 'at+jwt' }, true];
    for (const typ of typs) {
      const text = input({ alg: 'ES256', kid: 'k1', typ });
      const tok = withSig(text, nodeSign('sha256', Buffer.from(text), { key: P256.privateKey, dsaEncoding: 'ieee-p1363' }));
      await expectSame(tok, keys, opts('ES256'), 'node');
      for (const expected of ['at+jwt', 'application/at+jwt', 'JWT']) await expectSame(tok, keys, opts('ES256', { typ: expected }), 'node');
    }
    // Past the 64 typ headers kept, a new one is still checked as the token carried it.
    for (let i = 0; i < 80; i++) {
      const text = input({ alg: 'ES256', kid: 'k1', typ: `t${i}` });
      const tok = withSig(text, nodeSign('sha256', Buffer.from(text), { key: P256.privateKey, dsaEncoding: 'ieee-p1363' }));
      expect((await expectSame(tok, keys, opts('ES256', { typ: `t${i}` }), 'node')).ok).toBe(true);
      expect((await expectSame(tok, keys, opts('ES256', { typ: `t${i + 1}` }), 'node')).ok).toBe(false);
    }
  });

  it('a large token (256 KiB of claims) is verified as jose verifies it', async () => {
    const keys = await jwks(P256);
    const text = input({ alg: 'ES256', kid: 'k1' }, claims({ pad: 'x'.repeat(256 * 1024) }));
    const tok = withSig(text, nodeSign('sha256', Buffer.from(text), { key: P256.privateKey, dsaEncoding: 'ieee-p1363' }));
    expect((await expectSame(tok, keys, opts('ES256'), 'node')).ok).toBe(true);
    expect((await expectSame(`${text.slice(0, -1)}A.${tok.split('.')[2]}`, keys, opts('ES256'), 'node')).ok).toBe(false);
  });
});

describe('keys as jose hands them out', () => {
  // Was a bug (low), fixed: verifyJwt took KeyObject.from() of any CryptoKey. For a
  // non-extractable one Node 24 warns (DEP0204, once per process, in the service's log) and
  // a later Node throws — a TypeError that reasonForError turns into token-invalid-signature
  // for every good token. jose's key sets import extractable keys; a resolver of its own may not.
  it('a non-extractable CryptoKey goes to jose, without the KeyObject.from deprecation', async () => {
    const emitWarning = vi.spyOn(process, 'emitWarning');
    const jwk = await exportJWK(P256.publicKey);
    const keys = (async () => importJWK(jwk, 'ES256', { extractable: false })) as unknown as KeyResolver;
    const text = input({ alg: 'ES256', kid: 'k1' });
    const tok = withSig(text, nodeSign('sha256', Buffer.from(text), { key: P256.privateKey, dsaEncoding: 'ieee-p1363' }));
    expect((await expectSame(tok, keys, opts('ES256'), 'jose')).ok).toBe(true);
    expect((await expectSame(`${text}.${flipLast(tok.split('.')[2]!)}`, keys, opts('ES256'), 'jose')).ok).toBe(false);
    expect(emitWarning.mock.calls.filter((call) => JSON.stringify(call).includes('DEP0204'))).toEqual([]);
    emitWarning.mockRestore();
  });

  it('EdDSA and Ed25519: a JWK published for one name, a token under the other, an Ed448 key', async () => {
    const ed448 = generateKeyPairSync('ed448');
    for (const [alg, jwkAlg] of [
      ['EdDSA', 'Ed25519'],
      ['Ed25519', 'EdDSA'],
      ['EdDSA', undefined],
      ['Ed25519', undefined],
    ] as const) {
      const keys = await jwks(ED, jwkAlg === undefined ? {} : { alg: jwkAlg });
      const text = input({ alg, kid: 'k1' });
      await expectSame(withSig(text, nodeSign(null, Buffer.from(text), ED.privateKey)), keys, opts(alg));
      const keys448 = createLocalJWKSet({ keys: [{ ...(await exportJWK(ed448.publicKey)), kid: 'k1' }] }) as KeyResolver;
      await expectSame(withSig(text, nodeSign(null, Buffer.from(text), ed448.privateKey)), keys448, opts(alg));
    }
  });

  it('the same kid published with the ES256 key, then with an RS256 or another ES256 key', async () => {
    // Key confusion by kid: the resolver hands out whatever the set now says; the check
    // must use the key of this call, not one remembered for the kid.
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const text = input({ alg: 'ES256', kid: 'k1' });
    const tok = withSig(text, nodeSign('sha256', Buffer.from(text), { key: P256.privateKey, dsaEncoding: 'ieee-p1363' }));
    expect((await expectSame(tok, await jwks(P256), opts('ES256'), 'node')).ok).toBe(true);
    expect((await expectSame(tok, await jwks(other), opts('ES256'), 'node')).ok).toBe(false);
    expect((await expectSame(tok, await jwks(RSA), opts('ES256'))).ok).toBe(false);
    // An RSA key served where an EC key was asked for, by a resolver that ignores the alg.
    const rsaForEs = (async () => importJWK(await exportJWK(RSA.publicKey), 'RS256')) as unknown as KeyResolver;
    expect((await expectSame(tok, rsaForEs, opts('ES256'), 'jose')).ok).toBe(false);
  });
});

describe('a remote JWKS that rotates a kid to another key', () => {
  const servers: JwksServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('after the refetch, tokens of the withdrawn key are refused and the new key verifies, in both', async () => {
    const next = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const published = async (pair: Pair) => ({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
    const server = await startJwksServer(await published(P256));
    servers.push(server);
    const maxAgeMs = 300;
    const keys = createRemoteJWKSet(new URL(server.jwksUrl), { cacheMaxAge: maxAgeMs, cooldownDuration: 0 }) as unknown as KeyResolver;
    const tokenOf = (pair: Pair, sub: string) => {
      const text = input({ alg: 'ES256', kid: 'k1' }, claims({ sub }));
      return withSig(text, nodeSign('sha256', Buffer.from(text), { key: pair.privateKey, dsaEncoding: 'ieee-p1363' }));
    };
    const oldToken = tokenOf(P256, 'old');
    const newToken = tokenOf(next, 'new');
    expect((await outcome(() => verifyJwt(oldToken, keys, opts('ES256')))).ok).toBe(true);
    expect((await expectSame(oldToken, keys, opts('ES256'), 'node')).ok).toBe(true);
    expect((await expectSame(newToken, keys, opts('ES256'), 'node')).ok).toBe(false);

    server.setJwks(await published(next));
    await sleep(maxAgeMs + 100);
    // verifyJwt first: its KeyObject for the old CryptoKey must not answer for kid k1 any more.
    expect(await outcome(() => verifyJwt(oldToken, keys, opts('ES256')))).toMatchObject({ ok: false, reason: 'token-invalid-signature' });
    expect(await outcome(() => verifyJwt(newToken, keys, opts('ES256')))).toMatchObject({ ok: true, payload: { sub: 'new' } });
    expect((await expectSame(oldToken, keys, opts('ES256'), 'node')).ok).toBe(false);
    expect((await expectSame(newToken, keys, opts('ES256'), 'node')).ok).toBe(true);
    expect(server.hits('/jwks')).toBe(2);
  });
});
