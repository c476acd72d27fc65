// Percent-escapes the canonicaliser keeps but that decode to something ambiguous.
// canonicalizePath refuses raw non-ASCII and raw control bytes, yet forwards their
// percent-encoded forms untouched, so the upstream's decoder decides what they mean:
//
// - overlong / invalid UTF-8: `%c0%ae` is an overlong `.` and `%c0%af` an overlong `/`
//   (RFC 3629 §3: MUST NOT be decoded; IIS CVE-2000-0884, Tomcat CVE-2008-2938,
//   JBoss and several Java/PHP decoders did). `/public/%c0%ae%c0%ae/admin` is judged
//   as a harmless path and is `/admin` to such an upstream. Lone continuation bytes,
//   CESU surrogates (`%ed%a0%80`) and bytes that never occur in UTF-8 (`%ff`) are just
//   as ambiguous: replaced with U+FFFD by one decoder, kept as latin1 by the next;
// - encoded control characters: `%0d%0a` in a path becomes a header break in upstreams
//   that decode the path into a Location/redirect or a log line (classic CRLF
//   injection), `%09` is stripped or trimmed by Spring's path matching
//   (CVE-2016-5007: `/admin%09` served by the `/admin` handler), `%7f` likewise.
//   No legitimate path needs them.
//
// Safe outcome: 400, nothing forwarded — the same answer as the raw forms get. Fix: in
// canonicalizePath, decode the run of non-unreserved escapes of each segment and refuse
// it unless it is well-formed UTF-8 (no overlong forms, no surrogates, nothing above
// U+10FFFF) and free of C0 controls and DEL. Valid escapes (`%C3%A9`) stay as they are.
import { describe, expect, it } from 'vitest';
import { openRoute, rawGet } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const stack = useProxyStack(({ upstream }) => ({
  routes: [openRoute(upstream.url, { name: 'app', match: { host: 'app.test' }, policy: { allow: { accept: true }, deny: { path: { prefix: '/admin' } } } })],
}));

const send = (target: string) => rawGet(stack.proxy.port, 'app.test', target);

describe('ambiguous escapes are refused, not forwarded for the upstream to interpret', () => {
  it.each([
    ['/public/%c0%ae%c0%ae/admin', 'overlong "." (2 bytes): ../admin to a lax UTF-8 decoder'],
    ['/public/%e0%80%ae%e0%80%ae/admin', 'overlong "." (3 bytes)'],
    ['/public/..%c0%afadmin', 'overlong "/"'],
    ['/public%c0%af..%c0%afadmin', 'overlong "/" around ..'],
    ['/%c1%9c', 'overlong "\\"'],
    ['/a%80b', 'a lone continuation byte'],
    ['/a%c3', 'a truncated two-byte sequence'],
    ['/a%ed%a0%80b', 'a UTF-16 surrogate (CESU-8)'],
    ['/a%f4%90%80%80', 'above U+10FFFF'],
    ['/a%ffb', 'a byte that never occurs in UTF-8'],
    ['/admin%0d%0aSet-Cookie:%20x=1', 'CR LF'],
    ['/a%0ab', 'LF'],
    ['/admin%09', 'a tab (trimmed by Spring path matching)'],
    ['/a%01b', 'a C0 control'],
    ['/a%7fb', 'DEL'],
  ])('GET %s (%s) → 400, nothing forwarded', async (target) => {
    const { status } = await send(target);
    expect(status).toBe(400);
    expect(stack.upstream.seen.map((s) => s.url)).toEqual([]);
  });
});
