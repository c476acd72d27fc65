// The last stage: hand the request to the upstream (HTTP) or switch protocols
// (WebSocket). Everything before it said yes.
import { forwardHttp } from './forward.ts';
import { forwardUpgrade } from './websocket.ts';
import type { RequestContext } from '../pipeline/context.ts';
import type { Stage, StageResult } from '../pipeline/stage.ts';

export const forwardStage: Stage = {
  name: 'forward',
  run(ctx: RequestContext): Promise<StageResult> {
    return ctx.upgrade ? forwardUpgrade(ctx) : forwardHttp(ctx);
  },
};
