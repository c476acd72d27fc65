// Shared tools for the OIDC attack tests (test/attacks/oidc-*.test.ts):
// - a login stack on the real development OP whose issuer is known before ztproxy's
//   config is written (so `identity.jwt` can name the same issuer);
// - a tiny malicious OpenID Provider on 127.0.0.1 (discovery, JWKS, token and userinfo
//   endpoints) whose every answer a test controls, to feed ztproxy ID tokens and logout
//   tokens an honest OP never would (stale nonce, wrong aud, alg none, unknown key, ...);
// - helpers to read what a response did to the browser's cookies and why ztproxy refused.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWTPayload } from 'jose';
import { EnvelopeCodec, deriveSessionKey } from '../../src/identity/session/codec.ts';
import { makeKey, mint, rawToken, type TestKey } from './jwt.ts';
import { CLIENT_ID, CLIENT_SECRET, SESSION_KEY, locationOf, signInAtOp, startProxyBeside, HttpBrowser, type LoginStack } from './oidc.ts';
import { makeTestPki } from './pki.ts';
import type { LogLine, TestProxy } from './proxy.ts';
import { startUpstream, type TestUpstream } from './upstream.ts';

export const SESSION_COOKIE = '__Host-ztproxy';
export const FLOW_PREFIX = '__Host-ztproxy-login-';
export const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** The codec ztproxy uses with SESSION_KEY (to open or forge cookies in tests). */
export function testCodec(secret = SESSION_KEY): EnvelopeCodec {
  return new EnvelopeCodec([deriveSessionKey(secret)]);
}

export const nowS = (): number => Math.floor(Date.now() / 1000);

// --- responses -----------------------------------------------------------------------

/** Set-Cookie lines of a response that set (not clear) a cookie named `name`. */
export function cookieSets(res: Response, name: string): string[] {
  return res.headers.getSetCookie().filter((l) => l.startsWith(`${name}=`) && !/max-age=0/i.test(l) && !l.startsWith(`${name}=;`));
}

/** True when the response sets a (non-empty) session cookie. */
export function issuesSession(res: Response): boolean {
  return cookieSets(res, SESSION_COOKIE).length > 0;
}

/** True when the response clears the cookie `name` (Max-Age=0). */
export function clears(res: Response, name: string): boolean {
  return res.headers.getSetCookie().some((l) => l.startsWith(`${name}=;`) && /max-age=0/i.test(l));
}

/** The access-log line of a response (by its X-Request-Id). */
export async function logOf(proxy: TestProxy, res: Response | { headers: Record<string, string | string[] | undefined> }): Promise<LogLine> {
  const h = res.headers as { get?: unknown };
  const id = typeof h.get === 'function' ? (res as Response).headers.get('x-request-id') : ((res.headers as Record<string, unknown>)['x-request-id'] as string | undefined);
  if (!id) throw new Error('response has no x-request-id');
  for (let i = 0; i < 50; i++) {
    const line = proxy.logs.find((l) => l.msg === 'request' && l.requestId === id);
    if (line !== undefined) return line;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no access log line for ${id}`);
}

export async function reasonOf(proxy: TestProxy, res: Response): Promise<unknown> {
  return (await logOf(proxy, res)).reason;
}

// --- the login flow, step by step -------------------------------------------------------

/** A POST (or other method) to the proxy's back-channel logout endpoint at `origin`. */
export function backchannel(origin: string, body: string, contentType = 'application/x-www-form-urlencoded', method = 'POST', query = ''): Promise<Response> {
  return new HttpBrowser().request(`${origin}/.ztproxy/backchannel-logout${query}`, {
    method,
    headers: { 'content-type': contentType, accept: 'application/json' },
    ...(method === 'GET' || method === 'HEAD' ? {} : { body }),
  });
}

/** The form body of a back-channel logout. */
export const logoutForm = (token: string): string => new URLSearchParams({ logout_token: token }).toString();

export interface StartedFlow {
  /** The /.ztproxy/login response (302 to the OP). */
  readonly res: Response;
  /** The OP authorization URL it points to. */
  readonly authUrl: URL;
  readonly state: string;
  readonly nonce: string;
  readonly flowId: string;
  readonly cookieName: string;
  readonly cookieValue: string;
}

/** GET /.ztproxy/login (with `rd` if given) and read the flow's secrets from the redirect. */
export async function startFlow(browser: HttpBrowser, origin: string, rd?: string, extraQuery = ''): Promise<StartedFlow> {
  const query = rd === undefined ? extraQuery : `rd=${encodeURIComponent(rd)}${extraQuery ? `&${extraQuery}` : ''}`;
  const res = await browser.get(`${origin}/.ztproxy/login${query ? `?${query}` : ''}`);
  if (res.status !== 302) throw new Error(`/.ztproxy/login answered ${res.status}: ${await res.text()}`);
  const authUrl = locationOf(res, origin);
  const state = authUrl.searchParams.get('state') ?? '';
  const nonce = authUrl.searchParams.get('nonce') ?? '';
  const flowId = state.split('.')[0] ?? '';
  const cookieName = FLOW_PREFIX + flowId;
  const cookieValue = browser.cookies.get(cookieName)?.value;
  if (cookieValue === undefined) throw new Error(`no flow cookie ${cookieName} was set`);
  return { res, authUrl, state, nonce, flowId, cookieName, cookieValue };
}

/** Sign in at the real dev OP from a started flow (the OP login form if needed) and return the callback URL, not visited. */
export function signInFromFlow(browser: HttpBrowser, stack: LoginStack, flow: StartedFlow, username: string, password: string): Promise<URL> {
  return signInAtOp(browser, stack, flow.res, username, password);
}

// --- the malicious OpenID Provider --------------------------------------------------------

export interface TokenRequest {
  readonly form: URLSearchParams;
  readonly authorization: string | undefined;
}

export interface Answer {
  readonly status?: number;
  readonly body: unknown;
  readonly contentType?: string;
}

export interface FakeOp {
  readonly issuer: string;
  /** Published in the JWKS: what the OP "really" signs with. */
  readonly key: TestKey;
  /** Never published. */
  readonly rogueKey: TestKey;
  readonly metadata: Record<string, unknown>;
  readonly tokenRequests: TokenRequest[];
  /** How the token endpoint answers (set per test). */
  onToken: (req: TokenRequest) => Answer | Promise<Answer>;
  /** How the userinfo endpoint answers; default `{sub}` from an `at.<sub>` access token. */
  onUserinfo: (accessToken: string) => Answer;
  hits(path: string): number;
  /** An ID token signed with `key` (or the key/header given): iss, aud, iat, exp filled in. */
  idToken(claims: JWTPayload, opts?: { key?: TestKey; header?: Record<string, unknown> }): Promise<string>;
  /** A back-channel logout token signed with `key` (typ logout+jwt, events, jti, iat, exp). */
  logoutToken(claims: JWTPayload, opts?: { key?: TestKey; header?: Record<string, unknown> }): Promise<string>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeOp(clientId = CLIENT_ID): Promise<FakeOp> {
  const key = await makeKey('ES256', 'fake-op-key');
  const rogueKey = await makeKey('ES256', 'fake-op-key');
  const hits = new Map<string, number>();
  const tokenRequests: TokenRequest[] = [];
  let issuer = '';
  const metadata: Record<string, unknown> = {};
  const op: FakeOp = {
    get issuer() {
      return issuer;
    },
    key,
    rogueKey,
    metadata,
    tokenRequests,
    onToken: () => ({ status: 400, body: { error: 'invalid_grant' } }),
    onUserinfo: (at) => (at.startsWith('at.') ? { body: { sub: at.slice(3) } } : { status: 401, body: { error: 'invalid_token' } }),
    hits: (p) => hits.get(p) ?? 0,
    idToken: (claims, o = {}) => {
      const now = nowS();
      return mint(o.key ?? key, { iss: issuer, aud: clientId, iat: now, exp: now + 300, ...claims }, { typ: 'JWT', ...o.header });
    },
    logoutToken: (claims, o = {}) => {
      const now = nowS();
      return mint(
        o.key ?? key,
        { iss: issuer, aud: clientId, iat: now, exp: now + 120, jti: randomBytes(12).toString('base64url'), events: { [LOGOUT_EVENT]: {} }, ...claims },
        { typ: 'logout+jwt', ...o.header },
      );
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const send = (res: import('node:http').ServerResponse, a: Answer): void => {
    const body = typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
    res.writeHead(a.status ?? 200, { 'content-type': a.contentType ?? 'application/json', 'cache-control': 'no-store' }).end(body);
  };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    void (async () => {
      if (path === '/.well-known/openid-configuration') return send(res, { body: metadata });
      if (path === '/jwks') return send(res, { body: { keys: [key.publicJwk] }, contentType: 'application/jwk-set+json' });
      if (path === '/token' && req.method === 'POST') {
        const tr: TokenRequest = { form: new URLSearchParams(await readBody(req)), authorization: req.headers.authorization };
        tokenRequests.push(tr);
        return send(res, await op.onToken(tr));
      }
      if (path === '/userinfo') {
        const at = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
        return send(res, op.onUserinfo(at));
      }
      send(res, { status: 404, body: { error: 'not_found' } });
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(metadata, {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    userinfo_endpoint: `${issuer}/userinfo`,
    jwks_uri: `${issuer}/jwks`,
    end_session_endpoint: `${issuer}/session/end`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic'],
    authorization_response_iss_parameter_supported: true,
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
  });
  return op;
}

/** A token endpoint answer carrying `idToken` (access token `at.<sub>` for the default userinfo). */
export function tokenAnswer(idToken: string, sub = 'mallory', extra: Record<string, unknown> = {}): Answer {
  return { body: { access_token: `at.${sub}`, token_type: 'Bearer', expires_in: 300, id_token: idToken, ...extra } };
}

/** An unsigned token (`alg: none`), which no signer produces. */
export function unsignedToken(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return rawToken({ alg: 'none', ...header }, payload);
}

/** S256 of a PKCE verifier (RFC 7636 §4.2). */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

export interface FakeOpStack {
  readonly op: FakeOp;
  readonly proxy: TestProxy;
  readonly upstream: TestUpstream;
  /** https://127.0.0.1:<port> */
  readonly origin: string;
  close(): Promise<void>;
}

/** ztproxy logging in at the malicious OP (confidential client, SESSION_KEY), one route needing a login. */
export async function startFakeOpStack(opts: { routes?: (upstreamUrl: string) => Record<string, unknown>[]; oidc?: Record<string, unknown>; session?: Record<string, unknown> } = {}): Promise<FakeOpStack> {
  const pki = await makeTestPki();
  const op = await startFakeOp();
  const upstream = await startUpstream();
  const { proxy, closeAll } = await startProxyBeside(
    {
      listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
      identity: {
        oidc: { issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, scopes: ['openid', 'email'], ...opts.oidc },
        session: { keys: [SESSION_KEY], ...opts.session },
      },
      routes: opts.routes?.(upstream.url) ?? [{ name: 'app', upstream: upstream.url, policy: { allow: { authenticated: true } } }],
    },
    [op, upstream],
  );
  return { op, proxy, upstream, origin: `https://127.0.0.1:${proxy.port}`, close: closeAll };
}

/** The callback URL for a flow at the fake OP (code `x`, the flow's state, the OP's iss). */
export function fakeCallback(stack: FakeOpStack, flow: StartedFlow, params: Record<string, string> = {}): string {
  const q = new URLSearchParams({ code: 'attacker-chosen-code', state: flow.state, iss: stack.op.issuer, ...params });
  return `${stack.origin}/.ztproxy/callback?${q.toString()}`;
}

/** A complete, honest login at the fake OP as `sub` (ID token with the flow's nonce); returns the callback response. */
export async function fakeLogin(stack: FakeOpStack, browser: HttpBrowser, sub: string, claims: JWTPayload = {}, rd?: string): Promise<Response> {
  const flow = await startFlow(browser, stack.origin, rd);
  const idToken = await stack.op.idToken({ sub, nonce: flow.nonce, ...claims });
  stack.op.onToken = () => tokenAnswer(idToken, sub);
  return browser.get(fakeCallback(stack, flow));
}
