// Assembles the immutable runtime state (src/pipeline/snapshot.ts) from one validated
// Config: compiled routes and policies, each route's stage chain ending in its upstream's
// forward stage, the router, the identity verifiers, the trusted-proxy set. It sits above
// everything it assembles (pipeline stages, proxy forwarding, identity, policy), so that
// none of those imports it back; config only parses and validates.
import { BlockList, isIP } from 'node:net';
import { compilePolicy } from '../policy/index.ts';
import { BearerVerifier } from '../identity/jwt/index.ts';
import { PostureVerifier } from '../identity/posture/index.ts';
import { AssertionSigner, ephemeralAssertionKey, loadAssertionKeys } from '../identity/assertion/index.ts';
import { RelyingParty } from '../identity/oidc/relying-party.ts';
import { randomSessionKey } from '../identity/session/codec.ts';
import { SessionManager, SessionRuntime } from '../identity/session/manager.ts';
import { SessionRevocations } from '../identity/session/revocations.ts';
import { Lockout, LockoutRuntime } from '../identity/lockout/index.ts';
import { lockoutAddressStage, lockoutSubjectStage } from '../pipeline/stages/lockout.ts';
import { authenticateStage } from '../pipeline/stages/authenticate.ts';
import { PostureStage } from '../pipeline/stages/posture.ts';
import { cliConfigurationJson } from '../pipeline/stages/cli-configuration.ts';
import { authorizeStage, remoteAuthorizeStage } from '../pipeline/stages/authorize.ts';
import { PdpRegistry, type RemotePdp } from '../pdp/index.ts';
import { TemplateMatcher } from '../policy/path-templates.ts';
import type { PolicyConfig } from '../policy/index.ts';
import { effectivePdp } from '../config/pdp.ts';
import { readOpenApiTemplates } from '../config/openapi.ts';
import { connectionIdentityStage } from '../pipeline/stages/connection-identity.ts';
import { ForwardStage } from '../proxy/forward-stage.ts';
import { StreamRegistry } from '../proxy/streams.ts';
import { StreamRenewStage } from '../proxy/stream-renew.ts';
import { reservedPathsStage } from '../pipeline/stages/reserved-paths.ts';
import { routeMatchStage } from '../pipeline/stages/route-match.ts';
import { sanitizeStage } from '../pipeline/stages/sanitize.ts';
import { HeaderStripper } from '../basics/identity-headers.ts';
import { Router, TunnelRouter, normalizePrefix } from '../pipeline/router.ts';
import { encodedRejectTable } from '../basics/encoded-reserved.ts';
import { foldPathCase } from '../basics/path-case.ts';
import type { Stage } from '../pipeline/stage.ts';
import type { CompiledRoute, RouteRemote, Snapshot } from '../pipeline/context.ts';
import type { Upstream, UpstreamRegistry } from '../proxy/upstream.ts';
import { isTcpRoute, parseTcpUpstream, type Config, type RouteConfig } from '../config/schema.ts';
import { canonicalizeConnectTarget } from '../basics/canonical.ts';

/** A snapshot and the upstream pools its routes forward to (for the registry's bookkeeping). */
export interface AssembledSnapshot extends Snapshot {
  readonly upstreams: readonly Upstream[];
  /** The remote PDPs its routes ask (for the PdpRegistry's bookkeeping). */
  readonly pdps: readonly RemotePdp[];
}

/**
 * State that outlives one snapshot: session revocations, the per-process session key,
 * refreshes in flight, the lockout's counters and bans (a reload forgives nobody), and
 * the relying party (its discovery cache) while its config stays the same. One per proxy
 * process.
 */
export class IdentityRuntime {
  readonly sessions = new SessionRuntime(new SessionRevocations(), randomSessionKey());
  readonly lockout = new LockoutRuntime();
  #rp: { key: string; rp: RelyingParty } | undefined;

  relyingParty(config: NonNullable<Config['identity']['oidc']>): RelyingParty {
    const key = JSON.stringify(config);
    if (this.#rp?.key !== key) this.#rp = { key, rp: new RelyingParty(config) };
    return this.#rp.rp;
  }
}

/** Claim names that `claim` rules anywhere in the routes' policies read. */
export function policyClaimNames(routes: readonly RouteConfig[]): string[] {
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
  // The shadow policy's claims too: a claim it reads must not be missing from a session
  // (a divergence that only says "the cookie did not keep that claim").
  for (const r of routes) {
    walk(r.policy);
    walk(r.shadowPolicy);
  }
  return [...names];
}

/**
 * A TCP route's host as CONNECT targets are looked up (basics/canonical.ts): an IPv6
 * literal in its compressed form; names and wildcards as the schema lower-cased them.
 */
function tunnelHost(host: string | undefined): string | undefined {
  if (host === undefined || !host.includes(':')) return host;
  const canonical = canonicalizeConnectTarget(`[${host}]:1`);
  if (!canonical.ok) throw new Error(`match.host: ${host} is not an IPv6 address a CONNECT can name (${canonical.reason})`);
  return canonical.target.name;
}

const PRE_STAGES: readonly Stage[] = Object.freeze([connectionIdentityStage, sanitizeStage, reservedPathsStage, routeMatchStage]);

/**
 * The gate of a route with a remote PDP and no `policy` of its own: a PDP is asked about
 * someone (AuthZEN's `subject.id` is required), and an anonymous caller is sent to log in.
 */
const DEFAULT_REMOTE_GATE: PolicyConfig = { allow: { authenticated: true } };

/** The route's path templates: its `templates`, or its OpenAPI document's `paths` keys. */
function routeTemplates(rc: RouteConfig): readonly string[] | undefined {
  if (rc.templates !== undefined) return rc.templates;
  if (rc.openapi === undefined) return undefined;
  const read = readOpenApiTemplates(rc.openapi);
  if ('error' in read) throw new Error(`openapi: ${read.error}`);
  return read.templates;
}

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
  pdps: PdpRegistry = new PdpRegistry(),
  streams: StreamRegistry = new StreamRegistry(),
): Promise<AssembledSnapshot> {
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
  let posture: PostureVerifier | undefined;
  if (config.device) {
    try {
      posture = await PostureVerifier.create(config.device);
    } catch (err) {
      errors.push(`device: ${(err as Error).message}`);
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
  // Posture after authentication (a `uid` binding is checked against the subject) and
  // before authorization (the policy reads the device); one stage instance per snapshot.
  // With `lockout`, a banned address is refused before anything else of the route runs,
  // a banned subject right after authentication named it (pipeline/stages/lockout.ts).
  const lockout = config.lockout ? new Lockout(config.lockout, runtime.lockout) : undefined;
  const authStages: Stage[] = [];
  if (lockout) authStages.push(lockoutAddressStage);
  if (bearer || sessions) {
    authStages.push(authenticateStage);
    if (lockout) authStages.push(lockoutSubjectStage);
  }
  if (posture) authStages.push(new PostureStage(posture));
  const routes: CompiledRoute[] = [];
  const acquired: Upstream[] = [];
  const acquiredPdps: RemotePdp[] = [];
  config.routes.forEach((rc, i) => {
    try {
      const caseInsensitive = rc.paths.case === 'insensitive';
      const pathPrefix = normalizePrefix(rc.match.pathPrefix);
      const matchPrefix = caseInsensitive ? foldPathCase(pathPrefix) : pathPrefix;
      if (matchPrefix === undefined) throw new Error(`match.pathPrefix: ${pathPrefix} cannot be case-folded`);
      const settings = effectivePdp(config.pdp, rc.pdp);
      if (typeof settings === 'string') throw new Error(`pdp.url: ${settings}`);
      const policySource = rc.policy ?? (settings !== undefined ? DEFAULT_REMOTE_GATE : undefined);
      if (policySource === undefined) throw new Error('policy: is required (this route decides with its embedded policy)');
      const policy = compilePolicy(policySource, { caseInsensitivePaths: caseInsensitive });
      let remote: RouteRemote | undefined;
      if (settings !== undefined) {
        const templates = routeTemplates(rc);
        const matcher = templates === undefined ? undefined : new TemplateMatcher(templates, { fallbackId: pathPrefix, caseInsensitive });
        const pdp = pdps.acquire(settings);
        acquiredPdps.push(pdp);
        remote = Object.freeze({ pdp, mode: settings.mode, route: Object.freeze({ name: rc.name, templates: matcher, pathPrefix }) });
      }
      const shadowPolicy = rc.shadowPolicy && compilePolicy(rc.shadowPolicy, { caseInsensitivePaths: caseInsensitive });
      let forward: ForwardStage;
      const tcp = isTcpRoute(rc) ? parseTcpUpstream(rc.upstream) : undefined;
      if (tcp !== undefined) {
        forward = new ForwardStage({ host: tcp.host, port: tcp.port, connectTimeout: rc.timeouts.connect, idleTimeout: rc.timeouts.idle }, streams);
      } else {
        const upstream = upstreams.acquire(rc);
        acquired.push(upstream);
        forward = new ForwardStage(upstream, streams);
      }
      routes.push({
        name: rc.name,
        host: tcp !== undefined ? tunnelHost(rc.match.host) : rc.match.host,
        tcpPort: tcp !== undefined ? rc.match.port : undefined,
        pathPrefix,
        caseInsensitive,
        matchPrefix,
        rejectEncoded: rc.paths.rejectEncoded.length > 0 ? encodedRejectTable(rc.paths.rejectEncoded) : undefined,
        config: rc,
        policy,
        remote,
        shadowPolicy,
        headerStripper: HeaderStripper.configuredOnly(rc.stripHeaders),
        stages: Object.freeze([...authStages, remote === undefined ? authorizeStage : remoteAuthorizeStage, forward]),
      });
    } catch (err) {
      errors.push(`routes.${i}: ${(err as Error).message}`);
    }
  });
  let cliJson: string | undefined;
  try {
    cliJson = cliConfigurationJson(config);
  } catch (err) {
    errors.push((err as Error).message);
  }
  if (errors.length > 0 || !assertion) {
    upstreams.discard(acquired);
    pdps.discard(acquiredPdps);
    bearer?.close();
    posture?.close();
    throw new SnapshotError(errors);
  }
  return Object.freeze({
    version,
    config,
    routes,
    // TCP routes only in the tunnel router: a plain request or WebSocket for their host never reaches them.
    router: new Router(routes.filter((r) => r.tcpPort === undefined)),
    tunnels: new TunnelRouter(routes),
    preStages: PRE_STAGES,
    trustedProxies: buildTrustedProxies(config.listen.trustedProxies),
    // A posture header under another name than X-Device-Posture is stripped like it.
    headerStripper: HeaderStripper.create(config.stripHeaders, config.device ? [config.device.header] : []),
    hstsHeader: hstsValue(config.listen.hsts),
    bearer,
    assertion,
    sessions,
    posture,
    lockout,
    cliConfigurationJson: cliJson,
    streamRenewal: new StreamRenewStage(streams),
    upstreams: acquired,
    pdps: acquiredPdps,
  });
}

export class SnapshotError extends Error {
  readonly errors: string[];
  constructor(errors: string[]) {
    super(errors.join('\n'));
    this.errors = errors;
  }
}
