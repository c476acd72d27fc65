// The last stage: hand the request to the upstream (HTTP) or switch protocols
// (WebSocket). Everything before it said yes.
import { forwardHttp } from '../../proxy/forward.ts';
import { forwardUpgrade } from '../../proxy/websocket.ts';
import type { RequestContext } from '../context.ts';
import type { Stage, StageResult } from '../stage.ts';

export const forwardStage: Stage = {
  name: 'forward',
  run(ctx: RequestContext): Promise<StageResult> {
    return ctx.upgrade ? forwardUpgrade(ctx) : forwardHttp(ctx);
  },
};
