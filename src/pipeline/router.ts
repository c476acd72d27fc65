// Route selection (SPEC §7): an exact host before a wildcard host (the longest suffix
// first), then a route with no host; within the chosen host the longest pathPrefix
// matching whole segments. The first host group that matches owns the request: no
// fallback to a wildcard or a host-less route, so adding `wiki.example.com` routes can
// never make `/admin` on that host reachable through a broader route by accident.
//
// A route with `paths: caseInsensitive` compares the case-folded path with its folded
// prefix; the others compare the canonical path. So `/ADMIN/x` selects a case-insensitive
// `/admin` route over a broader `/` route, as its IIS upstream would read it. Routes
// are ordered by the length of what they compare.
/** What the router reads of a route (a CompiledRoute; generic so the router needs no snapshot types). */
export interface RoutableRoute {
  /** Lower-case host or `*.suffix`; undefined matches any host. */
  readonly host: string | undefined;
  readonly pathPrefix: string;
  /** The route reads paths case-insensitively: it is matched against the folded path. */
  readonly caseInsensitive: boolean;
  /** pathPrefix, case-folded if caseInsensitive (../basics/path-case.ts). */
  readonly matchPrefix: string;
}

/** `/api` matches `/api` and `/api/...`, never `/apix`. */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47 || prefix.endsWith('/');
}

export function normalizePrefix(prefix: string): string {
  return prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

function byPrefixLength(a: RoutableRoute, b: RoutableRoute): number {
  return b.matchPrefix.length - a.matchPrefix.length;
}

/** Up to this many routes a host group is scanned; above it, looked up by prefix (see PrefixIndex). */
const SCAN_LIMIT = 16;

/**
 * The routes of one kind (case-sensitive or not) of a large group, by prefix: a path is
 * looked up at each of its segment boundaries, longest first, so selection costs one Map
 * lookup per path segment instead of one comparison per route (1,000 routes on one host:
 * ~1.9 µs scanned, a few hundred ns indexed).
 */
class PrefixIndex<R extends RoutableRoute> {
  readonly #byPrefix = new Map<string, { route: R; order: number }>();
  readonly #root: { route: R; order: number } | undefined;

  constructor(routes: readonly { route: R; order: number }[]) {
    let root: { route: R; order: number } | undefined;
    for (const entry of routes) {
      const prefix = entry.route.matchPrefix;
      if (prefix === '/') root ??= entry;
      // Two routes with one prefix: the first in order wins, as the scan would choose.
      else if (!this.#byPrefix.has(prefix)) this.#byPrefix.set(prefix, entry);
    }
    this.#root = root;
  }

  /** The route with the longest prefix of `path` (on whole segments), and its order. */
  longest(path: string): { route: R; order: number } | undefined {
    const map = this.#byPrefix;
    if (map.size > 0) {
      // The whole path, then the part before each `/`, from the end: `/a/b/c`, `/a/b`, `/a`.
      let end = path.length;
      while (end > 0) {
        const hit = map.get(end === path.length ? path : path.slice(0, end));
        if (hit !== undefined) return hit;
        end = path.lastIndexOf('/', end - 1);
      }
    }
    return this.#root;
  }
}

/** The routes of one host (or wildcard, or of no host), longest prefix first. */
export class RouteGroup<R extends RoutableRoute> {
  readonly routes: R[] = [];
  /** Some route of the group ignores case: the caller folds the path for it. */
  foldsCase = false;
  #sensitive: PrefixIndex<R> | undefined;
  #insensitive: PrefixIndex<R> | undefined;

  /** Builds the prefix indexes of a large group; called once all routes are in, sorted. */
  seal(): void {
    if (this.routes.length <= SCAN_LIMIT) return;
    const entries = this.routes.map((route, order) => ({ route, order }));
    this.#sensitive = new PrefixIndex(entries.filter((e) => !e.route.caseInsensitive));
    this.#insensitive = new PrefixIndex(entries.filter((e) => e.route.caseInsensitive));
  }

  /**
   * The route for a canonical path; `folded` is what case-insensitive routes compare
   * (the folded path as Windows reads it) when foldsCase, else anything (not read).
   * The first route, in the group's order (longest prefix first, then config order),
   * whose prefix matches what it compares.
   */
  match(path: string, folded: string): R | undefined {
    const sensitive = this.#sensitive;
    if (sensitive !== undefined) {
      const a = sensitive.longest(path);
      const b = this.foldsCase ? this.#insensitive!.longest(folded) : undefined;
      if (a === undefined) return b?.route;
      return b === undefined || a.order < b.order ? a.route : b.route;
    }
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i]!;
      if (prefixMatches(route.matchPrefix, route.caseInsensitive ? folded : path)) return route;
    }
    return undefined;
  }
}

export class Router<R extends RoutableRoute> {
  readonly #exact = new Map<string, RouteGroup<R>>();
  readonly #wildcards: { suffix: string; group: RouteGroup<R> }[] = [];
  readonly #anyHost = new RouteGroup<R>();

  constructor(routes: readonly R[]) {
    const wild = new Map<string, RouteGroup<R>>();
    for (const route of routes) {
      const host = route.host;
      let group: RouteGroup<R>;
      if (host === undefined) group = this.#anyHost;
      else if (host.startsWith('*.')) {
        const suffix = host.slice(1);
        group = wild.get(suffix) ?? new RouteGroup<R>();
        wild.set(suffix, group);
      } else {
        group = this.#exact.get(host) ?? new RouteGroup<R>();
        this.#exact.set(host, group);
      }
      group.routes.push(route);
      if (route.caseInsensitive) group.foldsCase = true;
    }
    for (const [suffix, group] of wild) this.#wildcards.push({ suffix, group });
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    for (const g of [...this.#exact.values(), ...wild.values(), this.#anyHost]) {
      g.routes.sort(byPrefixLength);
      g.seal();
    }
  }

  /** The host group that owns requests for `host`; stages/route-match.ts selects within it. */
  groupFor(host: string): RouteGroup<R> | undefined {
    const exact = this.#exact.get(host);
    if (exact) return exact;
    for (const w of this.#wildcards) {
      // `*.example.com` covers names below example.com, not example.com itself.
      if (host.length > w.suffix.length && host.endsWith(w.suffix)) return w.group;
    }
    return this.#anyHost.routes.length > 0 ? this.#anyHost : undefined;
  }
}

/** What the tunnel router reads of a TCP route. */
export interface TunnelRoutable {
  /** Lower-case host (canonical IP literal, or name) or `*.suffix`. */
  readonly host: string | undefined;
  readonly tcpPort: number | undefined;
}

/**
 * The TCP routes, by the canonical CONNECT target (basics/canonical.ts
 * canonicalizeConnectTarget): an exact `host:port` first, then the longest wildcard suffix
 * with that port. Separate from the HTTP router, so a CONNECT never reaches an HTTP route
 * and a plain request or WebSocket naming a TCP route's host never reaches its upstream.
 * Only the exact port matches, and an IP literal only a route named by that literal: a
 * route named `ssh.internal` is never reached as `10.0.0.9:22` (no open proxy).
 */
export class TunnelRouter<R extends TunnelRoutable> {
  readonly #exact = new Map<string, R>();
  readonly #wildcards: { suffix: string; port: number; route: R }[] = [];

  constructor(routes: readonly R[]) {
    for (const route of routes) {
      const host = route.host;
      const port = route.tcpPort;
      if (host === undefined || port === undefined) continue;
      if (host.startsWith('*.')) this.#wildcards.push({ suffix: host.slice(1), port, route });
      else if (!this.#exact.has(`${host} ${port}`)) this.#exact.set(`${host} ${port}`, route);
    }
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
  }

  get size(): number {
    return this.#exact.size + this.#wildcards.length;
  }

  /** The route for a canonical target, or undefined (404). */
  route(host: string, port: number): R | undefined {
    const exact = this.#exact.get(`${host} ${port}`);
    if (exact !== undefined) return exact;
    // An IP literal is never below a wildcard name (`*.0.1` is not 10.0.0.1's parent).
    if (host.includes(':') || /^[0-9.]+$/.test(host)) return undefined;
    for (const w of this.#wildcards) {
      if (w.port === port && host.length > w.suffix.length && host.endsWith(w.suffix)) return w.route;
    }
    return undefined;
  }
}
