// The stage runner: the snapshot's connection stages, then the matched route's own
// chain (built once per snapshot, without the stages the route does not use). The first
// stage that answers ends the request; a stage that throws is a bug, answered 500,
// never forwarded (fail closed).
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { recordRequest } from './access-log.ts';
import type { RequestContext } from './context.ts';
import type { LocalReply, Stage, StageResult } from './stage.ts';
import { countFailure } from './stages/lockout.ts';

export interface RunDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Writes a local reply to the client (the proxy's job: the pipeline knows no sockets). */
  readonly respond: (ctx: RequestContext, reply: LocalReply) => void;
}

async function runStages(ctx: RequestContext, stages: readonly Stage[], deps: RunDeps): Promise<boolean> {
  for (const stage of stages) {
    const started = performance.now();
    let result: StageResult | Promise<StageResult> = stage.run(ctx);
    if (result instanceof Promise) result = await result;
    deps.metrics.stageTimer(stage.name).observe((performance.now() - started) / 1000);
    if ('reply' in result) {
      deps.respond(ctx, result.reply);
      // One check when no `lockout` is configured.
      if (ctx.snapshot.lockout !== undefined) countFailure(ctx, stage.name, result.reply);
      return false;
    }
  }
  return true;
}

const INTERNAL_ERROR: LocalReply = Object.freeze({ code: 'internal-error', details: 'internal-error' });

export async function runPipeline(ctx: RequestContext, deps: RunDeps): Promise<void> {
  try {
    const routed = await runStages(ctx, ctx.snapshot.preStages, deps);
    // Counted as soon as sanitation and route match are done, not with the access-log
    // line: a WebSocket that came with a forged header may stay open for hours.
    if (ctx.strippedFamilies !== undefined) deps.metrics.countStrippedHeaders(ctx.strippedFamilies);
    if (routed) await runStages(ctx, ctx.route!.stages, deps);
  } catch (err) {
    deps.log.error({ err, requestId: ctx.id, stage: 'pipeline' }, 'request chain failed');
    deps.respond(ctx, INTERNAL_ERROR);
  }
  recordRequest(ctx, deps.log, deps.metrics);
}
