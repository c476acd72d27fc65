// The route layout the route-selection and policy-decision benchmarks share: what a large
// deployment's config looks like to the router, so neither measures a shape that is
// trivially fast (one host, one prefix) or one no one has. Of n routes: 60 % on app hosts
// (`app-K.corp.example.com`, `/` and `/api` each: exact-host lookup, a small group
// scanned), 35 % path-routed under one portal host (`/svc-N`: above the router's scan
// limit, so its prefix index), 5 % on wildcard hosts (`*.tN.tenants.example.com`, which
// the router scans longest suffix first). Requests reach every route, in a scrambled
// order, so consecutive requests touch different routes' objects, as real traffic does.
import type { IncomingMessage } from 'node:http';
import { stringify } from 'yaml';
import { buildSnapshot } from '../../src/assembly/snapshot.ts';
import { parseConfig } from '../../src/config/load.ts';
import { RequestContext, type Snapshot } from '../../src/pipeline/context.ts';
import type { UpstreamRegistry } from '../../src/proxy/upstream.ts';

export interface RouteSpec {
  readonly name: string;
  readonly host: string;
  readonly prefix: string;
  readonly kind: 'app' | 'portal' | 'wildcard';
  /** A request that selects this route. */
  readonly requestHost: string;
  readonly requestPath: string;
}

/** n routes in the proportions of the header (n = 1: one route `/` on one host). */
export function layout(n: number): RouteSpec[] {
  if (n === 1) return [{ name: 'app', host: 'app.example.com', prefix: '/', kind: 'app', requestHost: 'app.example.com', requestPath: '/dashboard/reports/42' }];
  const routes: RouteSpec[] = [];
  let app = 0;
  let portal = 0;
  let wild = 0;
  for (let i = 0; i < n; i++) {
    const slot = i % 20;
    if (slot < 12) {
      const host = `app-${app >> 1}.corp.example.com`;
      const api = app % 2 === 1;
      routes.push({ name: `app-${app}`, host, prefix: api ? '/api' : '/', kind: 'app', requestHost: host, requestPath: api ? '/api/v1/orders/42' : '/dashboard/reports/42' });
      app++;
    } else if (slot < 19) {
      routes.push({ name: `portal-${portal}`, host: 'portal.example.com', prefix: `/svc-${portal}`, kind: 'portal', requestHost: 'portal.example.com', requestPath: `/svc-${portal}/api/items/42` });
      portal++;
    } else {
      routes.push({ name: `tenant-${wild}`, host: `*.t${wild}.tenants.example.com`, prefix: '/', kind: 'wildcard', requestHost: `app.t${wild}.tenants.example.com`, requestPath: '/home' });
      wild++;
    }
  }
  return routes;
}

/** A real snapshot of these routes (parsed and built as ztproxy does), each with the policy policyOf gives it. */
export async function snapshotOf(routes: readonly RouteSpec[], policyOf: (i: number, r: RouteSpec) => unknown, registry: UpstreamRegistry): Promise<Snapshot> {
  const parsed = parseConfig(
    // No YAML aliases for shared objects: the parser refuses many of them (a billion-laughs guard).
    stringify(
      {
        listen: { address: '127.0.0.1:0', tls: { cert: 'package.json', key: 'package.json' } },
        routes: routes.map((r, i) => ({ name: r.name, match: { host: r.host, pathPrefix: r.prefix }, upstream: 'http://127.0.0.1:9001', policy: policyOf(i, r) })),
      },
      { aliasDuplicateObjects: false },
    ),
    process.cwd(),
    {},
  );
  if (!parsed.config) throw new Error(parsed.errors.join('\n'));
  return buildSnapshot(parsed.config, 1, registry);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** One context per route as sanitation leaves it (method, host, path, client), in a scrambled order (a stride coprime with n). */
export function contexts(snapshot: Snapshot, routes: readonly RouteSpec[], fill?: (ctx: RequestContext) => void): RequestContext[] {
  const n = routes.length;
  let stride = 397 % n || 1;
  while (gcd(stride, n) !== 1) stride++;
  return routes.map((_, k) => {
    const r = routes[(k * stride) % n]!;
    const ctx = new RequestContext(`req-${k}`, snapshot, {} as IncomingMessage, undefined, undefined);
    ctx.method = 'GET';
    ctx.host = r.requestHost;
    ctx.path = r.requestPath;
    ctx.clientIp = '10.1.2.3';
    ctx.peerIp = ctx.clientIp;
    fill?.(ctx);
    return ctx;
  });
}

/** Cycles through the contexts, one per call. */
export function cycle<T>(items: readonly T[]): () => T {
  if (items.length === 0) throw new Error('nothing to cycle through');
  let k = 0;
  const n = items.length;
  return () => {
    const item = items[k]!;
    k = k + 1 === n ? 0 : k + 1;
    return item;
  };
}
