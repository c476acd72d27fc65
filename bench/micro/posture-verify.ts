// Micro-benchmark: one PostureVerifier.verify with a local key (no network): cold (cache
// off: header refusals, signature, times, SPEC types of the posture claim) against a
// verified-assertion cache hit (SHA-256 of the token + LRU lookup + the exp, maxAge,
// cnf and uid re-checks that run on every request). Issue #5 asks ≤ 3 µs for a hit.
// Run: npx node bench/micro/posture-verify.ts [iterations]
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { PostureVerifier, deviceSchema } from '../../src/identity/posture/index.ts';

const ITERATIONS = Number(process.argv[2] ?? 20_000);
const ISSUER = 'device-agent.bench';
const THUMB = 'n5ZBzBjYvOQTG2vCEOVq2p4YkC6H3Jj1m6a0ZcQkq7E';

async function setup(cacheMax: number) {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
  const config = deviceSchema.parse({ issuers: [{ issuer: ISSUER, jwksFile: 'in-memory' }], maxAge: '1h', cache: { max: cacheMax } });
  const verifier = await PostureVerifier.create(config, { readFile: async () => JSON.stringify(jwks) });
  const now = Math.floor(Date.now() / 1000);
  // A realistic assertion: every posture field, bound to a user and a certificate.
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

async function measure(label: string, tokens: string[], verifier: PostureVerifier): Promise<number> {
  for (let i = 0; i < 2_000; i++) await verifier.verify(tokens[i % tokens.length]!, THUMB, `user-${i % tokens.length}`);
  const users = tokens.map((_, i) => `user-${i}`);
  const start = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const n = i % tokens.length;
    const r = await verifier.verify(tokens[n]!, THUMB, users[n]);
    if (!r.ok) throw new Error(`${label}: ${r.reason}`);
  }
  const us = ((performance.now() - start) * 1000) / ITERATIONS;
  console.log(`${label.padEnd(34)} ${us.toFixed(2).padStart(9)} µs/verify  (${Math.round(1e6 / us).toLocaleString('en')} /s)`);
  return us;
}

console.log(`PostureVerifier.verify, ${ITERATIONS} iterations, node ${process.version}`);
const cold = await setup(0);
const coldUs = await measure('ES256 cold (cache off)', [await cold.mint(0)], cold.verifier);
const cached = await setup(10_000);
const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => cached.mint(i)));
const hitUs = await measure('ES256 cached (100 assertions, hits)', tokens, cached.verifier);
console.log(`cold / cached ${(coldUs / hitUs).toFixed(0)}×  (assertion ${tokens[0]!.length} bytes)`);
