// A WebSocket tunnel outlives the request that opened it, and so does the posture it was
// judged with: the handshake's device assertion stops counting at its `exp`, or once it
// is older than `device.maxAge` (SPEC §6: stale posture is no posture), but the stream
// would go on for hours — a laptop whose firewall went off after the handshake keeps its
// tunnel, and the upstream keeps believing the posture the handshake's X-ZT-Assertion
// told it. SPEC §8: long-lived streams are re-authorized and closed when the answer turns
// to no. At that instant the tunnel is decided again as the same request without a
// device (the route's policy, and its remote PDP if it has one); a route that does not
// need posture keeps the tunnel, any other answer — deny or PDP error — closes it, and
// its access-log line says `posture-expired`. One timer per tunnel opened with a device.
import type { Duplex } from 'node:stream';
import type { RequestContext } from '../pipeline/context.ts';
import { allowedWithoutDevice } from '../pipeline/stages/authorize.ts';

/** setTimeout's largest delay (~24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

/** When the device's assertion stops counting, epoch ms: its exp, or iat + maxAge if earlier. */
function postureEndsAt(ctx: RequestContext): number {
  const device = ctx.device!;
  const maxAge = ctx.snapshot.config.device?.maxAge;
  const expires = device.expiresAt * 1000;
  return maxAge === undefined ? expires : Math.min(expires, device.issuedAt * 1000 + maxAge);
}

export function closeAtPostureExpiry(ctx: RequestContext, socket: Duplex): void {
  if (ctx.device === undefined) return;
  const at = postureEndsAt(ctx);
  let timer: NodeJS.Timeout | undefined;
  const close = (allowed: boolean): void => {
    if (allowed || socket.destroyed) return;
    ctx.details = 'posture-expired';
    socket.destroy();
  };
  const check = (): void => {
    const left = at - Date.now();
    if (left > 0) {
      timer = setTimeout(check, Math.min(left, MAX_TIMER_MS)).unref();
      return;
    }
    const allowed = allowedWithoutDevice(ctx);
    if (allowed instanceof Promise) void allowed.then(close);
    else close(allowed);
  };
  socket.once('close', () => clearTimeout(timer));
  check();
}
