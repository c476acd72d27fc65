// Which incoming headers may reach the upstream. Names are compared lower-case with `_`
// (and every other token character that is not a letter or digit) read as `-`, because
// some upstreams (CGI, PHP, nginx with underscores_in_headers, Werkzeug, lighttpd) map
// `X_Forwarded_User` and `X-Forwarded-User` to the same variable: a proxy that strips
// only the dash spelling lets an attacker forge identity (the class of oauth2-proxy
// CVE-2020-11053 / CVE-2022-41961 style header smuggling). The identity headers other
// proxies set are in ./identity-headers.ts.

/** Hop-by-hop (RFC 9110 §7.6.1) and proxy-control headers: never forwarded. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'http2-settings',
  // Node answers `Expect: 100-continue` itself; the upstream must not see it again.
  'expect',
  // httpoxy: no client has a reason to send it, and CGI hands it to the app as
  // HTTP_PROXY, which HTTP clients read as their outbound proxy (CVE-2016-5385/-5386/-5387).
  'proxy',
]);

/** Set by ztproxy; passed on only when the peer is a trusted proxy. */
export const FORWARDED_HEADERS = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'forwarded',
  // Forward-auth and framework conventions (Authelia, Traefik, Oathkeeper, Rack, Apache):
  // upstreams read them as the original method, path, scheme or server.
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-path',
  'x-forwarded-server',
  'x-forwarded-scheme',
  'x-forwarded-ssl',
  'x-forwarded-protocol',
  'front-end-https',
]);

// Not only `_`: PHP registers a dotted `HTTP_X.REMOTE.USER` (Caddy's and nginx's FastCGI
// pass a dotted header name on) as `HTTP_X_REMOTE_USER`, and lighttpd's CGI/FastCGI/SCGI
// turns every character other than a letter or digit into `_`. So every token character
// that is not a letter or digit (RFC 9110 §5.6.2: `!#$%&'*+-.^_`|~`) reads as `-`.
const NOT_NORMAL = /[^a-z0-9-]/;
const SEPARATOR = /[^a-z0-9-]/g;

/** The canonical name used for comparisons: lower-case, every character but letters and digits as `-`. */
export function normalizeHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return NOT_NORMAL.test(lower) ? lower.replace(SEPARATOR, '-') : lower;
}

/**
 * Header names listed in `Connection` values, each lower-case as sent and normalized: the
 * request side compares normalized names (sanitize.ts), the response side compares
 * names as they came (forward.ts, websocket.ts), and a named `X_Hop` must go in both.
 */
export function connectionTokens(values: readonly string[]): Set<string> | undefined {
  let out: Set<string> | undefined;
  for (const value of values) {
    for (const token of value.split(',')) {
      const t = token.trim().toLowerCase();
      if (t === '') continue;
      out ??= new Set();
      out.add(t);
      const norm = normalizeHeaderName(t);
      if (norm !== t) out.add(norm);
    }
  }
  return out;
}
