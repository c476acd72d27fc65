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

/**
 * The stage's answer, timed: true when it said yes; otherwise its reply is written (and,
 * with a lockout, counted as a failure) and the chain ends.
 */
function judged(ctx: RequestContext, stage: Stage, result: StageResult, started: number, deps: RunDeps): boolean {
  deps.metrics.stageTimer(stage.name).observe((performance.now() - started) / 1000);
  if ('reply' in result) {
    deps.respond(ctx, result.reply);
    // One check when no `lockout` is configured.
    if (ctx.snapshot.lockout !== undefined) countFailure(ctx, stage.name, result.reply);
    return false;
  }
  return true;
}

/**
 * Runs `stages[i..]` synchronously until one returns a promise: true when every stage
 * said yes, false when one answered, or a promise of that for the rest of the chain.
 * Most stages decide from memory; awaiting each of them cost a promise and a microtask
 * turn per stage per request.
 */
function runFrom(ctx: RequestContext, stages: readonly Stage[], i: number, deps: RunDeps): boolean | Promise<boolean> {
  for (; i < stages.length; i++) {
    const stage = stages[i]!;
    const started = performance.now();
    const result = stage.run(ctx);
    if (result instanceof Promise) return finishFrom(ctx, stages, i, result, started, deps);
    if (!judged(ctx, stage, result, started, deps)) return false;
  }
  return true;
}

async function finishFrom(ctx: RequestContext, stages: readonly Stage[], i: number, pending: Promise<StageResult>, started: number, deps: RunDeps): Promise<boolean> {
  if (!judged(ctx, stages[i]!, await pending, started, deps)) return false;
  return runFrom(ctx, stages, i + 1, deps);
}

const INTERNAL_ERROR: LocalReply = Object.freeze({ code: 'internal-error', details: 'internal-error' });

function failed(ctx: RequestContext, err: unknown, deps: RunDeps): void {
  deps.log.error({ err, requestId: ctx.id, stage: 'pipeline' }, 'request chain failed');
  deps.respond(ctx, INTERNAL_ERROR);
}

/** The access-log line and metrics; a throw here must not escape into the HTTP server's event. */
function recorded(ctx: RequestContext, deps: RunDeps): undefined {
  try {
    recordRequest(ctx, deps.log, deps.metrics);
  } catch (err) {
    deps.log.error({ err, requestId: ctx.id }, 'request chain failed after answering');
  }
  return undefined;
}

/**
 * Runs the request through the connection stages and its route's chain, then records it.
 * The connection stages run inside the request event, so a refusal they decide is
 * answered, recorded and done when this returns undefined. The route's chain starts one
 * microtask later — once the HTTP parser has finished the chunk this request came in:
 * only then does `req.complete` say whether a bodiless request is whole (a local reply
 * to an incomplete one closes the connection, reply.ts), and a body the parser refuses
 * in that chunk has been refused before anything is forwarded. Never throws or rejects.
 */
export function runPipeline(ctx: RequestContext, deps: RunDeps): Promise<void> | undefined {
  let routed: boolean | Promise<boolean>;
  try {
    routed = runFrom(ctx, ctx.snapshot.preStages, 0, deps);
  } catch (err) {
    failed(ctx, err, deps);
    return recorded(ctx, deps);
  }
  if (routed !== false) return routeAfter(ctx, routed, deps);
  countStripped(ctx, deps);
  return recorded(ctx, deps);
}

/** Counted as soon as sanitation and route match are done, not with the access-log line: a WebSocket that came with a forged header may stay open for hours. */
function countStripped(ctx: RequestContext, deps: RunDeps): void {
  if (ctx.strippedFamilies !== undefined) deps.metrics.countStrippedHeaders(ctx.strippedFamilies);
}

async function routeAfter(ctx: RequestContext, routed: true | Promise<boolean>, deps: RunDeps): Promise<void> {
  let ok: boolean;
  try {
    // Awaited even when already true: the parser finishes its chunk first (above).
    ok = await routed;
  } catch (err) {
    failed(ctx, err, deps);
    recorded(ctx, deps);
    return;
  }
  countStripped(ctx, deps);
  if (ok) {
    try {
      const done = runFrom(ctx, ctx.route!.stages, 0, deps);
      if (done instanceof Promise) await done;
    } catch (err) {
      failed(ctx, err, deps);
    }
  }
  recorded(ctx, deps);
}
