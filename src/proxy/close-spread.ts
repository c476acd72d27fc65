// Connection cuts that do not stall the event loop. Destroying an established TLS socket
// costs the loop on the order of 0.1 ms (SSL teardown, handle close, close callbacks);
// deadlines that line up — 1,000 slowloris connections opened in the same second, cut by
// the same timeout sweep — destroyed in one tick stalled every other request for 50-150
// ms (issue #4). So each connection's deadline gets its own random extra (jitter), and
// what still comes due together is run a small budget per tick (setImmediate between
// batches lets I/O of legitimate requests in).
import type { Duplex } from 'node:stream';

/** Cuts run per event-loop turn; the rest wait for the next turn. */
const PER_TICK = 16;
/** The jitter added to a deadline: up to this fraction of it ... */
const JITTER_FRACTION = 0.25;
/** ... and never more than this (a 5-minute requestTimeout gets at most 5 s more). */
const JITTER_MAX_MS = 5000;

/**
 * A random extra for a deadline of `ms`: 0 to 25 % of it (at most 5 s). Only ever added,
 * so a limit stays a minimum a legitimate client can rely on.
 */
export function jitter(ms: number): number {
  return Math.floor(Math.random() * Math.min(ms * JITTER_FRACTION, JITTER_MAX_MS));
}

export type CloseAction<S extends Duplex> = (socket: S) => void;

/** Destroys the socket (the default cut). */
export function destroySocket(socket: Duplex): void {
  socket.destroy();
}

/**
 * Runs cuts a bounded number per tick. Actions are plain functions taking the socket (no
 * closure per connection); a socket already gone when its turn comes is skipped.
 */
export class CloseSpreader {
  readonly #sockets: Duplex[] = [];
  readonly #actions: CloseAction<Duplex>[] = [];
  #head = 0;
  #scheduled = false;
  readonly #drain = (): void => this.#run();

  /** `action(socket)` after `delayMs`, within the per-tick budget. */
  after<S extends Duplex>(delayMs: number, socket: S, action: CloseAction<S>): void {
    if (delayMs <= 0) this.now(socket, action);
    else setTimeout(enqueue, delayMs, this, socket, action).unref();
  }

  /** `action(socket)` as soon as the per-tick budget allows. */
  now<S extends Duplex>(socket: S, action: CloseAction<S>): void {
    this.#sockets.push(socket);
    this.#actions.push(action as CloseAction<Duplex>);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
  }

  #run(): void {
    const end = Math.min(this.#head + PER_TICK, this.#sockets.length);
    for (; this.#head < end; this.#head++) {
      const socket = this.#sockets[this.#head]!;
      const action = this.#actions[this.#head]!;
      if (!socket.destroyed) action(socket);
    }
    if (this.#head < this.#sockets.length) {
      setImmediate(this.#drain);
      return;
    }
    this.#sockets.length = 0;
    this.#actions.length = 0;
    this.#head = 0;
    this.#scheduled = false;
  }
}

function enqueue<S extends Duplex>(spreader: CloseSpreader, socket: S, action: CloseAction<S>): void {
  if (!socket.destroyed) spreader.now(socket, action);
}
