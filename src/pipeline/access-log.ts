// One access-log line per request (SPEC §8): who, what, which route, the decision and
// its reason, and where the time went. The path is logged without its query (queries
// carry tokens and personal data); no header, cookie or token is ever logged.
//
// The line is also the decision audit (issue #5 point 6): who (subject, device id, SPIFFE
// id), what (route, method, path), the outcome, the rule or the PDP's reasons behind it,
// which engine answered (policySource: embedded, opa, authzen, cache) and how long it took
// (durations.policy) — one line per request rather than a second `decision` line: the same
// request id, status and timings belong to the decision, and a second JSON line per request
// would double the logging cost of the hot path (docs/design.md "Decision audit").
import type { RequestContext } from './context.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { evaluateShadow } from './shadow-policy.ts';

const round = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : Math.round(ms * 1000) / 1000);

export function recordRequest(ctx: RequestContext, log: Logger, metrics: Metrics): void {
  const decision = ctx.decision?.effect ?? 'none';
  const route = ctx.route?.name ?? '';
  metrics.countRequest(route, ctx.status, decision);
  if (ctx.timings.policy !== undefined) metrics.observePolicy(ctx.timings.policy / 1000);
  const posture = ctx.device !== undefined ? 'valid' : ctx.postureProblem;
  if (posture !== undefined) metrics.countPosture(posture);
  // After the answer, so a shadow policy never delays or changes one; only requests that
  // reached authorization (a 404, 400 or a refused token never had a decision to compare).
  const shadow = ctx.decision === undefined ? undefined : evaluateShadow(ctx, ctx.decision, log, metrics);
  // Below `info` (a benchmark, a quiet deployment) the line is not even built.
  if (!log.isLevelEnabled('info')) return;
  log.info({
    msg: 'request',
    requestId: ctx.id,
    route: route || undefined,
    method: ctx.method || ctx.req.method,
    host: ctx.host || undefined,
    path: ctx.path || undefined,
    status: ctx.status,
    clientIp: ctx.clientIp || undefined,
    subject: ctx.subject?.sub,
    issuer: ctx.subject?.issuer,
    spiffeId: ctx.conn.spiffeId,
    deviceId: ctx.device?.id,
    // `valid`, `posture-absent`, or why the assertion did not count; never the assertion.
    posture,
    clientCert: ctx.conn.clientCert === 'none' ? undefined : ctx.conn.clientCert,
    decision,
    reason: ctx.details || ctx.decision?.reason,
    rule: ctx.decision?.rule,
    policySource: ctx.policySource,
    policyReasons: ctx.policyReasons,
    shadowDecision: shadow?.effect,
    shadowRule: shadow?.rule,
    // Families only, each once: a forged header's value may be a real token, and a
    // request of 2000 forged headers must not become a line of 2000 entries.
    // A CONNECT tunnel's line is written when it closes: what it carried each way.
    bytesToUpstream: ctx.bytesToUpstream,
    bytesToClient: ctx.bytesToClient,
    strippedHeaders: ctx.strippedFamilies === undefined ? undefined : [...new Set(ctx.strippedFamilies)],
    durations: {
      total: round(performance.now() - ctx.startedAt),
      auth: round(ctx.timings.auth),
      policy: round(ctx.timings.policy),
      upstream: round(ctx.timings.upstream),
    },
  });
}
