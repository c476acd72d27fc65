// Identity headers that other proxies set, as data. An upstream that once sat behind
// oauth2-proxy, Apache mod_auth_*, an nginx or HAProxy doing client-certificate auth,
// Envoy/Istio, a cloud load balancer or another identity-aware proxy may still believe
// these headers; behind ztproxy any client could send them (the header-spoofing class of
// oauth2-proxy CVE-2020-11053 / CVE-2022-41961, Kubernetes' front-proxy warnings, Google
// IAP's and Cloudflare's "verify the JWT, not the header" advice). Every one is removed
// from the client's request before ztproxy adds its own, in any spelling: names are
// compared lower-case with `_` (and `.`, `~`, ...) read as `-` (normalizeHeaderName),
// because CGI, PHP, Apache, nginx with underscores_in_headers, Werkzeug and lighttpd map
// `X_Remote_User`, `X.Remote.User` and `X-Remote-User` to the same variable.
//
// The family of a stripped header is its metrics label
// (`ztproxy_stripped_headers_total{family}`): a fixed set, plus `configured` for the
// operator's own `stripHeaders` entries, so the label cardinality is bounded.
import { normalizeHeaderName } from './headers.ts';

export interface HeaderFamily {
  /** The metrics label (kebab-case). */
  readonly family: string;
  /** Exact names, lower-case with `-` (the normalized form). */
  readonly names: readonly string[];
  /** Name prefixes, lower-case with `-`. */
  readonly prefixes: readonly string[];
  /** Who sets them (for the docs and the reader). */
  readonly setBy: string;
}

/** The label of names and prefixes from the `stripHeaders` config keys. */
export const CONFIGURED_FAMILY = 'configured';

export const IDENTITY_HEADER_FAMILIES: readonly HeaderFamily[] = Object.freeze([
  {
    family: 'ztproxy',
    names: [],
    prefixes: ['x-zt-'],
    setBy: "ztproxy's own identity assertion (X-ZT-Assertion) and anything under its prefix",
  },
  {
    // Honest clients send these too (tracing clients send X-Request-Id, a device agent
    // the posture header): ztproxy replaces or consumes them; a separate label keeps
    // them out of the families that mean "a client is trying".
    family: 'replaced',
    names: ['x-request-id', 'x-real-ip', 'x-device-posture'],
    prefixes: [],
    setBy: 'ztproxy sets X-Request-Id and X-Real-IP itself and reads the device-posture header (SPEC §6)',
  },
  {
    // Plain device-state flags: a legacy app once behind an MDM gateway or a device-trust
    // proxy may read them. Device posture reaches upstreams only as the verified `device`
    // claim of X-ZT-Assertion (SPEC §6).
    family: 'device-trust',
    names: [
      'x-device-compliant',
      'x-device-compliance',
      'x-device-managed',
      'x-device-trusted',
      'x-device-trust',
      'x-device-trust-level',
      'x-device-trust-score',
      'x-device-verified',
      'x-device-encrypted',
    ],
    prefixes: [],
    setBy: 'MDM gateways and device-trust proxies (compliance and management flags)',
  },
  {
    family: 'oauth2-proxy',
    names: [
      'x-forwarded-user',
      'x-forwarded-email',
      'x-forwarded-groups',
      'x-forwarded-preferred-username',
      'x-forwarded-access-token',
    ],
    prefixes: ['x-auth-request-'],
    setBy: 'oauth2-proxy (--pass-user-headers, --set-xauthrequest: -User, -Email, -Groups, -Preferred-Username, -Access-Token); ztproxy identityHeaders',
  },
  {
    family: 'remote-user',
    names: [],
    prefixes: ['remote-', 'x-remote-', 'x-webauth-'],
    setBy:
      'Apache mod_auth_* (REMOTE_USER passed on as Remote-User / X-Remote-User), Authelia (Remote-User, -Groups, -Name, -Email), ' +
      'the Kubernetes front proxy (X-Remote-User, -Group, -Extra-*), Grafana auth proxy (X-WEBAUTH-USER)',
  },
  {
    family: 'apache-sso',
    names: [],
    prefixes: ['oidc-', 'mellon-', 'shib-'],
    setBy: 'Apache mod_auth_openidc (OIDC_CLAIM_*, OIDC_access_token), mod_auth_mellon (MELLON_*), Shibboleth (Shib-*)',
  },
  {
    family: 'client-cert',
    names: [
      'x-forwarded-client-cert',
      'client-cert',
      'client-cert-chain',
      'x-ssl',
      'x-client-verify',
      'x-client-dn',
      'x-client-s-dn',
      'x-client-i-dn',
      'x-client-fingerprint',
      'x-client-serial',
      'x-arr-clientcert',
      'x-arr-ssl',
    ],
    prefixes: ['x-ssl-', 'ssl-client-', 'x-client-cert', 'x-client-spiffe', 'x-spiffe', 'x-forwarded-tls-client-cert', 'x-amzn-mtls-clientcert'],
    setBy:
      'nginx / HAProxy client-certificate auth (X-SSL-Client-Cert, -Verify, -DN, -S-DN, -I-DN, -Fingerprint, -Serial, X-SSL-Cert, X-Client-Verify, X-Client-DN), ' +
      'Apache (SSL_CLIENT_*), Envoy/Istio (X-Forwarded-Client-Cert with the SPIFFE URI), RFC 9440 (Client-Cert, Client-Cert-Chain), ' +
      'Traefik (X-Forwarded-Tls-Client-Cert*), AWS ALB (X-Amzn-Mtls-Clientcert*), IIS/Azure ARR (X-ARR-ClientCert), SPIFFE sidecars (X-Client-Spiffe-*)',
  },
  {
    // Envoy's own edge strips every x-envoy-* header from external requests: behind
    // ztproxy, a sidecar sees ztproxy as an internal peer and would honour a client's
    // x-envoy-internal, peer metadata, retry and timeout overrides.
    family: 'envoy-istio',
    names: [],
    prefixes: ['x-envoy-', 'x-istio-'],
    setBy: 'Envoy and Istio (x-envoy-internal, x-envoy-peer-metadata*, x-envoy-original-path, retry and timeout controls)',
  },
  {
    family: 'pomerium',
    names: [],
    prefixes: ['x-pomerium-'],
    setBy: 'Pomerium (X-Pomerium-Jwt-Assertion, X-Pomerium-Claim-*)',
  },
  {
    family: 'aws-alb',
    names: [],
    prefixes: ['x-amzn-oidc-'],
    setBy: 'AWS Application Load Balancer OIDC (x-amzn-oidc-data, -identity, -accesstoken)',
  },
  {
    family: 'cloudflare-access',
    names: [],
    prefixes: ['cf-access-'],
    setBy: 'Cloudflare Access (Cf-Access-Jwt-Assertion, Cf-Access-Authenticated-User-Email)',
  },
  {
    family: 'google-iap',
    names: [],
    prefixes: ['x-goog-authenticated-', 'x-goog-iap-'],
    setBy: 'Google Cloud IAP (x-goog-authenticated-user-email, -id, x-goog-iap-jwt-assertion)',
  },
  {
    family: 'azure-app-service',
    names: [],
    prefixes: ['x-ms-client-principal', 'x-ms-token-'],
    setBy: 'Azure App Service authentication (X-MS-CLIENT-PRINCIPAL, -NAME, -ID, -IDP, X-MS-TOKEN-*)',
  },
  {
    family: 'sso-proxy',
    names: [
      'x-auth-userid',
      'x-auth-username',
      'x-auth-email',
      'x-auth-groups',
      'x-auth-roles',
      'x-auth-subject',
      'teleport-jwt-assertion',
    ],
    prefixes: ['x-authentik-', 'x-vouch-'],
    setBy: 'Keycloak Gatekeeper / Louketo (X-Auth-Userid, -Username, -Email, -Groups, -Roles, -Subject), authentik (X-authentik-*), Vouch Proxy (X-Vouch-*), Teleport (Teleport-Jwt-Assertion)',
  },
  {
    // Services behind an API gateway take the consumer it authenticated from these (the
    // gateway clears the client's copies); behind ztproxy nothing would.
    family: 'api-gateway',
    names: ['x-anonymous-consumer'],
    prefixes: ['x-consumer-', 'x-credential-', 'x-authenticated-'],
    setBy:
      'Kong auth plugins (X-Consumer-ID, -Custom-ID, -Username, -Groups, X-Credential-Identifier, X-Anonymous-Consumer, X-Authenticated-Userid, -Scope), ' +
      'Apache APISIX (X-Consumer-Username, X-Credential-Identifier)',
  },
  {
    family: 'tailscale',
    names: [],
    prefixes: ['tailscale-'],
    setBy: 'Tailscale Serve (Tailscale-User-Login, -Name, -Profile-Pic, Tailscale-Headers-Info)',
  },
  {
    // The API server acts as the named user when the proxy's own credential may
    // impersonate: with ztproxy in front of a kube-apiserver, any client could be anyone.
    family: 'kubernetes',
    names: [],
    prefixes: ['impersonate-'],
    setBy: 'Kubernetes user impersonation (Impersonate-User, -Group, -Uid, -Extra-*)',
  },
  {
    // An upstream's own IP allow-list, rate limit or audit trail reading one of these
    // would take the client's word for its address; X-Real-IP and X-Forwarded-For are
    // ztproxy's (SPEC §4).
    family: 'client-ip',
    names: [
      'true-client-ip',
      'cf-connecting-ip',
      'cf-connecting-ipv6',
      'fastly-client-ip',
      'x-client-ip',
      'x-cluster-client-ip',
      'x-originating-ip',
      'x-original-forwarded-for',
      'x-azure-clientip',
      'x-azure-socketip',
      'x-appengine-user-ip',
    ],
    prefixes: [],
    setBy: 'Akamai / Cloudflare (True-Client-IP, CF-Connecting-IP), Fastly, GKE/Azure Front Door/App Engine, ingress-nginx (X-Original-Forwarded-For)',
  },
  {
    // The upstream would serve a path the policy never judged.
    family: 'url-override',
    names: ['x-original-url', 'x-rewrite-url', 'x-original-uri'],
    prefixes: [],
    setBy: 'IIS URL Rewrite, Symfony/Laminas (X-Original-URL, X-Rewrite-URL), nginx auth_request (X-Original-URI)',
  },
  {
    // The upstream would act on a method the policy never saw (`GET` + `DELETE` override).
    family: 'method-override',
    names: ['x-http-method-override', 'x-http-method', 'x-method-override'],
    prefixes: [],
    setBy: 'Rails, Laravel, Express method-override, ASP.NET',
  },
] satisfies HeaderFamily[]);

/** Headers the upstream needs to read the request as ztproxy judged it (framing, target, the WebSocket handshake). */
const PROTECTED = ['host', 'content-length', 'transfer-encoding', 'sec-websocket-key', 'sec-websocket-version'];

/** RFC 9110 §5.1: a field name is a token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Why a `stripHeaders` entry cannot be used, or undefined. A name or prefix that would
 * remove a framing, target or handshake header is refused: the upstream would read a
 * different request (a body without its length) than the one ztproxy judged.
 */
export function stripEntryProblem(entry: string, kind: 'name' | 'prefix'): string | undefined {
  if (!TOKEN.test(entry)) return 'must be a header name (letters, digits and !#$%&\'*+-.^_`|~ only)';
  const norm = normalizeHeaderName(entry);
  for (const name of PROTECTED) {
    if (kind === 'name' ? norm === name : name.startsWith(norm)) {
      return `would remove ${name}, which the upstream needs to read the request as ztproxy judged it`;
    }
  }
  return undefined;
}

/** A name or prefix list, as in the `stripHeaders` config keys. */
export interface StripList {
  readonly names: readonly string[];
  readonly prefixes: readonly string[];
}

interface Prefix {
  readonly prefix: string;
  readonly family: string;
}

// Prefixes are bucketed by their first three characters, so a header name is compared
// only with the prefixes it could start with (usually none, at most a handful).
const bucketKey = (s: string): number => (s.charCodeAt(0) << 16) | (s.charCodeAt(1) << 8) | s.charCodeAt(2);

/**
 * The compiled strip list: built once per config snapshot, one Map lookup per header
 * name, and a prefix comparison only when the name's first characters could match.
 */
export class HeaderStripper {
  readonly #names = new Map<string, string>();
  readonly #buckets = new Map<number, Prefix[]>();
  /** Prefixes shorter than a bucket key (a configured `x`); null when there are none. */
  #short: Prefix[] | null = null;

  private constructor(families: readonly HeaderFamily[]) {
    for (const f of families) {
      for (const name of f.names) {
        const norm = normalizeHeaderName(name);
        if (!this.#names.has(norm)) this.#names.set(norm, f.family);
      }
      for (const p of f.prefixes) {
        const entry = { prefix: normalizeHeaderName(p), family: f.family };
        if (entry.prefix.length < 3) (this.#short ??= []).push(entry);
        else {
          const key = bucketKey(entry.prefix);
          const bucket = this.#buckets.get(key);
          if (bucket) bucket.push(entry);
          else this.#buckets.set(key, [entry]);
        }
      }
    }
  }

  /**
   * The built-in families plus the operator's global `stripHeaders`, and `replaced`:
   * more names ztproxy consumes itself (a posture header configured under another name
   * than X-Device-Posture), counted in the `replaced` family.
   */
  static create(configured?: StripList, replaced: readonly string[] = []): HeaderStripper {
    const families: HeaderFamily[] = [...IDENTITY_HEADER_FAMILIES];
    if (configured) families.push(configuredFamily(configured));
    if (replaced.length > 0) families.push({ family: 'replaced', names: replaced, prefixes: [], setBy: 'headers ztproxy consumes (device.header)' });
    return new HeaderStripper(families);
  }

  /** Only the given (a route's) `stripHeaders`; undefined when it lists nothing. */
  static configuredOnly(configured: StripList): HeaderStripper | undefined {
    if (configured.names.length === 0 && configured.prefixes.length === 0) return undefined;
    return new HeaderStripper([configuredFamily(configured)]);
  }

  /** The family of a header to strip (by its normalized name), or undefined to keep it. */
  familyOf(norm: string): string | undefined {
    const exact = this.#names.get(norm);
    if (exact !== undefined) return exact;
    const bucket = this.#buckets.get(bucketKey(norm));
    if (bucket !== undefined) {
      for (const p of bucket) if (norm.startsWith(p.prefix)) return p.family;
    }
    if (this.#short !== null) {
      for (const p of this.#short) if (norm.startsWith(p.prefix)) return p.family;
    }
    return undefined;
  }
}

function configuredFamily(list: StripList): HeaderFamily {
  return { family: CONFIGURED_FAMILY, names: list.names, prefixes: list.prefixes, setBy: 'the stripHeaders config keys' };
}

/** Every label `familyOf` can return (for the metrics, initialised at zero). */
export const STRIPPED_HEADER_FAMILIES: readonly string[] = Object.freeze([...IDENTITY_HEADER_FAMILIES.map((f) => f.family), CONFIGURED_FAMILY]);
