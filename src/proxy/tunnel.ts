// CONNECT tunnels to TCP routes (issue #6; SPEC §3 `upstream: tcp://host:port`). The
// chain before this stage judged the CONNECT like any request (connection identity,
// lockout, authentication, posture, policy with method CONNECT); only an allowed one gets
// here. The upstream is connected first, and only once it accepted the connection is the
// client told `200 Connection Established` (with X-Request-Id and X-ZT-Stream, the
// stream's id for renewing its credentials): a refused or unreachable upstream is an
// ordinary 502 / 504 with nothing relayed. Bytes the client sent behind the CONNECT head
// (pipelined before the answer) were held unread in the socket until now; they reach the
// upstream only here, in order, after the allow.
//
// The relay is two pipes (backpressure: a slow reader pauses the other side's socket, so
// memory stays at a few socket buffers however much flows), a half-close passed on as a
// half-close (a client's EOF is the upstream's EOF: `ssh` and database clients rely on
// it), an idle timeout over both directions, and either side's error or close ending
// both. The tunnel is registered in the StreamRegistry while open (re-authorization and
// shutdown close it from there); its access-log line is written when it closes, with the
// close reason and the bytes each way.
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RequestContext } from '../pipeline/context.ts';
import { NEXT, reply, type StageResult } from '../pipeline/stage.ts';
import { mapUpstreamError } from './forward.ts';
import { judgeStream, type StreamVerdict } from './reauthorize.ts';
import type { ByteCounter, StreamRegistry } from './streams.ts';

/** Where a TCP route connects, and its timeouts (built once per snapshot). */
export interface TcpTarget {
  readonly host: string;
  readonly port: number;
  readonly connectTimeout: number;
  readonly idleTimeout: number;
}

const CONNECT_TIMEOUT = reply('gateway-timeout', 'upstream-connect-timeout');
const REFUSED_SINCE_RELOAD: Record<string, StageResult> = {};
const NO_COUNTER: ByteCounter = { inc() {} };
/** After the upstream ended both ways, how long a client that keeps its side open is given to read what is left. */
const CLOSE_GRACE_MS = 5000;

function established(ctx: RequestContext, streamId: string): string {
  return `HTTP/1.1 200 Connection Established\r\nX-Request-Id: ${ctx.id}\r\nX-ZT-Stream: ${streamId}\r\n\r\n`;
}

/** Opens the tunnel for an allowed CONNECT; resolves when it is refused (the reply) or once it has closed (NEXT). */
export function forwardTunnel(ctx: RequestContext, target: TcpTarget, streams: StreamRegistry): Promise<StageResult> {
  const client = ctx.upgrade!.socket;
  const head = ctx.upgrade!.head;
  ctx.startedUpstream = performance.now();
  return new Promise((resolve) => {
    // Decided on a configuration a reload has since replaced: judged by the one in force
    // now before anything is connected.
    const verdict = refusedSinceReload(ctx, streams);
    if (verdict === undefined) connectUpstream(ctx, client, head, target, streams, resolve);
    else if (typeof verdict === 'string') resolve(refusal(verdict));
    else {
      verdict.then(
        (v) => (v === undefined ? connectUpstream(ctx, client, head, target, streams, resolve) : resolve(refusal(v))),
        () => resolve(refusal('reauthorization-error')),
      );
    }
  });
}

function connectUpstream(ctx: RequestContext, client: Duplex, head: Buffer, target: TcpTarget, streams: StreamRegistry, resolve: (result: StageResult) => void): void {
  if (client.destroyed) {
    ctx.status = 499;
    ctx.details = 'client-closed';
    resolve(NEXT);
    return;
  }
  const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
  let settled = false;
  const timer = setTimeout(() => {
    if (settled) return;
    settled = true;
    client.off('close', clientGone);
    upstream.destroy();
    resolve(CONNECT_TIMEOUT);
  }, target.connectTimeout);
  const clientGone = (): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    upstream.destroy();
    ctx.status = 499;
    ctx.details = 'client-closed';
    resolve(NEXT);
  };
  client.once('close', clientGone);
  upstream.once('error', (err) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    client.off('close', clientGone);
    resolve(mapUpstreamError(err));
  });
  upstream.once('connect', () => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    client.off('close', clientGone);
    ctx.timings.upstream = performance.now() - ctx.startedUpstream;
    // A reload while the connect was pending re-judged the streams open at that moment
    // only: this one is judged by the configuration in force now, before its 200 (a
    // route removed, or a policy that now refuses it). Nothing was written upstream yet.
    const verdict = refusedSinceReload(ctx, streams);
    if (verdict === undefined) relay(ctx, client, upstream, head, target, streams, resolve);
    else if (typeof verdict === 'string') refuseConnected(upstream, verdict, resolve);
    else {
      // The client may leave while a remote PDP answers: nothing is left to open then.
      client.once('close', clientGone);
      settled = false;
      void verdict.then(
        (v) => {
          if (settled) return;
          settled = true;
          client.off('close', clientGone);
          if (v === undefined) relay(ctx, client, upstream, head, target, streams, resolve);
          else refuseConnected(upstream, v, resolve);
        },
        () => {
          if (settled) return;
          settled = true;
          client.off('close', clientGone);
          refuseConnected(upstream, 'reauthorization-error', resolve);
        },
      );
    }
  });
}

/**
 * Undefined when the CONNECT was decided on the configuration in force now, or that one
 * lets it through too (reauthorize.ts, as an open stream is judged at a reload); else why
 * not. Only after a reload does this cost anything.
 */
function refusedSinceReload(ctx: RequestContext, streams: StreamRegistry): StreamVerdict | Promise<StreamVerdict> {
  const now = streams.current();
  if (now === undefined || now === ctx.snapshot) return undefined;
  return judgeStream({ kind: 'tunnel', ctx }, now, Date.now());
}

/** 503 with the verdict as reason: a retry is judged by the current configuration from the start. */
function refusal(verdict: string): StageResult {
  return (REFUSED_SINCE_RELOAD[verdict] ??= reply('service-unavailable', verdict));
}

function refuseConnected(upstream: Socket, verdict: string, resolve: (result: StageResult) => void): void {
  upstream.destroy();
  resolve(refusal(verdict));
}

function relay(
  ctx: RequestContext,
  client: Duplex,
  upstream: Socket,
  head: Buffer,
  target: TcpTarget,
  streams: StreamRegistry,
  done: (result: StageResult) => void,
): void {
  const route = ctx.route!.name;
  const toUpstream = streams.telemetry.tunnelBytes?.(route, 'upstream') ?? NO_COUNTER;
  const toClient = streams.telemetry.tunnelBytes?.(route, 'client') ?? NO_COUNTER;
  ctx.bytesToUpstream = 0;
  ctx.bytesToClient = 0;
  let grace: NodeJS.Timeout | undefined;
  client.once('close', () => {
    clearTimeout(grace);
    upstream.destroy();
    done(NEXT);
  });
  upstream.on('error', () => {
    if (ctx.details === '') ctx.details = 'upstream-error';
    client.destroy();
  });
  upstream.once('close', (hadError) => {
    if (hadError || client.destroyed) {
      client.destroy();
      return;
    }
    // Both directions of the upstream are done (its EOF reached the client through the
    // pipe, the client's reached it). A client that keeps its own side open has nothing
    // left to talk to.
    client.end();
    grace = setTimeout(() => client.destroy(), CLOSE_GRACE_MS).unref();
  });

  // The HTTPS server's sockets close their side on the client's EOF; a tunnel passes the
  // EOF on instead and keeps relaying the upstream's answer (TLS 1.3 allows a half-closed
  // connection, RFC 8446 §6.1). Both properties are read when the EOF comes.
  (client as Duplex & { allowHalfOpen: boolean }).allowHalfOpen = true;
  const stream = streams.add('tunnel', ctx, client);
  // Judged again as it was registered (a reload or a revocation came while the upstream
  // was being connected) and refused: no 200, and the bytes the client sent behind the
  // CONNECT never reach the upstream (the close above ends the upstream side).
  if (client.destroyed) return;
  ctx.status = 200;
  client.write(established(ctx, stream.id));
  if (head.length > 0) {
    ctx.bytesToUpstream += head.length;
    toUpstream.inc(head.length);
    upstream.write(head);
  }
  client.on('data', (chunk: Buffer) => {
    ctx.bytesToUpstream! += chunk.length;
    toUpstream.inc(chunk.length);
  });
  upstream.on('data', (chunk: Buffer) => {
    ctx.bytesToClient! += chunk.length;
    toClient.inc(chunk.length);
  });
  client.pipe(upstream);
  upstream.pipe(client);
  // Activity either way resets it: reads from the client, and writes of upstream bytes to it.
  const idle = (client as Partial<Socket>).setTimeout;
  if (typeof idle === 'function') {
    idle.call(client, target.idleTimeout);
    client.on('timeout', () => {
      if (ctx.details === '') ctx.details = 'idle-timeout';
      client.destroy();
    });
  }
}
