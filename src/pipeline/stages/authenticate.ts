// Stage: who is calling (SPEC §4, §5). Two credentials:
// - a bearer JWT (API clients): no token → no subject from it; a token that is present
//   but not valid → 401 `invalid_token` at once, never "anonymous" (a broken token must
//   not quietly downgrade to a public route's access). A JWKS that cannot be fetched is
//   our failure, not the client's: 503, fail closed.
// - the `__Host-ztproxy` session cookie (browsers, after an OIDC login): a cookie that is
//   not a valid session (expired, idle, revoked, forged) is ignored and cleared — the
//   policy then sees an anonymous request and a browser is sent to log in.
// Both at once must name the same subject; two different people in one request is
// refused (an app's XHR with someone else's token inside a logged-in browser).
import type { RequestContext } from '../context.ts';
import type { Subject } from '../../basics/subject.ts';
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

function addSetCookie(ctx: RequestContext, value: string): void {
  (ctx.setCookies ??= []).push(value);
}

/** The session the cookie carries, if any (renewing or clearing the cookie as needed). */
async function sessionSubject(ctx: RequestContext): Promise<Subject | undefined> {
  const sessions = ctx.snapshot.sessions;
  const pending = sessions === undefined ? undefined : sessions.resumeFromHeader(ctx.cookieHeader);
  if (sessions === undefined || pending === undefined) return undefined;
  const result = await pending;
  if (!result.ok) {
    ctx.details = result.reason;
    addSetCookie(ctx, sessions.clearCookie());
    return undefined;
  }
  if (result.setCookie !== undefined) addSetCookie(ctx, result.setCookie);
  ctx.sessionId = result.session.data.sid;
  ctx.session = result.session.data;
  return result.session.subject;
}

async function authenticate(ctx: RequestContext): Promise<StageResult> {
  const started = performance.now();
  const values = authorizationValues(ctx);
  let bearer: Subject | undefined;
  let bearerExp: number | undefined;
  if (values.length > 1) return reply('bad-request', 'several-authorization-headers');
  const value = values[0];
  // The scheme is the first token up to whitespace (RFC 9110 §11.4): `Bearer<TAB>x` and a
  // bare `Bearer` are Bearer credentials too — malformed ones, refused here rather than
  // passed through unverified. Another scheme (Basic, an app's own) is the upstream's
  // business, as before.
  // Without `identity.jwt`, bearer tokens are the upstream's business too.
  const verifier = ctx.snapshot.bearer;
  if (verifier !== undefined && value !== undefined && SCHEME.exec(value)?.[0].toLowerCase() === 'bearer') {
    const match = BEARER.exec(value);
    if (!match) return invalid('token-malformed');
    const result = await verifier.verify(match[1]!, ctx.conn.certThumbprint);
    if (!result.ok) {
      ctx.timings.auth = performance.now() - started;
      if (result.reason === 'jwks-unavailable') return reply('service-unavailable', 'jwks-unavailable');
      return invalid(result.reason);
    }
    bearer = result.subject;
    bearerExp = result.expiresAt;
    // The provider logged this session (or this user) out over the back channel: a token
    // issued before is refused like the session cookie (two Map sizes when nothing is revoked).
    const revocations = ctx.snapshot.sessions?.revocations;
    if (revocations !== undefined && revocations.isTokenRevoked(bearer.issuer, bearer.sub, bearer.claims)) {
      ctx.timings.auth = performance.now() - started;
      return invalid('token-revoked');
    }
    // The token proved who the caller is to ztproxy; the upstream gets it only if the
    // route asks (it may be a replayable credential for other services).
    if (!ctx.route!.config.passAccessToken) dropAuthorization(ctx);
  }
  const session = await sessionSubject(ctx);
  ctx.timings.auth = performance.now() - started;
  if (bearer !== undefined && session !== undefined && (bearer.issuer !== session.issuer || bearer.sub !== session.sub)) {
    return invalid('bearer-session-subject-conflict');
  }
  ctx.subject = bearer ?? session;
  if (bearer !== undefined) ctx.tokenExpiresAt = bearerExp;
  return NEXT;
}

export const authenticateStage: Stage = {
  name: 'authenticate',
  run: authenticate,
};
