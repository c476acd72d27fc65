// The forward step: the canonical request, with the headers ztproxy vouches for, to the
// route's upstream over a kept-alive undici pool. Bodies stream both ways and are never
// buffered whole; the request body is cut at the route's limit.
import type { ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { util, type Dispatcher } from 'undici';
import type { RequestContext } from '../pipeline/context.ts';
import { HOP_BY_HOP, connectionTokens } from '../basics/headers.ts';
import { OWN_COOKIE_CACHE_CONTROL, clientSetCookies } from '../identity/session/cookies.ts';
import { NEXT, reply, type StageResult } from '../pipeline/stage.ts';
import type { Upstream } from './upstream.ts';
import { sendContinueIfExpected } from './continue.ts';

class BodyTooLarge extends Error {
  readonly code = 'ZT_BODY_TOO_LARGE';
}

/**
 * A chunked body through the limiter. `pipe` does not pass on the request's failure, so
 * a client that vanishes mid-upload (or a chunk the parser rejects) destroys the limiter
 * explicitly: otherwise undici would wait for the rest of the body forever and pin the
 * upstream connection. (stream.pipeline would also destroy the client request when the
 * limit trips, taking the socket and the 413 with it.)
 */
function limitBody(req: RequestContext['req'], limit: number): BodyLimit {
  const limiter = new BodyLimit(limit);
  const abort = (err?: Error): void => {
    if (!req.complete) limiter.destroy(err ?? new Error('client closed the request body'));
  };
  req.once('error', abort);
  req.once('close', abort);
  return req.pipe(limiter);
}

/** Counts request-body bytes and fails the stream past the limit (chunked uploads). */
class BodyLimit extends Transform {
  #left: number;
  constructor(limit: number) {
    super();
    this.#left = limit;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#left -= chunk.length;
    if (this.#left < 0) done(new BodyTooLarge('request body exceeds the route limit'));
    else done(null, chunk);
  }
}

// Printable ASCII only: a claim carrying CR/LF or control bytes must never become a
// header (response splitting / header injection towards the upstream).
const UNSAFE_HEADER_VALUE = /[^\x20-\x7e]/;

/**
 * ztproxy's identity headers for this request: always X-ZT-Assertion; with the route's
 * `identityHeaders`, also X-Forwarded-User / -Email / -Groups for apps that cannot verify a
 * JWT. Undefined when a claim cannot be put into a header safely (then nothing is sent).
 */
export async function identityHeaders(ctx: RequestContext): Promise<string[] | undefined> {
  let assertion = ctx.snapshot.assertion.assertionFor({ route: ctx.route!.name, subject: ctx.subject, spiffeId: ctx.conn.spiffeId, device: ctx.device });
  if (typeof assertion !== 'string') assertion = await assertion;
  return identityHeadersWith(ctx, assertion);
}

/** identityHeaders once the assertion is known (no await on the hot path's cache hit). */
export function identityHeadersWith(ctx: RequestContext, assertion: string): string[] | undefined {
  const route = ctx.route!;
  const subject = ctx.subject;
  const out = ['x-zt-assertion', assertion];
  if (!route.config.identityHeaders || !subject) return out;
  const user = subject.sub;
  const email = subject.emailVerified ? subject.email : undefined;
  // A comma inside a group name would read as two groups once joined.
  if (subject.groups.some((g) => g.includes(',') || UNSAFE_HEADER_VALUE.test(g))) return undefined;
  const groups = subject.groups.join(',');
  if (UNSAFE_HEADER_VALUE.test(user) || (email !== undefined && UNSAFE_HEADER_VALUE.test(email))) return undefined;
  out.push('x-forwarded-user', user);
  if (email !== undefined) out.push('x-forwarded-email', email);
  if (groups !== '') out.push('x-forwarded-groups', groups);
  return out;
}

const UNSAFE_IDENTITY = reply('forbidden', 'identity-unsafe-header-value');

/** The header list sent upstream: the client's surviving headers plus ztproxy's own. */
export function upstreamHeaders(ctx: RequestContext, upstream: Upstream, identity: readonly string[]): string[] {
  const route = ctx.route!;
  const out = ctx.forwardHeaders.concat(identity);
  const peer = ctx.peerIp;
  out.push(
    'host',
    route.config.preserveHost ? ctx.authority : upstream.host,
    'x-forwarded-for',
    ctx.forwardedFor ? `${ctx.forwardedFor}, ${peer}` : peer,
    'x-forwarded-proto',
    ctx.forwardedProto ?? 'https',
    'x-forwarded-host',
    ctx.forwardedHost ?? ctx.authority,
    'x-real-ip',
    ctx.clientIp,
    'x-request-id',
    ctx.id,
  );
  return out;
}

function hasBody(ctx: RequestContext): boolean {
  const h = ctx.req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}

export function mapUpstreamError(err: unknown): StageResult {
  const code = (err as { code?: string }).code;
  switch (code) {
    case 'ZT_BODY_TOO_LARGE':
      return reply('payload-too-large', 'request-body-too-large');
    case 'UND_ERR_CONNECT_TIMEOUT':
      return reply('gateway-timeout', 'upstream-connect-timeout');
    case 'UND_ERR_HEADERS_TIMEOUT':
      return reply('gateway-timeout', 'upstream-headers-timeout');
    case 'UND_ERR_BODY_TIMEOUT':
      return reply('gateway-timeout', 'upstream-body-timeout');
    case 'ECONNREFUSED':
      return reply('bad-gateway', 'upstream-connect-refused');
    default:
      return reply('bad-gateway', code ? `upstream-error-${code.toLowerCase()}` : 'upstream-error');
  }
}

const COMMON_CONNECTION: ReadonlyMap<string, Set<string>> = new Map(['keep-alive', 'close'].map((t) => [t, connectionTokens([t])!]));

/**
 * The response headers the client may see, as the flat [name, value, ...] list writeHead
 * takes: hop-by-hop and Connection-named ones dropped, Set-Cookie filtered, ztproxy's own
 * added. Built from undici's raw header buffers (no header object per response); names
 * lower-cased through undici's table of well-known names.
 */
function clientHeaders(ctx: RequestContext, raw: readonly Buffer[]): string[] {
  // ztproxy's X-Request-Id, and its HSTS when it has one, replace the upstream's (with
  // ztproxy's HSTS off the app's own passes, as on the WebSocket path); a response that
  // carries ztproxy's own cookies gets ztproxy's Cache-Control.
  const hsts = ctx.snapshot.hstsHeader;
  const own = ctx.setCookies;
  const out: string[] = [];
  let named: Set<string> | undefined;
  let cookies: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = util.headerNameToString(raw[i]!);
    const value = raw[i + 1]!.toString('latin1');
    if (name === 'connection') {
      // Nearly every upstream says just `keep-alive` or `close`: one shared set, not a parse.
      const common = named === undefined ? COMMON_CONNECTION.get(value.toLowerCase()) : undefined;
      named = common ?? connectionTokens(named === undefined ? [value] : [...named, value]);
      continue;
    }
    if (HOP_BY_HOP.has(name) || name === 'x-request-id' || (hsts !== undefined && name === 'strict-transport-security') || (own !== undefined && name === 'cache-control')) continue;
    if (name === 'set-cookie') {
      (cookies ??= []).push(value);
      continue;
    }
    out.push(name, value);
  }
  if (named !== undefined) {
    // A header the upstream's Connection names is hop-by-hop for this response (RFC 9110 §7.6.1).
    for (let i = out.length - 2; i >= 0; i -= 2) if (named.has(out[i]!)) out.splice(i, 2);
    if (cookies !== undefined && named.has('set-cookie')) cookies = undefined;
  }
  // An upstream may not set, replace or clear ztproxy's own cookies (session fixation
  // by an app, or a logout it was not asked for); a response carrying this user's
  // session cookie must never be stored by a shared cache, whatever the app said.
  if (cookies !== undefined || own !== undefined) {
    const all = clientSetCookies(cookies, own);
    if (all !== undefined) for (const c of all) out.push('set-cookie', c);
    if (own !== undefined) out.push('cache-control', OWN_COOKIE_CACHE_CONTROL);
  }
  out.push('x-request-id', ctx.id);
  if (hsts !== undefined) out.push('strict-transport-security', hsts);
  return out;
}

/**
 * One upstream exchange, as undici's raw dispatch handler: the upstream's status and
 * headers become the client's, its body is written straight into the client response
 * (backpressure through undici's pause/resume), and `done` settles with the stage's
 * result. One object per request instead of undici's stream() machinery (a factory call,
 * a header object, end-of-stream listeners and a promise of its own): the forward-only
 * request spent a fifth of its CPU there (docs/design.md "Hot path").
 */
class Exchange {
  readonly ctx: RequestContext;
  readonly res: ServerResponse;
  readonly done: Promise<StageResult>;
  #settle!: (result: StageResult) => void;
  #abort: ((err?: Error) => void) | undefined;
  /** undici's resume, for the client response's `drain` (set with the headers). */
  #resume: (() => void) | undefined;
  #settled = false;

  constructor(ctx: RequestContext, res: ServerResponse) {
    this.ctx = ctx;
    this.res = res;
    this.done = new Promise((resolve) => {
      this.#settle = resolve;
    });
    // The client left before the answer was complete: stop the upstream exchange
    // (undici then reports the abort through onError).
    (res as ExchangeResponse)[kExchange] = this;
    res.once('close', clientClosed);
  }

  /** The client response closed: if the exchange is still running, the client left. */
  clientClosed(): void {
    if (!this.#settled) this.#abort?.(new ClientClosed());
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.res.destroyed) abort(new ClientClosed());
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    // 1xx interim answers (103 Early Hints) are not passed on: ztproxy answers
    // Expect: 100-continue itself (continue.ts), once every stage said yes. (undici
    // itself refuses a 100 the request did not ask for: a 502.)
    if (statusCode < 200) return true;
    const ctx = this.ctx;
    ctx.status = statusCode;
    ctx.timings.upstream = performance.now() - ctx.startedUpstream;
    this.#resume = resume;
    try {
      this.res.writeHead(statusCode, clientHeaders(ctx, raw));
    } catch (err) {
      // A header Node refuses to write (e.g. a value with a control byte): a 502, never
      // a half-written response.
      this.#abort!(err as Error);
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.#resume!);
    return false;
  }

  onComplete(): void {
    this.#settled = true;
    this.res.end();
    this.#settle(NEXT);
  }

  onError(err: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    const ctx = this.ctx;
    const res = this.res;
    ctx.timings.upstream ??= performance.now() - ctx.startedUpstream;
    if (res.headersSent) {
      // undici counts a 304's Content-Length (the representation's, RFC 9110 §8.6) as
      // body bytes still owed; the answer has no body and is complete.
      if (ctx.status === 304 && (err as { code?: string }).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
        res.end();
        this.#settle(NEXT);
        return;
      }
      // Headers are gone: the only honest signal left is a cut connection.
      ctx.details = (err as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT' ? 'upstream-body-timeout' : 'response-aborted';
      res.destroy();
      this.#settle(NEXT);
      return;
    }
    // Not the upstream's fault: the client left, or the parser refused its body (the
    // error undici reports is then the client's, e.g. HPE_INVALID_CHUNK_SIZE).
    if (res.destroyed || err instanceof ClientClosed || (ctx.req.errored !== null && !ctx.req.complete)) {
      this.#settle(endedByClient(ctx));
      return;
    }
    this.#settle(mapUpstreamError(err));
  }
}

const kExchange = Symbol('ztproxy.exchange');
type ExchangeResponse = ServerResponse & { [kExchange]?: Exchange };

/** One listener function for every request (no closure per request): the exchange rides on the response. */
function clientClosed(this: ExchangeResponse): void {
  this[kExchange]?.clientClosed();
}

class ClientClosed extends Error {
  readonly code = 'ZT_CLIENT_CLOSED';
  constructor() {
    super('the client closed the connection');
  }
}

/** The client's side ended the exchange: it left (499), or the parser refused its body (400, already answered). */
function endedByClient(ctx: RequestContext): StageResult {
  const refused = ctx.req.errored !== null && !ctx.req.complete;
  ctx.status = refused ? 400 : 499;
  ctx.details = refused ? 'request-refused-by-parser' : 'client-closed';
  return NEXT;
}

export async function forwardHttp(ctx: RequestContext, upstream: Upstream): Promise<StageResult> {
  const route = ctx.route!;
  const res = ctx.res!;
  const req = ctx.req;
  const limit = route.config.maxRequestBody;
  let body: NodeJS.ReadableStream | null = null;
  if (hasBody(ctx)) {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) return reply('payload-too-large', 'request-body-too-large');
    body = declared !== undefined ? req : limitBody(req, limit);
  }
  const assertion = ctx.snapshot.assertion.assertionFor({ route: route.name, subject: ctx.subject, spiffeId: ctx.conn.spiffeId, device: ctx.device });
  const identity = identityHeadersWith(ctx, typeof assertion === 'string' ? assertion : await assertion);
  if (identity === undefined) return UNSAFE_IDENTITY;
  if (req.destroyed && !req.complete) {
    // The parser refused this request's body after handing the request over (a
    // Transfer-Encoding whose trailing tab Node trimmed away, a bad chunk) while an earlier
    // stage awaited, and #onClientError has answered 400; or the client left. Either way
    // no body will come, and an upstream request started now would wait for it forever.
    return endedByClient(ctx);
  }
  // Every stage said yes and the declared length fits: now the client may send the body.
  if (body !== null) sendContinueIfExpected(res);
  ctx.startedUpstream = performance.now();
  const exchange = new Exchange(ctx, res);
  upstream.pool.dispatch(
    {
      path: ctx.target,
      method: ctx.method,
      headers: upstreamHeaders(ctx, upstream, identity),
      body: body as never,
      servername: upstream.requestServerName,
    } as Dispatcher.DispatchOptions,
    exchange,
  );
  return exchange.done;
}
