// sourceIp behind a trusted load balancer. clientFromForwardedFor (src/pipeline/stages/
// connection-identity.ts) walks X-Forwarded-For from the right and stops at the first hop
// it cannot parse — and then takes the last address it DID parse, which for the rightmost
// hop is the socket peer: the trusted load balancer itself. Real load balancers write
// hops ztproxy cannot parse: Azure Application Gateway and IIS ARR append `ip:port`, some
// append `[v6]:port`, nginx/HAProxy setups write `unknown`. Every request through such
// a balancer then has the balancer's own address as its client IP: a `sourceIp` allow
// for the internal network (where the balancer lives) admits the whole internet, and a
// `sourceIp` deny for a hostile range never matches.
//
// Safe outcome: the client is the address in the hop (port stripped), or — when a hop
// cannot be parsed — unknown, so sourceIp rules fail closed; never the proxy's address.
// Fix: in clientFromForwardedFor accept `a.b.c.d:port` and `[v6]:port`, and on a hop that
// still does not parse return an "unknown" client that sourceIp treats as an evaluation
// error (503) instead of falling back to the trusted peer. (headers.test.ts's row
// "a malformed last hop stops the walk at the peer" asserts the current fallback and
// would change with that fix.)
import { describe, expect, it } from 'vitest';
import { get, openRoute } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const stack = useProxyStack(({ upstream }) => ({
  // The test client (127.0.0.1) plays the load balancer.
  listen: { trustedProxies: ['127.0.0.1/32'] },
  routes: [
    // "Intranet only": the internal network, where the balancer also lives.
    openRoute(upstream.url, { name: 'intranet', match: { host: 'intranet.test' }, policy: { allow: { sourceIp: ['127.0.0.0/8'] } } }),
    // Public, except for a hostile range.
    openRoute(upstream.url, { name: 'blocklist', match: { host: 'public.test' }, policy: { allow: { accept: true }, deny: { sourceIp: ['203.0.113.0/24', '2001:db8::/32'] } } }),
  ],
}));

describe('the client behind a trusted balancer is never the balancer itself', () => {
  // [X-Forwarded-For as the balancer wrote it, the external client]
  const hops: [string, string][] = [
    ['203.0.113.7:4711', 'Azure Application Gateway / IIS ARR: ip:port'],
    ['[2001:db8::7]:4711', 'bracketed IPv6 with a port'],
    ['[2001:db8::7]', 'bracketed IPv6'],
    ['unknown', 'RFC 7239 style "unknown"'],
  ];

  it('control: a plain external address is denied by the intranet route', async () => {
    const res = await get(stack.proxy.port, '/', { host: 'intranet.test', headers: { 'X-Forwarded-For': '203.0.113.7' } });
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toEqual([]);
  });

  it.each(hops)('intranet route (allow sourceIp 127.0.0.0/8), X-Forwarded-For %s (%s) → not admitted', async (xff) => {
    const res = await get(stack.proxy.port, '/', { host: 'intranet.test', headers: { 'X-Forwarded-For': xff } });
    expect(res.status).not.toBe(200);
    expect([400, 403, 503]).toContain(res.status);
    expect(stack.upstream.seen).toEqual([]);
  });

  it.each(hops.slice(0, 3))('blocklist route (deny 203.0.113.0/24, 2001:db8::/32), X-Forwarded-For %s (%s) → denied', async (xff) => {
    const res = await get(stack.proxy.port, '/', { host: 'public.test', headers: { 'X-Forwarded-For': xff } });
    expect([400, 403, 503]).toContain(res.status);
    expect(stack.upstream.seen).toEqual([]);
  });
});
