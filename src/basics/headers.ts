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
  // Client-certificate conventions of other proxies and load balancers: an upstream that
  // once sat behind one of them may still trust these.
  'client-cert', // RFC 9440
  'client-cert-chain', // RFC 9440
  'x-ssl-cert', // nginx $ssl_client_escaped_cert
  'x-arr-clientcert', // IIS / Azure App Service ARR
  'x-client-certificate',
  // Method overrides (Rails, Laravel, Express method-override, ASP.NET): the upstream
  // would act on a method the policy never saw (`GET` + `X-HTTP-Method-Override: DELETE`).
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

/** Name prefixes handled like IDENTITY_HEADERS. */
export const IDENTITY_PREFIXES = [
  'x-zt-',
  'x-ssl-client-',
  'x-auth-request-',
  'remote-', // Authelia / Apache: Remote-User, Remote-Groups, Remote-Email, Remote-Name
  'x-forwarded-tls-client-cert', // Traefik passTLSClientCert (+ -info)
  'x-amzn-mtls-clientcert', // AWS ALB mTLS passthrough (+ -subject, -issuer, ...)
  'x-amzn-oidc-', // AWS ALB OIDC
  'x-pomerium-', // Pomerium assertion and claim headers
  'x-goog-authenticated-user-', // Google IAP
  'x-goog-iap-',
  'cf-access-', // Cloudflare Access
  'x-envoy-', // Envoy/Istio control and peer-identity headers (internal, timeouts, retries, peer metadata)
  'x-istio-',
];

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
