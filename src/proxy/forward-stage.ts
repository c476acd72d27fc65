// The last stage of a route's chain: hand the request to the route's upstream (HTTP),
// switch protocols (WebSocket), or open a TCP tunnel (a CONNECT to a TCP route).
// Everything before it said yes. One per route, holding that route's upstream, so the
// pipeline's types need not know the proxy's.
import type { RequestContext } from '../pipeline/context.ts';
import type { Stage, StageResult } from '../pipeline/stage.ts';
import { forwardHttp } from './forward.ts';
import type { StreamRegistry } from './streams.ts';
import { forwardTunnel, type TcpTarget } from './tunnel.ts';
import type { Upstream } from './upstream.ts';
import { forwardUpgrade } from './websocket.ts';

export class ForwardStage implements Stage {
  readonly name = 'forward';
  /** An HTTP route's upstream pool; undefined on a TCP route. */
  readonly upstream: Upstream | undefined;
  /** A TCP route's upstream; undefined on an HTTP route. */
  readonly tcp: TcpTarget | undefined;
  /** Where an upgraded stream is registered once open (the process's, across snapshots). */
  readonly streams: StreamRegistry;

  constructor(upstream: Upstream | TcpTarget, streams: StreamRegistry) {
    if ('pool' in upstream) {
      this.upstream = upstream;
      this.tcp = undefined;
    } else {
      this.upstream = undefined;
      this.tcp = upstream;
    }
    this.streams = streams;
  }

  run(ctx: RequestContext): Promise<StageResult> {
    // Only a CONNECT is routed to a TCP route (route-match.ts), and a CONNECT only there.
    if (this.tcp !== undefined) return forwardTunnel(ctx, this.tcp, this.streams);
    return ctx.upgrade ? forwardUpgrade(ctx, this.upstream!, this.streams) : forwardHttp(ctx, this.upstream!);
  }
}
