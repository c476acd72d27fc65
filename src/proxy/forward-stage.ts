// The last stage of a route's chain: hand the request to the route's upstream (HTTP) or
// switch protocols (WebSocket). Everything before it said yes. One per route, holding
// that route's upstream, so the pipeline's types need not know the proxy's.
import type { RequestContext } from '../pipeline/context.ts';
import type { Stage, StageResult } from '../pipeline/stage.ts';
import { forwardHttp } from './forward.ts';
import type { StreamRegistry } from './streams.ts';
import type { Upstream } from './upstream.ts';
import { forwardUpgrade } from './websocket.ts';

export class ForwardStage implements Stage {
  readonly name = 'forward';
  readonly upstream: Upstream;
  /** Where an upgraded stream is registered once open (the process's, across snapshots). */
  readonly streams: StreamRegistry;

  constructor(upstream: Upstream, streams: StreamRegistry) {
    this.upstream = upstream;
    this.streams = streams;
  }

  run(ctx: RequestContext): Promise<StageResult> {
    return ctx.upgrade ? forwardUpgrade(ctx, this.upstream, this.streams) : forwardHttp(ctx, this.upstream);
  }
}
