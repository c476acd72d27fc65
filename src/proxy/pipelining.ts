// Pipelined requests (RFC 9112 §9.3.2) are answered in order by Node, but it hands each one
// over as soon as it is parsed: ztproxy ran them all at once. A server MAY process
// pipelined requests in parallel only when they all have safe methods — a POST pipelined
// behind another ran before the first one's answer was known — and one connection
// pipelining 5,000 GETs had 5,000 upstream requests in flight within a second (and
// ~28 KB of heap each), whatever maxConnectionsPerIp says. nginx and Envoy take an
// HTTP/1.1 connection's requests one at a time; so does ztproxy: a request waits until
// the answer before it is done. At most MAX_WAITING wait per connection; a client
// pipelining more is cut (Node would keep parsing and holding them: nothing bounds it).
// An upgrade (WebSocket, CONNECT) pipelined behind requests waits its turn as well: Node
// hands it over at once, and it must not be judged before a request ahead of it that
// may poison the connection (RFC 9112 §9.6), nor write on the socket during their answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Requests that may wait behind the one being answered on a connection. */
export const MAX_WAITING = 32;

export type StartRequest = (req: IncomingMessage, res: ServerResponse) => void;
export type StartUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

interface Turns {
  /** req, res, req, res, ... in arrival order. */
  readonly waiting: (IncomingMessage | ServerResponse)[];
  readonly start: StartRequest;
  /** An upgrade that came behind them (Node parses nothing after one). */
  upgrade: { readonly req: IncomingMessage; readonly head: Buffer; readonly start: StartUpgrade } | undefined;
}

const kTurns = Symbol('ztproxy.turns');
const kConnection = Symbol('ztproxy.turnsConnection');

type WithTurns = Socket & { [kTurns]?: Turns };
type Marked = ServerResponse & { [kConnection]?: WithTurns };

/**
 * Starts `req` now when nothing else is being answered on its connection, else once the
 * requests before it are answered. False when too many already wait: the caller cuts
 * the connection.
 */
export function startInTurn(req: IncomingMessage, res: ServerResponse, start: StartRequest): boolean {
  const socket = req.socket as WithTurns;
  const turns = socket[kTurns];
  if (turns !== undefined) {
    if (turns.waiting.length >= MAX_WAITING * 2) return false;
    turns.waiting.push(req, res);
    return true;
  }
  socket[kTurns] = { waiting: [], start, upgrade: undefined };
  run(socket, req, res, start);
  return true;
}

/**
 * An upgrade on a connection whose requests are still being answered waits for them
 * (true); false when there are none, and the caller starts it now.
 */
export function upgradeWaitsTurn(req: IncomingMessage, socket: Duplex, head: Buffer, start: StartUpgrade): boolean {
  const turns = (socket as WithTurns)[kTurns];
  if (turns === undefined) return false;
  turns.upgrade = { req, head, start };
  return true;
}

/**
 * The request waiting its turn whose body the parser was reading when it failed: the last
 * one waiting, if its body is incomplete (the parser reads nothing after an error).
 */
export function waitingWithBrokenBody(socket: object): IncomingMessage | undefined {
  const waiting = (socket as WithTurns)[kTurns]?.waiting;
  if (waiting === undefined || waiting.length === 0) return undefined;
  const req = waiting[waiting.length - 2] as IncomingMessage;
  return req.complete ? undefined : req;
}

function run(socket: WithTurns, req: IncomingMessage, res: ServerResponse, start: StartRequest): void {
  (res as Marked)[kConnection] = socket;
  // 'close': answered (after 'finish'), or the connection is gone.
  res.once('close', startNext);
  start(req, res);
}

function startNext(this: Marked): void {
  const socket = this[kConnection];
  if (socket === undefined) return;
  const turns = socket[kTurns];
  if (turns === undefined) return;
  if (turns.waiting.length === 0 || socket.destroyed) {
    socket[kTurns] = undefined;
    const upgrade = turns.upgrade;
    if (upgrade !== undefined) {
      if (socket.destroyed) return;
      upgrade.start(upgrade.req, socket, upgrade.head);
    }
    return;
  }
  const req = turns.waiting.shift() as IncomingMessage;
  const res = turns.waiting.shift() as ServerResponse;
  run(socket, req, res, turns.start);
}
