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

/** The routes of one host (or wildcard, or of no host), longest prefix first. */
export class RouteGroup<R extends RoutableRoute> {
  readonly routes: R[] = [];
  /** Some route of the group ignores case: the caller folds the path for it. */
  foldsCase = false;

  /**
   * The route for a canonical path; `folded` is what case-insensitive routes compare
   * (the folded path as Windows reads it) when foldsCase, else anything (not read).
   */
  match(path: string, folded: string): R | undefined {
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
    for (const g of [...this.#exact.values(), ...wild.values(), this.#anyHost]) g.routes.sort(byPrefixLength);
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
