// Micro-benchmark: the route-match stage (src/pipeline/stages/route-match.ts) on real
// snapshots of 1, 100 and 1,000 routes in the layout of route-layout.ts (app hosts, one
// path-routed portal host, wildcard hosts; requests spread over every route), then the
// kinds of request that cost the router most at 1,000 routes — only wildcard hosts (a
// scan of the wildcard suffixes) and only the portal host (a prefix-index lookup per path
// segment) — and the route path rules: a `paths: caseInsensitive` host (case folding and
// the Windows reading of the path) and `paths.rejectEncoded`.
// Run: npx node bench/micro/route-selection.ts [--quick] [--json]
import { stringify } from 'yaml';
import { buildSnapshot } from '../../src/assembly/snapshot.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { RequestContext } from '../../src/pipeline/context.ts';
import { routeMatchStage } from '../../src/pipeline/stages/route-match.ts';
import { UpstreamRegistry } from '../../src/proxy/upstream.ts';
import { finish, measure, measuredTable, microOptions, setupLine, type Measured } from './measure.ts';
import { contexts, cycle, layout, snapshotOf } from './route-layout.ts';

const opts = microOptions();
const registry = new UpstreamRegistry();
const ACCEPT = { allow: { accept: true } };

function selecting(ctxs: RequestContext[]): () => unknown {
  for (const ctx of ctxs) {
    const expected = ctx.route?.name;
    if (!('next' in routeMatchStage.run(ctx))) throw new Error(`no route for ${ctx.host}${ctx.path}`);
    if (expected !== undefined && ctx.route?.name !== expected) throw new Error(`${ctx.host}${ctx.path}: ${ctx.route?.name}, expected ${expected}`);
  }
  const next = cycle(ctxs);
  return () => routeMatchStage.run(next());
}

const byRoutes: Measured[] = [];
const worst: Measured[] = [];
// --tiny (the tests) stops at 100 routes: building a 1,000-route config takes seconds.
const SIZES = opts.tiny ? [1, 10, 100] : [1, 100, 1000];
const LARGEST = SIZES.at(-1)!;
for (const n of SIZES) {
  const routes = layout(n);
  const snapshot = await snapshotOf(routes, () => ACCEPT, registry);
  const ctxs = contexts(snapshot, routes);
  const all = selecting(ctxs);
  if (new Set(ctxs.map((c) => c.route!.name)).size !== n) throw new Error('the requests do not reach every route');
  byRoutes.push(measure(opts, `${n.toLocaleString('en')} route${n === 1 ? '' : 's'}, requests over all of them`, all));
  if (n === LARGEST) {
    for (const kind of ['wildcard', 'portal'] as const) {
      const some = ctxs.filter((c) => (kind === 'wildcard' ? c.host.endsWith('.tenants.example.com') : c.host === 'portal.example.com'));
      worst.push(measure(opts, `${LARGEST.toLocaleString('en')} routes, only ${kind === 'wildcard' ? 'wildcard-host' : 'portal-host (path-routed)'} requests (${some.length} routes)`, selecting(some)));
    }
  }
}

// The path rules, on a small config of their own.
// One upstream per kind: an upstream reads paths one way (the config refuses mixing).
const route = (name: string, host: string, pathPrefix: string, port: number, extra: object = {}) => ({ name, match: { host, pathPrefix }, upstream: `http://127.0.0.1:${port}`, policy: ACCEPT, ...extra });
const parsed = parseConfig(
  stringify({
    listen: { address: '127.0.0.1:0', tls: { cert: 'package.json', key: 'package.json' } },
    routes: [
      route('app', 'app.example.com', '/', 9001),
      route('iis-admin', 'iis.example.com', '/Admin', 9002, { paths: 'caseInsensitive' }),
      route('iis', 'iis.example.com', '/', 9002, { paths: 'caseInsensitive' }),
      route('tomcat', 'tomcat.example.com', '/', 9003, { paths: { rejectEncoded: 'reserved' } }),
    ],
  }),
  process.cwd(),
  {},
);
if (!parsed.config) throw new Error(parsed.errors.join('\n'));
const snapshot = await buildSnapshot(parsed.config, 1, registry);
const rules: Measured[] = [];
for (const [label, host, path] of [
  ['caseInsensitive host, /Reports/2024/Q1.aspx', 'iis.example.com', '/Reports/2024/Q1.aspx'],
  ['caseInsensitive host, /ADMIN/Users', 'iis.example.com', '/ADMIN/Users'],
  ['rejectEncoded, a path with %20 escapes', 'tomcat.example.com', '/app/my%20file%20name.txt'],
] as const) {
  const ctxs = contexts(snapshot, [{ name: label, host, prefix: '/', kind: 'app', requestHost: host, requestPath: path }]);
  rules.push(measure(opts, label, selecting(ctxs)));
}
await registry.destroyAll();

finish(opts, {
  name: 'route-selection',
  title: 'Route selection (route-match stage)',
  setup: setupLine(opts, 'routeMatchStage.run on real snapshots (bench/micro/route-layout.ts: 60 % app hosts, 35 % one path-routed portal host, 5 % wildcard hosts), requests spread over every route'),
  tables: [
    measuredTable('Route match by routes in the config', byRoutes),
    measuredTable(`At ${LARGEST.toLocaleString('en')} routes, by kind of request`, worst),
    measuredTable('Route path rules', rules),
  ],
  raw: { byRoutes, worst, rules },
});
