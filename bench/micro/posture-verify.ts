// Micro-benchmark: PostureVerifier.verify (src/identity/posture/verifier.ts) with a local
// key (no network): cold — cache off: the header refusals, the ES256 signature, times, the
// SPEC types of the posture claim — against a verified-assertion cache hit (SHA-256 of the
// token, LRU lookup, and the exp, maxAge, cnf and uid re-checks every request pays; a hit
// answers synchronously). The assertion carries every posture field and is bound to a
// user and a certificate; the cached case cycles through 100 assertions.
// Run: npx node bench/micro/posture-verify.ts [--quick] [--json]
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { PostureVerifier, deviceSchema } from '../../src/identity/posture/index.ts';
import { finish, measureAsync, measuredTable, microOptions, setupLine } from './measure.ts';
import { cycle } from './route-layout.ts';

const opts = microOptions();
const ISSUER = 'device-agent.bench';
const THUMB = 'n5ZBzBjYvOQTG2vCEOVq2p4YkC6H3Jj1m6a0ZcQkq7E';

async function setup(cacheMax: number) {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
  const config = deviceSchema.parse({ issuers: [{ issuer: ISSUER, jwksFile: 'in-memory' }], maxAge: '1h', cache: { max: cacheMax } });
  const verifier = await PostureVerifier.create(config, { readFile: async () => JSON.stringify(jwks) });
  const now = Math.floor(Date.now() / 1000);
  const mint = (i: number) =>
    new SignJWT({
      posture: { managed: true, compliant: true, os: { name: 'macOS', version: '14.5.1' }, patchAgeDays: 3, diskEncrypted: true, firewall: true, edr: true, screenLock: true },
      uid: `user-${i}`,
      cnf: { 'x5t#S256': THUMB },
    })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setSubject(`device-${i}`)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
  return { verifier, mint };
}

function verifying(verifier: PostureVerifier, tokens: string[]): () => unknown {
  const next = cycle(tokens.map((token, i) => ({ token, user: `user-${i}` })));
  const check = (r: Awaited<ReturnType<PostureVerifier['verify']>>) => {
    if (!r.ok) throw new Error(`posture verify failed: ${r.reason}`);
    return r;
  };
  return () => {
    const { token, user } = next();
    const r = verifier.verify(token, THUMB, user);
    return r instanceof Promise ? r.then(check) : check(r);
  };
}

const cold = await setup(0);
const coldResult = await measureAsync(opts, 'ES256 cold (cache off)', verifying(cold.verifier, [await cold.mint(0)]));
const cached = await setup(10_000);
const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => cached.mint(i)));
const hitResult = await measureAsync(opts, 'ES256 cached (verified-assertion cache hit)', verifying(cached.verifier, tokens));

finish(opts, {
  name: 'posture-verify',
  title: 'Device posture assertion verify (cold and cached)',
  setup: setupLine(opts, `PostureVerifier.verify with a local JWKS, a ${tokens[0]!.length}-byte assertion bound to a user and a certificate; cached = 100 assertions cycled, all hits`),
  tables: [measuredTable('Posture verify', [coldResult, hitResult])],
  raw: { results: [coldResult, hitResult] },
});
