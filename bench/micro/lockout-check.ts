// Micro-benchmark: what `lockout` adds to every request that is not banned — the
// per-address check before authentication (src/pipeline/stages/lockout.ts: the client
// address as a store key, one LRU lookup) and the per-subject check after it — with the
// in-memory store holding 100,000 bans of other addresses (a flood in progress).
// Run: npx node bench/micro/lockout-check.ts [--quick] [--json]
import { Lockout, LockoutRuntime, ipKey } from '../../src/identity/lockout/index.ts';
import type { Subject } from '../../src/basics/subject.ts';
import type { RequestContext } from '../../src/pipeline/context.ts';
import { lockoutAddressStage, lockoutSubjectStage } from '../../src/pipeline/stages/lockout.ts';
import { finish, measure, measuredTable, microOptions, setupLine } from './measure.ts';

const opts = microOptions();
const BANS = opts.tiny ? 1000 : 100_000;

const runtime = new LockoutRuntime();
const lockout = new Lockout({ maxFailures: 2, window: 60_000, banFor: 3_600_000, maxEntries: BANS }, runtime);
const now = Date.now();
// One counter kept open the whole time: lru-cache's delete() of its last entry clears the
// whole cache, filling arrays of maxEntries, which made this fill quadratic.
lockout.recordFailure('ip', ipKey('198.51.100.1'), undefined, now);
for (let i = 0; i < BANS; i++) {
  const key = ipKey(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  lockout.recordFailure('ip', key, undefined, now);
  lockout.recordFailure('ip', key, undefined, now);
}
if ((await runtime.bans(now)).ip !== BANS) throw new Error('the store did not fill');

const subject: Subject = { source: 'bearer', issuer: 'https://idp.example.com', sub: 'alice', email: undefined, emailVerified: false, groups: [], claims: {}, authTime: undefined, acr: undefined, amr: [] };
const context = (clientIp: string): RequestContext => ({ snapshot: { lockout }, clientIp, subject }) as unknown as RequestContext;

const results = (
  [
    ['address, IPv4', (ctx) => lockoutAddressStage.run(ctx), context('192.0.2.1')],
    ['address, IPv6 (/64 key)', (ctx) => lockoutAddressStage.run(ctx), context('2001:db8:85a3:8d3:1319:8a2e:370:7348')],
    ['subject', (ctx) => lockoutSubjectStage.run(ctx), context('192.0.2.1')],
  ] as [string, (ctx: RequestContext) => unknown, RequestContext][]
).map(([label, run, ctx]) => {
  const r = run(ctx) as { next?: true };
  if (r.next !== true) throw new Error(`${label}: not let through`);
  return measure(opts, label, () => run(ctx));
});

finish(opts, {
  name: 'lockout-check',
  title: 'Lockout check (not banned)',
  setup: setupLine(opts, `The lockout stages on a request that is not banned, the in-memory store holding ${BANS.toLocaleString('en')} bans of other addresses`),
  tables: [measuredTable('Lockout check per request', results)],
  raw: { results },
});
