// IP-literal Hosts are compared as strings, not as addresses. canonicalizeHost
// (src/pipeline/canonical.ts) lower-cases an IPv6 literal but does not compress it
// (RFC 5952), and takes numeric IPv4 spellings (`127.1`, `2130706433`, `0x7f.0.0.1`,
// `127.000.000.001`) as DNS names. The router and the policy `host` criterion then
// compare strings: `[0:0:0:0:0:0:0:1]` is not the route `::1`, and `127.1` is not the
// route `127.0.0.1` — yet browsers and every WHATWG URL parser treat them as those
// addresses, and so does an upstream that resolves or ignores its Host. A request for
// the protected literal route falls through to the catch-all route, and a `host` deny
// written for the literal never matches.
//
// Safe outcome: the spelling is canonicalised (RFC 5952 text for IPv6, dotted decimal
// for IPv4, as the WHATWG host parser does) so the same route and rule apply, or the
// request is refused (400). Fix: in canonicalizeHost, format IPv6 through
// `new URL('http://[' + h + ']').hostname` (or an RFC 5952 formatter) and treat a host
// whose last label is numeric as IPv4 (WHATWG "ends in a number"): parse it to dotted
// decimal or refuse it.
import { describe, expect, it } from 'vitest';
import { openRoute, rawGet } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const needsWorkload = { allow: { spiffe: { id: 'spiffe://example.org/ns/ops/sa/admin' } } };

const stack = useProxyStack(({ upstream }) => ({
  routes: [
    // The management interface is addressed by IP; only a workload may use it.
    openRoute(upstream.url, { name: 'mgmt-v6', match: { host: '::1' }, policy: needsWorkload }),
    openRoute(upstream.url, { name: 'mgmt-v4', match: { host: '127.0.0.1' }, policy: needsWorkload }),
    // Everything else: public, except the literal addresses.
    openRoute(upstream.url, { name: 'site', policy: { allow: { accept: true }, deny: { host: ['::1', '127.0.0.1'] } } }),
  ],
}));

describe('another spelling of a protected IP literal reaches neither the catch-all nor the upstream', () => {
  it.each([
    ['[::1]', 'control: the canonical spelling'],
    ['[0:0:0:0:0:0:0:1]', 'IPv6 uncompressed'],
    ['[0::1]', 'IPv6 partly compressed'],
    ['[::0:1]', 'IPv6 with a zero group'],
    ['[0000:0000:0000:0000:0000:0000:0000:0001]', 'IPv6 with leading zeros'],
    ['127.0.0.1', 'control: dotted decimal'],
    ['127.1', 'IPv4 short form'],
    ['2130706433', 'IPv4 as one number'],
    ['0x7f.0.0.1', 'IPv4 with a hex part'],
    ['127.000.000.001', 'IPv4 with zero padding (octal to some parsers)'],
  ])('Host %s (%s) → 400 or 403, never forwarded', async (host) => {
    const { status } = await rawGet(stack.proxy.port, host, '/');
    expect([400, 403]).toContain(status);
    expect(stack.upstream.seen.map((s) => s.headers.host)).toEqual([]);
  });
});
