// Stage 1: who is on the other end of the socket — the TLS peer (verified client
// certificate → SPIFFE ID) and the client IP. X-Forwarded-For is believed only when the
// socket peer is a configured trusted proxy; otherwise the socket address is the client.
//
// A client certificate that expired while its connection stayed open (or was resumed from
// a session ticket) counts no more (SPEC §5). The connection is then treated as if its
// handshake happened now: under `clientAuth: require` that handshake would fail, so the
// request is refused (401 `client-cert-expired`); under `optional` the request goes on
// without a certificate identity, as a new connection with that certificate would. Either
// way the connection is closed after the answer, so the client's next request makes a new
// handshake with its renewed certificate (SPIFFE workloads rotate theirs before notAfter).
import { isIP, unmapIPv4 } from '../../basics/ip.ts';
import type { TLSSocket } from 'node:tls';
import { expireConnection, identifyConnection } from '../../tls/peer-identity.ts';
import type { RequestContext } from '../context.ts';
import { NEXT, type Stage, type StageResult } from '../stage.ts';

const CERT_EXPIRED: StageResult = Object.freeze({
  reply: Object.freeze({ code: 'unauthorized', details: 'client-cert-expired' }),
});


export const connectionIdentityStage: Stage = {
  name: 'connection-identity',
  run(ctx: RequestContext): StageResult {
    const socket = ctx.req.socket as TLSSocket;
    if (socket.encrypted) {
      const conn = identifyConnection(socket);
      // One number compare per request; the clock is read only on connections whose
      // certificate can expire (+Infinity for the others, and once it has expired).
      ctx.conn = conn.certExpiresAt !== Infinity && Date.now() >= conn.certExpiresAt ? expireConnection(socket) : conn;
    }
    const peer = unmapIPv4(socket.remoteAddress ?? '');
    ctx.peerIp = peer;
    ctx.clientIp = peer;
    const trusted = ctx.snapshot.trustedProxies;
    ctx.peerTrusted = trusted !== undefined && peer !== '' && trusted.check(peer, isIP(peer) === 6 ? 'ipv6' : 'ipv4');
    if (ctx.conn.clientCert === 'expired') {
      // (An upgrade's local reply always closes its socket.)
      if (ctx.res !== undefined) ctx.res.shouldKeepAlive = false;
      if (ctx.snapshot.config.listen.clientAuth.mode === 'require') return CERT_EXPIRED;
    }
    return NEXT;
  },
};

/**
 * One X-Forwarded-For entry as an IP: `1.2.3.4`, `1.2.3.4:port` (IIS ARR, Azure),
 * `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:port`; undefined for anything else
 * (`unknown`, names, garbage).
 */
export function forwardedHopIp(entry: string): string | undefined {
  let hop = entry.trim();
  if (hop.startsWith('[')) {
    const end = hop.indexOf(']');
    if (end < 0) return undefined;
    const rest = hop.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    hop = hop.slice(1, end);
    return isIP(hop) === 6 ? unmapIPv4(hop) : undefined;
  }
  if (isIP(hop) !== 0) return unmapIPv4(hop);
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(hop);
  return m && isIP(m[1]!) === 4 ? m[1] : undefined;
}

/**
 * The client behind a chain of trusted proxies: walk X-Forwarded-For from the right,
 * skipping trusted hops; the first untrusted address is the client. An entry that is no
 * IP address where the walk needs one makes the client unknown (undefined → 400): falling
 * back to the last trusted hop would make every such request come from the balancer —
 * inside any `sourceIp` allow-list that trusts it.
 */
export function clientFromForwardedFor(ctx: RequestContext, xff: string): string | undefined {
  const trusted = ctx.snapshot.trustedProxies!;
  const hops = xff.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = forwardedHopIp(hops[i]!);
    if (hop === undefined) return undefined;
    if (!trusted.check(hop, isIP(hop) === 6 ? 'ipv6' : 'ipv4')) return hop;
  }
  // Every hop is a trusted proxy: the left-most one is the origin.
  return forwardedHopIp(hops[0]!);
}
