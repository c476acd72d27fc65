// Lingering close (what nginx calls lingering_close): a request refused before its body
// was read — 413 for a declared or counted size past the route limit, 401/403/404 on an
// upload — is answered while the client may still be sending. Node closes such a
// connection (`Connection: close`) by destroying the socket as soon as our response and
// FIN are flushed; the client's next segments then meet a closed socket, the kernel answers
// RST, and the client often reports EPIPE/ECONNRESET and never reads the 413 sitting in
// its receive buffer (issue #4: ~1 in 15 clients uploading 100 MB). So after a refusal
// the connection is only half-closed, the rest of the body is read and discarded, up to
// lingerMaxBytes (past that, reading stops: the client's sends block, no RST, while it
// can still read the answer), and the socket is destroyed after lingerTimeout at the
// latest, as soon as the client closes its side, or once the body has been read to its
// end and the refusal is flushed: what a client sends after the body is pipelined
// requests, which Node parses and keeps until the socket closes (they are never
// processed: the connection is poisoned) — with the connection half-closed, Node's own
// pipelining brake (it pauses reading while our answers back up) never engages, and a
// client streaming small requests grew the heap by ~200 MB per connection per second.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

const kLinger = Symbol('ztproxy.linger');

interface LingerState {
  left: number;
  readonly timer: NodeJS.Timeout;
}

type LingeringSocket = Socket & { [kLinger]?: LingerState };

/**
 * Arms the lingering close of `req`'s connection: call before answering the refusal
 * (with `Connection: close`). Idempotent per connection.
 */
export function lingerAfterRefusal(req: IncomingMessage, timeoutMs: number, maxBytes: number): void {
  const socket = req.socket as LingeringSocket;
  if (socket.destroyed || socket[kLinger] !== undefined) return;
  socket[kLinger] = { left: maxBytes, timer: setTimeout(endLinger, timeoutMs, socket).unref() };
  // Node ends a `Connection: close` response's connection with destroySoon(), which
  // destroys the socket once our FIN is out: for this one, only half-close.
  socket.destroySoon = halfClose;
  socket.once('close', clearLinger);
  req.on('data', countDiscarded);
  req.once('end', closeAfterBody);
  req.resume();
}

function closeAfterBody(this: IncomingMessage): void {
  const socket = this.socket as LingeringSocket | null;
  if (socket === null || socket.destroyed || socket[kLinger] === undefined) return;
  // The refusal is written before the body ends unless the client does not read it; then
  // the socket finishes once it has (or lingerTimeout cuts it).
  if (socket.writableFinished) socket.destroy();
  else socket.once('finish', endLingerNow);
}

function endLingerNow(this: LingeringSocket): void {
  this.destroy();
}

function halfClose(this: LingeringSocket): void {
  if (this.writable) this.end();
}

function countDiscarded(this: IncomingMessage, chunk: Buffer): void {
  const state = (this.socket as LingeringSocket | null)?.[kLinger];
  if (state === undefined) return;
  state.left -= chunk.length;
  // Past the budget, stop reading (decrypting an endless upload costs CPU): Node's
  // backpressure stops reading the socket once this request's buffer is full.
  if (state.left < 0) this.pause();
}

function endLinger(socket: LingeringSocket): void {
  socket.destroy();
}

function clearLinger(this: LingeringSocket): void {
  const state = this[kLinger];
  if (state !== undefined) clearTimeout(state.timer);
}
