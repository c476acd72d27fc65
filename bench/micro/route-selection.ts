// Micro-benchmark: route selection with the route's path rules
// (src/pipeline/stages/route-match.ts selectRoute) on a real snapshot: what a default
// (case-sensitive) route costs, against a host with `paths: caseInsensitive` routes
// (case folding, the Windows reading, the Windows name rules) and a route with
// `paths.rejectEncoded`. The paths are canonical, as sanitation hands them on.
// Run: npx node bench/micro/route-selection.ts [iterations]
import { stringify } from 'yaml';
import { buildSnapshot } from '../../src/assembly/snapshot.ts';
import { parseConfig } from '../../src/config/load.ts';
import { selectRoute, type RouteTarget } from '../../src/pipeline/stages/route-match.ts';
import { UpstreamRegistry } from '../../src/proxy/upstream.ts';

const ITERATIONS = Number(process.argv[2] ?? 1_000_000);

const route = (name: string, host: string, pathPrefix: string, upstream: string, extra: object = {}) => ({
  name,
  match: { host, pathPrefix },
  upstream,
  policy: { allow: { accept: true } },
  ...extra,
});
const parsed = parseConfig(
  stringify({
    listen: { address: '127.0.0.1:0', tls: { cert: 'package.json', key: 'package.json' } },
    routes: [
      route('app-api', 'app.example.com', '/api', 'http://127.0.0.1:9001'),
      route('app-static', 'app.example.com', '/static', 'http://127.0.0.1:9001'),
      route('app', 'app.example.com', '/', 'http://127.0.0.1:9001'),
      route('iis-admin', 'iis.example.com', '/Admin', 'http://127.0.0.1:9002', { paths: 'caseInsensitive' }),
      route('iis', 'iis.example.com', '/', 'http://127.0.0.1:9002', { paths: 'caseInsensitive' }),
      route('tomcat', 'tomcat.example.com', '/', 'http://127.0.0.1:9003', { paths: { rejectEncoded: 'reserved' } }),
    ],
  }),
  process.cwd(),
  {},
);
if (!parsed.config) throw new Error(parsed.errors.join('\n'));
const registry = new UpstreamRegistry();
const snapshot = await buildSnapshot(parsed.config, 1, registry);

const cases: [label: string, host: string, path: string][] = [
  ['case-sensitive /api/users/42', 'app.example.com', '/api/users/42'],
  ['case-sensitive /', 'app.example.com', '/'],
  ['IIS, lower case', 'iis.example.com', '/reports/2024/q1.aspx'],
  ['IIS, mixed case', 'iis.example.com', '/Reports/2024/Q1.aspx'],
  ['IIS, /ADMIN/Users', 'iis.example.com', '/ADMIN/Users'],
  ['IIS, non-ASCII', 'iis.example.com', '/%C3%89cole/Caf%C3%A9.aspx'],
  ['rejectEncoded, no escapes', 'tomcat.example.com', '/app/orders/17'],
  ['rejectEncoded, %20 escapes', 'tomcat.example.com', '/app/my%20file%20name.txt'],
];

console.log(`selectRoute, ${ITERATIONS} iterations, node ${process.version}`);
for (const [label, host, path] of cases) {
  const target: RouteTarget = { host, path, encodedSlash: false, route: undefined, policyPath: '' };
  let sink = 0;
  const step = (): void => {
    const result = selectRoute(snapshot.router, target);
    if (!('next' in result)) throw new Error(`${label}: ${JSON.stringify(result)}`);
    sink += target.policyPath.length;
  };
  for (let i = 0; i < 50_000; i++) step();
  // Best of 5 rounds: on a shared machine the mean measures the neighbours.
  const rounds = Math.max(1, Math.floor(ITERATIONS / 5));
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const start = performance.now();
    for (let i = 0; i < rounds; i++) step();
    best = Math.min(best, ((performance.now() - start) * 1e6) / rounds);
  }
  console.log(`${label.padEnd(30)} ${best.toFixed(0).padStart(6)} ns/request  (best of 5, route ${target.route?.name}, ${sink > 0 ? 'ok' : '-'})`);
}
await registry.destroyAll();
