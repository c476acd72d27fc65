// `pdp` (SPEC §3, §7): which policy decision point decides — the embedded engine or a
// remote PDP (OPA's Data API, an OpenID AuthZEN 1.0 PDP) — at the top level and per
// route, with the remote PDP's timeout, decision cache and circuit breaker; and the
// route's path templates (`templates` / `openapi`) that name the resource it is asked
// about. The checks across keys (a remote mode needs a url, an embedded route needs its
// `policy`, templates only where a remote PDP reads them) are `pdpIssues`.
import { z } from 'zod';
import { isIP } from '../basics/ip.ts';
import { durationWithin } from '../basics/duration.ts';
import { parsePathTemplate, templateShape, type PathTemplate } from '../basics/path-template.ts';

export const PDP_MODES = ['embedded', 'opa', 'authzen'] as const;
export type PdpMode = (typeof PDP_MODES)[number];


/** Host names a plain-http PDP may have: this machine (a sidecar OPA), nothing a network path could intercept. */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * The PDP's URL. Plain http only to a loopback address: an allow is a bearer of access,
 * and anyone on the network path of a plain-http PDP could answer `{"decision": true}`.
 * No credentials in it (they would end up in logs and metrics labels), no query, no
 * fragment (the path is the whole address of the decision).
 */
export function pdpUrlProblem(s: string): string | undefined {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `scheme ${url.protocol} is not supported (https, or http on loopback)`;
  if (url.username || url.password) return 'must not carry credentials';
  if (url.search || url.hash || s.includes('?') || s.includes('#')) return 'must not have a query or fragment';
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    return 'plain http is only allowed to a loopback address (127.0.0.1, ::1, localhost): use https, so nobody on the way can answer for the PDP';
  }
  return undefined;
}

const pdpUrl = z.string().superRefine((s, ctx) => {
  const problem = pdpUrlProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const timeout = durationWithin(1, 30_000, 'from 1ms to 30s');
const cacheTtl = durationWithin(0, 3_600_000, 'from 0s (no cache) to 1h');
// lru-cache allocates its index arrays for `max` entries up front: a bound keeps a typo from costing gigabytes.
const cacheMax = z.number().int().nonnegative().max(1_000_000);
const failures = z.number().int().min(1).max(1000);
const coolDown = durationWithin(100, 3_600_000, 'from 100ms to 1h');

/** The top-level `pdp`: every key has its default. */
export const pdpSchema = z
  .strictObject({
    mode: z.enum(PDP_MODES).default('embedded'),
    /** OPA: the full Data API URL of the decision (…/v1/data/…); AuthZEN: the PDP's base URL. */
    url: pdpUrl.optional(),
    /** Connect, headers and body together; past it the decision is an error (503). */
    timeout: timeout.prefault('100ms'),
    /** Definite decisions kept by a hash of the exact document sent. ttl 0 or max 0: no cache. */
    cache: z.strictObject({ ttl: cacheTtl.prefault('5s'), max: cacheMax.default(100_000) }).prefault({}),
    /** After `failures` errors in a row, fail fast (503, no call) for `coolDown`, then try one call. */
    breaker: z.strictObject({ failures: failures.default(5), coolDown: coolDown.prefault('10s') }).prefault({}),
  })
  .prefault({});

/** A route's `pdp`: the keys it sets override the top level's (see effectivePdp). */
export const routePdpSchema = z.strictObject({
  mode: z.enum(PDP_MODES).optional(),
  url: pdpUrl.optional(),
  timeout: timeout.optional(),
  cache: z.strictObject({ ttl: cacheTtl.optional(), max: cacheMax.optional() }).optional(),
  breaker: z.strictObject({ failures: failures.optional(), coolDown: coolDown.optional() }).optional(),
});

export type PdpConfig = z.output<typeof pdpSchema>;
export type RoutePdpConfig = z.output<typeof routePdpSchema>;

/** What one remote PDP is: its settings after the route's overrides. */
export interface RemotePdpSettings {
  readonly mode: 'opa' | 'authzen';
  readonly url: string;
  readonly timeout: number;
  readonly cache: { readonly ttl: number; readonly max: number };
  readonly breaker: { readonly failures: number; readonly coolDown: number };
}

/**
 * The PDP a route asks: undefined for its embedded policy. A route's `pdp` overrides the
 * top level's key by key, except that a route with another mode than the top level's
 * does not inherit its url (an OPA decision URL is no AuthZEN base URL). Returns a
 * string when the url is missing.
 */
export function effectivePdp(top: PdpConfig, route: RoutePdpConfig | undefined): RemotePdpSettings | undefined | string {
  const mode = route?.mode ?? top.mode;
  if (mode === 'embedded') return undefined;
  const url = route?.url ?? (route?.mode === undefined || route.mode === top.mode ? top.url : undefined);
  if (url === undefined) return `mode ${mode} needs a url`;
  return {
    mode,
    url,
    timeout: route?.timeout ?? top.timeout,
    cache: { ttl: route?.cache?.ttl ?? top.cache.ttl, max: route?.cache?.max ?? top.cache.max },
    breaker: { failures: route?.breaker?.failures ?? top.breaker.failures, coolDown: route?.breaker?.coolDown ?? top.breaker.coolDown },
  };
}

/** The route's `templates` entries: each a path template (../basics/path-template.ts). */
export const templatesSchema = z
  .array(
    z.string().superRefine((s, ctx) => {
      const parsed = parsePathTemplate(s);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
    }),
  )
  .min(1, 'list at least one template, or leave templates out (the PDP is then asked about the route prefix)')
  .max(100_000);

export interface ConfigIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

/** Problems of one route's list of templates (from `templates` or an OpenAPI file), by index. */
export function templateListIssues(templates: readonly string[], pathPrefix: string): { index: number; message: string }[] {
  const issues: { index: number; message: string }[] = [];
  const shapes = new Map<string, number>();
  templates.forEach((text, index) => {
    const parsed = parsePathTemplate(text);
    if (typeof parsed === 'string') {
      issues.push({ index, message: parsed });
      return;
    }
    const shape = templateShape(parsed);
    const first = shapes.get(shape);
    if (first !== undefined) issues.push({ index, message: `matches the same paths as "${templates[first]}" (which one would the PDP be told?)` });
    else shapes.set(shape, index);
    if (!reachableUnder(parsed, pathPrefix)) issues.push({ index, message: `can never match: the route only gets paths under ${pathPrefix}` });
  });
  return issues;
}

/** Can some path under the route's prefix match the template? (A template outside it is a typo.) */
function reachableUnder(t: PathTemplate, pathPrefix: string): boolean {
  const prefix = pathPrefix.split('/').slice(1).filter((s, i, all) => s !== '' || i < all.length - 1);
  if (prefix.length === 0) return true;
  if (t.segments.length < prefix.length) return false;
  return prefix.every((p, i) => {
    const seg = t.segments[i]!;
    return 'param' in seg || seg.literal === p;
  });
}

interface RouteLike {
  readonly match: { readonly pathPrefix: string };
  readonly policy?: unknown;
  readonly pdp?: RoutePdpConfig | undefined;
  readonly templates?: readonly string[] | undefined;
  readonly openapi?: string | undefined;
}

/**
 * The checks across keys, for the config's superRefine: paths are from the config root.
 * Also run when other keys failed (every problem is reported at once), so a route that
 * did not parse is skipped here; its own problems are reported at its keys.
 */
export function pdpIssues(top: PdpConfig, routes: readonly unknown[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (top.mode !== 'embedded' && top.url === undefined) issues.push({ path: ['pdp', 'url'], message: `mode ${top.mode} needs a url` });
  if (top.mode === 'opa' && top.url !== undefined && pdpUrlProblem(top.url) === undefined && !hasPath(top.url)) {
    issues.push({ path: ['pdp', 'url'], message: 'an OPA url is the Data API path of the decision, e.g. http://127.0.0.1:8181/v1/data/ztproxy/allow' });
  }
  routes.forEach((value, i) => {
    if (!isRouteLike(value)) return;
    const r = value;
    const settings = effectivePdp(top, r.pdp);
    if (typeof settings === 'string') {
      // Without a pdp of its own the route inherits the top level's missing url, reported there.
      if (r.pdp !== undefined) issues.push({ path: ['routes', i, 'pdp', 'url'], message: settings });
    }
    if (typeof settings === 'object' && settings.mode === 'opa' && typeof r.pdp?.url === 'string' && pdpUrlProblem(r.pdp.url) === undefined && !hasPath(r.pdp.url)) {
      issues.push({ path: ['routes', i, 'pdp', 'url'], message: 'an OPA url is the Data API path of the decision, e.g. http://127.0.0.1:8181/v1/data/ztproxy/allow' });
    }
    const embedded = (r.pdp?.mode ?? top.mode) === 'embedded';
    if (embedded && r.policy === undefined) {
      issues.push({ path: ['routes', i, 'policy'], message: 'is required (the route decides with its embedded policy: pdp mode embedded)' });
    }
    if (r.templates !== undefined && r.openapi !== undefined) {
      issues.push({ path: ['routes', i, 'openapi'], message: 'give templates or openapi, not both' });
    }
    if (embedded && (r.templates !== undefined || r.openapi !== undefined)) {
      const key = r.templates !== undefined ? 'templates' : 'openapi';
      issues.push({ path: ['routes', i, key], message: 'names resources for a remote PDP, but this route decides with its embedded policy (pdp mode embedded)' });
    }
    if (r.templates !== undefined) {
      for (const issue of templateListIssues(r.templates, r.match.pathPrefix)) {
        // Syntax problems are already reported by templatesSchema at the entry itself.
        if (typeof parsePathTemplate(r.templates[issue.index]!) === 'string') continue;
        issues.push({ path: ['routes', i, 'templates', issue.index], message: issue.message });
      }
    }
  });
  return issues;
}

function isRouteLike(v: unknown): v is RouteLike {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const match = r.match as { pathPrefix?: unknown } | undefined;
  if (typeof match !== 'object' || match === null || typeof match.pathPrefix !== 'string') return false;
  if (r.pdp !== undefined && (typeof r.pdp !== 'object' || r.pdp === null)) return false;
  if (r.templates !== undefined && !(Array.isArray(r.templates) && r.templates.every((t) => typeof t === 'string'))) return false;
  return r.openapi === undefined || typeof r.openapi === 'string';
}

function hasPath(url: string): boolean {
  const path = new URL(url).pathname;
  return path !== '/' && path !== '';
}
