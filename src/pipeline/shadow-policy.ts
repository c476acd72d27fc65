// A route's `shadowPolicy` (SPEC §3): a candidate policy evaluated beside the enforced one
// so an operator sees what it would change on real traffic before it ships (Envoy's
// shadow RBAC engine). It is asked only after the request was answered (from the audit
// step), on the very PolicyInput the enforced decision saw, and it only counts and logs:
// nothing it says reaches the client or the upstream.
import type { Decision } from '../policy/index.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { RequestContext } from './context.ts';

// Only if the compiled policy itself throws (a bug: criteria errors are decisions):
// the shadow's failure must not cost the request its access-log line.
const SHADOW_FAILED: Decision = Object.freeze({ effect: 'error', reason: 'policy-evaluation-failed', rule: undefined, needsAuthentication: false });

/**
 * The shadow decision for a request that reached authorization on a route with a
 * shadowPolicy, else undefined. Counts every evaluation; logs and counts a divergence:
 * an enforced allow or deny the shadow answers differently (an enforced `error`, e.g. a
 * PDP that did not answer, has no outcome to compare and is only counted).
 */
export function evaluateShadow(ctx: RequestContext, enforced: Decision, log: Logger, metrics: Metrics): Decision | undefined {
  const route = ctx.route;
  const input = ctx.policyInput;
  if (route?.shadowPolicy === undefined || input === undefined) return undefined;
  let shadow: Decision;
  try {
    shadow = route.shadowPolicy.decide(input);
  } catch (err) {
    log.error({ err, requestId: ctx.id, route: route.name }, 'shadow policy evaluation failed');
    shadow = SHADOW_FAILED;
  }
  const diverged = enforced.effect !== 'error' && shadow.effect !== enforced.effect;
  metrics.countShadow(route.name, enforced.effect, shadow.effect, diverged);
  if (diverged && log.isLevelEnabled('warn')) {
    log.warn({
      msg: 'policy shadow divergence',
      requestId: ctx.id,
      route: route.name,
      subject: ctx.subject?.sub,
      issuer: ctx.subject?.issuer,
      deviceId: ctx.device?.id,
      spiffeId: input.spiffeId,
      method: input.method,
      host: input.host,
      path: ctx.path,
      enforced: enforced.effect,
      enforcedRule: enforced.rule,
      enforcedReason: enforced.reason,
      policySource: ctx.policySource,
      shadow: shadow.effect,
      shadowRule: shadow.rule,
      shadowReason: shadow.reason,
    });
  }
  return shadow;
}
