// Micro-benchmark: AssertionSigner.assertionFor (src/identity/assertion/signer.ts), the
// X-ZT-Assertion every forwarded request carries: cold — an identity the signer has not
// signed for on this route yet, so an ES256 JWT is built and signed (jose) and cached —
// against a cache hit (the cache key, JSON of exactly the claims, and one LRU lookup),
// which is what every later request of the same identity on the same route pays until
// half the assertion's lifetime has passed. The signer is built as the snapshot builds it
// (an ephemeral P-256 key, issuer `ztproxy`, the default 60 s TTL, cache of 10,000);
// subjects carry groups and a verified email, as a bearer token's would; the cold case
// cycles through more identities than the cache holds, so no call is a hit.
// Run: npx node bench/micro/assertion-sign.ts [--quick] [--json]
import type { Subject } from '../../src/basics/subject.ts';
import { AssertionSigner, ephemeralAssertionKey, type AssertionInput } from '../../src/identity/assertion/index.ts';
import { finish, measureAsync, measuredTable, microOptions, setupLine } from './measure.ts';
import { cycle } from './route-layout.ts';

const opts = microOptions();
const CACHE_MAX = 10_000;

const signer = new AssertionSigner([await ephemeralAssertionKey()], { issuer: 'ztproxy', ttlSeconds: 60, cacheMax: CACHE_MAX });
const subject = (i: number): Subject => ({
  source: 'bearer',
  issuer: 'https://idp.example.com',
  sub: `user-${i}`,
  email: `user-${i}@example.com`,
  emailVerified: true,
  groups: ['engineering', 'oncall', 'vpn-users'],
  claims: {},
  authTime: undefined,
  acr: undefined,
  amr: [],
});
const inputs = (n: number): AssertionInput[] => Array.from({ length: n }, (_, i) => ({ route: 'app', subject: subject(i), spiffeId: undefined, device: undefined }));

function signing(list: AssertionInput[]): () => unknown {
  const next = cycle(list);
  return () => signer.assertionFor(next());
}

// More identities than the cache holds, visited in order: each is evicted before it comes round again.
const cold = await measureAsync(opts, 'cold: sign a new assertion (ES256)', signing(inputs(opts.tiny ? CACHE_MAX + 10 : 4 * CACHE_MAX)));
const hot = inputs(100);
for (const input of hot) await signer.assertionFor(input);
const nextHot = signing(hot);
const hit = await measureAsync(opts, 'cache hit: the same identity on the same route', () => {
  const token = nextHot();
  if (typeof token !== 'string') throw new Error('a cache hit must answer synchronously');
  return token;
});

finish(opts, {
  name: 'assertion-sign',
  title: 'X-ZT-Assertion signing (cold and cached)',
  setup: setupLine(opts, `AssertionSigner.assertionFor with an ephemeral P-256 key, 60 s TTL, cache of ${CACHE_MAX.toLocaleString('en')}; cold = identities never seen (more than the cache holds), hit = 100 identities cycled`),
  tables: [measuredTable('Assertion per request', [cold, hit])],
  raw: { results: [cold, hit] },
});
