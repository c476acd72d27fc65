// ztproxy's own login endpoints (SPEC §4 reserved paths), answered on every host:
//   GET  /.ztproxy/login                — start an OIDC login (PKCE, state, nonce)
//   GET  /.ztproxy/callback             — finish it, create the session
//   GET  /.ztproxy/logout               — a confirmation page (a link cannot log out)
//   POST /.ztproxy/logout               — end the session here and at the provider
//   POST /.ztproxy/backchannel-logout   — the provider ends sessions (logout token)
// Each returns a LocalReply; nothing here ever reaches an upstream.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { OidcRejectedError, OidcUnavailableError, type LoginSecrets } from '../../identity/oidc/relying-party.ts';
import { safeReturnPath } from '../../identity/oidc/return-url.ts';
import { LOGIN_COOKIE_PREFIX, SESSION_COOKIE, clearCookie, readCookies, setCookie } from '../../identity/session/cookies.ts';
import { logoutCsrfToken } from '../../identity/session/csrf.ts';
import type { SessionData, SessionManager } from '../../identity/session/manager.ts';
import type { RequestContext } from '../context.ts';
import type { LocalReply } from '../stage.ts';

export const LOGIN_PATH = '/.ztproxy/login';
export const CALLBACK_PATH = '/.ztproxy/callback';
export const LOGOUT_PATH = '/.ztproxy/logout';
export const BACKCHANNEL_LOGOUT_PATH = '/.ztproxy/backchannel-logout';

/** A login must come back within this (the flow cookie's life). */
const LOGIN_FLOW_TTL_S = 600;
/** Logins in flight per browser; more (abandoned tabs, or a page forcing logins) are dropped. */
const MAX_LOGIN_FLOWS = 4;
const MAX_FORM_BYTES = 16 * 1024;
const FLOW_ID = /^[A-Za-z0-9_-]{11}$/;

interface FlowCookie extends Record<string, unknown> {
  s: string;
  n: string;
  v: string;
  r: string;
  rd: string;
  re: boolean;
}

function redirect(code: 'found' | 'see-other', location: string, details: string, cookies: string[]): LocalReply {
  return { code, details, body: '', headers: { location, 'set-cookie': cookies, 'content-type': 'text/plain' } };
}

function failure(code: LocalReply['code'], details: string, cookies?: string[]): LocalReply {
  return cookies === undefined || cookies.length === 0 ? { code, details } : { code, details, headers: { 'set-cookie': cookies } };
}

function unavailable(err: unknown, ctx: RequestContext, sessions: SessionManager, cookies?: string[]): LocalReply {
  sessions.warn({ requestId: ctx.id, err: (err as Error).message }, 'OpenID Provider unavailable');
  return failure('service-unavailable', 'oidc-unavailable', cookies);
}

/** The query parameters; a repeated security parameter makes the request ambiguous. */
function queryParams(ctx: RequestContext): URLSearchParams {
  return new URLSearchParams(ctx.query);
}

function single(params: URLSearchParams, name: string): string | undefined {
  const all = params.getAll(name);
  return all.length === 1 ? all[0] : undefined;
}

// --- login -----------------------------------------------------------------------------

export async function login(ctx: RequestContext, sessions: SessionManager): Promise<LocalReply> {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return failure('method-not-allowed', 'login-method');
  const params = queryParams(ctx);
  const rd = safeReturnPath(single(params, 'rd'));
  const reauth = single(params, 'reauth') === '1';
  const flowId = randomBytes(8).toString('base64url');
  const cookies: string[] = [];
  // Only names we could have set (a planted name that is not a valid cookie name must
  // not make this answer fail).
  const existing = Object.keys(readCookies(ctx.cookieHeader)).filter(
    (n) => n.startsWith(LOGIN_COOKIE_PREFIX) && FLOW_ID.test(n.slice(LOGIN_COOKIE_PREFIX.length)),
  );
  if (existing.length >= MAX_LOGIN_FLOWS) for (const name of existing) cookies.push(clearCookie(name));
  let started: Awaited<ReturnType<SessionManager['rp']['startLogin']>>;
  try {
    started = await sessions.rp.startLogin(`https://${ctx.authority}${CALLBACK_PATH}`, { reauth, flowId });
  } catch (err) {
    if (err instanceof OidcUnavailableError) return unavailable(err, ctx, sessions, cookies);
    throw err;
  }
  const flow: FlowCookie = { s: started.secrets.state, n: started.secrets.nonce, v: started.secrets.verifier, r: started.secrets.redirectUri, rd, re: reauth };
  const value = await sessions.codec.seal('login', flow, Math.floor(Date.now() / 1000) + LOGIN_FLOW_TTL_S);
  cookies.push(setCookie(LOGIN_COOKIE_PREFIX + flowId, value, LOGIN_FLOW_TTL_S));
  return redirect('found', started.url.href, 'login-redirect', cookies);
}

// --- callback --------------------------------------------------------------------------

export async function callback(ctx: RequestContext, sessions: SessionManager): Promise<LocalReply> {
  if (ctx.method !== 'GET') return failure('method-not-allowed', 'callback-method');
  const params = queryParams(ctx);
  const state = single(params, 'state');
  const flowId = state?.split('.')[0];
  if (state === undefined || flowId === undefined || !FLOW_ID.test(flowId)) return failure('bad-request', 'login-state-invalid');
  const cookieName = LOGIN_COOKIE_PREFIX + flowId;
  const cookies = readCookies(ctx.cookieHeader);
  const flowValue = cookies[cookieName];
  // Whatever happens next, this flow is over: its cookie goes.
  const clear = [clearCookie(cookieName)];
  if (flowValue === undefined) return failure('bad-request', 'login-state-missing', clear);
  const opened = await sessions.codec.open<FlowCookie>('login', flowValue);
  if (!opened.ok) return failure('bad-request', `login-state-${opened.reason}`, clear);
  const flow = opened.payload;
  if (typeof flow.s !== 'string' || typeof flow.n !== 'string' || typeof flow.v !== 'string' || typeof flow.r !== 'string') {
    return failure('bad-request', 'login-state-malformed', clear);
  }
  if (!equalStrings(flow.s, state)) return failure('bad-request', 'login-state-mismatch', clear);
  // The callback must arrive where the login said it would (same host, same cookie jar).
  if (flow.r !== `https://${ctx.authority}${CALLBACK_PATH}`) return failure('bad-request', 'login-redirect-uri-mismatch', clear);
  if (params.has('error')) return failure('unauthorized', `login-refused-${String(params.get('error')).slice(0, 40)}`, clear);
  const secrets: LoginSecrets = { state: flow.s, nonce: flow.n, verifier: flow.v, redirectUri: flow.r };
  let created: Awaited<ReturnType<SessionManager['create']>>;
  try {
    const tokens = await sessions.rp.finishLogin(secrets, ctx.query, flow.re === true);
    created = await sessions.create(tokens);
  } catch (err) {
    if (err instanceof OidcUnavailableError) return unavailable(err, ctx, sessions, clear);
    if (err instanceof OidcRejectedError) {
      return failure(err.reason === 'session-too-large' ? 'internal-error' : 'bad-request', `login-${err.reason}`, clear);
    }
    throw err;
  }
  // A session this browser already had is replaced, and ended: the old cookie must not
  // stay usable wherever it was copied (and the new one is never the old id: no fixation).
  const previous = cookies[SESSION_COOKIE];
  if (previous !== undefined) {
    const old = await sessions.codec.open<SessionData>('session', previous);
    if (old.ok && typeof old.payload.sid === 'string') sessions.revocations.revokeSession(old.payload.sid, Date.now() + sessions.maxLifetimeMs);
  }
  const rd = safeReturnPath(typeof flow.rd === 'string' ? flow.rd : '/');
  return redirect('found', rd, 'login-complete', [...clear, created.setCookie]);
}

// --- logout ----------------------------------------------------------------------------

function equalStrings(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// No CSP form-action: browsers apply it to the redirects that follow the POST, and the
// logout ends with a redirect to the provider's end-session endpoint on another origin.
const HTML_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

function logoutPage(csrf: string | undefined): string {
  const form =
    csrf === undefined
      ? '<p>You are not signed in.</p>'
      : `<form method="post" action="${LOGOUT_PATH}"><input type="hidden" name="csrf" value="${csrf}"><button type="submit">Sign out</button></form>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign out</title></head><body style="font-family:sans-serif;margin:3em"><h1>Sign out</h1>${form}</body></html>`;
}

async function currentSession(ctx: RequestContext, sessions: SessionManager): Promise<SessionData | undefined> {
  const resumed = await sessions.resumeFromHeader(ctx.cookieHeader);
  return resumed?.ok ? resumed.session.data : undefined;
}

/** A same-origin request: the browser says so (Origin, or Sec-Fetch-Site). */
function sameOrigin(ctx: RequestContext): boolean {
  const origin = ctx.req.headers['origin'];
  if (origin !== undefined) return origin === `https://${ctx.authority}`;
  return ctx.req.headers['sec-fetch-site'] === 'same-origin';
}

export async function logout(ctx: RequestContext, sessions: SessionManager): Promise<LocalReply> {
  if (ctx.method === 'GET' || ctx.method === 'HEAD') {
    const data = await currentSession(ctx, sessions);
    return { code: 'ok', details: 'logout-page', body: logoutPage(data && logoutCsrfToken(data.sid)), headers: HTML_HEADERS };
  }
  if (ctx.method !== 'POST') return failure('method-not-allowed', 'logout-method');
  const form = await readForm(ctx.req);
  if (form === undefined) return failure('bad-request', 'logout-form-invalid');
  const data = await currentSession(ctx, sessions);
  const csrf = form.getAll('csrf');
  const tokenOk = data !== undefined && csrf.length === 1 && equalStrings(csrf[0]!, logoutCsrfToken(data.sid));
  // A cross-site form cannot log anyone out: SameSite=Lax keeps the cookie off a
  // cross-site POST, and we also want the page's own CSRF token or a same-origin POST.
  if (!tokenOk && !sameOrigin(ctx)) return failure('forbidden', 'logout-csrf');
  const cookies = [sessions.clearCookie()];
  if (data === undefined) return redirect('see-other', '/', 'logout-no-session', cookies);
  sessions.revoke(data);
  if (data.rt !== undefined) sessions.rp.revoke(data.rt).catch(() => undefined);
  let target: URL | undefined;
  try {
    target = await sessions.rp.endSessionUrl(data.idt);
  } catch (err) {
    if (!(err instanceof OidcUnavailableError)) throw err;
  }
  return redirect('see-other', target?.href ?? sessions.rp.config.postLogoutRedirectUri ?? '/', 'logout', cookies);
}

// --- back-channel logout -----------------------------------------------------------------

const BACKCHANNEL_HEADERS = { 'cache-control': 'no-store' };

export async function backchannelLogout(ctx: RequestContext, sessions: SessionManager): Promise<LocalReply> {
  if (ctx.method !== 'POST') return failure('method-not-allowed', 'backchannel-method');
  const form = await readForm(ctx.req);
  const tokens = form?.getAll('logout_token') ?? [];
  if (tokens.length !== 1) return failure('bad-request', 'backchannel-no-token');
  let event: Awaited<ReturnType<SessionManager['rp']['verifyLogoutToken']>>;
  try {
    event = await sessions.rp.verifyLogoutToken(tokens[0]!);
  } catch (err) {
    if (err instanceof OidcUnavailableError) return unavailable(err, ctx, sessions);
    if (err instanceof OidcRejectedError) return failure('bad-request', `backchannel-${err.reason}`);
    throw err;
  }
  const iss = event.iss;
  const until = Date.now() + sessions.maxLifetimeMs;
  if (event.sid !== undefined) sessions.revocations.revokeProviderSession(iss, event.sid, until);
  else sessions.revocations.revokeSubject(iss, event.sub!, event.iat, until);
  return { code: 'ok', details: event.sid !== undefined ? 'backchannel-logout-sid' : 'backchannel-logout-sub', body: '', headers: BACKCHANNEL_HEADERS };
}

/** An application/x-www-form-urlencoded body of at most 16 KiB, or undefined. */
function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    req.resume();
    return Promise.resolve(undefined);
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > MAX_FORM_BYTES) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (v: URLSearchParams | undefined): void => {
      if (done) return;
      done = true;
      resolve(v);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        finish(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => finish(size > MAX_FORM_BYTES ? undefined : new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.once('error', () => finish(undefined));
    req.once('close', () => finish(undefined));
  });
}
