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

/**
 * The per-address key: the IPv4 address, or the /64 of an IPv6 one in one spelling
 * (lower case, no leading zeros, `::` expanded: `2001:0DB8::1` and `2001:db8:0:0::2` are
 * one key), so a client cannot leave its key by respelling its address. Run per request
 * by the lockout: index scans, no split or regex.
 */
export function addressKey(ip: string): string {
  const unmapped = unmapIPv4(ip);
  if (!unmapped.includes(':') || isIP(unmapped) !== 6) return unmapped;
  const pct = unmapped.indexOf('%');
  const s = pct < 0 ? unmapped : unmapped.slice(0, pct);
  const gap = s.indexOf('::');
  const headEnd = gap < 0 ? s.length : gap;
  let key = '';
  let groups = 0;
  let from = 0;
  while (groups < 4 && from < headEnd) {
    const colon = s.indexOf(':', from);
    const to = colon < 0 || colon > headEnd ? headEnd : colon;
    key += (groups === 0 ? '' : ':') + hexGroup(s, from, to);
    groups++;
    from = to + 1;
  }
  if (groups < 4 && gap >= 0) {
    const tailFrom = gap + 2;
    let right = 0;
    if (tailFrom < s.length) {
      right = 1;
      for (let i = tailFrom; i < s.length; i++) if (s.charCodeAt(i) === 58 /* : */) right++;
      // An embedded IPv4 tail (`::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`) is two groups.
      if (s.includes('.', tailFrom)) right++;
    }
    for (let zeros = 8 - groups - right; zeros > 0 && groups < 4; zeros--) {
      key += groups === 0 ? '0' : ':0';
      groups++;
    }
    from = tailFrom;
    while (groups < 4 && from < s.length) {
      const colon = s.indexOf(':', from);
      const to = colon < 0 ? s.length : colon;
      key += ':' + hexGroup(s, from, to);
      groups++;
      from = to + 1;
    }
  }
  return `${key}::/64`;
}

/** One group of hex digits as a number's canonical spelling (`0DB8` → `db8`, `0000` → `0`). */
function hexGroup(s: string, from: number, to: number): string {
  return parseInt(s.slice(from, to), 16).toString(16);
}
