// Route selection (SPEC §7): an exact host before a wildcard host (the longest suffix
// first), then a route with no host; within the chosen host the longest pathPrefix
// matching whole segments. The first host group that matches owns the request: no
// fallback to a wildcard or a host-less route, so adding `wiki.example.com` routes can
// never make `/admin` on that host reachable through a broader route by accident.
/** What the router reads of a route (a CompiledRoute; generic so the router needs no snapshot types). */
export interface RoutableRoute {
  /** Lower-case host or `*.suffix`; undefined matches any host. */
  readonly host: string | undefined;
  readonly pathPrefix: string;
}

interface Group<R> {
  readonly routes: R[];
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
  return b.pathPrefix.length - a.pathPrefix.length;
}

export class Router<R extends RoutableRoute> {
  readonly #exact = new Map<string, Group<R>>();
  readonly #wildcards: { suffix: string; group: Group<R> }[] = [];
  readonly #anyHost: Group<R> = { routes: [] };

  constructor(routes: readonly R[]) {
    const wild = new Map<string, Group<R>>();
    for (const route of routes) {
      const host = route.host;
      let group: Group<R>;
      if (host === undefined) group = this.#anyHost;
      else if (host.startsWith('*.')) {
        const suffix = host.slice(1);
        group = wild.get(suffix) ?? { routes: [] };
        wild.set(suffix, group);
      } else {
        group = this.#exact.get(host) ?? { routes: [] };
        this.#exact.set(host, group);
      }
      group.routes.push(route);
    }
    for (const [suffix, group] of wild) this.#wildcards.push({ suffix, group });
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    for (const g of [...this.#exact.values(), ...wild.values(), this.#anyHost]) g.routes.sort(byPrefixLength);
  }

  match(host: string, path: string): R | undefined {
    const group = this.#groupFor(host);
    if (!group) return undefined;
    for (const route of group.routes) if (prefixMatches(route.pathPrefix, path)) return route;
    return undefined;
  }

  #groupFor(host: string): Group<R> | undefined {
    const exact = this.#exact.get(host);
    if (exact) return exact;
    for (const w of this.#wildcards) {
      // `*.example.com` covers names below example.com, not example.com itself.
      if (host.length > w.suffix.length && host.endsWith(w.suffix)) return w.group;
    }
    return this.#anyHost.routes.length > 0 ? this.#anyHost : undefined;
  }
}
