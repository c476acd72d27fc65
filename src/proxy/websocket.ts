// WebSocket upgrades, on routes with `websocket: true`, after the same chain as any
// request. http-proxy-3 does the HTTP/1.1 upgrade dance; it is handed the canonical
// target and ztproxy's sanitized header set, never the client's raw headers.
//
// The client is switched to a raw tunnel only when the upstream really accepted a
// WebSocket: a 101 with `Upgrade: websocket` and the Sec-WebSocket-Accept that matches the
// client's key (RFC 6455 §4.2.2). Anything else — a non-101 answer (relayed), a 101 for
// another protocol or with a wrong accept value, no answer within the route's headers
// timeout — ends the exchange. A tunnel the upstream did not mean to open would let the
// client write raw requests to the upstream past every policy (WebSocket smuggling).
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { ProxyServer } from 'http-proxy-3';
import { OWN_COOKIE_CACHE_CONTROL, clientSetCookies } from '../identity/session/cookies.ts';
import type { RequestContext } from '../pipeline/context.ts';
import { HOP_BY_HOP, connectionTokens } from '../basics/headers.ts';
import { NEXT, reply, type StageResult } from '../pipeline/stage.ts';
import { identityHeaders, upstreamHeaders, mapUpstreamError } from './forward.ts';
import { sendLocalReply } from './reply.ts';
import type { Upstream } from './upstream.ts';
import { newStreamId, type StreamRegistry } from './streams.ts';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const kContext = Symbol('ztproxy.context');
const kStreams = Symbol('ztproxy.streams');
type WithContext = { [kContext]?: RequestContext; [kStreams]?: StreamRegistry };

const proxy = new ProxyServer({ ws: true, xfwd: false, prependPath: false });
// Errors are answered per call (the callback below); the emitter must not throw.
proxy.on('error', () => {});

function expectedAccept(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

function answered(ctx: RequestContext): boolean {
  return ctx.status !== 0;
}

/** Adds ztproxy's response headers to what http-proxy-3 relays (it copies `headers`). */
function decorate(ctx: RequestContext, res: IncomingMessage, keepUpgradeHeaders: boolean): void {
  const headers = res.headers;
  const conn = headers.connection;
  const named = conn === undefined ? undefined : connectionTokens([conn]);
  for (const name of Object.keys(headers)) {
    if (keepUpgradeHeaders && (name === 'connection' || name === 'upgrade')) continue;
    if (HOP_BY_HOP.has(name) || named?.has(name)) delete headers[name];
  }
  // As for HTTP (forward.ts): an upstream never sets ztproxy's cookies, and a renewed
  // session cookie goes to the browser on the handshake's answer too.
  const cookies = clientSetCookies(headers['set-cookie'], ctx.setCookies);
  if (cookies === undefined) delete headers['set-cookie'];
  else headers['set-cookie'] = cookies;
  if (ctx.setCookies !== undefined) headers['cache-control'] = OWN_COOKIE_CACHE_CONTROL;
  headers['x-request-id'] = ctx.id;
  if (ctx.snapshot.hstsHeader !== undefined) headers['strict-transport-security'] = ctx.snapshot.hstsHeader;
}

// Registered before http-proxy-3's own `upgrade` / `response` listeners (it emits
// `proxyReqWs` before adding them), so these run first and can veto.
proxy.on('proxyReqWs', (proxyReq, req) => {
  const ctx = (req as WithContext)[kContext];
  const streams = (req as WithContext)[kStreams];
  if (!ctx || !streams) return;
  const timer = setTimeout(() => {
    if (answered(ctx)) return;
    sendLocalReply(ctx, { code: 'gateway-timeout', details: 'upstream-headers-timeout' });
    proxyReq.destroy();
  }, ctx.route!.config.timeouts.headers);
  proxyReq.once('close', () => clearTimeout(timer));
  proxyReq.once('upgrade', (res: IncomingMessage, upstreamSocket: Socket) => {
    clearTimeout(timer);
    const key = String(ctx.req.headers['sec-websocket-key'] ?? '');
    const ok =
      res.headers.upgrade?.toLowerCase() === 'websocket' &&
      key !== '' &&
      res.headers['sec-websocket-accept'] === expectedAccept(key);
    if (!ok || answered(ctx)) {
      upstreamSocket.destroy();
      if (!answered(ctx)) sendLocalReply(ctx, { code: 'bad-gateway', details: 'websocket-invalid-upgrade' });
      return;
    }
    decorate(ctx, res, true);
    // The stream's id, for renewing its credentials (POST /.ztproxy/streams/renew). The
    // registry re-judges it from now on: policy, session, token, posture, certificate.
    const id = newStreamId();
    res.headers['x-zt-stream'] = id;
    ctx.status = 101;
    streams.add('websocket', ctx, ctx.upgrade!.socket, id);
  });
  proxyReq.once('response', (res: IncomingMessage) => {
    clearTimeout(timer);
    decorate(ctx, res, false);
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

export async function forwardUpgrade(ctx: RequestContext, upstream: Upstream, streams: StreamRegistry): Promise<StageResult> {
  const route = ctx.route!;
  const upgrade = ctx.upgrade!;
  if (!route.config.websocket) return reply('bad-request', 'upgrade-not-allowed');
  const token = ctx.req.headers.upgrade?.toLowerCase();
  if (ctx.method !== 'GET' || token !== 'websocket') return reply('bad-request', 'upgrade-not-websocket');
  if (!ctx.req.headers['sec-websocket-key']) return reply('bad-request', 'websocket-key-missing');
  // A handshake has no body (RFC 6455 §4.1: a GET); bytes sent as one would end up inside
  // the tunnel after the 101, never judged as requests.
  const length = ctx.req.headers['content-length'];
  if (ctx.req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
    return reply('bad-request', 'upgrade-with-body');
  }

  const identity = await identityHeaders(ctx);
  if (identity === undefined) return reply('forbidden', 'identity-unsafe-header-value');
  const headers = toHeaderObject(upstreamHeaders(ctx, upstream, identity));
  headers.connection = 'Upgrade';
  headers.upgrade = 'websocket';
  ctx.req.headers = headers;
  ctx.req.url = ctx.target;
  (ctx.req as WithContext)[kContext] = ctx;
  (ctx.req as WithContext)[kStreams] = streams;
  const url = new URL(upstream.origin);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  ctx.startedUpstream = performance.now();
  return new Promise((resolve) => {
    upgrade.socket.once('close', () => {
      ctx.timings.upstream ??= performance.now() - ctx.startedUpstream;
      if (ctx.details === '') ctx.details = 'websocket-closed';
      if (ctx.status === 0) ctx.status = 499;
      resolve(NEXT);
    });
    proxy.ws(
      ctx.req,
      upgrade.socket,
      upgrade.head,
      {
        target: {
          protocol: url.protocol,
          host,
          hostname: host,
          port: Number(url.port || (upstream.secure ? 443 : 80)),
          ...(upstream.tls?.ca ? { ca: upstream.tls.ca.toString() } : {}),
          ...(upstream.tls?.cert ? { cert: upstream.tls.cert.toString() } : {}),
          ...(upstream.tls?.key ? { key: upstream.tls.key.toString() } : {}),
        },
        secure: true,
        // Verify the upstream for its own name, never for the client's Host (see Upstream.serverName).
        ...(upstream.serverName ? { ssl: { servername: upstream.serverName } } : {}),
        connectTimeout: upstream.timeouts.connect,
      },
      (err) => {
        if (answered(ctx)) return;
        const mapped = mapUpstreamError(err);
        if ('reply' in mapped) sendLocalReply(ctx, mapped.reply);
      },
    );
  });
}
