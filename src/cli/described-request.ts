// A request described in JSON or YAML — for `ztproxy explain` and the policy test files
// of `ztproxy check --tests` — run through the proxy's own canonicalisation and route
// selection (basics/canonical.ts, pipeline/stages/route-match.ts) and turned into the
// PolicyInput the authorize stage would build. One path for both commands, so a test
// that passes here passes for the same request on the wire.
import { METHODS } from 'node:http';
import { z } from 'zod';
import { canonicalizeHost, canonicalizePath, isValidQuery } from '../basics/canonical.ts';
import type { Device } from '../basics/device.ts';
import { REPLIES } from '../basics/errors.ts';
import type { Subject } from '../basics/subject.ts';
import type { Decision, Explanation, PolicyInput } from '../policy/index.ts';
import { describePdpRequest } from '../pdp/index.ts';
import type { CompiledRoute, Snapshot } from '../pipeline/context.ts';
import type { StageResult } from '../pipeline/stage.ts';
import { reservedAnswer } from '../pipeline/stages/reserved-paths.ts';
import { freshLoginWouldPass, STEP_UP_GRACE_S } from '../pipeline/stages/authorize.ts';
import { selectRoute, selectTunnel, type RouteTarget } from '../pipeline/stages/route-match.ts';
import { CONNECT_PATH, connectTarget, refusedMethod } from '../pipeline/stages/sanitize.ts';

const instant = z.iso.datetime({ offset: true });

// YAML reads an unquoted 14.10 as the number 14.1: a version must be written as a string.
const versionText = z.string({
  error: (issue) => (typeof issue.input === 'number' ? 'must be a quoted string ("14.3"): YAML reads 14.10 as the number 14.1' : 'must be a string'),
});

export const describedSubjectSchema = z
  .strictObject({
    sub: z.string().min(1),
    issuer: z.string().default('explain'),
    source: z.enum(['bearer', 'session']).default('bearer'),
    email: z.string().optional(),
    emailVerified: z.boolean().default(true),
    groups: z.array(z.string()).default([]),
    claims: z.record(z.string(), z.unknown()).default({}),
    /** ISO 8601 time of the login, for `authAge`. */
    authTime: instant.optional(),
    /** Seconds between the login and the request's `time` (instead of authTime). */
    authAge: z.number().int().nonnegative().optional(),
    acr: z.string().optional(),
    amr: z.array(z.string()).default([]),
  })
  .refine((s) => s.authTime === undefined || s.authAge === undefined, { message: 'give authTime or authAge, not both', path: ['authAge'] });

/** A verified posture assertion as the posture stage would hand it on; an absent field is unknown. */
export const describedDeviceSchema = z.strictObject({
  id: z.string().min(1),
  issuer: z.string().min(1).default('described'),
  managed: z.boolean().optional(),
  compliant: z.boolean().optional(),
  os: z.strictObject({ name: z.string().optional(), version: versionText.optional() }).optional(),
  patchAgeDays: z.number().int().nonnegative().optional(),
  diskEncrypted: z.boolean().optional(),
  firewall: z.boolean().optional(),
  edr: z.boolean().optional(),
  screenLock: z.boolean().optional(),
});

export const describedRequestSchema = z.strictObject({
  method: z.string().min(1).default('GET'),
  host: z.string(),
  path: z.string().default('/'),
  sourceIp: z.string().default('127.0.0.1'),
  spiffeId: z.string().optional(),
  /** ISO 8601 time to evaluate `time` (and `authAge`) criteria at; default now. */
  time: instant.optional(),
  /** The authenticated caller, as a verified token would describe it; absent: anonymous. */
  subject: describedSubjectSchema.optional(),
  /** The device, as a verified posture assertion would describe it; absent: no posture. */
  device: describedDeviceSchema.optional(),
});

export type DescribedRequest = z.output<typeof describedRequestSchema>;

function subjectOf(s: DescribedRequest['subject'], now: number): Subject | undefined {
  if (!s) return undefined;
  const nowSeconds = Math.floor(now / 1000);
  return {
    source: s.source,
    issuer: s.issuer,
    sub: s.sub,
    email: s.email,
    emailVerified: s.emailVerified,
    groups: s.groups,
    claims: { ...s.claims, sub: s.sub, iss: s.issuer },
    authTime: s.authTime !== undefined ? Math.floor(Date.parse(s.authTime) / 1000) : s.authAge !== undefined ? nowSeconds - s.authAge : undefined,
    acr: s.acr,
    amr: s.amr,
  };
}

/** The lifetime given to a described device: it is "verified" and fresh at the request's time. */
const DESCRIBED_DEVICE_LIFETIME_S = 300;

export function deviceOf(d: DescribedRequest['device'], now: number): Device | undefined {
  if (!d) return undefined;
  const issuedAt = Math.floor(now / 1000);
  return {
    issuer: d.issuer,
    id: d.id,
    issuedAt,
    expiresAt: issuedAt + DESCRIBED_DEVICE_LIFETIME_S,
    posture: {
      managed: d.managed,
      compliant: d.compliant,
      os: d.os === undefined ? undefined : { name: d.os.name, version: d.os.version },
      patchAgeDays: d.patchAgeDays,
      diskEncrypted: d.diskEncrypted,
      firewall: d.firewall,
      edr: d.edr,
      screenLock: d.screenLock,
    },
  };
}

/**
 * Why the config can never see this described request, or undefined. A described subject,
 * device or SPIFFE ID stands for one the proxy verified; where the config verifies no such
 * thing the request cannot occur on the wire, and a case judged on it would pass for a
 * request the proxy answers differently (every real caller is anonymous there).
 */
export function cannotOccur(snapshot: Snapshot, request: DescribedRequest): string | undefined {
  const subject = request.subject;
  if (subject?.source === 'bearer' && snapshot.bearer === undefined) {
    return 'subject: the config verifies no bearer token (identity.jwt lists no issuer), so no request is ever authenticated by one';
  }
  if (subject?.source === 'session' && snapshot.sessions === undefined) {
    return 'subject: the config has no browser login (identity.oidc), so no request ever has a session';
  }
  if (request.device !== undefined && snapshot.posture === undefined) {
    return 'device: the config has no device block, so no request ever has posture';
  }
  if (request.spiffeId !== undefined && snapshot.config.listen.clientAuth.mode === 'off') {
    return 'spiffeId: listen.clientAuth is off, so no request ever carries a client certificate';
  }
  return undefined;
}

/**
 * Where a described request ends: refused before policy (400, 404, 405), answered by
 * ztproxy itself (`local`: its reserved paths — the assertion JWKS, the login endpoints),
 * or at a route's policy.
 */
export type ResolvedRequest =
  | { readonly kind: 'refused'; readonly status: number | 'local'; readonly reason: string; readonly route: CompiledRoute | undefined }
  | { readonly kind: 'routed'; readonly route: CompiledRoute; readonly canonicalPath: string; readonly input: PolicyInput };

function refusal(result: StageResult, route: CompiledRoute | undefined): ResolvedRequest {
  if (!('reply' in result)) throw new Error('refusal: not a reply');
  return { kind: 'refused', status: REPLIES[result.reply.code].status, reason: result.reply.details, route };
}

/** The proxy's sanitation and route match for a described request (nothing is sent anywhere). */
export function resolveRequest(snapshot: Snapshot, request: DescribedRequest): ResolvedRequest {
  // In the order of the sanitize and reserved-paths stages: each refusal the proxy makes
  // before a route is chosen is made here too, or a test would pass for a request that
  // never reaches the route's policy on the wire.
  const method = request.method.toUpperCase();
  // Node's HTTP parser answers 400 to a method it does not know (TRACK, FOO) before
  // ztproxy sees the request: no route's policy ever judges one.
  if (!METHODS.includes(method)) return { kind: 'refused', status: 400, reason: 'unknown-method', route: undefined };
  const badMethod = refusedMethod(method);
  if (badMethod !== undefined) return refusal(badMethod, undefined);
  // A CONNECT names its target (`host: ssh.internal:22`) and is routed by it alone, to a
  // TCP route, with the path a tunnel's policy sees (sanitize.ts connectTarget).
  if (method === 'CONNECT') return resolveConnect(snapshot, request);
  const q = request.path.indexOf('?');
  if (q >= 0 && !isValidQuery(request.path.slice(q + 1))) return { kind: 'refused', status: 400, reason: 'invalid-query', route: undefined };
  const path = canonicalizePath(q < 0 ? request.path : request.path.slice(0, q));
  const host = canonicalizeHost(request.host);
  if (!path.ok) return { kind: 'refused', status: 400, reason: path.reason, route: undefined };
  if (!host) return { kind: 'refused', status: 400, reason: 'invalid-host', route: undefined };
  // /.ztproxy/… and the assertion JWKS are answered before any route, on every host.
  const reserved = reservedAnswer(path.path, method, { login: snapshot.sessions !== undefined, cli: snapshot.cliConfigurationJson !== undefined });
  if (reserved === 'local') return { kind: 'refused', status: 'local', reason: 'reserved-path', route: undefined };
  if (reserved !== undefined) return refusal(reserved, undefined);
  const target: RouteTarget = { host: host.name, path: path.path, encodedSlash: path.encodedSlash, route: undefined, policyPath: '' };
  const selected = selectRoute(snapshot.router, target);
  if ('reply' in selected) return refusal(selected, target.route);
  return { kind: 'routed', route: target.route!, canonicalPath: path.path, input: describedInput(request, method, host.name, target.policyPath) };
}

function resolveConnect(snapshot: Snapshot, request: DescribedRequest): ResolvedRequest {
  if (request.path !== CONNECT_PATH) return { kind: 'refused', status: 400, reason: 'connect-target-not-authority-form', route: undefined };
  const judged = connectTarget(request.host, request.host);
  if ('refused' in judged) return refusal(judged.refused, undefined);
  const target: RouteTarget = { host: judged.target.name, path: CONNECT_PATH, encodedSlash: false, route: undefined, policyPath: '' };
  const selected = selectTunnel(snapshot.tunnels, target, judged.target.port);
  if ('reply' in selected) return refusal(selected, undefined);
  return { kind: 'routed', route: target.route!, canonicalPath: CONNECT_PATH, input: describedInput(request, 'CONNECT', judged.target.name, CONNECT_PATH) };
}

function describedInput(request: DescribedRequest, method: string, host: string, policyPath: string): PolicyInput {
  const now = request.time !== undefined ? Date.parse(request.time) : Date.now();
  return {
    method,
    host,
    path: policyPath,
    sourceIp: request.sourceIp,
    spiffeId: request.spiffeId,
    subject: subjectOf(request.subject, now),
    device: deviceOf(request.device, now),
    now,
  };
}

/** The request a route's remote PDP would get (not sent): its mode, endpoint and body. */
export interface PdpRequest {
  readonly mode: 'opa' | 'authzen';
  readonly method: 'POST';
  readonly url: string;
  readonly body: Record<string, unknown>;
}

/**
 * What the route's authorize stage would do with the input, short of calling a remote PDP:
 * the embedded policy's explanation (on a remote route, the gate's), and — when the gate
 * allows on a remote route — the request the PDP would be asked (`pdp`), or, for an
 * anonymous request to an AuthZEN PDP, the login it is answered with instead
 * (`pdp-needs-subject`, as remoteAuthorizeStage does). `stepUp`: a denial that a fresh
 * login of the same subject would turn into an allow (authAge), which the proxy answers
 * with a login — 401 `insufficient_user_authentication` to a bearer caller, the login
 * redirect to a browser session — not with 403 (authorize.ts `refuse`).
 */
export function judgeOffline(route: CompiledRoute, input: PolicyInput): { explanation: Explanation; pdp: PdpRequest | undefined; needsSubject: boolean; stepUp: boolean } {
  const explanation = route.policy.explain(input);
  const decision = explanation.decision;
  const remote = route.remote;
  if (decision.effect !== 'allow') return { explanation, pdp: undefined, needsSubject: false, stepUp: stepUpAsked(route, input, decision) };
  if (remote === undefined) return { explanation, pdp: undefined, needsSubject: false, stepUp: false };
  const described = describePdpRequest(remote.pdp.settings, input, remote.route);
  if (described.body === undefined) return { explanation, pdp: undefined, needsSubject: true, stepUp: false };
  return { explanation, pdp: { mode: remote.mode, method: described.method, url: described.url, body: described.body }, needsSubject: false, stepUp: false };
}

function stepUpAsked(route: CompiledRoute, input: PolicyInput, decision: Decision): boolean {
  const subject = input.subject;
  if (decision.effect !== 'deny' || decision.needsAuthentication || subject?.authTime === undefined) return false;
  if (!freshLoginWouldPass(route.policy, input, subject)) return false;
  // A browser session logged in moments ago is not sent round again (no loop): 403.
  return subject.source === 'bearer' || Math.floor(input.now / 1000) - subject.authTime > STEP_UP_GRACE_S;
}

/** The client's answer for a judged request, in the terms of a policy test's `status`. */
export function offlineStatus(judged: ReturnType<typeof judgeOffline>): 'forwarded' | 'pdp' | number {
  const d = judged.explanation.decision;
  if (judged.pdp !== undefined) return 'pdp';
  if (judged.needsSubject || judged.stepUp) return 401;
  return d.effect === 'allow' ? 'forwarded' : d.effect === 'error' ? 503 : d.needsAuthentication ? 401 : 403;
}
