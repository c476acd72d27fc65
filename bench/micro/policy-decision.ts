// Micro-benchmark: the embedded decision as the pipeline makes it per request — the
// route-match stage (which route's rules apply) and the authorize stage (the policy
// input, the route's compiled policy, the stage's own timing) — on real snapshots of
// 1, 100 and 10,000 rules. Issue #7's target: p50 ≤ 2 µs at 10,000 rules.
//
// What 10,000 rules look like here (the realistic worst case, not an indexable one):
// 1,000 routes × 10 rules in the layout of route-layout.ts — 600 routes on 300 app hosts,
// 350 path-routed under one portal host, 50 on wildcard hosts. Every route's 10 rules use
// the usual criteria — path glob, source CIDRs, groups, method, a Berlin office-hours
// window, email, a claim — in 2 deny and 4 allow rules ordered so that for the measured
// caller every one of the 10 is evaluated: no deny matches, each allow `and` passes its
// first rule and fails its second, and only the last allow admits. Requests go to every
// route in a scrambled order, so consecutive decisions touch different routes' objects,
// as real traffic does, each in one of a few live request contexts (see decideVia). 100
// rules are the same shape on 10 routes; 1 rule is one route with one `groups` rule.
//
// A second table puts all N rules on ONE route (every rule evaluated in turn): the
// decision is linear in the rules of the route, which is why rules spread over routes
// is the shape the target is stated for; it shows what one huge route would cost.
// Run: npx node bench/micro/policy-decision.ts [--quick] [--json]
import type { RequestContext } from '../../src/pipeline/context.ts';
import { authorizeStage } from '../../src/pipeline/stages/authorize.ts';
import { routeMatchStage } from '../../src/pipeline/stages/route-match.ts';
import { compilePolicy, policySchema, type PolicyInput } from '../../src/policy/index.ts';
import { UpstreamRegistry } from '../../src/proxy/upstream.ts';
import type { ChartSpec } from '../lib/part.ts';
import { finish, measure, measuredTable, microOptions, say, setupLine, type Measured } from './measure.ts';
import { decisionTarget, subject, tenRules } from './policy-rules.ts';
import { contexts, layout, snapshotOf, type RouteSpec } from './route-layout.ts';

const opts = microOptions();

/** Contexts a request reuses in turn (see decideVia). */
const LIVE_CONTEXTS = 4;

/**
 * Route match + authorize, as the runner calls them; throws unless every request is
 * routed and allowed. What one call pays is what a request pays in these two stages:
 * the routes' and policies' objects are cold (requests spread over all routes), but the
 * request's own context is not — a live request's context was built and filled by the
 * stages just before. So each call writes the next route's host and path (the parser's
 * strings) into one of a few live contexts, instead of cycling through one old context
 * per route, whose cache misses (the context, its connection and timings) no request
 * would pay.
 */
interface Calls {
  /** Route match then authorize: the measured decision. */
  readonly both: () => boolean;
  readonly routeMatch: () => unknown;
  /** Authorize with the route already known. */
  readonly authorize: () => unknown;
  /** policy.decide on an input built (one live input object, the request's fields written in). */
  readonly decide: () => unknown;
}

function decideVia(ctxs: RequestContext[], routes: RouteSpec[]): Calls {
  for (const ctx of ctxs) {
    if (!('next' in routeMatchStage.run(ctx))) throw new Error(`no route for ${ctx.host}${ctx.path}`);
    const stages = ctx.route!.stages.map((s) => s.name);
    if (!stages.includes(authorizeStage.name)) throw new Error(`route ${ctx.route!.name} has no authorize stage (${stages.join(', ')})`);
    const result = authorizeStage.run(ctx);
    if (!('next' in result) || ctx.decision?.effect !== 'allow') throw new Error(`${ctx.route!.name}: not allowed: ${JSON.stringify(ctx.decision)}`);
  }
  if (new Set(ctxs.map((c) => c.route!.name)).size !== routes.length) throw new Error('the requests do not reach every route');
  // What each request brings, in the same scrambled order, flat: arrays read in turn.
  const hosts = ctxs.map((c) => c.host);
  const paths = ctxs.map((c) => c.path);
  const routed = ctxs.map((c) => c.route!);
  const policyPaths = ctxs.map((c) => c.policyPath);
  const live = ctxs.slice(0, LIVE_CONTEXTS);
  const input: PolicyInput = { ...ctxs[0]!.policyInput! };
  const n = ctxs.length;
  let k = 0;
  let turn = 0;
  /** The next request in one of the live contexts: host and path written, as sanitation leaves them. */
  const nextRequest = (): RequestContext => {
    const ctx = live[turn]!;
    turn = turn + 1 === live.length ? 0 : turn + 1;
    ctx.host = hosts[k]!;
    ctx.path = paths[k]!;
    k = k + 1 === n ? 0 : k + 1;
    return ctx;
  };
  return {
    // Both stages are synchronous on these routes (checked above): no promise to await.
    both: () => {
      const ctx = nextRequest();
      return 'next' in routeMatchStage.run(ctx) && 'next' in authorizeStage.run(ctx);
    },
    routeMatch: () => routeMatchStage.run(nextRequest()),
    authorize: () => {
      const ctx = nextRequest();
      ctx.route = routed[k === 0 ? n - 1 : k - 1];
      ctx.policyPath = policyPaths[k === 0 ? n - 1 : k - 1]!;
      return authorizeStage.run(ctx);
    },
    decide: () => {
      const at = k;
      k = k + 1 === n ? 0 : k + 1;
      input.host = hosts[at]!;
      input.path = policyPaths[at]!;
      return routed[at]!.policy.decide(input);
    },
  };
}

const registry = new UpstreamRegistry();
const spread: Measured[] = [];
const byRules = new Map<number, Measured>();
const breakdown: Measured[] = [];
let lastRule: string | undefined;

// --tiny (the tests) stops at 1,000 rules: building a 1,000-route config takes seconds.
const SIZES = opts.tiny ? [1, 100, 1000] : [1, 100, 10_000];
for (const rules of SIZES) {
  const routes = layout(rules === 1 ? 1 : rules / 10);
  const snapshot = await snapshotOf(routes, (i, r) => (rules === 1 ? { allow: { groups: { has: 'engineering' } } } : tenRules(i, r.prefix)), registry);
  const ctxs = contexts(snapshot, routes, (ctx) => (ctx.subject = subject));
  const calls = decideVia(ctxs, routes);
  const label = rules === 1 ? 'embedded decision, 1 rule (1 route)' : `embedded decision, ${rules.toLocaleString('en')} rules (${routes.length.toLocaleString('en')} routes × 10)`;
  const m = measure(opts, label, calls.both);
  spread.push(m);
  byRules.set(rules, m);
  if (rules === SIZES.at(-1)) {
    lastRule = ctxs[0]!.decision?.rule;
    breakdown.push(m);
    breakdown.push(measure(opts, '  of which route-match stage', calls.routeMatch));
    breakdown.push(measure(opts, '  of which authorize stage (route known)', calls.authorize));
    breakdown.push(measure(opts, '  of which policy.decide (input built)', calls.decide));
    // The same work with a working set of one route: the gap to the line above is what
    // spreading requests over 1,000 routes' objects costs (caches, polymorphic call sites).
    const one = ctxs[0]!;
    breakdown.push(measure(opts, '  policy.decide, the same route every call', () => one.route!.policy.decide(one.policyInput!)));
  }
}

// All N rules on one route: the same ten-rule blocks repeated with other names, every one evaluated.
const oneRoute: Measured[] = [];
for (const rules of [100, SIZES.at(-1)!]) {
  const blocks = Array.from({ length: rules / 10 }, (_, i) => tenRules(i, '/'));
  const policy = compilePolicy(
    policySchema.parse({
      deny: blocks.flatMap((b) => b.deny),
      // Only the very last rule admits: every block's own last rule is made to miss.
      allow: blocks.flatMap((b, i) => (i === blocks.length - 1 ? b.allow : [...b.allow.slice(0, -1), { groups: { has: `nobody-${i}` } }])),
    }),
  );
  const input: PolicyInput = { method: 'GET', host: 'app.example.com', path: '/dashboard/reports/42', sourceIp: '10.1.2.3', spiffeId: undefined, now: Date.now(), subject };
  if (policy.decide(input).effect !== 'allow') throw new Error('the last rule should allow');
  oneRoute.push(measure(opts, `policy.decide, one route of ${rules.toLocaleString('en')} rules`, () => policy.decide(input)));
}
await registry.destroyAll();

const chart: ChartSpec = {
  id: 'micro-policy-decision',
  title: 'Embedded decision (route match + authorize) by rules in the config',
  unit: 'µs',
  kind: 'bar',
  groups: [...byRules.keys()].map((r) => `${r.toLocaleString('en')} rules`),
  series: [
    { label: 'p50', values: [...byRules.values()].map((m) => m.p50Us) },
    { label: 'p99', values: [...byRules.values()].map((m) => m.p99Us) },
  ],
};
say(opts, `decided by ${lastRule ?? '?'} (every rule of the route evaluated before it)`);

finish(opts, {
  name: 'policy-decision',
  title: 'Embedded policy decision',
  setup: setupLine(
    opts,
    'The route-match and authorize stages on real snapshots; 10,000 rules = 1,000 routes × 10 rules (600 on 300 app hosts, 350 path-routed on one portal host, 50 wildcard hosts), every rule of the route evaluated, requests spread over all routes',
  ),
  tables: [
    measuredTable('Embedded decision by rules in the config (route-match + authorize stages)', spread),
    measuredTable(`At ${SIZES.at(-1)!.toLocaleString('en')} rules: where the time goes`, breakdown),
    measuredTable(
      'All rules on one route (not the target shape: a decision is linear in its route\'s rules)',
      oneRoute,
    ),
  ],
  targets: [decisionTarget(new Map([...byRules].map(([rules, m]) => [rules, m.p50Us])))],
  charts: [chart],
  raw: { spread, breakdown, oneRoute, decidedBy: lastRule },
});
