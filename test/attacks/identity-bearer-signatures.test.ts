// Forged signatures on bearer tokens over real TLS sockets, for every kind of key an issuer
// publishes (P-256, RSA for RS256 and PS256, Ed25519): the signature check runs through
// node:crypto (src/identity/jwt/jws-verify.ts), so each encoding trick a lenient verifier
// has fallen for is sent through ztproxy, and the upstream must never see the request —
// ECDSA psychic signatures (CVE-2022-21449), out-of-range and swapped r/s, DER instead of
// IEEE P1363; PKCS#1 v1.5 without the NULL, with bytes after the hash (Bleichenbacher
// 2006), of the wrong length; PSS with another salt or MGF hash and v1.5 under a PS alg;
// Ed25519 S + L; and key confusion (HS256 keyed with the published RSA key, a kid of
// another key type, a JWK published for one alg presented under another). Device-posture
// assertions go through the same check: forged ones are no posture (403, nothing forwarded).
import { constants, createHash, createHmac, generateKeyPairSync, privateDecrypt, sign as nodeSign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base64url, exportJWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { get, type LogLine } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const ISS = 'https://idp-sig.test';
const DEVICE_ISS = 'device-agent-sig.test';
const AUD = 'https://api.test';

const EC = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const RSA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ED = generateKeyPairSync('ed25519');
const ATTACKER_EC = generateKeyPairSync('ec', { namedCurve: 'P-256' });
/** The RSA key also published for PS256 only, under its own kid. */
const RSA_PS = generateKeyPairSync('rsa', { modulusLength: 2048 });

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');
const SHA256_NO_NULL = Buffer.from('302f300b06096086480165030402010420', 'hex');
const K = 256; // RSA-2048 signature bytes

let rsaJwk: Record<string, unknown>;

const stack = useProxyStack(async ({ upstream }) => {
  rsaJwk = { ...(await exportJWK(RSA.publicKey)), kid: 'rsa', use: 'sig' };
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-sigattack-'));
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(
    jwksFile,
    JSON.stringify({
      keys: [
        { ...(await exportJWK(EC.publicKey)), kid: 'ec', alg: 'ES256', use: 'sig' },
        rsaJwk,
        { ...(await exportJWK(RSA_PS.publicKey)), kid: 'rsa-ps', alg: 'PS256', use: 'sig' },
        { ...(await exportJWK(ED.publicKey)), kid: 'ed', alg: 'EdDSA', use: 'sig' },
      ],
    }),
  );
  // Device-posture assertions are checked by the same code with the device agent's keys.
  const deviceJwks = join(dir, 'device.json');
  writeFileSync(
    deviceJwks,
    JSON.stringify({
      keys: [
        { ...(await exportJWK(EC.publicKey)), kid: 'ec', alg: 'ES256', use: 'sig' },
        { ...(await exportJWK(ED.publicKey)), kid: 'ed', alg: 'EdDSA', use: 'sig' },
      ],
    }),
  );
  return {
    identity: { jwt: [{ issuer: ISS, audience: AUD, jwksFile, algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'] }] },
    device: { issuers: [{ issuer: DEVICE_ISS, jwksFile: deviceJwks, algorithms: ['ES256', 'EdDSA'] }], maxAge: '5m' },
    routes: [
      { name: 'managed', match: { host: 'managed.test' }, upstream: upstream.url, policy: { allow: { device: { managed: true } } } },
      { name: 'api', match: { host: 'app.test' }, upstream: upstream.url, policy: { allow: { authenticated: true } } },
    ],
  };
});

let seq = 0;
const b64 = (v: unknown) => base64url.encode(JSON.stringify(v));
function signingInput(alg: string, kid: string, sub = 'alice'): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg, kid, typ: 'at+jwt' })}.${b64({ iss: ISS, aud: AUD, sub, iat: now, exp: now + 300, jti: `j${++seq}` })}`;
}
const withSig = (input: string, sig: Uint8Array) => `${input}.${base64url.encode(sig)}`;
const es256 = (input: string, key = EC.privateKey, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363') => nodeSign('sha256', Buffer.from(input), { key, dsaEncoding });
const rs256 = (input: string, key = RSA.privateKey) => nodeSign('sha256', Buffer.from(input), key);
const ps256 = (input: string, key = RSA.privateKey, saltLength = 32) => nodeSign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
const eddsa = (input: string) => nodeSign(null, Buffer.from(input), ED.privateKey);
/** The raw RSA private operation: a signature over any encoding we choose. */
const rawRsa = (em: Buffer, key = RSA.privateKey) => privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, em);

function toBytes(n: bigint, length: number): Buffer {
  return Buffer.from(n.toString(16).padStart(length * 2, '0'), 'hex');
}
const pkcs1 = (t: Buffer, garbage = Buffer.alloc(0)) =>
  Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(K - 3 - t.length - garbage.length, 0xff), Buffer.from([0]), t, garbage]);

/** RFC 8017 §9.1.1 EMSA-PSS for SHA-256 with the MGF1 hash and salt given (modulus 2048 bits). */
function emsaPss(input: string, mgfHash: string, salt: Buffer): Buffer {
  const h = createHash('sha256').update(Buffer.concat([Buffer.alloc(8), createHash('sha256').update(input).digest(), salt])).digest();
  const db = Buffer.concat([Buffer.alloc(K - salt.length - h.length - 2), Buffer.from([1]), salt]);
  const mask = Buffer.alloc(db.length);
  for (let counter = 0, off = 0; off < mask.length; counter++, off += createHash(mgfHash).digest().length) {
    createHash(mgfHash).update(Buffer.concat([h, toBytes(BigInt(counter), 4)])).digest().copy(mask, off);
  }
  const masked = Buffer.from(db.map((b, i) => b ^ mask[i]!));
  masked[0] = masked[0]! & 0x7f;
  return Buffer.concat([masked, h, Buffer.from([0xbc])]);
}

/** The access-log line of the request answered with this X-Request-Id. */
async function logOf(requestId: unknown): Promise<LogLine | undefined> {
  for (let i = 0; i < 50; i++) {
    const line = stack.proxy.logs.find((l) => l.msg === 'request' && l['requestId'] === requestId);
    if (line !== undefined) return line;
    await new Promise((r) => setTimeout(r, 10));
  }
  return undefined;
}

async function call(token: string) {
  return get(stack.proxy.port, '/api/x', { host: 'app.test', headers: { authorization: `Bearer ${token}` } });
}

/** Refused with 401, the reason in the access log, and nothing forwarded. */
async function expectRefused(token: string, reason: string, label: string): Promise<void> {
  stack.upstream.reset();
  const res = await call(token);
  expect(res.status, label).toBe(401);
  expect(stack.upstream.seen, label).toEqual([]);
  expect(await logOf(res.headers['x-request-id']), label).toMatchObject({ status: 401, reason });
}

beforeAll(() => {
  expect(rsaJwk).toBeDefined();
});

describe('honest tokens of every key type (the baseline the forgeries are measured against)', () => {
  it('ES256, RS256, PS256 (on the key without an alg and the PS256-only key) and EdDSA → 200, the upstream sees the user', async () => {
    const tokens = [
      (() => {
        const i = signingInput('ES256', 'ec', 'es-user');
        return withSig(i, es256(i));
      })(),
      (() => {
        const i = signingInput('RS256', 'rsa', 'rs-user');
        return withSig(i, rs256(i));
      })(),
      (() => {
        const i = signingInput('PS256', 'rsa', 'ps-user');
        return withSig(i, ps256(i));
      })(),
      (() => {
        const i = signingInput('PS256', 'rsa-ps', 'ps-only-user');
        return withSig(i, ps256(i, RSA_PS.privateKey));
      })(),
      (() => {
        const i = signingInput('EdDSA', 'ed', 'ed-user');
        return withSig(i, eddsa(i));
      })(),
    ];
    for (const token of tokens) {
      stack.upstream.reset();
      expect((await call(token)).status).toBe(200);
      expect(stack.upstream.seen).toHaveLength(1);
      expect(stack.upstream.seen[0]!.headers.authorization).toBeUndefined();
    }
  });
});

describe('ECDSA forgeries → 401, nothing forwarded', () => {
  it('psychic signature r = s = 0 (CVE-2022-21449), r = s = n, r or s zero, swapped halves, DER, another key', async () => {
    const i = signingInput('ES256', 'ec', 'admin');
    const real = es256(i);
    const r = real.subarray(0, 32);
    const s = real.subarray(32);
    const n = toBytes(P256_N, 32);
    const forged: [string, Buffer][] = [
      ['r = s = 0', Buffer.alloc(64)],
      ['r = s = n', Buffer.concat([n, n])],
      ['r = 0', Buffer.concat([Buffer.alloc(32), s])],
      ['s = 0', Buffer.concat([r, Buffer.alloc(32)])],
      ['s, r', Buffer.concat([s, r])],
      ['DER encoding of the genuine signature', es256(i, EC.privateKey, 'der')],
      ['the attacker\'s P-256 key under our kid', es256(i, ATTACKER_EC.privateKey)],
      ['r only', Buffer.from(r)],
    ];
    // The genuine signature passes: every refusal below is the forgery's.
    expect((await call(withSig(i, real))).status).toBe(200);
    for (const [label, sig] of forged) await expectRefused(withSig(i, sig), 'token-invalid-signature', label);
  });
});

describe('RSA forgeries → 401, nothing forwarded', () => {
  it('RS256: DigestInfo without NULL, bytes after the hash, the bare hash, a PSS signature, s = 0 / 1, one byte longer', async () => {
    const i = signingInput('RS256', 'rsa', 'admin');
    const h = createHash('sha256').update(i).digest();
    // The hand-made encoding is right: the same construction with the exact DigestInfo passes.
    expect((await call(withSig(i, rawRsa(pkcs1(Buffer.concat([SHA256_DIGEST_INFO, h])))))).status).toBe(200);
    const forged: [string, Buffer][] = [
      ['DigestInfo without NULL', rawRsa(pkcs1(Buffer.concat([SHA256_NO_NULL, h])))],
      ['bytes after the hash', rawRsa(pkcs1(Buffer.concat([SHA256_DIGEST_INFO, h]), Buffer.from('0badc0de', 'hex')))],
      ['the bare hash', rawRsa(pkcs1(h))],
      ['a PSS signature under RS256', ps256(i)],
      ['s = 0', Buffer.alloc(K)],
      ['s = 1', toBytes(1n, K)],
      ['a zero byte in front of the genuine signature', Buffer.concat([Buffer.alloc(1), rs256(i)])],
    ];
    for (const [label, sig] of forged) await expectRefused(withSig(i, sig), 'token-invalid-signature', label);
  });

  it('PS256: salt of 0 or 64 bytes, MGF1-SHA1, a PKCS#1 v1.5 signature, on either RSA key', async () => {
    for (const [kid, key] of [
      ['rsa', RSA.privateKey],
      ['rsa-ps', RSA_PS.privateKey],
    ] as const) {
      const i = signingInput('PS256', kid, 'admin');
      expect((await call(withSig(i, rawRsa(emsaPss(i, 'sha256', Buffer.alloc(32, 9)), key)))).status).toBe(200);
      const forged: [string, Buffer][] = [
        ['salt 0', ps256(i, key, 0)],
        ['salt 64', ps256(i, key, 64)],
        ['MGF1-SHA1', rawRsa(emsaPss(i, 'sha1', Buffer.alloc(32, 9)), key)],
        ['PKCS#1 v1.5 under PS256', rs256(i, key)],
      ];
      for (const [label, sig] of forged) await expectRefused(withSig(i, sig), 'token-invalid-signature', `${kid}: ${label}`);
    }
  });
});

describe('Ed25519 forgeries → 401, nothing forwarded', () => {
  it('S + L (the same signature, non-canonical), a zero signature, one byte longer', async () => {
    const i = signingInput('EdDSA', 'ed', 'admin');
    const real = eddsa(i);
    const S = BigInt(`0x${Buffer.from(real.subarray(32)).reverse().toString('hex')}`);
    const forged: [string, Buffer][] = [
      ['S + L', Buffer.concat([real.subarray(0, 32), toBytes(S + ED25519_L, 32).reverse()])],
      ['zero', Buffer.alloc(64)],
      ['one byte longer', Buffer.concat([real, Buffer.alloc(1)])],
    ];
    expect((await call(withSig(i, real))).status).toBe(200);
    for (const [label, sig] of forged) await expectRefused(withSig(i, sig), 'token-invalid-signature', label);
  });
});

describe('key confusion → 401, nothing forwarded', () => {
  it('HS256 keyed with the published RSA key (its n, its JWK JSON, its SPKI DER)', async () => {
    const secrets = [
      base64url.decode(rsaJwk['n'] as string),
      Buffer.from(JSON.stringify(rsaJwk)),
      RSA.publicKey.export({ format: 'der', type: 'spki' }),
      Buffer.from(RSA.publicKey.export({ format: 'pem', type: 'spki' })),
    ];
    for (const secret of secrets) {
      const i = signingInput('HS256', 'rsa', 'admin');
      await expectRefused(withSig(i, createHmac('sha256', secret).update(i).digest()), 'token-alg-not-allowed', `HS256 (${secret.length} bytes)`);
    }
  });

  it('an alg and a kid of different key types, a key published for PS256 under RS256, the Ed25519 alg name', async () => {
    const esOnRsa = signingInput('ES256', 'rsa', 'admin');
    await expectRefused(withSig(esOnRsa, es256(esOnRsa, ATTACKER_EC.privateKey)), 'token-unknown-key', 'ES256 with the RSA kid');
    const rsOnEc = signingInput('RS256', 'ec', 'admin');
    await expectRefused(withSig(rsOnEc, rs256(rsOnEc)), 'token-unknown-key', 'RS256 with the EC kid');
    const rsOnPsKey = signingInput('RS256', 'rsa-ps', 'admin');
    await expectRefused(withSig(rsOnPsKey, rs256(rsOnPsKey, RSA_PS.privateKey)), 'token-unknown-key', 'RS256 on the PS256-only key');
    const edName = signingInput('Ed25519', 'ed', 'admin');
    await expectRefused(withSig(edName, eddsa(edName)), 'token-alg-not-allowed', 'the Ed25519 alg name, not configured');
  });
});

describe('forged device-posture assertions are no posture → 403, nothing forwarded', () => {
  function postureInput(alg: string, kid: string): string {
    const now = Math.floor(Date.now() / 1000);
    return `${b64({ alg, kid })}.${b64({ iss: DEVICE_ISS, sub: 'laptop-9', iat: now, exp: now + 300, posture: { managed: true, compliant: true }, jti: `p${++seq}` })}`;
  }
  async function withPosture(assertion: string) {
    stack.upstream.reset();
    return get(stack.proxy.port, '/x', { host: 'managed.test', headers: { 'x-device-posture': assertion } });
  }

  it('ES256 r = s = 0, DER, another key; EdDSA S + L and zero — while the genuine assertions pass', async () => {
    const es = postureInput('ES256', 'ec');
    const ed = postureInput('EdDSA', 'ed');
    expect((await withPosture(withSig(es, es256(es)))).status).toBe(200);
    expect((await withPosture(withSig(ed, eddsa(ed)))).status).toBe(200);
    const realEd = eddsa(ed);
    const S = BigInt(`0x${Buffer.from(realEd.subarray(32)).reverse().toString('hex')}`);
    const forged: [string, string][] = [
      ['ES256 r = s = 0', withSig(es, Buffer.alloc(64))],
      ['ES256 r = s = n', withSig(es, Buffer.concat([toBytes(P256_N, 32), toBytes(P256_N, 32)]))],
      ['ES256 DER', withSig(es, es256(es, EC.privateKey, 'der'))],
      ['ES256 another key', withSig(es, es256(es, ATTACKER_EC.privateKey))],
      ['EdDSA S + L', withSig(ed, Buffer.concat([realEd.subarray(0, 32), toBytes(S + ED25519_L, 32).reverse()]))],
      ['EdDSA zero', withSig(ed, Buffer.alloc(64))],
    ];
    for (const [label, assertion] of forged) {
      const res = await withPosture(assertion);
      expect(res.status, label).toBe(403);
      expect(stack.upstream.seen, label).toEqual([]);
      expect(await logOf(res.headers['x-request-id']), label).toMatchObject({ posture: 'posture-signature-invalid' });
    }
  });
});
