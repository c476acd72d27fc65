// Micro-benchmark: BearerVerifier.verify (src/identity/jwt/verifier.ts) with a local key
// (no network), per algorithm ztproxy accepts for bearer tokens (ES256, RS256, EdDSA):
// cold — the verified-token cache off, so each call pays the prechecks, the key lookup,
// jose's signature check, the claim checks and the Subject — against a verified-token
// cache hit (SHA-256 of the token, LRU lookup, the time and binding re-checks every
// request pays), beside jose's jwtVerify alone with the same key set: the floor of a cold
// verify, since jose does the signature. The token is a realistic access token (~800
// bytes: groups, email, scope); the cached case cycles through 100 tokens, all hits.
// Run: npx node bench/micro/jwt-verify.ts [--quick] [--json]
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { BearerVerifier, jwtIssuerSchema, type BearerAlgorithm } from '../../src/identity/jwt/index.ts';
import { finish, measureAsync, measuredTable, microOptions, setupLine, type Measured } from './measure.ts';
import { cycle } from './route-layout.ts';

const opts = microOptions();
const ISSUER = 'https://issuer.bench';
const AUDIENCE = 'https://api.bench';

async function setup(alg: BearerAlgorithm, cacheMax: number) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg, use: 'sig' }] };
  const config = jwtIssuerSchema.parse({ issuer: ISSUER, audience: AUDIENCE, algorithms: [alg], jwksFile: 'in-memory' });
  const verifier = await BearerVerifier.create([config], { cacheMax, readFile: async () => JSON.stringify(jwks) });
  const now = Math.floor(Date.now() / 1000);
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

/** Verifies through ztproxy's verifier, refusing to time a failure. */
function through(verifier: BearerVerifier, tokens: string[]): () => Promise<unknown> {
  const next = cycle(tokens);
  return async () => {
    const r = await verifier.verify(next(), undefined);
    if (!r.ok) throw new Error(`verify failed: ${r.reason}`);
    return r;
  };
}

const results: Measured[] = [];
for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
  const cold = await setup(alg, 0);
  const token = await cold.mint(0);
  results.push(await measureAsync(opts, `${alg} cold (cache off)`, through(cold.verifier, [token])));
  results.push(await measureAsync(opts, `${alg} jose jwtVerify alone (the floor of cold)`, () => cold.joseOnly(token)));
  const cached = await setup(alg, 10_000);
  const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => cached.mint(i)));
  results.push(await measureAsync(opts, `${alg} cached (verified-token cache hit)`, through(cached.verifier, tokens)));
}

finish(opts, {
  name: 'jwt-verify',
  title: 'Bearer JWT verify (cold and cached)',
  setup: setupLine(opts, 'BearerVerifier.verify with a local JWKS, a ~800-byte access token; cold = cache off (every call checks the signature), cached = 100 tokens cycled, all hits'),
  tables: [measuredTable('Bearer JWT verify', results)],
  raw: { results },
});
