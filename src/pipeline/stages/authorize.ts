// Stage: authorization by the route's compiled policy (the embedded policy engine).
// Deny overrides allow, no allow means deny, an engine error fails closed (503).
// A denial a login could change is answered with a way to log in: a browser navigation
// goes to /.ztproxy/login (SPEC §4), an API client gets 401 `Bearer`. A signed-in
// browser whose login is too old for the route (authAge) is sent to log in again
// (step-up); an API client gets RFC 9470's `insufficient_user_authentication`.
//
// A route with a remote PDP (SPEC §7) runs `remoteAuthorizeStage` instead: its embedded
// policy is a gate asked first (default `authenticated: true`), answered as above when
// it says no; then the PDP decides. The PDP's deny is 403 (for an anonymous caller the
// login path: signing in might change it); its error — timeout, unreachable, non-2xx,
// malformed answer, open circuit — is 503 with that reason, never forwarded. The
// embedded stage stays synchronous and allocation-free; the remote one is async only on
// a decision-cache miss.
import type { CompiledPolicy, Decision, PolicyInput } from '../../policy/index.ts';
import type { PdpAnswer } from '../../pdp/index.ts';
import type { Subject } from '../../basics/subject.ts';
import type { RequestContext } from '../context.ts';
import { NEXT, type Stage, type StageResult } from '../stage.ts';
import { LOGIN_PATH } from './login-endpoints.ts';

/** A login younger than this is not sent to log in again (no loop if the IdP ignores prompt=login). */
export const STEP_UP_GRACE_S = 30;

export function policyInput(ctx: RequestContext): PolicyInput {
  return {
    method: ctx.method,
    host: ctx.host,
    path: ctx.policyPath,
    sourceIp: ctx.clientIp,
    spiffeId: ctx.conn.spiffeId,
    subject: ctx.subject,
    device: ctx.device,
    now: Date.now(),
  };
}

const NEEDS_AUTHENTICATION: StageResult = Object.freeze({
  reply: Object.freeze({ code: 'unauthorized', details: 'authentication-required', headers: Object.freeze({ 'www-authenticate': 'Bearer' }) }),
});

const INSUFFICIENT_AUTHENTICATION: StageResult = Object.freeze({
  reply: Object.freeze({
    code: 'unauthorized',
    details: 'step-up-required',
    headers: Object.freeze({ 'www-authenticate': 'Bearer error="insufficient_user_authentication", error_description="a more recent authentication is required"' }),
  }),
});

/** A top-level page load (SPEC §4: GET with Accept text/html), which can follow a login redirect. */
function isBrowserNavigation(ctx: RequestContext): boolean {
  if (ctx.method !== 'GET' || ctx.upgrade !== undefined) return false;
  const accept = ctx.req.headers.accept;
  return accept !== undefined && accept.toLowerCase().includes('text/html');
}

function toLogin(ctx: RequestContext, details: string, reauth: boolean): StageResult {
  const location = `${LOGIN_PATH}?rd=${encodeURIComponent(ctx.target)}${reauth ? '&reauth=1' : ''}`;
  return { reply: { code: 'found', details, body: '', headers: { location, 'content-type': 'text/plain' } } };
}

/**
 * Would a fresh login of the same subject be allowed? (Only asked on a denial.) Shared
 * with `ztproxy check --tests` / `explain` (src/cli/described-request.ts): a policy test
 * must see the step-up 401 the client gets, not a 403.
 */
export function freshLoginWouldPass(policy: CompiledPolicy, input: PolicyInput, subject: Subject): boolean {
  const fresh: Subject = { ...subject, authTime: Math.floor(input.now / 1000) };
  return policy.decide({ ...input, subject: fresh }).effect === 'allow';
}

export const authorizeStage: Stage = {
  name: 'authorize',
  run(ctx: RequestContext): StageResult {
    const started = performance.now();
    const input = (ctx.policyInput = policyInput(ctx));
    const decision = ctx.route!.policy.decide(input);
    ctx.timings.policy = performance.now() - started;
    ctx.decision = decision;
    ctx.policySource = 'embedded';
    if (decision.effect === 'allow') return NEXT;
    return refuse(ctx, decision);
  },
};

/** The answer to an embedded decision that is not an allow. */
function refuse(ctx: RequestContext, decision: Decision): StageResult {
  // Denied for want of an identity the policy asks for: tell the client to
  // authenticate (RFC 6750 §3: no error code when no token was sent).
  if (decision.needsAuthentication) {
    // The log keeps why a session cookie did not count (expired, revoked, ...) if it did not.
    return ctx.snapshot.sessions !== undefined && isBrowserNavigation(ctx) ? toLogin(ctx, ctx.details || 'login-required', false) : NEEDS_AUTHENTICATION;
  }
  const subject = ctx.subject;
  if (decision.effect === 'deny' && subject !== undefined && subject.authTime !== undefined && freshLoginWouldPass(ctx.route!.policy, policyInput(ctx), subject)) {
    if (subject.source === 'bearer') return INSUFFICIENT_AUTHENTICATION;
    const loggedInAgo = Math.floor(Date.now() / 1000) - subject.authTime;
    if (isBrowserNavigation(ctx) && loggedInAgo > STEP_UP_GRACE_S) return toLogin(ctx, 'step-up-required', true);
  }
  return {
    reply: {
      code: decision.effect === 'error' ? 'service-unavailable' : 'forbidden',
      details: decision.reason,
    },
  };
}

/** An AuthZEN PDP cannot be asked about nobody (`subject.id` is required): a login is what is missing. */
const ANONYMOUS_FOR_PDP: Decision = Object.freeze({ effect: 'deny', reason: 'pdp-needs-subject', rule: undefined, needsAuthentication: true });
const PDP_DENY_ANONYMOUS: Decision = Object.freeze({ effect: 'deny', reason: 'pdp-deny', rule: undefined, needsAuthentication: true });

/** Replies to the PDP's answers, one per reason, preallocated. */
const PDP_REPLIES = new Map<string, StageResult>();
function pdpReply(decision: Decision): StageResult {
  let reply = PDP_REPLIES.get(decision.reason);
  if (reply === undefined) {
    reply = Object.freeze({ reply: Object.freeze({ code: decision.effect === 'error' ? 'service-unavailable' : 'forbidden', details: decision.reason }) });
    PDP_REPLIES.set(decision.reason, reply);
  }
  return reply;
}

function applyAnswer(ctx: RequestContext, answer: PdpAnswer, started: number): StageResult {
  ctx.timings.policy = performance.now() - started;
  ctx.policySource = answer.source;
  ctx.policyReasons = answer.reasons;
  const decision = answer.decision;
  if (decision.effect === 'allow') {
    ctx.decision = decision;
    return NEXT;
  }
  // A deny for a caller who has not signed in: signing in might change it.
  if (decision.effect === 'deny' && ctx.subject === undefined) {
    ctx.decision = PDP_DENY_ANONYMOUS;
    return refuse(ctx, PDP_DENY_ANONYMOUS);
  }
  ctx.decision = decision;
  if (decision.reason === 'pdp-circuit-open') {
    // Failing fast for the cool-down: tell clients when asking again can help (RFC 9110 §10.2.3).
    const seconds = ctx.route!.remote!.pdp.retryAfterSeconds();
    return { reply: { code: 'service-unavailable', details: decision.reason, headers: { 'retry-after': String(seconds) } } };
  }
  return pdpReply(decision);
}

export const remoteAuthorizeStage: Stage = {
  name: 'authorize',
  run(ctx: RequestContext): StageResult | Promise<StageResult> {
    const started = performance.now();
    const route = ctx.route!;
    const remote = route.remote!;
    const input = (ctx.policyInput = policyInput(ctx));
    const gate = route.policy.decide(input);
    if (gate.effect !== 'allow') {
      ctx.timings.policy = performance.now() - started;
      ctx.decision = gate;
      ctx.policySource = 'embedded';
      return refuse(ctx, gate);
    }
    const answer = remote.pdp.decide(input, remote.route, ctx.id);
    if (answer === undefined) {
      ctx.timings.policy = performance.now() - started;
      ctx.decision = ANONYMOUS_FOR_PDP;
      ctx.policySource = 'embedded';
      return refuse(ctx, ANONYMOUS_FOR_PDP);
    }
    if (answer instanceof Promise) return answer.then((a) => applyAnswer(ctx, a, started));
    return applyAnswer(ctx, answer, started);
  },
};
