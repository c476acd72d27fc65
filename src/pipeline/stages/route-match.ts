// Stage 3: route selection on the canonical host and path. No route → 404 and nothing
// is forwarded (deny by default). Then the route's own parts of the sanitation step,
// once the route is known: its path rules — encoded slashes (allowEncodedSlashes), the
// Windows name rules of a case-insensitive route (../../basics/windows-path.ts), the
// escapes it refuses (`paths.rejectEncoded`, ../../basics/encoded-reserved.ts) — and its
// own `stripHeaders`, so every header ztproxy strips is gone (and counted) before any
// route stage.
//
// A host group with a case-insensitive route folds the path first
// (../../basics/path-case.ts) and compares that route's prefix with the name Windows
// would open (`/Admin./x` → `/admin/x`, windowsReading), so a spelling the upstream
// reads as `/admin` selects the `/admin` route — which then refuses it — rather than
// falling to a broader route. A path with no single folded form (`/ADM%C4%B0N`: is `İ`
// an `I`?) is refused for the whole group, before any route is chosen, for the same
// reason.
import { encodedRejected } from '../../basics/encoded-reserved.ts';
import { normalizeHeaderName } from '../../basics/headers.ts';
import type { HeaderStripper } from '../../basics/identity-headers.ts';
import { foldPathCase } from '../../basics/path-case.ts';
import { windowsPathProblem, windowsReading } from '../../basics/windows-path.ts';
import type { Router, TunnelRouter } from '../router.ts';
import type { CompiledRoute, RequestContext } from '../context.ts';
import { NEXT, reply, type Stage, type StageResult } from '../stage.ts';

const NO_ROUTE = reply('not-found', 'no-route');
const ENCODED_SLASH = reply('bad-request', 'encoded-slash');
const CASE_CONFUSABLE = reply('bad-request', 'case-confusable-character');
const ENCODED_RESERVED = reply('bad-request', 'encoded-reserved-character');
const WINDOWS: Record<string, StageResult> = {};

function windowsReply(reason: string): StageResult {
  return (WINDOWS[reason] ??= reply('bad-request', reason));
}

/** What selection reads and fills; a RequestContext, or explain's description of one. */
export interface RouteTarget {
  readonly host: string;
  /** Canonical path. */
  readonly path: string;
  readonly encodedSlash: boolean;
  route: CompiledRoute | undefined;
  /** The path the route's policy compares: `path`, case-folded on a case-insensitive route. */
  policyPath: string;
}

/** Selects the route and applies its path rules: NEXT, or the reply that ends the request. */
export function selectRoute(router: Router<CompiledRoute>, target: RouteTarget): StageResult {
  const group = router.groupFor(target.host);
  if (!group) return NO_ROUTE;
  const path = target.path;
  let folded = path;
  let windows = path;
  if (group.foldsCase) {
    const f = foldPathCase(path);
    if (f === undefined) return CASE_CONFUSABLE;
    folded = f;
    windows = windowsReading(f);
  }
  const route = group.match(path, windows);
  if (!route) return NO_ROUTE;
  target.route = route;
  if (target.encodedSlash && !route.config.allowEncodedSlashes) return ENCODED_SLASH;
  if (route.caseInsensitive) {
    const problem = windowsPathProblem(path);
    if (problem !== undefined) return windowsReply(problem);
  }
  if (route.rejectEncoded !== undefined && encodedRejected(path, route.rejectEncoded) !== undefined) return ENCODED_RESERVED;
  target.policyPath = route.caseInsensitive ? folded : path;
  return NEXT;
}

/**
 * The TCP route of a canonical CONNECT target (sanitize.ts connectTarget), or 404: only
 * the tunnel router is asked, so a CONNECT never reaches an HTTP route and never any
 * host:port no route names (ztproxy is not an open proxy). A policy sees the tunnel as
 * method CONNECT on path `/`.
 */
export function selectTunnel(tunnels: TunnelRouter<CompiledRoute>, target: RouteTarget, port: number): StageResult {
  const route = tunnels.route(target.host, port);
  if (route === undefined) return NO_ROUTE;
  target.route = route;
  target.policyPath = target.path;
  return NEXT;
}

export const routeMatchStage: Stage = {
  name: 'route-match',
  run(ctx: RequestContext): StageResult {
    if (ctx.port !== 0) return selectTunnel(ctx.snapshot.tunnels, ctx, ctx.port);
    const result = selectRoute(ctx.snapshot.router, ctx);
    if (result !== NEXT) return result;
    const stripper = ctx.route!.headerStripper;
    if (stripper !== undefined) stripRouteHeaders(ctx, stripper);
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
