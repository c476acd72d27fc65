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
    now: Date.now(),
  };
}

export const authorizeStage: Stage = {
  name: 'authorize',
  run(ctx: RequestContext): StageResult {
    const started = performance.now();
    const decision = ctx.route!.policy.decide(policyInput(ctx));
    ctx.timings.policy = performance.now() - started;
    ctx.decision = decision;
    if (decision.effect === 'allow') return NEXT;
    return {
      reply: {
        code: decision.effect === 'error' ? 'service-unavailable' : 'forbidden',
        details: decision.reason,
      },
    };
  },
};
