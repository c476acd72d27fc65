// The types one request runs on, in one module because they refer to each other: the
// request's typed scope (RequestContext), the stage contract it flows through, and the
// immutable snapshot (compiled routes, their stage chains, the router, the identity
// verifiers) it keeps from start to end. src/assembly/ builds snapshots; the composition
// root swaps them in with one assignment.
//
// RequestContext: each stage fills in its part and never overwrites another's
// (oauth2-proxy's request scope); the class keeps one fixed shape so the hot path stays
// monomorphic.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ReplyCode } from '../basics/errors.ts';
import type { HeaderStripper } from '../basics/identity-headers.ts';
import type { Device } from '../basics/device.ts';
import type { Subject } from '../basics/subject.ts';
import type { Config, RouteConfig } from '../config/schema.ts';
import type { AssertionSigner } from '../identity/assertion/index.ts';
import type { BearerVerifier } from '../identity/jwt/index.ts';
import type { Lockout } from '../identity/lockout/index.ts';
import type { PostureVerifier } from '../identity/posture/index.ts';
import type { SessionData, SessionManager } from '../identity/session/manager.ts';
import type { CompiledPolicy, Decision, PolicyInput } from '../policy/index.ts';
import type { RemoteRoute } from '../policy/remote-input.ts';
import type { RemotePdp } from '../pdp/index.ts';
import { NO_TLS_IDENTITY, type ConnectionIdentity } from '../tls/peer-identity.ts';
import type { Router, TunnelRouter } from './router.ts';

/** A stage's answer when it ends the request itself (STYLE: replies are data). */
export interface LocalReply {
  readonly code: ReplyCode;
  /** For the access log only (kebab-case reason, e.g. `encoded-slash`). */
  readonly details: string;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  /** A body of ztproxy's own (e.g. its JWKS) instead of the JSON error. */
  readonly body?: string;
}

export type StageResult = { readonly next: true } | { readonly reply: LocalReply };

/** One step of the chain (see stage.ts): reads and fills the context, never throws to deny. */
export interface Stage {
  readonly name: string;
  run(ctx: RequestContext): StageResult | Promise<StageResult>;
}

export interface CompiledRoute {
  readonly name: string;
  /** Lower-case host or `*.suffix`; undefined matches any host. */
  readonly host: string | undefined;
  readonly pathPrefix: string;
  /** `paths: caseInsensitive`: selection and policy compare the case-folded path. */
  readonly caseInsensitive: boolean;
  /** What the router compares request paths with: pathPrefix, folded if caseInsensitive. */
  readonly matchPrefix: string;
  /** Bytes whose escapes this route refuses (`paths.rejectEncoded`), or undefined for none. */
  readonly rejectEncoded: Uint8Array | undefined;
  readonly config: RouteConfig;
  /** The embedded policy; on a route with a remote PDP, the gate asked first (absent in config: `authenticated: true`). */
  readonly policy: CompiledPolicy;
  /** The remote PDP the route asks after its gate allows, or undefined (embedded). */
  readonly remote: RouteRemote | undefined;
  /** `shadowPolicy`: evaluated after the answer, for the log and metrics only; never enforced. */
  readonly shadowPolicy: CompiledPolicy | undefined;
  /** The route's own `stripHeaders` (on top of the snapshot's), when it lists any. */
  readonly headerStripper: HeaderStripper | undefined;
  /** This route's chain after route match, built once; its last stage forwards. */
  readonly stages: readonly Stage[];
  /** A TCP route (`tcp://` upstream): its CONNECT port. Such a route is only in `Snapshot.tunnels`, never in the HTTP router. */
  readonly tcpPort: number | undefined;
}

/** A route's remote PDP and what its documents name (the route, its templates). */
export interface RouteRemote {
  readonly pdp: RemotePdp;
  readonly mode: 'opa' | 'authzen';
  readonly route: RemoteRoute;
}

export interface Snapshot {
  readonly version: number;
  readonly config: Config;
  readonly routes: readonly CompiledRoute[];
  readonly router: Router<CompiledRoute>;
  /** The TCP routes by CONNECT target (host:port); CONNECT is routed only here. */
  readonly tunnels: TunnelRouter<CompiledRoute>;
  readonly preStages: readonly Stage[];
  readonly trustedProxies: BlockList | undefined;
  /** The identity-header families plus the top-level `stripHeaders`, applied by sanitation. */
  readonly headerStripper: HeaderStripper;
  /** The Strict-Transport-Security value, or undefined when disabled. */
  readonly hstsHeader: string | undefined;
  /** Bearer JWT verification, when `identity.jwt` lists issuers. */
  readonly bearer: BearerVerifier | undefined;
  /** Signs X-ZT-Assertion; serves its JWKS. */
  readonly assertion: AssertionSigner;
  /** Browser login and sessions, when `identity.oidc` is configured. */
  readonly sessions: SessionManager | undefined;
  /** Device-posture assertion verification, when `device` is configured. */
  readonly posture: PostureVerifier | undefined;
  /** Deny after repeated failures, when `lockout` is configured (its counts outlive the snapshot). */
  readonly lockout: Lockout | undefined;
  /** The /.well-known/ztproxy/cli-configuration document, when `identity.cli` is configured. */
  readonly cliConfigurationJson: string | undefined;
  /** POST /.ztproxy/streams/renew: fresh credentials for an open long-lived stream (proxy/stream-renew.ts). */
  readonly streamRenewal: Stage;
}

export interface StageTimings {
  auth: number | undefined;
  policy: number | undefined;
  upstream: number | undefined;
}

export interface UpgradeTarget {
  readonly socket: Duplex;
  readonly head: Buffer;
}

export class RequestContext {
  readonly id: string;
  readonly startedAt: number;
  readonly snapshot: Snapshot;
  readonly req: IncomingMessage;
  /** Undefined for an upgrade (WebSocket) request, which answers on `upgrade.socket`. */
  readonly res: ServerResponse | undefined;
  readonly upgrade: UpgradeTarget | undefined;

  conn: ConnectionIdentity = NO_TLS_IDENTITY;
  /** The socket peer address (IPv4-mapped IPv6 unwrapped). */
  peerIp = '';
  /** The client: the peer, or the first untrusted hop of X-Forwarded-For behind trusted proxies. */
  clientIp = '';
  peerTrusted = false;

  // The canonical request (set by sanitation): what policy and upstream both see.
  method = '';
  host = '';
  authority = '';
  path = '';
  /** The port of a CONNECT target (0 for every other request). */
  port = 0;
  /** Raw query without `?`, or '' (forwarded unchanged; never used by policy). */
  query = '';
  encodedSlash = false;
  /** Flat [name, value, ...] list of the client's headers that may be forwarded. */
  forwardHeaders: string[] = [];
  /** The family of each identity header removed from the client's request (metrics, access log); undefined: none. */
  strippedFamilies: string[] | undefined;
  /** The request's Cookie header(s), joined; read by the session stage, never parsed on the hot path otherwise. */
  cookieHeader: string | undefined;
  /** X-Forwarded-* values received from a trusted proxy, if any. */
  forwardedFor: string | undefined;
  forwardedProto: string | undefined;
  forwardedHost: string | undefined;

  route: CompiledRoute | undefined;
  /** The path the route's policy compares (set by route match): `path`, case-folded on a case-insensitive route. */
  policyPath = '';
  /** Who authentication proved the caller to be (bearer token), if anyone. */
  subject: Subject | undefined;
  /** The bearer token's `exp` (epoch seconds) when `subject` came from one: a long-lived stream ends there unless renewed. */
  tokenExpiresAt: number | undefined;
  /** The browser session the request carried, if valid: a long-lived stream is cut when it is revoked or expires. */
  session: SessionData | undefined;
  /** The device a verified posture assertion describes (the posture stage), if any. */
  device: Device | undefined;
  /**
   * Why the request has no device (the posture stage): `posture-absent` (no header) or a
   * posture-* reason; undefined when `device` is valid or posture is not configured. For
   * the access log (`posture`) and the posture metric; never an error reply.
   */
  postureProblem: string | undefined;
  /** The id of the browser session the request carried, if valid (an error page's sign-out form is bound to it). */
  sessionId: string | undefined;
  decision: Decision | undefined;
  /**
   * What the authorize stage asked the policy (its `now` included): the shadow policy
   * is evaluated on this very input after the answer, so both decisions saw the same request.
   */
  policyInput: PolicyInput | undefined;
  /**
   * Who produced `decision`: the embedded engine, a remote PDP (`opa`, `authzen`), or the
   * decision cache in front of one (`cache`) — for the audit log.
   */
  policySource: 'embedded' | 'opa' | 'authzen' | 'cache' | undefined;
  /** A remote PDP's reasons for its decision (`{result: {allow, reasons}}`, AuthZEN `context.reason`), for the audit log; never sent to the client. */
  policyReasons: readonly string[] | undefined;
  /** Set-Cookie values ztproxy adds to the response (a renewed or cleared session). */
  setCookies: string[] | undefined;
  timings: StageTimings = { auth: undefined, policy: undefined, upstream: undefined };
  /** performance.now() when the upstream request was sent. */
  startedUpstream = 0;

  /** Final status and the access-log reason. */
  status = 0;
  details = '';
  bytesIn = 0;
  /** A CONNECT tunnel's bytes relayed to the upstream and to the client (access log); undefined for other requests. */
  bytesToUpstream: number | undefined;
  bytesToClient: number | undefined;

  constructor(
    id: string,
    snapshot: Snapshot,
    req: IncomingMessage,
    res: ServerResponse | undefined,
    upgrade: UpgradeTarget | undefined,
  ) {
    this.id = id;
    this.startedAt = performance.now();
    this.snapshot = snapshot;
    this.req = req;
    this.res = res;
    this.upgrade = upgrade;
  }

  /** The path and query as sent upstream. */
  get target(): string {
    return this.query === '' ? this.path : `${this.path}?${this.query}`;
  }
}
