// The forward step: the canonical request, with the headers ztproxy vouches for, to the
// route's upstream over a kept-alive undici pool. Bodies stream both ways and are never
// buffered whole; the request body is cut at the route's limit.
import { Transform, type TransformCallback, type Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
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

/** Response headers the client may see: hop-by-hop and Connection-named ones dropped. */
function responseHeaders(ctx: RequestContext, headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const conn = headers['connection'];
  const named = conn === undefined ? undefined : connectionTokens(Array.isArray(conn) ? conn : [conn]);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = value;
  }
  // An upstream may not set, replace or clear ztproxy's own cookies (session fixation
  // by an app, or a logout it was not asked for); a response carrying this user's
  // session cookie must never be stored by a shared cache, whatever the app said.
  if (out['set-cookie'] !== undefined || ctx.setCookies !== undefined) {
    const cookies = clientSetCookies(out['set-cookie'], ctx.setCookies);
    if (cookies === undefined) delete out['set-cookie'];
    else out['set-cookie'] = cookies;
    if (ctx.setCookies !== undefined) out['cache-control'] = OWN_COOKIE_CACHE_CONTROL;
  }
  out['x-request-id'] = ctx.id;
  const hsts = ctx.snapshot.hstsHeader;
  if (hsts !== undefined) out['strict-transport-security'] = hsts;
  return out;
}

/**
 * undici writes the upstream body straight into the client response (no intermediate
 * Readable and no stream.pipeline per request: measured at ~40% of the per-request CPU
 * on small responses). The context travels as `opaque`, so the factory is one function
 * for all requests, not a closure per request.
 */
function intoClientResponse({ statusCode, headers, opaque }: Dispatcher.StreamFactoryData<RequestContext>): Writable {
  const res = opaque.res!;
  opaque.status = statusCode;
  opaque.timings.upstream = performance.now() - opaque.startedUpstream;
  res.writeHead(statusCode, responseHeaders(opaque, headers));
  return res;
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
  try {
    await upstream.pool.stream(
      {
        path: ctx.target,
        method: ctx.method,
        headers: upstreamHeaders(ctx, upstream, identity),
        body: body as never,
        opaque: ctx,
        servername: upstream.requestServerName,
      } as Dispatcher.RequestOptions<RequestContext>,
      intoClientResponse,
    );
  } catch (err) {
    ctx.timings.upstream ??= performance.now() - ctx.startedUpstream;
    if (res.headersSent) {
      // Headers are gone: the only honest signal left is a cut connection.
      // undici destroys the response with the cause and then reports a premature close;
      // the cause is what the log needs.
      const cause = (res.errored ?? err) as { code?: string };
      ctx.details = cause.code === 'UND_ERR_BODY_TIMEOUT' || (err as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT' ? 'upstream-body-timeout' : 'response-aborted';
      res.destroy();
      return NEXT;
    }
    // Not the upstream's fault: the client left, or the parser refused its body (the
    // error undici reports is then the client's, e.g. HPE_INVALID_CHUNK_SIZE).
    if (res.destroyed || (req.errored !== null && !req.complete)) return endedByClient(ctx);
    return mapUpstreamError(err);
  }
  return NEXT;
}
