// Admission of client connections, before any TLS work is done for them. A TLS handshake
// is the most expensive thing a client can make the proxy do without credentials (an
// ECDSA/RSA signature and a key exchange per connection), and each open connection holds
// memory and a socket: a reconnect wave, or one source opening thousands of connections,
// would starve every other client. So:
// - at most `maxHandshakes` handshakes are in progress at once (all clients together); a
//   connection arriving at the cap is admitted and the OLDEST pending handshake is cut for
//   it. Refusing the newest let silent connections — free for an attacker, each holding a
//   slot for handshakeTimeout — lock every client out at maxHandshakes / handshakeTimeout
//   connections a second (51/s at the defaults, from two addresses); a real handshake
//   takes milliseconds, so the oldest is the stalled one, and starving a real client now
//   takes maxHandshakes new connections within its handshake's round trips;
// - at most `maxConnectionsPerIp` connections are open per client address (an IPv6 client
//   counts per /64, the smallest prefix a site is routed — one host can use any address
//   in it); peers listed in trustedProxies are exempt, they carry many clients;
// - a handshake not finished within handshakeTimeout (+ jitter, so a wave of them is not
//   cut in one tick) is cut.
// A connection over the per-address limit is reset on its raw TCP socket in the
// 'connection' event — no TLS state, no handshake, no TIME_WAIT on our side; it and a
// handshake cut for the cap are counted in ztproxy_connections_refused_total{reason}.
// Admitted connections start their handshake at most HANDSHAKE_STARTS_PER_TICK per
// event-loop turn: a ClientHello costs the server a signature and a key exchange
// (~0.5-1 ms), run synchronously when it is read, and a reconnect wave of 1,000 read in
// one poll phase is a loop stall of that many milliseconds for every other client. The
// raw socket waits (its ClientHello buffered) until Node's TLS wrapping is called for it.
import type { Socket } from 'node:net';
import { addressKey, isIP, unmapIPv4 } from '../basics/ip.ts';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Metrics } from '../telemetry/metrics.ts';
import { jitter, destroySocket, type CloseSpreader } from './close-spread.ts';

export interface ConnectionGuardOptions {
  readonly maxHandshakes: number;
  readonly maxConnectionsPerIp: number;
  readonly handshakeTimeout: number;
  /** Peers not counted per address (trusted proxies, which carry many clients). */
  readonly exempt: (ip: string, family: 'ipv4' | 'ipv6') => boolean;
}

/** Handshakes started per event-loop turn; the rest wait in arrival order. */
const HANDSHAKE_STARTS_PER_TICK = 8;

const kState = Symbol('ztproxy.connection');
const kRefused = Symbol('ztproxy.refused');

interface ConnectionState {
  readonly guard: ConnectionGuard;
  /** The per-address key, or undefined for an exempt peer. */
  readonly key: string | undefined;
  handshaking: boolean;
  timer: NodeJS.Timeout | undefined;
}

type GuardedSocket = Socket & { [kState]?: ConnectionState; [kRefused]?: true };

/**
 * True for a TLS socket whose TCP connection the guard refused: Node still wraps it and
 * reports the reset as a client error, which is no request and no handshake failure.
 */
export function isRefusedConnection(socket: object): boolean {
  return ((socket as { _parent?: GuardedSocket })._parent ?? (socket as GuardedSocket))[kRefused] === true;
}

// The per-address key (one IPv6 /64) is shared with the lockout's per-IP counters.
export { addressKey } from '../basics/ip.ts';

export class ConnectionGuard {
  readonly #opts: ConnectionGuardOptions;
  readonly #metrics: Metrics;
  readonly #closer: CloseSpreader;
  readonly #perAddress = new Map<string, number>();
  #handshakes = 0;
  /** Raw sockets whose handshake is not done (queued or in progress), for cutHandshakes(). */
  readonly #handshaking = new Set<GuardedSocket>();
  /** Node's own 'connection' listener of the TLS server (wraps the socket in TLS). */
  #startTls: ((this: HttpsServer, socket: Socket) => void) | undefined;
  #server: HttpsServer | undefined;
  readonly #waiting: GuardedSocket[] = [];
  #waitingHead = 0;
  #startScheduled = false;
  readonly #startSome = (): void => this.#runStarts();

  constructor(opts: ConnectionGuardOptions, metrics: Metrics, closer: CloseSpreader) {
    this.#opts = opts;
    this.#metrics = metrics;
    this.#closer = closer;
  }

  /** Handshakes in progress now. */
  get handshakes(): number {
    return this.#handshakes;
  }

  /** Installs the guard ahead of Node's TLS wrapping of each accepted socket. */
  attach(server: HttpsServer): void {
    const node = server.listeners('connection');
    if (node.length === 1) {
      // Node's tls.Server wraps each socket in TLS from its one 'connection' listener:
      // take it over, so that admitted sockets are wrapped a few per turn.
      this.#startTls = node[0] as (this: HttpsServer, socket: Socket) => void;
      this.#server = server;
      server.removeListener('connection', this.#startTls);
      server.on('connection', (socket: Socket) => this.#admit(socket));
    } else {
      // Not the listener layout this was written against: still refuse before TLS, and
      // let Node start every handshake at once.
      server.prependListener('connection', (socket: Socket) => this.#admit(socket));
    }
    server.on('secureConnection', (socket: TLSSocket) => this.#secured(socket));
    // Node's own maxConnections refuses on the handle, before a socket exists.
    server.on('drop', () => this.#metrics.connectionsRefused.inc({ reason: 'max_connections' }));
  }

  #admit(socket: GuardedSocket): void {
    // Until Node's TLS wrapping takes the socket over (a turn later, or never for a refused
    // one), nothing else listens for its errors: a reset then would be an uncaught 'error'
    // event, which ends the process for every client.
    socket.on('error', ignoreError);
    const ip = socket.remoteAddress;
    if (ip === undefined) {
      // Already gone (reset between accept and this event): nothing to admit.
      socket.destroy();
      return;
    }
    const client = unmapIPv4(ip);
    const family = isIP(client) === 6 ? 'ipv6' : 'ipv4';
    let key: string | undefined;
    if (!this.#opts.exempt(client, family)) {
      key = addressKey(ip);
      const open = this.#perAddress.get(key) ?? 0;
      if (open >= this.#opts.maxConnectionsPerIp) return this.#refuse(socket, 'per_ip');
      this.#perAddress.set(key, open + 1);
    }
    if (this.#handshakes >= this.#opts.maxHandshakes) this.#cutOldestHandshake();
    const state: ConnectionState = { guard: this, key, handshaking: true, timer: undefined };
    state.timer = setTimeout(expireHandshake, this.#opts.handshakeTimeout + jitter(this.#opts.handshakeTimeout), this, socket);
    socket[kState] = state;
    this.#handshaking.add(socket);
    this.#handshakes++;
    this.#metrics.tlsHandshakesInProgress.inc();
    this.#metrics.openConnections.inc();
    socket.once('close', onRawClose);
    if (this.#startTls === undefined) return;
    this.#waiting.push(socket);
    if (!this.#startScheduled) {
      this.#startScheduled = true;
      setImmediate(this.#startSome);
    }
  }

  #runStarts(): void {
    const end = Math.min(this.#waitingHead + HANDSHAKE_STARTS_PER_TICK, this.#waiting.length);
    for (; this.#waitingHead < end; this.#waitingHead++) {
      const socket = this.#waiting[this.#waitingHead]!;
      if (!socket.destroyed) this.#startTls!.call(this.#server!, socket);
    }
    if (this.#waitingHead < this.#waiting.length) {
      setImmediate(this.#startSome);
      return;
    }
    this.#waiting.length = 0;
    this.#waitingHead = 0;
    this.#startScheduled = false;
  }

  /** Makes room at the handshake cap: the handshake pending longest is cut. */
  #cutOldestHandshake(): void {
    const oldest = this.#handshaking.values().next().value;
    if (oldest === undefined) return;
    // Its slot is free now, not when its 'close' event comes.
    this.#handshakeDone(oldest, oldest[kState]!);
    // Counted here, not again as a failed handshake or a 400 when Node reports the cut.
    oldest[kRefused] = true;
    this.#metrics.connectionsRefused.inc({ reason: 'handshakes' });
    oldest.destroy();
  }

  #refuse(socket: GuardedSocket, reason: 'per_ip'): void {
    socket[kRefused] = true;
    this.#metrics.connectionsRefused.inc({ reason });
    // RST: the client learns at once, and no FIN_WAIT/TIME_WAIT state stays on our side.
    socket.resetAndDestroy();
  }

  #secured(tls: TLSSocket): void {
    const raw = (tls as { _parent?: GuardedSocket })._parent;
    const state = raw?.[kState];
    if (state !== undefined) this.#handshakeDone(raw!, state);
  }

  #handshakeDone(socket: GuardedSocket, state: ConnectionState): void {
    if (!state.handshaking) return;
    state.handshaking = false;
    this.#handshaking.delete(socket);
    clearTimeout(state.timer);
    state.timer = undefined;
    this.#handshakes--;
    this.#metrics.tlsHandshakesInProgress.dec();
  }

  /** The raw socket closed (after or without a handshake). */
  closed(socket: GuardedSocket): void {
    const state = socket[kState];
    if (state === undefined) return;
    this.#handshakeDone(socket, state);
    this.#metrics.openConnections.dec();
    if (state.key === undefined) return;
    const open = (this.#perAddress.get(state.key) ?? 1) - 1;
    if (open <= 0) this.#perAddress.delete(state.key);
    else this.#perAddress.set(state.key, open);
  }

  /**
   * Cuts every connection whose handshake is not done. Node's closeAllConnections() knows
   * only connections that reached HTTP; without this a shutdown waited for each pending
   * handshake's own timeout — a client holding a silent connection held every shutdown
   * (and rolling deploy) for handshakeTimeout, past shutdown.timeout.
   */
  cutHandshakes(): void {
    for (const socket of this.#handshaking) socket.destroy();
  }

  /** Called by the handshake timer. */
  expire(socket: GuardedSocket): void {
    const state = socket[kState];
    if (state?.handshaking) this.#closer.now(socket, destroySocket);
  }
}

function ignoreError(): void {}

function onRawClose(this: GuardedSocket): void {
  this[kState]?.guard.closed(this);
}

function expireHandshake(guard: ConnectionGuard, socket: GuardedSocket): void {
  guard.expire(socket);
}
