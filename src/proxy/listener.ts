// The HTTPS listener (PEP data plane) and the optional plain-HTTP listener that only
// redirects. Slow clients are bounded by Node's own parser limits: headersTimeout (a
// slowloris sending headers a byte at a time), requestTimeout (a whole request),
// maxHeaderSize, and the TLS handshake timeout.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions } from 'node:tls';
import type { Config } from '../config/schema.ts';
import { canonicalizeHost } from '../pipeline/canonical.ts';

export interface ListenerHandlers {
  request(req: IncomingMessage, res: ServerResponse): void;
  /** Upgrade requests and CONNECT: answered on the raw socket. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  clientError(err: NodeJS.ErrnoException, socket: Duplex): void;
}

export function createHttpsListener(listen: Config['listen'], context: SecureContextOptions, handlers: ListenerHandlers): HttpsServer {
  const mode = listen.clientAuth.mode;
  const server = createHttpsServer({
    ...context,
    requestCert: mode !== 'off',
    // `require`: no or an unverified certificate fails the handshake. `optional`: the
    // handshake completes and the connection simply has no workload identity.
    rejectUnauthorized: mode === 'require',
    handshakeTimeout: listen.limits.handshakeTimeout,
    maxHeaderSize: listen.limits.maxHeaderSize,
    headersTimeout: listen.limits.headersTimeout,
    requestTimeout: listen.limits.requestTimeout,
    keepAliveTimeout: listen.limits.keepAliveTimeout,
    // Host is checked by the sanitize stage (exactly one, valid), so that a missing Host
    // gets the same JSON 400 with a request id as every other rejection.
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    insecureHTTPParser: false,
    noDelay: true,
  });
  if (listen.limits.maxConnections !== undefined) server.maxConnections = listen.limits.maxConnections;
  server.on('request', handlers.request);
  server.on('upgrade', handlers.upgrade);
  // Without a listener Node would drop a CONNECT silently; it gets its 400 from the chain.
  server.on('connect', handlers.upgrade);
  server.on('clientError', handlers.clientError);
  return server;
}

/** Plain HTTP: every request is sent to the same host and path over HTTPS, nothing else. */
export function createRedirectListener(httpsPort: number, headersTimeout: number): HttpServer {
  return createHttpServer({ headersTimeout, requestTimeout: headersTimeout, maxHeaderSize: 16384 }, (req, res) => {
    const host = canonicalizeHost(req.headers.host ?? '');
    const url = req.url ?? '';
    res.setHeader('connection', 'close');
    if (!host || url.charCodeAt(0) !== 47) {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad request"}');
      return;
    }
    const name = host.name.includes(':') ? `[${host.name}]` : host.name;
    const location = `https://${name}${httpsPort === 443 ? '' : `:${httpsPort}`}${url}`;
    const status = req.method === 'GET' || req.method === 'HEAD' ? 301 : 308;
    res.writeHead(status, { location, 'content-length': 0 }).end();
  });
}
