// A WebSocket tunnel outlives the request that opened it: the upstream was told once, in
// the handshake's identity assertion, which workload is on the other end, and believes it
// for the whole stream. When the client certificate that proved it expires (SPEC §5:
// expired certificates never authenticate; §8: long-lived streams end when the answer
// turns to no), the tunnel is closed and its access-log line says `client-cert-expired`.
// One timer per tunnel opened over a verified certificate; nothing per request.
import type { Duplex } from 'node:stream';
import type { RequestContext } from '../pipeline/context.ts';

/** setTimeout's largest delay (~24.8 days); a longer one fires at once (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2_147_483_647;

/** Closes `socket` once `ctx.conn`'s certificate has expired (at once if it already has). */
export function closeAtCertExpiry(ctx: RequestContext, socket: Duplex): void {
  const at = ctx.conn.certExpiresAt;
  if (at === Infinity) return;
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    const left = at - Date.now();
    if (left > 0) {
      // A certificate valid for months is re-armed in steps the timer can hold.
      timer = setTimeout(check, Math.min(left, MAX_TIMER_MS)).unref();
      return;
    }
    ctx.details = 'client-cert-expired';
    socket.destroy();
  };
  socket.once('close', () => clearTimeout(timer));
  check();
}
