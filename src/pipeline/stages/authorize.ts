// Stage: authorization by the route's compiled policy (the embedded policy engine).
// Deny overrides allow, no allow means deny, an engine error fails closed (503).
import type { PolicyInput } from '../../policy/index.ts';
import type { RequestContext } from '../context.ts';
import { NEXT, type Stage, type StageResult } from '../stage.ts';

export function policyInput(ctx: RequestContext): PolicyInput {
  return {
    method: ctx.method,
    host: ctx.host,
    path: ctx.path,
    sourceIp: ctx.clientIp,
    spiffeId: ctx.conn.spiffeId,
    subject: ctx.subject,
    now: Date.now(),
  };
}

const NEEDS_AUTHENTICATION: StageResult = Object.freeze({
  reply: Object.freeze({ code: 'unauthorized', details: 'authentication-required', headers: Object.freeze({ 'www-authenticate': 'Bearer' }) }),
}) as StageResult;

export const authorizeStage: Stage = {
  name: 'authorize',
  run(ctx: RequestContext): StageResult {
    const started = performance.now();
    const decision = ctx.route!.policy.decide(policyInput(ctx));
    ctx.timings.policy = performance.now() - started;
    ctx.decision = decision;
    if (decision.effect === 'allow') return NEXT;
    // Denied for want of an identity the policy asks for: tell the client to
    // authenticate (RFC 6750 §3: no error code when no token was sent).
    if (decision.needsAuthentication) return NEEDS_AUTHENTICATION;
    return {
      reply: {
        code: decision.effect === 'error' ? 'service-unavailable' : 'forbidden',
        details: decision.reason,
      },
    };
  },
};
