// The HTTPS listener (PEP data plane) and the optional plain-HTTP listener that only
// redirects. Slow clients are bounded by Node's own parser limits: headersTimeout (a
// slowloris sending headers a byte at a time), requestTimeout (a whole request),
// maxHeaderSize; the TLS handshake by the connection guard. Node detects an expired
// deadline; the cut itself is jittered and spread over ticks (close-spread.ts).
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions } from 'node:tls';
import type { Config } from '../config/schema.ts';
import { canonicalizeHost } from '../basics/canonical.ts';
import { jitter, type CloseSpreader } from './close-spread.ts';
import { framingFault } from '../pipeline/framing.ts';

// Function-typed properties, not methods: the server calls them detached from this
// object, so they must not rely on `this` (main.ts passes arrow functions).
export interface ListenerHandlers {
  request: (this: void, req: IncomingMessage, res: ServerResponse) => void;
  /**
   * A request with `Expect: 100-continue`: Node would send `100 Continue` before any check
   * ran; with this handler the chain runs first and the forward step sends it (see
   * proxy/continue.ts), so a refused request is answered before the client sends its body.
   */
  checkContinue: (this: void, req: IncomingMessage, res: ServerResponse) => void;
  /** Upgrade requests and CONNECT: answered on the raw socket. */
  upgrade: (this: void, req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  clientError: (this: void, err: NodeJS.ErrnoException, socket: Duplex) => void;
}

export function createHttpsListener(listen: Config['listen'], context: SecureContextOptions, handlers: ListenerHandlers, closer: CloseSpreader): HttpsServer {
  const mode = listen.clientAuth.mode;
  const server = createHttpsServer({
    ...context,
    requestCert: mode !== 'off',
    // `require`: no or an unverified certificate fails the handshake. `optional`: the
    // handshake completes and the connection simply has no workload identity.
    rejectUnauthorized: mode === 'require',
    // The connection guard cuts a slow handshake at handshakeTimeout plus its own jitter;
    // Node's timer (every connection at exactly the same delay) only backs it up.
    handshakeTimeout: listen.limits.handshakeTimeout * 2,
    maxHeaderSize: listen.limits.maxHeaderSize,
    headersTimeout: listen.limits.headersTimeout,
    requestTimeout: listen.limits.requestTimeout,
    keepAliveTimeout: listen.limits.keepAliveTimeout,
    // Node enforces headersTimeout/requestTimeout only when it sweeps its connections
    // (every 30 s by default), which would let a slowloris hold a socket for 30 s past
    // the limit; sweep often enough that the limits mean what they say.
    connectionsCheckingInterval: checkingInterval(listen.limits.headersTimeout),
    // Host is checked by the sanitize stage (exactly one, valid), so that a missing Host
    // gets the same JSON 400 with a request id as every other rejection.
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    insecureHTTPParser: false,
    noDelay: true,
  });
  if (listen.limits.maxConnections !== undefined) server.maxConnections = listen.limits.maxConnections;
  server.on('request', handlers.request);
  server.on('checkContinue', handlers.checkContinue);
  // Idle keep-alive connections: with a 'timeout' listener Node leaves the cut to us, so
  // connections that went idle together are not all destroyed in the same tick.
  server.on('timeout', (socket: Duplex) => closer.after(jitter(listen.limits.keepAliveTimeout), socket, destroyIfIdle));
  server.on('upgrade', handlers.upgrade);
  // Without a listener Node would drop a CONNECT silently; it gets its 400 from the chain.
  server.on('connect', handlers.upgrade);
  server.on('clientError', handlers.clientError);
  return server;
}

/**
 * The keep-alive cut, once its jitter has passed: a request that arrived meanwhile (Node
 * then has a response in progress on the socket) keeps its connection.
 */
function destroyIfIdle(socket: Duplex): void {
  if ((socket as { _httpMessage?: object | null })._httpMessage == null) socket.destroy();
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };
const MESSAGES: Record<number, string> = { 400: 'bad request', 408: 'request timeout', 431: 'request headers too large' };

/**
 * A request the parser refused, or that timed out before it was complete: one JSON
 * answer, then the connection is destroyed once that is flushed — not merely ended, which
 * would leave a slowloris client holding a half-open socket.
 */
export function answerClientError(socket: Duplex, status: number, requestId: string, hsts: string | undefined): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: MESSAGES[status] ?? 'bad request', requestId });
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\n${hsts ? `Strict-Transport-Security: ${hsts}\r\n` : ''}Connection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
  // A peer that never reads would keep the write (and the socket) pending.
  setTimeout(() => socket.destroy(), 1000).unref();
}

function checkingInterval(timeoutMs: number): number {
  return Math.max(100, Math.min(1000, Math.floor(timeoutMs / 4)));
}

/** Plain HTTP: every request is sent to the same host and path over HTTPS, nothing else. */
export function createRedirectListener(httpsPort: number, headersTimeout: number): HttpServer {
  const server = createHttpServer({ headersTimeout, requestTimeout: headersTimeout, maxHeaderSize: 16384, connectionsCheckingInterval: checkingInterval(headersTimeout) }, (req, res) => {
    const host = canonicalizeHost(req.headers.host ?? '');
    const url = req.url ?? '';
    res.setHeader('connection', 'close');
    // The same framing rules as the HTTPS listener: a faulty request gets a 400, not a
    // redirect a client would follow with the same ambiguous body.
    if (!host || url.charCodeAt(0) !== 47 || framingFault(req, false) !== undefined) {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad request"}');
      return;
    }
    const name = host.name.includes(':') ? `[${host.name}]` : host.name;
    const location = `https://${name}${httpsPort === 443 ? '' : `:${httpsPort}`}${url}`;
    const status = req.method === 'GET' || req.method === 'HEAD' ? 301 : 308;
    res.writeHead(status, { location, 'content-length': 0 }).end();
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const code = err.code;
    // Bytes the parser refused behind a request already answered (its body, or what
    // follows it): that answer closes the connection; a second one would be a response
    // to no request.
    if ((socket as { _httpMessage?: unknown })._httpMessage) {
      (socket as { destroySoon?: () => void }).destroySoon?.();
      return;
    }
    answerClientError(socket, code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400, randomUUID(), undefined);
  });
  return server;
}
