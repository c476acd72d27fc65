// IP address parsing and CIDR sets, for the layers that must know no sockets (policy,
// config): node:net's pure address helpers, re-exported from one place so that the
// dependency rules can forbid node:net — the socket module — everywhere above basics
// that has no business opening connections.
import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';

export { BlockList, isIP, isIPv4, isIPv6 };

/** An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as a dual-stack socket reports it) as `a.b.c.d`. */
export function unmapIPv4(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** The per-address key: the IPv4 address, or the /64 of an IPv6 one. */
export function addressKey(ip: string): string {
  const unmapped = unmapIPv4(ip);
  if (isIP(unmapped) !== 6) return unmapped;
  const bare = unmapped.split('%')[0]!.toLowerCase();
  const [head = '', tail] = bare.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  let groups = left;
  if (tail !== undefined) {
    const right = tail === '' ? [] : tail.split(':');
    groups = left.concat(Array<string>(8 - left.length - right.length).fill('0'), right);
  }
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
