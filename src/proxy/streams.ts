// Long-lived streams (SPEC §8): WebSocket tunnels and CONNECT tunnels outlive the request
// that opened them — for hours, while the policy, the session, the token and the posture
// they were judged with change under them. Every such stream is registered here once it
// is open (the upstream accepted it and the client was told so) and leaves when its
// client socket closes. The registry is what re-authorization walks (issue #6 point 4),
// what shutdown cuts, and what the stream metrics count.
//
// A stream is closed through `close(stream, reason)`: the reason becomes its access-log
// line's `reason` (the line is written when the stream ends) and the `reason` label of
// `ztproxy_stream_closes_total`. A stream that ends by itself (either peer closed it)
// keeps the reason its relay set, or `<kind>-closed`.
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { RequestContext } from '../pipeline/context.ts';

export type StreamKind = 'websocket' | 'tunnel';

export interface OpenStream {
  /**
   * Random, unguessable (128 bits, base64url): a tunnel's client learns it in `X-ZT-Stream`
   * and names it to present fresh credentials for the stream; knowing it grants nothing
   * by itself (the renewal must come from the stream's own caller).
   */
  readonly id: string;
  readonly kind: StreamKind;
  /** The context the stream was authorized with (its snapshot, route, subject, device). */
  readonly ctx: RequestContext;
  /** The client side: destroying it ends the stream (the relay then closes the upstream side). */
  readonly socket: Duplex;
  /** Epoch ms when the stream opened. */
  readonly openedAt: number;
}

export interface ByteCounter {
  inc(bytes: number): void;
}

export interface StreamTelemetry {
  opened(kind: StreamKind): void;
  closed(kind: StreamKind, reason: string): void;
  /** A tunnel's byte counter for a route and direction (bound once; added to per chunk). */
  tunnelBytes?(route: string, direction: 'upstream' | 'client'): ByteCounter;
}

const NO_TELEMETRY: StreamTelemetry = { opened() {}, closed() {} };

/** One per proxy process; it outlives snapshots (a reload re-judges the streams it holds). */
export class StreamRegistry {
  readonly #open = new Map<string, OpenStream>();
  telemetry: StreamTelemetry = NO_TELEMETRY;

  get size(): number {
    return this.#open.size;
  }

  /** The streams open now (a live view: streams closed while iterating leave it). */
  streams(): IterableIterator<OpenStream> {
    return this.#open.values();
  }

  /** The open stream with this id, or undefined. */
  get(id: string): OpenStream | undefined {
    return this.#open.get(id);
  }

  /** Registers an open stream; it leaves the registry when `socket` closes. */
  add(kind: StreamKind, ctx: RequestContext, socket: Duplex): OpenStream {
    const stream: OpenStream = { id: randomBytes(16).toString('base64url'), kind, ctx, socket, openedAt: Date.now() };
    if (socket.destroyed) return stream;
    this.#open.set(stream.id, stream);
    this.telemetry.opened(kind);
    socket.once('close', () => {
      if (!this.#open.delete(stream.id)) return;
      if (ctx.details === '') ctx.details = `${kind}-closed`;
      this.telemetry.closed(kind, ctx.details);
    });
    return stream;
  }

  /** Ends a stream for `reason` (kebab-case; the access log's and the close metric's reason). */
  close(stream: OpenStream, reason: string): void {
    if (stream.socket.destroyed) return;
    stream.ctx.details = reason;
    stream.socket.destroy();
  }

  /** Ends every open stream (shutdown). */
  closeAll(reason: string): void {
    for (const stream of [...this.#open.values()]) this.close(stream, reason);
  }
}
