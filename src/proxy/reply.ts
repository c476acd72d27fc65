// Local replies: a short JSON body `{"error", "requestId"}` and nothing else — no
// policy internals, no stack traces, no tokens (SPEC §4). A person's browser navigation
// gets the same refusal as a small HTML page instead (error-page.ts); upgrades and
// CONNECT, answered on the raw socket, keep the JSON.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RequestContext } from '../pipeline/context.ts';
import { REPLIES } from '../basics/errors.ts';
import type { LocalReply } from '../pipeline/stage.ts';
import { ERROR_PAGE_HEADERS, ERROR_VARY, errorPage } from './error-page.ts';
import { lingerAfterRefusal } from './linger.ts';

/** An error's body depends on Accept and Fetch Metadata, so every error says so (RFC 9110 §12.5.5). */
const VARY_JSON: Readonly<Record<string, string>> = Object.freeze({ vary: ERROR_VARY });

const kPoisoned = Symbol('ztproxy.poisoned');

export function poisonConnection(socket: object): void {
  (socket as { [kPoisoned]?: boolean })[kPoisoned] = true;
}

/** True when an earlier request on this connection was refused for its framing. */
export function isPoisoned(socket: object): boolean {
  return (socket as { [kPoisoned]?: boolean })[kPoisoned] === true;
}

export function sendLocalReply(ctx: RequestContext, local: LocalReply): void {
  const { status, message } = REPLIES[local.code];
  ctx.status = status;
  ctx.details = local.details;
  const body = local.body ?? JSON.stringify({ error: message, requestId: ctx.id });
  const res = ctx.res;
  if (res) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const page = errorPage(ctx, local, status);
    const sent = page ?? body;
    const headers: Record<string, string | number | readonly string[]> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(sent),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-request-id': ctx.id,
      ...(page !== undefined ? ERROR_PAGE_HEADERS : local.body === undefined && status >= 400 ? VARY_JSON : undefined),
      ...local.headers,
    };
    // RFC 9110 §8.6: no Content-Length on a 204.
    if (status === 204) delete headers['content-length'];
    const hsts = ctx.snapshot.hstsHeader;
    if (hsts !== undefined) headers['strict-transport-security'] = hsts;
    if (ctx.setCookies !== undefined) {
      const own = local.headers?.['set-cookie'];
      headers['set-cookie'] = own === undefined ? ctx.setCookies : ctx.setCookies.concat(own);
    }
    // After a 400 the framing of what follows on this connection is in doubt, and a
    // body we did not read must not be parsed as the next request: close, and drop any
    // request Node already parsed behind this one (pipelining after a CL.TE message is
    // exactly how a smuggled request would arrive).
    if (status === 400 || status === 413 || !ctx.req.complete) {
      res.shouldKeepAlive = false;
      poisonConnection(ctx.req.socket);
      if (!ctx.req.complete) {
        const limits = ctx.snapshot.config.listen.limits;
        lingerAfterRefusal(ctx.req, limits.lingerTimeout, limits.lingerMaxBytes);
      }
    }
    res.writeHead(status, headers as Record<string, string | number | string[]>);
    res.end(sent);
    return;
  }
  const socket = ctx.upgrade?.socket;
  if (!socket || socket.destroyed) return;
  // Only ztproxy's own values (constants, cookie package output, JWE values): no CR/LF.
  let extra = '';
  for (const c of ctx.setCookies ?? []) extra += `Set-Cookie: ${c}\r\n`;
  for (const [name, value] of Object.entries(local.headers ?? {})) {
    if (name === 'content-type') continue;
    for (const v of typeof value === 'string' ? [value] : value) extra += `${name}: ${v}\r\n`;
  }
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Cache-Control: no-store\r\nX-Request-Id: ${ctx.id}\r\nConnection: close\r\n` +
      extra +
      (ctx.snapshot.hstsHeader ? `Strict-Transport-Security: ${ctx.snapshot.hstsHeader}\r\n` : '') +
      `\r\n${body}`,
  );
  // Node handed this socket over (CONNECT, upgrade): no HTTP timeout applies to it any
  // more, and end() only half-closes it. A client that never sends its FIN — and keeps
  // writing to a tunnel it pretends is open — would hold the connection for ever: cut it
  // once it had the time a refused upload gets to read its refusal.
  setTimeout(destroyRefused, ctx.snapshot.config.listen.limits.lingerTimeout, socket).unref();
}

function destroyRefused(socket: Duplex): void {
  socket.destroy();
}
