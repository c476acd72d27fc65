// WebSocket upgrades, on routes with `websocket: true`, after the same chain as any
// request. http-proxy-3 does the HTTP/1.1 upgrade dance; it is handed the canonical
// target and ztproxy's sanitized header set, never the client's raw headers. An upstream
// that does not answer 101 gets its answer relayed and the socket closed: the client is
// never switched to a raw tunnel the upstream did not accept (request-smuggling through
// fake upgrades).
import type { IncomingHttpHeaders } from 'node:http';
import { ProxyServer } from 'http-proxy-3';
import type { RequestContext } from '../pipeline/context.ts';
import { NEXT, reply, type StageResult } from '../pipeline/stage.ts';
import { upstreamHeaders } from './forward.ts';

const kContext = Symbol('ztproxy.context');
type WithContext = { [kContext]?: RequestContext };

const proxy = new ProxyServer({ ws: true, xfwd: false, prependPath: false });
// Errors are answered per call (the callback below); the emitter must not throw.
proxy.on('error', () => {});
// The status for the access log: 101 when the upstream switched, else what it answered.
proxy.on('proxyReqWs', (proxyReq, req) => {
  const ctx = (req as WithContext)[kContext];
  if (!ctx) return;
  proxyReq.once('upgrade', () => {
  });
  proxyReq.once('response', (res) => {
    ctx.status = res.statusCode ?? 502;
    ctx.details = 'websocket-not-accepted';
  });
});

function toHeaderObject(flat: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    const value = flat[i + 1]!;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

export function forwardUpgrade(ctx: RequestContext): Promise<StageResult> {
  const route = ctx.route!;
  const upgrade = ctx.upgrade!;
  if (!route.config.websocket) return Promise.resolve(reply('bad-request', 'upgrade-not-allowed'));
  const token = ctx.req.headers.upgrade?.toLowerCase();
  if (ctx.method !== 'GET' || token !== 'websocket') return Promise.resolve(reply('bad-request', 'upgrade-not-websocket'));

  const headers = toHeaderObject(upstreamHeaders(ctx));
  headers.connection = 'Upgrade';
  headers.upgrade = 'websocket';
  ctx.req.headers = headers;
  ctx.req.url = ctx.target;
  (ctx.req as WithContext)[kContext] = ctx;
  const upstream = route.upstream;
  const url = new URL(upstream.origin);
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (details: string): void => {
      ctx.timings.upstream ??= performance.now() - started;
      if (ctx.details === '') ctx.details = details;
      resolve(NEXT);
    };
    upgrade.socket.once('close', () => done('websocket-closed'));
    proxy.ws(
      ctx.req,
      upgrade.socket,
      upgrade.head,
      {
        target: {
          protocol: url.protocol,
          host: url.hostname.replace(/^\[|\]$/g, ''),
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: Number(url.port || (upstream.secure ? 443 : 80)),
          ...(upstream.tls?.ca ? { ca: upstream.tls.ca.toString() } : {}),
          ...(upstream.tls?.cert ? { cert: upstream.tls.cert.toString() } : {}),
          ...(upstream.tls?.key ? { key: upstream.tls.key.toString() } : {}),
        },
        secure: true,
        // Verify the upstream for its own name, never for the client's Host (see Upstream.serverName).
        ...(upstream.serverName ? { ssl: { servername: upstream.serverName } } : {}),
        proxyTimeout: upstream.timeouts.headers,
        connectTimeout: upstream.timeouts.connect,
      },
      (err) => {
        ctx.status = 502;
        done(`websocket-upstream-${(err as { code?: string }).code?.toLowerCase() ?? 'error'}`);
      },
    );
  });
}
