// Differential test: verifyJwt (signature through node:crypto) against jose's jwtVerify on
// every fixture, good and bad. Both must accept the same tokens with the same payload and
// header, and refuse the same tokens for the same reason (the reason the bearer verifier
// maps jose's error to; the error code too wherever the signature step decides).
import { generateKeyPairSync, sign as nodeSign, constants, createPrivateKey, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { base64url, createLocalJWKSet, errors, exportJWK, importJWK, jwtVerify, type JWK, type JWTVerifyOptions } from 'jose';
import { verifyJwt } from '../../../src/identity/jwt/jws-verify.ts';
import { reasonForError } from '../../../src/identity/jwt/reasons.ts';
import type { KeyResolver } from '../../../src/identity/jwt/key-set.ts';

const ISS = 'https://issuer.test';
const AUD = 'api';
const NOW = 1_800_000_000;

type Pair = { privateKey: KeyObject; publicKey: KeyObject };
const gen = {
  ec: (namedCurve: string): Pair => generateKeyPairSync('ec', { namedCurve }),
  rsa: (modulusLength: number): Pair => generateKeyPairSync('rsa', { modulusLength }),
  ed25519: (): Pair => generateKeyPairSync('ed25519'),
};

interface AlgCase {
  readonly alg: string;
  readonly pair: Pair;
  /** Signs the signing input the way RFC 7518 says this alg signs. */
  readonly sign: (input: Buffer, key?: KeyObject) => Buffer;
  /** A key of the same kty but the wrong curve/size for the alg, if there is one. */
  readonly wrongKey?: Pair;
}

const digestOf = (alg: string) => `sha${alg.slice(2)}`;
const P256 = gen.ec('P-256');
const P384 = gen.ec('P-384');
const P521 = gen.ec('P-521');
const RSA = gen.rsa(2048);
const ED = gen.ed25519();

const CASES: AlgCase[] = [
  ...(
    [
      ['ES256', P256, P384],
      ['ES384', P384, P256],
      ['ES512', P521, P256],
    ] as const
  ).map(([alg, pair, wrongKey]) => ({
    alg,
    pair,
    wrongKey,
    sign: (input: Buffer, key = pair.privateKey) => nodeSign(digestOf(alg), input, { key, dsaEncoding: 'ieee-p1363' }),
  })),
  ...(['RS256', 'RS384', 'RS512'] as const).map((alg) => ({
    alg,
    pair: RSA,
    sign: (input: Buffer, key = RSA.privateKey) => nodeSign(digestOf(alg), input, key),
  })),
  ...(['PS256', 'PS384', 'PS512'] as const).map((alg) => ({
    alg,
    pair: RSA,
    sign: (input: Buffer, key = RSA.privateKey) =>
      nodeSign(digestOf(alg), input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 }),
  })),
  ...(['EdDSA', 'Ed25519'] as const).map((alg) => ({ alg, pair: ED, sign: (input: Buffer, key = ED.privateKey) => nodeSign(null, input, key) })),
];

const b64 = (v: unknown) => base64url.encode(typeof v === 'string' ? v : JSON.stringify(v));

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISS, aud: AUD, sub: 'alice', iat: NOW - 10, exp: NOW + 600, ...extra };
}

/** A compact JWS over exactly these header and payload texts. */
function token(c: AlgCase, header: unknown, payload: unknown, key?: KeyObject): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${base64url.encode(c.sign(Buffer.from(input), key))}`;
}

async function jwks(keys: { pair: Pair; kid: string; extra?: Partial<JWK> }[]): Promise<KeyResolver> {
  const list = await Promise.all(keys.map(async ({ pair, kid, extra }) => ({ ...(await exportJWK(pair.publicKey)), kid, ...extra })));
  return createLocalJWKSet({ keys: list });
}

type Outcome = { ok: true; payload: unknown; header: unknown } | { ok: false; reason: string; code: string | undefined; claim?: string };

async function outcome(run: () => Promise<{ payload: unknown; protectedHeader?: unknown }>): Promise<Outcome> {
  try {
    const r = await run();
    return { ok: true, payload: r.payload, header: r.protectedHeader };
  } catch (err) {
    const e = err as { code?: string; claim?: string };
    return { ok: false, reason: reasonForError(err), code: e.code, ...(e.claim === undefined ? {} : { claim: e.claim }) };
  }
}

/** Error codes that may differ while the refusal reason is the same: jose's UnsecuredJWT raises JWTInvalid where jwtVerify raises JWSInvalid for an undecodable payload. */
const SAME_REFUSAL = new Set(['ERR_JWS_INVALID', 'ERR_JWT_INVALID']);

async function expectSame(tok: string, keys: KeyResolver, options: JWTVerifyOptions & { algorithms: string[] }): Promise<Outcome> {
  const viaJose = await outcome(() => jwtVerify(tok, keys, options));
  const viaNode = await outcome(() => verifyJwt(tok, keys, options));
  if (viaJose.ok || viaNode.ok) {
    expect(viaNode).toEqual(viaJose);
  } else {
    expect(viaNode.reason).toBe(viaJose.reason);
    expect(viaNode.claim).toBe(viaJose.claim);
    if (viaNode.code !== viaJose.code) expect(SAME_REFUSAL.has(viaNode.code!) && SAME_REFUSAL.has(viaJose.code!)).toBe(true);
  }
  return viaJose;
}

const opts = (alg: string, extra: Partial<JWTVerifyOptions> = {}) => ({
  algorithms: [alg],
  issuer: ISS,
  audience: AUD,
  requiredClaims: ['exp', 'iss', 'aud', 'sub'],
  currentDate: new Date(NOW * 1000),
  ...extra,
});

function flip(text: string, at: number): string {
  const c = text[at] === 'A' ? 'B' : 'A';
  return text.slice(0, at) + c + text.slice(at + 1);
}

describe('verifyJwt agrees with jose jwtVerify', () => {
  for (const c of CASES) {
    describe(c.alg, () => {
      const header = { alg: c.alg, kid: 'k1', typ: 'at+jwt' };

      it('accepts good tokens with the same payload and header, and refuses tampered ones alike', async () => {
        const keys = await jwks([{ pair: c.pair, kid: 'k1' }]);
        const good = token(c, header, claims({ groups: ['a', 'b'], n: 1 }));
        expect((await expectSame(good, keys, opts(c.alg))).ok).toBe(true);
        const [h, p, s] = good.split('.') as [string, string, string];

        const refusals: string[] = [
          // payload and header changed after signing
          `${h}.${b64(claims({ sub: 'mallory' }))}.${s}`,
          `${b64({ ...header, typ: 'JWT' })}.${p}.${s}`,
          // signature bit flips, truncated, extended, empty, another key's
          `${h}.${p}.${flip(s, 5)}`,
          `${h}.${p}.${flip(s, s.length - 2)}`,
          `${h}.${p}.${s.slice(0, -4)}`,
          `${h}.${p}.${s}AAAA`,
          `${h}.${p}.`,
          `${h}.${p}.${s}=`,
          `${h}.${p}.${s.slice(0, -1)}`,
          `${h}.${p}.${s.slice(0, -2)}`,
          `${h}.${p}.${s}A`,
          token(c, header, claims(), (c.alg.startsWith('ES') ? gen.ec(({ ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as Record<string, string>)[c.alg]!) : c.alg.startsWith('E') ? gen.ed25519() : gen.rsa(2048)).privateKey),
          // junk that is not base64url, and a fourth part
          `${h}.${p}.${s.slice(0, 10)}!${s.slice(11)}`,
          `${h}.${p}.${s}.${s}`,
          `${h}..${s}`,
          // not ASCII: jose refuses the shape before any signature check
          `${h}.${p}\u00e9.${s}`,
          `${h}\u0100.${p}.${s}`,
          ` ${h}.${p}.${s}`,
        ];
        for (const tok of refusals) expect((await expectSame(tok, keys, opts(c.alg))).ok, tok).toBe(false);
      });

      if (c.alg.startsWith('ES')) {
        it('refuses a DER-encoded (ASN.1) signature as jose does', async () => {
          const keys = await jwks([{ pair: c.pair, kid: 'k1' }]);
          const input = `${b64(header)}.${b64(claims())}`;
          const der = nodeSign(digestOf(c.alg), Buffer.from(input), c.pair.privateKey);
          expect((await expectSame(`${input}.${base64url.encode(der)}`, keys, opts(c.alg))).ok).toBe(false);
        });
      }

      if (c.wrongKey !== undefined) {
        it("refuses a key of the wrong curve for the alg, even when the signature matches that key", async () => {
          const wrong = c.wrongKey!;
          const keys = await jwks([{ pair: wrong, kid: 'k1' }]);
          const input = `${b64(header)}.${b64(claims())}`;
          // signed with the wrong-curve key and the alg's hash: valid ECDSA, wrong JWS alg
          const sig = nodeSign(digestOf(c.alg), Buffer.from(input), { key: wrong.privateKey, dsaEncoding: 'ieee-p1363' });
          expect((await expectSame(`${input}.${base64url.encode(sig)}`, keys, opts(c.alg))).ok).toBe(false);
          // A resolver that hands out the wrong-curve key itself (a JWKS filters it out by crv):
          // node:crypto would verify this ECDSA signature; the alg names another curve.
          const wrongAlg = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }[(await exportJWK(wrong.publicKey)).crv as string]!;
          const handsOutWrong = (async () => importJWK(await exportJWK(wrong.publicKey), wrongAlg)) as unknown as KeyResolver;
          expect((await expectSame(`${input}.${base64url.encode(sig)}`, handsOutWrong, opts(c.alg))).ok).toBe(false);
        });
      }

      it('validates claims as jose does (time, iss, aud, required, typ, shape)', async () => {
        const keys = await jwks([{ pair: c.pair, kid: 'k1' }]);
        const payloads: unknown[] = [
          claims({ exp: NOW - 1 }),
          claims({ exp: NOW - 1, n: 0 }),
          claims({ nbf: NOW + 100 }),
          claims({ nbf: 'soon' }),
          claims({ exp: '2030-01-01' }),
          claims({ iss: 'https://evil.test' }),
          claims({ aud: ['other', AUD] }),
          claims({ aud: ['other'] }),
          claims({ aud: 7 }),
          { iss: ISS, aud: AUD, exp: NOW + 600 },
          { iss: ISS, sub: 'x', exp: NOW + 600 },
          [1, 2, 3],
          'just a string',
          'null',
          '{"iss":',
          '\u00ff\u00fe',
        ];
        for (const payload of payloads) {
          const tok = token(c, header, payload);
          await expectSame(tok, keys, opts(c.alg));
          await expectSame(tok, keys, opts(c.alg, { clockTolerance: 30, maxTokenAge: 5 }));
        }
        const typed = token(c, header, claims());
        for (const typ of ['at+jwt', 'application/at+jwt', 'JWT']) await expectSame(typed, keys, opts(c.alg, { typ }));
        const untyped = token(c, { alg: c.alg, kid: 'k1' }, claims());
        await expectSame(untyped, keys, opts(c.alg, { typ: 'at+jwt' }));
        const oddTyp = token(c, { alg: c.alg, kid: 'k1', typ: 7 }, claims());
        await expectSame(oddTyp, keys, opts(c.alg, { typ: 'at+jwt' }));
        await expectSame(oddTyp, keys, opts(c.alg));
      });

      it('leaves crit, b64, disallowed and unknown algs, and unknown kids to jose, with the same refusal', async () => {
        const keys = await jwks([{ pair: c.pair, kid: 'k1' }]);
        const headers: unknown[] = [
          { ...header, crit: ['exp'], exp: 1 },
          { ...header, b64: false, crit: ['b64'] },
          { ...header, b64: true },
          { ...header, kid: 'unknown' },
          { ...header, alg: 'none' },
          { ...header, alg: 'HS256' },
          { ...header, alg: c.alg === 'ES256' ? 'ES384' : 'ES256' },
          { kid: 'k1' },
          '[]',
          '{"alg":',
        ];
        for (const h of headers) await expectSame(token(c, h, claims()), keys, opts(c.alg));
        // the alg is fine but not on this call's allowlist
        const good = token(c, header, claims());
        expect((await expectSame(good, keys, { ...opts(c.alg), algorithms: [c.alg === 'RS256' ? 'ES256' : 'RS256'] })).ok).toBe(false);
      });

      it('honours the JWK\'s own alg, use and key_ops restrictions as jose does', async () => {
        const good = token(c, header, claims());
        for (const extra of [{ alg: c.alg === 'RS256' ? 'RS384' : 'RS256' }, { use: 'enc' }, { key_ops: ['encrypt'] }, { use: 'sig' }, { alg: c.alg }]) {
          const keys = await jwks([{ pair: c.pair, kid: 'k1', extra }]);
          await expectSame(good, keys, opts(c.alg));
        }
      });
    });
  }

  it('refuses an RSA key below 2048 bits the way jose does', async () => {
    const small = gen.rsa(1024);
    const keys = await jwks([{ pair: small, kid: 'k1' }]);
    const c = { alg: 'RS256', pair: small, sign: (input: Buffer) => nodeSign('sha256', input, small.privateKey) };
    const outcomeJose = await expectSame(token(c, { alg: 'RS256', kid: 'k1' }, claims()), keys, opts('RS256'));
    expect(outcomeJose.ok).toBe(false);
  });

  it('refuses a key jose imported for another RSA alg (hash or padding) even when the signature matches it', async () => {
    const jwk = await exportJWK(RSA.publicKey);
    const input = `${b64({ alg: 'RS256', kid: 'k1' })}.${b64(claims())}`;
    const sig = base64url.encode(nodeSign('sha256', Buffer.from(input), RSA.privateKey));
    for (const importedFor of ['RS384', 'PS256']) {
      const keys = (async () => importJWK(jwk, importedFor)) as unknown as KeyResolver;
      expect((await expectSame(`${input}.${sig}`, keys, opts('RS256'))).ok).toBe(false);
    }
    const good = (async () => importJWK(jwk, 'RS256')) as unknown as KeyResolver;
    expect((await expectSame(`${input}.${sig}`, good, opts('RS256'))).ok).toBe(true);
  });

  it('refuses PS256 signed with another salt length (the salt is fixed by the alg)', async () => {
    const keys = await jwks([{ pair: RSA, kid: 'k1' }]);
    for (const saltLength of [0, 20, 64, 222]) {
      const input = `${b64({ alg: 'PS256', kid: 'k1' })}.${b64(claims())}`;
      const sig = nodeSign('sha256', Buffer.from(input), { key: RSA.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
      const result = await expectSame(`${input}.${base64url.encode(sig)}`, keys, opts('PS256'));
      expect(result.ok).toBe(false);
    }
  });

  it('refuses RS256 over a PSS signature and PS256 over a PKCS#1 v1.5 one', async () => {
    const keys = await jwks([{ pair: RSA, kid: 'k1' }]);
    const rsInput = `${b64({ alg: 'RS256', kid: 'k1' })}.${b64(claims())}`;
    const pssSig = nodeSign('sha256', Buffer.from(rsInput), { key: RSA.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    expect((await expectSame(`${rsInput}.${base64url.encode(pssSig)}`, keys, opts('RS256'))).ok).toBe(false);
    const psInput = `${b64({ alg: 'PS256', kid: 'k1' })}.${b64(claims())}`;
    const pkcs1Sig = nodeSign('sha256', Buffer.from(psInput), RSA.privateKey);
    expect((await expectSame(`${psInput}.${base64url.encode(pkcs1Sig)}`, keys, opts('PS256'))).ok).toBe(false);
  });

  it('with several keys, picks the one jose picks (kid), and refuses when two match without a kid', async () => {
    const other = gen.ec('P-256');
    const c = CASES.find((x) => x.alg === 'ES256')!;
    const keys = await jwks([
      { pair: other, kid: 'k0' },
      { pair: P256, kid: 'k1' },
    ]);
    expect((await expectSame(token(c, { alg: 'ES256', kid: 'k1' }, claims()), keys, opts('ES256'))).ok).toBe(true);
    expect((await expectSame(token(c, { alg: 'ES256', kid: 'k0' }, claims()), keys, opts('ES256'))).ok).toBe(false);
    expect((await expectSame(token(c, { alg: 'ES256' }, claims()), keys, opts('ES256'))).ok).toBe(false);
  });

  it('takes a resolver that hands out a private key, a secret or a JWK object the way jose does', async () => {
    const c = CASES.find((x) => x.alg === 'ES256')!;
    const tok = token(c, { alg: 'ES256', kid: 'k1' }, claims());
    const privateJwk = await exportJWK(P256.privateKey);
    const resolvers: KeyResolver[] = [
      (async () => importJWK({ ...privateJwk, alg: 'ES256' }, 'ES256')) as unknown as KeyResolver,
      (async () => new Uint8Array(32)) as unknown as KeyResolver,
      (async () => exportJWK(P256.publicKey)) as unknown as KeyResolver,
      (async () => P256.publicKey) as unknown as KeyResolver,
      (async () => createPrivateKey(P256.privateKey.export({ format: 'pem', type: 'pkcs8' }))) as unknown as KeyResolver,
      async () => {
        throw new errors.JWKSNoMatchingKey();
      },
    ];
    for (const keys of resolvers) await expectSame(tok, keys, opts('ES256'));
  });
});
