// IP address parsing and CIDR sets, for the layers that must know no sockets (policy,
// config): node:net's pure address helpers, re-exported from one place so that the
// dependency rules can forbid node:net — the socket module — everywhere above basics
// that has no business opening connections.
export { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';

/** An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as a dual-stack socket reports it) as `a.b.c.d`. */
export function unmapIPv4(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
