// Stage: authentication of API clients by bearer JWT (SPEC §5). No token → the request
// goes on without a subject (the policy decides whether that is enough); a token that is
// present but not valid → 401 `invalid_token` at once, never "anonymous" (a broken token
// must not quietly downgrade to a public route's access). A JWKS that cannot be fetched
// is our failure, not the client's: 503, fail closed.
import type { RequestContext } from '../context.ts';
import { NEXT, reply, type StageResult, type Stage } from '../stage.ts';

const INVALID_TOKEN = { 'www-authenticate': 'Bearer error="invalid_token"' } as const;
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const SCHEME = /^[^\s]*/;

function invalid(details: string): StageResult {
  return { reply: { code: 'unauthorized', details, headers: INVALID_TOKEN } };
}

/** The Authorization values of the request (raw: a repeated header is ambiguous). */
function authorizationValues(ctx: RequestContext): string[] {
  const raw = ctx.req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') out.push(raw[i + 1]!);
  }
  return out;
}

/** Removes the Authorization header from what goes upstream. */
function dropAuthorization(ctx: RequestContext): void {
  const h = ctx.forwardHeaders;
  const out: string[] = [];
  for (let i = 0; i < h.length; i += 2) if (h[i]!.toLowerCase() !== 'authorization') out.push(h[i]!, h[i + 1]!);
  ctx.forwardHeaders = out;
}

async function authenticate(ctx: RequestContext): Promise<StageResult> {
  const values = authorizationValues(ctx);
  if (values.length === 0) return NEXT;
  if (values.length > 1) return reply('bad-request', 'several-authorization-headers');
  const value = values[0]!;
  // The scheme is the first token up to whitespace (RFC 9110 §11.4): `Bearer<TAB>x` and a
  // bare `Bearer` are Bearer credentials too — malformed ones, refused here rather than
  // passed through unverified. Another scheme (Basic, an app's own) is the upstream's
  // business, as before.
  if (SCHEME.exec(value)?.[0].toLowerCase() !== 'bearer') return NEXT;
  const match = BEARER.exec(value);
  if (!match) return invalid('token-malformed');
  const started = performance.now();
  const result = await ctx.snapshot.bearer!.verify(match[1]!, ctx.conn.certThumbprint);
  ctx.timings.auth = performance.now() - started;
  if (!result.ok) {
    if (result.reason === 'jwks-unavailable') return reply('service-unavailable', 'jwks-unavailable');
    return invalid(result.reason);
  }
  ctx.subject = result.subject;
  // The token proved who the caller is to ztproxy; the upstream gets it only if the
  // route asks (it may be a replayable credential for other services).
  if (!ctx.route!.config.passAccessToken) dropAuthorization(ctx);
  return NEXT;
}

export const authenticateStage: Stage = {
  name: 'authenticate',
  run: authenticate,
};
