// Stage 3: route selection on the canonical host and path. No route → 404 and nothing
// is forwarded (deny by default). Route-level allowances of the sanitation step (encoded
// slashes) are applied here, once the route is known.
import type { RequestContext } from '../context.ts';
import { NEXT, reply, type Stage, type StageResult } from '../stage.ts';

const NO_ROUTE = reply('not-found', 'no-route');
const ENCODED_SLASH = reply('bad-request', 'encoded-slash');

export const routeMatchStage: Stage = {
  name: 'route-match',
  run(ctx: RequestContext): StageResult {
    const route = ctx.snapshot.router.match(ctx.host, ctx.path);
    if (!route) return NO_ROUTE;
    ctx.route = route;
    if (ctx.encodedSlash && !route.config.allowEncodedSlashes) return ENCODED_SLASH;
    return NEXT;
  },
};
