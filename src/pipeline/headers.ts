// Which incoming headers may reach the upstream. Names are compared lower-case with `_`
// read as `-`, because some upstreams (CGI, PHP, nginx with underscores_in_headers,
// Werkzeug) map `X_Forwarded_User` and `X-Forwarded-User` to the same variable: a proxy
// that strips only the dash spelling lets an attacker forge identity (the class of
// oauth2-proxy CVE-2020-11053 / CVE-2022-41961 style header smuggling).

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
]);

/**
 * Headers that carry, or that some upstream reads as, identity or client-certificate
 * data. Only ztproxy may set these, after it has removed whatever the client sent.
 */
export const IDENTITY_HEADERS = new Set([
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-preferred-username',
  'x-forwarded-access-token',
  'x-forwarded-client-cert',
  'x-client-cert',
  'x-client-verify',
  'x-client-dn',
  'ssl-client-cert',
  'ssl-client-verify',
  'x-original-url',
  'x-rewrite-url',
  'x-original-uri',
  'x-envoy-original-path',
  'x-remote-user',
  'remote-user',
  'x-webauth-user',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-groups',
  'x-auth-request-preferred-username',
  'x-auth-request-access-token',
  'x-real-ip',
  'x-request-id',
  // The device-posture header (SPEC §6) is read by ztproxy, never passed on as is.
  'x-device-posture',
]);

/** Name prefixes handled like IDENTITY_HEADERS. */
export const IDENTITY_PREFIXES = ['x-zt-', 'x-ssl-client-', 'x-auth-request-'];

/** Set by ztproxy; passed on only when the peer is a trusted proxy. */
export const FORWARDED_HEADERS = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'forwarded',
]);

/** The canonical name used for comparisons: lower-case, `_` as `-`. */
export function normalizeHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower;
}

export function isIdentityHeader(normalized: string): boolean {
  if (IDENTITY_HEADERS.has(normalized)) return true;
  for (const prefix of IDENTITY_PREFIXES) if (normalized.startsWith(prefix)) return true;
  return false;
}

/** Header names listed in `Connection` values (lower-case, `_` as `-`). */
export function connectionTokens(values: readonly string[]): Set<string> | undefined {
  let out: Set<string> | undefined;
  for (const value of values) {
    for (const token of value.split(',')) {
      const t = token.trim();
      if (t === '') continue;
      (out ??= new Set()).add(normalizeHeaderName(t));
    }
  }
  return out;
}
