// One undici Pool per upstream, kept alive across config reloads while the upstream's
// settings do not change (so a reload does not cost every keep-alive connection), and
// closed gracefully — in-flight requests finish — once no snapshot uses it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Pool, buildConnector } from 'undici';
import type { RouteConfig } from '../config/schema.ts';

export interface UpstreamTimeouts {
  readonly connect: number;
  readonly headers: number;
  readonly body: number;
  readonly idle: number;
}

export class Upstream {
  readonly key: string;
  readonly origin: string;
  /** Host header when the route does not preserve the client's. */
  readonly host: string;
  readonly secure: boolean;
  readonly pool: Pool;
  readonly timeouts: UpstreamTimeouts;
  /** TLS options for the WebSocket path, which does not go through the Pool. */
  readonly tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string } | undefined;
  /**
   * The name the upstream certificate is verified against (and sent as SNI): the route's
   * `upstreamTls.serverName`, else the upstream URL's host name; undefined for an IP
   * upstream (verified against the IP). Never the client's Host header, which undici
   * would otherwise use — with preserveHost that would let a client choose the name the
   * upstream's certificate is checked for, and churn connections per Host.
   */
  readonly serverName: string | undefined;
  /** Constant per-request servername for undici (see serverName). */
  readonly requestServerName: string;

  constructor(key: string, route: RouteConfig, tls: Upstream['tls']) {
    const url = new URL(route.upstream);
    this.key = key;
    this.origin = url.origin;
    this.host = url.host;
    this.secure = url.protocol === 'https:';
    this.timeouts = route.timeouts;
    this.tls = tls;
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    this.serverName = tls?.servername ?? (isIP(hostname) === 0 ? hostname : undefined);
    this.requestServerName = this.serverName ?? hostname;
    const connector = buildConnector({
      timeout: route.timeouts.connect,
      ...(this.secure ? { rejectUnauthorized: true, ...tls } : {}),
    });
    const serverName = this.serverName;
    this.pool = new Pool(this.origin, {
      connect: this.secure ? (opts, callback) => connector({ ...opts, servername: serverName }, callback) : connector,
      headersTimeout: route.timeouts.headers,
      bodyTimeout: route.timeouts.body,
      keepAliveTimeout: route.timeouts.idle,
      keepAliveMaxTimeout: Math.max(route.timeouts.idle, 1000),
      // Pipelining would let one slow response hold up others and complicates
      // request-smuggling reasoning; one request per connection at a time.
      pipelining: 1,
    });
  }
}

function readUpstreamTls(route: RouteConfig): Upstream['tls'] {
  const t = route.upstreamTls;
  if (!t) return undefined;
  return {
    ...(t.ca ? { ca: readFileSync(t.ca) } : {}),
    ...(t.cert ? { cert: readFileSync(t.cert) } : {}),
    ...(t.key ? { key: readFileSync(t.key) } : {}),
    ...(t.serverName ? { servername: t.serverName } : {}),
  };
}

/** Hands out Upstreams by settings, reusing the pool of an unchanged upstream. */
export class UpstreamRegistry {
  #live = new Map<string, Upstream>();

  /** Builds (or reuses) the upstream of a route; throws if a TLS file cannot be read. */
  acquire(route: RouteConfig): Upstream {
    const tls = readUpstreamTls(route);
    const hash = createHash('sha256');
    hash.update(JSON.stringify([route.upstream, route.timeouts]));
    if (tls) for (const part of [tls.ca, tls.cert, tls.key, tls.servername]) hash.update(String(part?.length ?? '-')).update(part ?? '');
    const key = hash.digest('base64url');
    const existing = this.#live.get(key);
    if (existing) return existing;
    return new Upstream(key, route, tls);
  }

  /** After a snapshot swap: keep exactly the upstreams it uses, close the rest gracefully. */
  retain(upstreams: Iterable<Upstream>): void {
    const next = new Map<string, Upstream>();
    for (const u of upstreams) next.set(u.key, u);
    for (const [key, u] of this.#live) if (!next.has(key)) void u.pool.close().catch(() => {});
    this.#live = next;
  }

  /** Forget upstreams built for a snapshot that was never swapped in. */
  discard(upstreams: Iterable<Upstream>): void {
    for (const u of upstreams) if (this.#live.get(u.key) !== u) void u.pool.close().catch(() => {});
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.#live.values()].map((u) => u.pool.close()));
    this.#live.clear();
  }

  async destroyAll(): Promise<void> {
    await Promise.allSettled([...this.#live.values()].map((u) => u.pool.destroy()));
    this.#live.clear();
  }
}
