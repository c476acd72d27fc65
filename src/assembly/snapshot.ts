// The immutable runtime state built from one Config (Pomerium's habit): compiled
// routes and policies, the router, upstream pools, trusted-proxy set. Built off the
// request path, swapped in with one assignment; a request keeps the snapshot it
// started with until it ends.
import { BlockList, isIP } from 'node:net';
import { compilePolicy, type CompiledPolicy } from '../policy/index.ts';
import { BearerVerifier } from '../identity/jwt/index.ts';
import { AssertionSigner, ephemeralAssertionKey, loadAssertionKeys } from '../identity/assertion/index.ts';
import { RelyingParty } from '../identity/oidc/relying-party.ts';
import { randomSessionKey } from '../identity/session/codec.ts';
import { SessionManager, SessionRuntime } from '../identity/session/manager.ts';
import { SessionRevocations } from '../identity/session/revocations.ts';
import { authenticateStage } from '../pipeline/stages/authenticate.ts';
import { authorizeStage } from '../pipeline/stages/authorize.ts';
import { connectionIdentityStage } from '../pipeline/stages/connection-identity.ts';
import { forwardStage } from '../proxy/forward-stage.ts';
import { reservedPathsStage } from '../pipeline/stages/reserved-paths.ts';
import { routeMatchStage } from '../pipeline/stages/route-match.ts';
import { sanitizeStage } from '../pipeline/stages/sanitize.ts';
import { Router, normalizePrefix } from '../pipeline/router.ts';
import type { Stage } from '../pipeline/stage.ts';
import type { Upstream, UpstreamRegistry } from '../proxy/upstream.ts';
import type { Config, RouteConfig } from '../config/schema.ts';

export interface CompiledRoute {
  readonly name: string;
  /** Lower-case host or `*.suffix`; undefined matches any host. */
  readonly host: string | undefined;
  readonly pathPrefix: string;
  readonly config: RouteConfig;
  readonly policy: CompiledPolicy;
  readonly upstream: Upstream;
  /** This route's chain after route match, built once. */
  readonly stages: readonly Stage[];
}

export interface Snapshot {
  readonly version: number;
  readonly config: Config;
  readonly routes: readonly CompiledRoute[];
  readonly router: Router;
  readonly preStages: readonly Stage[];
  readonly trustedProxies: BlockList | undefined;
  /** The Strict-Transport-Security value, or undefined when disabled. */
  readonly hstsHeader: string | undefined;
  /** Bearer JWT verification, when `identity.jwt` lists issuers. */
  readonly bearer: BearerVerifier | undefined;
  /** Signs X-ZT-Assertion; serves its JWKS. */
  readonly assertion: AssertionSigner;
  /** Browser login and sessions, when `identity.oidc` is configured. */
  readonly sessions: SessionManager | undefined;
}

/**
 * State that outlives one snapshot: session revocations, the per-process session key,
 * refreshes in flight, and the relying party (its discovery cache) while its config
 * stays the same. One per proxy process.
 */
export class IdentityRuntime {
  readonly sessions = new SessionRuntime(new SessionRevocations(), randomSessionKey());
  #rp: { key: string; rp: RelyingParty } | undefined;

  relyingParty(config: NonNullable<Config['identity']['oidc']>): RelyingParty {
    const key = JSON.stringify(config);
    if (this.#rp?.key !== key) this.#rp = { key, rp: new RelyingParty(config) };
    return this.#rp.rp;
  }
}

/** Claim names that `claim` rules anywhere in the routes' policies read. */
function policyClaimNames(routes: readonly RouteConfig[]): string[] {
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (typeof node === 'object' && node !== null) {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'claim' && typeof v === 'object' && v !== null && typeof (v as { name?: unknown }).name === 'string') {
          names.add((v as { name: string }).name);
        } else walk(v);
      }
    }
  };
  for (const r of routes) walk(r.policy);
  return [...names];
}

const PRE_STAGES: readonly Stage[] = Object.freeze([connectionIdentityStage, sanitizeStage, reservedPathsStage, routeMatchStage]);
const ROUTE_STAGES: readonly Stage[] = Object.freeze([authorizeStage, forwardStage]);
const ROUTE_STAGES_WITH_AUTHENTICATION: readonly Stage[] = Object.freeze([authenticateStage, authorizeStage, forwardStage]);

function buildTrustedProxies(cidrs: readonly string[]): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/') as [string, string | undefined];
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

function hstsValue(hsts: Config['listen']['hsts']): string | undefined {
  if (!hsts.enabled) return undefined;
  let v = `max-age=${Math.floor(hsts.maxAge / 1000)}`;
  if (hsts.includeSubDomains) v += '; includeSubDomains';
  if (hsts.preload) v += '; preload';
  return v;
}

/**
 * Builds a snapshot; throws a SnapshotError (`path: message` lines) if part of it cannot
 * be built, e.g. an upstream TLS file or a JWKS file is unreadable. Upstreams acquired for
 * a snapshot that fails are handed back to the registry.
 */
export async function buildSnapshot(
  config: Config,
  version: number,
  upstreams: UpstreamRegistry,
  runtime: IdentityRuntime = new IdentityRuntime(),
): Promise<Snapshot> {
  const errors: string[] = [];
  const oidc = config.identity.oidc;
  const sessions = oidc
    ? new SessionManager({
        session: config.identity.session,
        oidc,
        rp: runtime.relyingParty(oidc),
        runtime: runtime.sessions,
        policyClaims: policyClaimNames(config.routes),
      })
    : undefined;
  let bearer: BearerVerifier | undefined;
  if (config.identity.jwt) {
    try {
      bearer = await BearerVerifier.create(config.identity.jwt, {
        cacheMax: config.identity.tokenCache.max,
        cacheMaxTtlMs: config.identity.tokenCache.maxTtl,
      });
    } catch (err) {
      errors.push(`identity.jwt: ${(err as Error).message}`);
    }
  }
  const a = config.identity.assertion;
  let assertion: AssertionSigner | undefined;
  try {
    const keys = a.keys ? await loadAssertionKeys(a.keys) : [await ephemeralAssertionKey()];
    assertion = new AssertionSigner(keys, { issuer: a.issuer, ttlSeconds: Math.floor(a.ttl / 1000) });
  } catch (err) {
    errors.push(`identity.assertion.${(err as Error).message}`);
  }
  // Stages a route does not use are left out of its chain (STYLE: one check per unused phase).
  const stages = bearer || sessions ? ROUTE_STAGES_WITH_AUTHENTICATION : ROUTE_STAGES;
  const routes: CompiledRoute[] = [];
  config.routes.forEach((rc, i) => {
    try {
      routes.push({
        name: rc.name,
        host: rc.match.host,
        pathPrefix: normalizePrefix(rc.match.pathPrefix),
        config: rc,
        policy: compilePolicy(rc.policy),
        upstream: upstreams.acquire(rc),
        stages,
      });
    } catch (err) {
      errors.push(`routes.${i}: ${(err as Error).message}`);
    }
  });
  if (errors.length > 0 || !assertion) {
    upstreams.discard(routes.map((r) => r.upstream));
    bearer?.close();
    throw new SnapshotError(errors);
  }
  return Object.freeze({
    version,
    config,
    routes,
    router: new Router(routes),
    preStages: PRE_STAGES,
    trustedProxies: buildTrustedProxies(config.listen.trustedProxies),
    hstsHeader: hstsValue(config.listen.hsts),
    bearer,
    assertion,
    sessions,
  });
}

export class SnapshotError extends Error {
  readonly errors: string[];
  constructor(errors: string[]) {
    super(errors.join('\n'));
    this.errors = errors;
  }
}
