// Re-authorization of one open stream (SPEC §8; issue #6 point 4): would the request that
// opened it still be let through, judged against the current snapshot at this instant?
// Only what is cheap is asked again — nothing is re-verified: the stream keeps what was
// verified when it opened (subject, the token's exp, the session, the device and its
// deadline, the client certificate's notAfter), so a sweep of 10,000 streams is a few
// milliseconds of map lookups and embedded policy decisions (~1 µs each).
//
// The answer is undefined (keep it) or the close reason, in this order:
//  - `client-cert-expired`: the certificate the connection was authenticated with expired
//    (SPEC §5: expired certificates never authenticate);
//  - `token-expired`: the bearer token it rode in on passed its `exp` (no renewal came);
//    `token-issuer-removed`: a reload removed the token's issuer from identity.jwt;
//    `session-revoked`: the provider logged the token's session or user out (back channel);
//  - `session-expired` / `session-revoked`: the browser session passed its absolute end
//    under the current ttl, or was revoked (logout, back-channel logout, refused
//    refresh), or a reload ended OIDC login or changed its provider;
//  - `route-removed` / `route-changed`: the route it was opened on is gone, forwards to
//    another upstream, stopped allowing WebSockets, or a WebSocket's host and path now
//    select another route;
//  - `locked-out`: its client address or subject is banned (lockout);
//  - `policy-denied`, `posture-expired` (the policy said no once the device's assertion
//    stopped counting — it is then judged without a device, as a request without posture
//    would be), `policy-error` / `pdp-error` (fail closed, SPEC §7): the route's policy,
//    then its remote PDP if it has one (asked through the decision cache).
import type { CompiledRoute, RequestContext, Snapshot } from '../pipeline/context.ts';
import type { PolicyInput } from '../policy/index.ts';
import { selectRoute } from '../pipeline/stages/route-match.ts';
import { banLeft } from '../pipeline/stages/lockout.ts';
import type { PdpAnswer } from '../pdp/index.ts';

/** undefined: the stream stays open; otherwise why it closes (kebab-case). */
export type StreamVerdict = string | undefined;

/** What is judged: the stream's kind and the context it was opened (and renewed) with. */
export interface JudgedStream {
  readonly kind: 'websocket' | 'tunnel';
  readonly ctx: RequestContext;
}

/** The routes of a snapshot by name, built once per snapshot on first use. */
const routesByName = new WeakMap<Snapshot, ReadonlyMap<string, CompiledRoute>>();

function routeNamed(snapshot: Snapshot, name: string): CompiledRoute | undefined {
  let map = routesByName.get(snapshot);
  if (map === undefined) {
    map = new Map(snapshot.routes.map((r) => [r.name, r]));
    routesByName.set(snapshot, map);
  }
  return map.get(name);
}

/** A stream's route as last judged: which snapshot, which route in it, the path its policy compares. */
interface RouteCheck {
  readonly snapshot: Snapshot;
  readonly route: CompiledRoute;
  readonly policyPath: string;
}

/** Per stream, so a sweep on an unchanged snapshot does not select its route again. */
const checkedRoutes = new WeakMap<RequestContext, RouteCheck>();

/** Does `next` still forward this stream where `opened` did, the way it did? */
function sameForwarding(opened: CompiledRoute, next: CompiledRoute, kind: JudgedStream['kind']): boolean {
  if (opened === next) return true;
  const a = opened.config;
  const b = next.config;
  if (a.upstream !== b.upstream || JSON.stringify(a.upstreamTls) !== JSON.stringify(b.upstreamTls)) return false;
  if (kind === 'websocket' && !b.websocket) return false;
  return opened.caseInsensitive === next.caseInsensitive;
}

/** The stream's route in `snapshot`, or why there is none it may stay on. */
function routeIn(stream: JudgedStream, snapshot: Snapshot): RouteCheck | string {
  const known = checkedRoutes.get(stream.ctx);
  if (known !== undefined && known.snapshot === snapshot) return known;
  const ctx = stream.ctx;
  const opened = ctx.route!;
  const route = routeNamed(snapshot, opened.name);
  if (route === undefined) return 'route-removed';
  if (!sameForwarding(opened, route, stream.kind)) return 'route-changed';
  let policyPath = ctx.policyPath;
  if (stream.kind === 'websocket') {
    // A WebSocket is chosen by host and path: a route added for a longer prefix (or one
    // whose path rules now refuse this path) owns it now, and its new requests would not
    // reach this route.
    const target = { host: ctx.host, path: ctx.path, encodedSlash: ctx.encodedSlash, route: undefined as CompiledRoute | undefined, policyPath: '' };
    const selected = selectRoute(snapshot.router, target);
    if (!('next' in selected) || target.route !== route) return 'route-changed';
    policyPath = target.policyPath;
  } else if (snapshot.tunnels.route(ctx.host, ctx.port) !== route) {
    // A tunnel is chosen by its CONNECT target: another TCP route for it now (or none) owns it.
    return 'route-changed';
  }
  const check: RouteCheck = { snapshot, route, policyPath };
  checkedRoutes.set(ctx, check);
  return check;
}

/** When the device's assertion stops counting (epoch ms): its exp, or iat + the current maxAge if earlier. */
function postureEndsAt(ctx: RequestContext, snapshot: Snapshot): number {
  const device = ctx.device;
  if (device === undefined) return Infinity;
  // A reload that drops the device block, or the issuer that vouched for it, ends it now.
  const posture = snapshot.posture;
  if (posture === undefined || !posture.hasIssuer(device.issuer)) return 0;
  const expires = device.expiresAt * 1000;
  const maxAge = snapshot.config.device?.maxAge;
  return maxAge === undefined ? expires : Math.min(expires, device.issuedAt * 1000 + maxAge);
}

/**
 * When the stream must next be judged because something it rides on stops counting
 * (epoch ms; Infinity: nothing will): the earliest of the certificate's notAfter, the
 * token's exp, the session's absolute end and — while it has not passed yet — the
 * posture's end (a route that does not need posture keeps the stream past it).
 */
export function streamDeadline(stream: JudgedStream, snapshot: Snapshot, now: number): number {
  const ctx = stream.ctx;
  let at = ctx.conn.certExpiresAt;
  if (ctx.tokenExpiresAt !== undefined) at = Math.min(at, ctx.tokenExpiresAt * 1000);
  const session = ctx.session;
  if (session !== undefined && snapshot.sessions !== undefined) at = Math.min(at, snapshot.sessions.endsAt(session));
  const posture = postureEndsAt(ctx, snapshot);
  if (posture > now) at = Math.min(at, posture);
  return at;
}

/** Would the stream's request be let through now, by `snapshot`? See the file comment for the reasons. */
export function judgeStream(stream: JudgedStream, snapshot: Snapshot, now: number): StreamVerdict | Promise<StreamVerdict> {
  const ctx = stream.ctx;
  if (ctx.conn.certExpiresAt <= now) return 'client-cert-expired';
  const subject = ctx.subject;
  if (ctx.tokenExpiresAt !== undefined && subject !== undefined) {
    if (ctx.tokenExpiresAt * 1000 <= now) return 'token-expired';
    if (snapshot.bearer === undefined || !snapshot.bearer.hasIssuer(subject.issuer)) return 'token-issuer-removed';
    if (snapshot.sessions !== undefined && snapshot.sessions.revocations.isTokenRevoked(subject.issuer, subject.sub, subject.claims)) return 'session-revoked';
  }
  const session = ctx.session;
  if (session !== undefined) {
    if (snapshot.sessions === undefined) return 'session-revoked';
    const problem = snapshot.sessions.streamProblem(session, Math.floor(now / 1000));
    if (problem !== undefined) return problem;
  }
  const check = routeIn(stream, snapshot);
  if (typeof check === 'string') return check;
  const lockout = snapshot.lockout;
  if (lockout !== undefined) {
    const left = banLeft(lockout, ctx, now);
    if (left instanceof Promise) return left.then((ms) => (ms > 0 ? 'locked-out' : decide(ctx, check, snapshot, now)));
    if (left > 0) return 'locked-out';
  }
  return decide(ctx, check, snapshot, now);
}

function decide(ctx: RequestContext, check: RouteCheck, snapshot: Snapshot, now: number): StreamVerdict | Promise<StreamVerdict> {
  const route = check.route;
  const stale = ctx.device !== undefined && postureEndsAt(ctx, snapshot) <= now;
  const input: PolicyInput = {
    method: ctx.method,
    host: ctx.host,
    path: check.policyPath,
    sourceIp: ctx.clientIp,
    spiffeId: ctx.conn.spiffeId,
    subject: ctx.subject,
    device: stale ? undefined : ctx.device,
    now,
  };
  const denied = stale ? 'posture-expired' : 'policy-denied';
  const decision = route.policy.decide(input);
  if (decision.effect === 'error') return 'policy-error';
  if (decision.effect !== 'allow') return denied;
  const remote = route.remote;
  if (remote === undefined) return undefined;
  const answer = remote.pdp.decide(input, remote.route, ctx.id);
  if (answer === undefined) return denied;
  return answer instanceof Promise ? answer.then((a) => pdpVerdict(a, denied)) : pdpVerdict(answer, denied);
}

/** A PDP error closes the stream as it refuses a request (SPEC §7: fail closed). */
function pdpVerdict(answer: PdpAnswer, denied: string): StreamVerdict {
  const effect = answer.decision.effect;
  if (effect === 'allow') return undefined;
  return effect === 'error' ? 'pdp-error' : denied;
}
