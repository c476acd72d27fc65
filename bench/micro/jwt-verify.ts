// Micro-benchmark: one BearerVerifier.verify, with a local key (no network), cold (cache
// off: decode, key lookup, signature, claims, Subject) against a verified-token cache hit
// (hash + LRU lookup + time and binding re-checks), beside jose's jwtVerify alone with the
// same key set — the floor for a cold verify, since jose (v6: WebCrypto only) does the
// signature. Issue #3 expects ~65–85 µs for an ES256 verify and ~1 µs for a hit.
// Run: npx node bench/micro/jwt-verify.ts [iterations]
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { BearerVerifier, jwtIssuerSchema, type BearerAlgorithm } from '../../src/identity/jwt/index.ts';

const ITERATIONS = Number(process.argv[2] ?? 20_000);
const ISSUER = 'https://issuer.bench';
const AUDIENCE = 'https://api.bench';

async function setup(alg: BearerAlgorithm, cacheMax: number) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg, use: 'sig' }] };
  const config = jwtIssuerSchema.parse({ issuer: ISSUER, audience: AUDIENCE, algorithms: [alg], jwksFile: 'in-memory' });
  const verifier = await BearerVerifier.create([config], { cacheMax, readFile: async () => JSON.stringify(jwks) });
  const now = Math.floor(Date.now() / 1000);
  // A realistic access token: ~800 bytes with groups, email, scope.
  const mint = (i: number) =>
    new SignJWT({
      sub: `user-${i}@example.com`,
      email: `user-${i}@example.com`,
      email_verified: true,
      groups: ['engineering', 'oncall', 'k8s-admins', 'vpn-users'],
      scope: 'openid profile email api:read api:write',
      client_id: 'bench-client',
      jti: `jti-${i}`,
    })
      .setProtectedHeader({ alg, kid: 'k1', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
  const keys = createLocalJWKSet(jwks);
  const joseOnly = (token: string) => jwtVerify(token, keys, { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE });
  return { verifier, mint, joseOnly };
}

type Verify = (token: string) => Promise<unknown>;

const through = (v: BearerVerifier): Verify => (token) => v.verify(token, undefined);

async function measure(label: string, tokens: string[], verify: Verify): Promise<number> {
  // Warm-up: JIT, key import, and (for the cached case) the cache itself.
  for (let i = 0; i < 2_000; i++) await verify(tokens[i % tokens.length]!);
  const start = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const r = await verify(tokens[i % tokens.length]!);
    if (typeof r === 'object' && r !== null && 'ok' in r && !r.ok) throw new Error(`${label}: ${JSON.stringify(r)}`);
  }
  const us = ((performance.now() - start) * 1000) / ITERATIONS;
  console.log(`${label.padEnd(34)} ${us.toFixed(2).padStart(9)} µs/verify  (${Math.round(1e6 / us).toLocaleString('en')} /s)`);
  return us;
}

console.log(`BearerVerifier.verify, ${ITERATIONS} iterations, node ${process.version}`);
for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
  const cold = await setup(alg, 0);
  const token = await cold.mint(0);
  const joseUs = await measure(`${alg} jose jwtVerify alone`, [token], cold.joseOnly);
  const coldUs = await measure(`${alg} cold (cache off)`, [token], through(cold.verifier));
  const cached = await setup(alg, 10_000);
  const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => cached.mint(i)));
  const hitUs = await measure(`${alg} cached (100 tokens, all hits)`, tokens, through(cached.verifier));
  console.log(
    `${alg}: cold / jose ${(coldUs / joseUs).toFixed(2)}×, cold / cached ${(coldUs / hitUs).toFixed(0)}×  (token ${token.length} bytes)\n`,
  );
}
