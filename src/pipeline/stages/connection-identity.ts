// Stage 1: who is on the other end of the socket — the TLS peer (verified client
// certificate → SPIFFE ID) and the client IP. X-Forwarded-For is believed only when the
// socket peer is a configured trusted proxy; otherwise the socket address is the client.
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { identifyConnection } from '../../tls/peer-identity.ts';
import type { RequestContext } from '../context.ts';
import { NEXT, type Stage, type StageResult } from '../stage.ts';

export function unmapIPv4(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

export const connectionIdentityStage: Stage = {
  name: 'connection-identity',
  run(ctx: RequestContext): StageResult {
    const socket = ctx.req.socket as TLSSocket;
    if (socket.encrypted) ctx.conn = identifyConnection(socket);
    const peer = unmapIPv4(socket.remoteAddress ?? '');
    ctx.peerIp = peer;
    ctx.clientIp = peer;
    const trusted = ctx.snapshot.trustedProxies;
    ctx.peerTrusted = trusted !== undefined && peer !== '' && trusted.check(peer, isIP(peer) === 6 ? 'ipv6' : 'ipv4');
    return NEXT;
  },
};

/**
 * The client behind a chain of trusted proxies: walk X-Forwarded-For from the right,
 * skipping trusted hops; the first untrusted address is the client. A malformed entry
 * stops the walk (everything left of it is attacker-controlled).
 */
export function clientFromForwardedFor(ctx: RequestContext, xff: string): string {
  const trusted = ctx.snapshot.trustedProxies!;
  const hops = xff.split(',');
  let client = ctx.peerIp;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = unmapIPv4(hops[i]!.trim());
    const family = isIP(hop);
    if (family === 0) break;
    client = hop;
    if (!trusted.check(hop, family === 6 ? 'ipv6' : 'ipv4')) break;
  }
  return client;
}
