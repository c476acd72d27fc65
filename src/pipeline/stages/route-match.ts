// Stage 3: route selection on the canonical host and path. No route → 404 and nothing
// is forwarded (deny by default). Route-level parts of the sanitation step (encoded
// slashes allowed, the route's own `stripHeaders`) are applied here, once the route is
// known, so every header ztproxy strips is gone (and counted) before any route stage.
import { normalizeHeaderName } from '../../basics/headers.ts';
import type { HeaderStripper } from '../../basics/identity-headers.ts';
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
    if (route.headerStripper !== undefined) stripRouteHeaders(ctx, route.headerStripper);
    return NEXT;
  },
};

/** Removes the route's `stripHeaders` from the forwarded list (this request's own, compacted in place). */
function stripRouteHeaders(ctx: RequestContext, stripper: HeaderStripper): void {
  const headers = ctx.forwardHeaders;
  let kept = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const family = stripper.familyOf(normalizeHeaderName(headers[i]!));
    if (family !== undefined) {
      (ctx.strippedFamilies ??= []).push(family);
      continue;
    }
    if (kept !== i) {
      headers[kept] = headers[i]!;
      headers[kept + 1] = headers[i + 1]!;
    }
    kept += 2;
  }
  headers.length = kept;
}
