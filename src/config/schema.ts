// The one schema of the configuration file (SPEC §3). Everything else — validation
// messages, the JSON Schema in config/schema.json, the typed Config — derives from it.
// Objects are strict: an unknown key is an error, because a misspelt security key
// (`clientAuht`) silently falling back to its default is how proxies end up open.
import { isIP } from '../basics/ip.ts';
import { z } from 'zod';
import { policySchema } from '../policy/schema.ts';
import { durationWithin, parseDuration, parseSize } from '../basics/duration.ts';
import { canonicalizeConnectTarget, canonicalizePath } from '../basics/canonical.ts';
import { normalizeHeaderName } from '../basics/headers.ts';
import { stripEntryProblem } from '../basics/identity-headers.ts';
import { jwtIssuerSchema } from '../identity/jwt/schema.ts';
import { deviceSchema } from '../identity/posture/schema.ts';
import { oidcSchema } from '../identity/oidc/schema.ts';
import { sessionSchema } from '../identity/session/schema.ts';
import { lockoutSchema } from '../identity/lockout/schema.ts';
import { routePathsIssues, routePathsSchema } from './route-paths.ts';
import { pdpIssues, pdpSchema, routePdpSchema, templatesSchema } from './pdp.ts';
import { cliIssues, cliSchema } from './cli.ts';

/** A text value checked and converted by `parse`, whose thrown message is the error. */
function parsedWith<In extends z.ZodType<string | number>, Out>(input: In, parse: (v: z.output<In>) => Out, fallback: string) {
  return input
    .superRefine((v, ctx) => {
      try {
        parse(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .transform((v) => parse(v))
    .prefault(fallback as never);
}

const duration = (fallback: string) => parsedWith(z.string(), parseDuration, fallback);
const size = (fallback: string) => parsedWith(z.union([z.number().int().nonnegative(), z.string()]), parseSize, fallback);

const filePath = z.string().min(1, 'must name a file');

/** `host:port`, `[v6]:port` or `:port`; the host may be a name or an IP. */
const listenAddress = (fallback: string) =>
  z
    .string()
    .refine((s) => parseListenAddress(s) !== undefined, {
      message: 'must be host:port (e.g. 0.0.0.0:8443, [::1]:8443, :8443) with a port from 0 to 65535',
    })
    .prefault(fallback);

export function parseListenAddress(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && isIP(m[1]) !== 6) return undefined;
  if (host !== '' && m[1] === undefined && !/^[A-Za-z0-9.-]+$/.test(host)) return undefined;
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export function isCidr(s: string): boolean {
  const [addr, bits, extra] = s.split('/');
  if (extra !== undefined || addr === undefined) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

const cidr = z.string().refine(isCidr, { message: 'must be an IP address or CIDR (10.0.0.0/8, 2001:db8::/32)' });

const hostName = /^(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

const routeHost = z
  .string()
  .transform((s) => s.toLowerCase().replace(/\.$/, ''))
  .refine((s) => hostName.test(s) || isIP(s) !== 0, {
    message: 'must be a host name (app.example.com), a wildcard (*.example.com) or an IP address, without port',
  });

const upstreamUrl = z.string().superRefine((s, ctx) => {
  if (s.startsWith('tcp://')) {
    const problem = tcpUpstreamProblem(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    return;
  }
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute http:// or https:// URL, or tcp://host:port' });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `scheme ${url.protocol} is not supported (http, https or tcp)` });
  } else if (url.username || url.password) {
    ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
  } else if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    ctx.addIssue({ code: 'custom', message: 'must be an origin only (scheme://host:port), without path, query or fragment' });
  }
});

/**
 * A route prefix must be a path that canonical request paths can start with: the same
 * canonicaliser decides, so `/%61dmin`, `/admin/../x` or `/a//b` (which no request path
 * can ever equal) are refused instead of silently never matching — a protected route
 * that never matches sends its requests to the next broader route.
 */
function prefixProblem(prefix: string): string | undefined {
  if (!prefix.startsWith('/')) return 'must be a path starting with "/"';
  const canonical = canonicalizePath(prefix);
  if (!canonical.ok) return `must be a canonical path (${canonical.reason})`;
  if (canonical.encodedSlash) return 'must not contain an encoded slash or backslash';
  if (canonical.path !== prefix) return `must be a canonical path: request paths read it as "${canonical.path}"`;
  return undefined;
}

/** One `stripHeaders` name or prefix, stored in the form requests are compared in (lower-case, `_`, `.`, ... as `-`). */
const stripEntry = (kind: 'name' | 'prefix') =>
  z
    .string()
    .superRefine((s, ctx) => {
      const problem = stripEntryProblem(s, kind);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .transform(normalizeHeaderName);

/**
 * Client headers removed before the upstream, besides the built-in identity-header
 * families (src/basics/identity-headers.ts): exact names and name prefixes, matched
 * case-insensitively with `_`, `.` and the other non-alphanumeric token characters read
 * as `-`. Adds to the built-ins, never removes one.
 */
const stripHeadersSchema = z
  .strictObject({
    names: z.array(stripEntry('name')).default([]),
    prefixes: z.array(stripEntry('prefix')).default([]),
  })
  .prefault({});

/** Where a TCP route connects: host (name, IPv4 or [IPv6]) and port, parsed from `tcp://host:port`. */
export interface TcpUpstream {
  readonly host: string;
  readonly port: number;
}

const TCP_UPSTREAM = /^tcp:\/\/(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):([0-9]{1,5})$/;

/** `tcp://host:port` as host and port, or undefined when it is anything else (a path, a query, userinfo, no port). */
export function parseTcpUpstream(s: string): TcpUpstream | undefined {
  const m = TCP_UPSTREAM.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1].toLowerCase(), port } : undefined;
  const host = m[2]!.toLowerCase().replace(/\.$/, '');
  return hostName.test(host) && !host.startsWith('*.') ? { host, port } : undefined;
}

function tcpUpstreamProblem(s: string): string | undefined {
  if (parseTcpUpstream(s) !== undefined) return undefined;
  const rest = s.slice('tcp://'.length);
  if (rest.includes('@')) return 'must not carry credentials (tcp://host:port)';
  if (/[/?#]/.test(rest)) return 'must be tcp://host:port, without path, query or fragment';
  if (!/:[0-9]+$/.test(rest)) return 'must name a port (tcp://host:port)';
  return 'must be tcp://host:port with a host name, IPv4 address or [IPv6] address and a port from 1 to 65535';
}

/** A route is a TCP route (reached with CONNECT, relayed as bytes) exactly when its upstream is tcp://. */
export function isTcpRoute(route: { readonly upstream: string }): boolean {
  return route.upstream.startsWith('tcp://');
}

/**
 * Route keys that mean something only for HTTP: set on a TCP route they would be silently
 * ignored, so they are refused (an operator who writes `identityHeaders: true` or a
 * `pathPrefix` on an SSH route believes something is enforced that is not).
 */
const HTTP_ONLY_KEYS = [
  'upstreamTls', 'maxRequestBody', 'websocket', 'preserveHost', 'allowEncodedSlashes', 'paths', 'passAccessToken',
  'identityHeaders', 'stripHeaders', 'templates', 'openapi',
] as const;

/** What a TCP route's idle timeout is when `timeouts.idle` is not set: an SSH session may sit quiet for a long time. */
export const TCP_IDLE_DEFAULT = '1h';

/**
 * Checks a TCP route on its raw input (only there can a key that was set be told from a
 * default) and gives it its own idle default. Other routes pass through untouched.
 */
function tcpRouteInput(input: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const route = input as Record<string, unknown>;
  if (typeof route.upstream !== 'string' || !isTcpRoute({ upstream: route.upstream })) return input;
  for (const key of HTTP_ONLY_KEYS) {
    if (route[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'is an HTTP setting: a TCP route (tcp:// upstream) relays bytes and cannot apply it' });
  }
  const match = route.match;
  if (typeof match === 'object' && match !== null) {
    const prefix = (match as Record<string, unknown>).pathPrefix;
    if (prefix !== undefined && prefix !== '/') ctx.addIssue({ code: 'custom', path: ['match', 'pathPrefix'], message: 'a TCP route has no paths (it is chosen by the CONNECT target host:port)' });
  }
  const timeouts = route.timeouts;
  if (typeof timeouts === 'object' && timeouts !== null) {
    for (const key of ['headers', 'body']) {
      if ((timeouts as Record<string, unknown>)[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['timeouts', key], message: 'is an HTTP timeout: a TCP route has connect and idle' });
      }
    }
  }
  if (timeouts === undefined) return { ...route, timeouts: { idle: TCP_IDLE_DEFAULT } };
  if (typeof timeouts === 'object' && timeouts !== null && !Array.isArray(timeouts) && (timeouts as Record<string, unknown>).idle === undefined) {
    return { ...route, timeouts: { ...timeouts, idle: TCP_IDLE_DEFAULT } };
  }
  return input;
}

const routeFields = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  match: z
    .strictObject({
      host: routeHost.optional(),
      /** The CONNECT port of a TCP route (it is chosen by host and port). */
      port: z.number().int().min(1).max(65535).optional(),
      pathPrefix: z
        .string()
        .superRefine((p, ctx) => {
          const problem = prefixProblem(p);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .prefault('/'),
    })
    .prefault({}),
  upstream: upstreamUrl,
  upstreamTls: z
    .strictObject({
      ca: filePath.optional(),
      cert: filePath.optional(),
      key: filePath.optional(),
      serverName: z.string().optional(),
    })
    .refine((t) => (t.cert === undefined) === (t.key === undefined), {
      message: 'cert and key go together (upstream mTLS needs both)',
    })
    .optional(),
  timeouts: z
    .strictObject({
      connect: duration('5s'),
      headers: duration('30s'),
      body: duration('60s'),
      idle: duration('60s'),
    })
    .prefault({}),
  maxRequestBody: size('10MiB'),
  websocket: z.boolean().default(false),
  preserveHost: z.boolean().default(true),
  allowEncodedSlashes: z.boolean().default(false),
  /** How the upstream reads paths: `caseInsensitive` (IIS), refused encoded delimiters. */
  paths: routePathsSchema,
  /** Pass the client's verified bearer token on to the upstream (default: removed). */
  passAccessToken: z.boolean().default(false),
  /** Plain X-Forwarded-User / -Email / -Groups for legacy apps (besides X-ZT-Assertion). */
  identityHeaders: z.boolean().default(false),
  /** This route's own additions to the top-level stripHeaders. */
  stripHeaders: stripHeadersSchema,
  /** Required when the route decides with its embedded policy; before a remote PDP, a gate (absent: `authenticated: true`). */
  policy: policySchema.optional(),
  /** This route's PDP: keys it sets override the top-level `pdp`. */
  pdp: routePdpSchema.optional(),
  /** Path templates (`/users/{userId}`): the resource a remote PDP is asked about. */
  templates: templatesSchema.optional(),
  /** An OpenAPI 3 document (JSON or YAML) whose `paths` keys are the templates. */
  openapi: filePath.optional(),
  /**
   * A candidate policy (same language as `policy`), evaluated beside the enforced one on
   * every request that reaches authorization, after it is answered: divergences are
   * logged and counted, never enforced.
   */
  shadowPolicy: policySchema.optional(),
});

const routeSchema = z.preprocess(tcpRouteInput, routeFields).superRefine((route, ctx) => {
  if (isTcpRoute(route)) {
    if (route.match.host === undefined) ctx.addIssue({ code: 'custom', path: ['match', 'host'], message: 'a TCP route needs a host (the name clients CONNECT to)' });
    else {
      // A host no CONNECT target can name (`127.1`, `::ffff:10.0.0.1`: the target grammar
      // refuses those spellings) would be a route nobody can ever reach.
      const host = route.match.host;
      const probe = host.startsWith('*.') ? `x${host.slice(1)}` : host.includes(':') ? `[${host}]` : host;
      const parsed = canonicalizeConnectTarget(`${probe}:1`);
      if (!parsed.ok) {
        ctx.addIssue({
          code: 'custom',
          path: ['match', 'host'],
          message: `no CONNECT can name this host (${parsed.reason}): use a host name, a dotted-quad IPv4 address or an IPv6 address that is not IPv4-mapped`,
        });
      }
    }
    if (route.match.port === undefined) ctx.addIssue({ code: 'custom', path: ['match', 'port'], message: 'a TCP route needs a port (clients CONNECT host:port)' });
  } else if (route.match.port !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['match', 'port'], message: 'only a TCP route (tcp:// upstream) is chosen by port; an HTTP route is chosen by host and path' });
  }
});

const identitySchema = z.strictObject({
  /** Browser login (SPEC §5): the OpenID Provider and this proxy's client registration. */
  oidc: oidcSchema.optional(),
  /** Browser sessions after an OIDC login (SPEC §4). */
  session: sessionSchema.prefault({}),
  /** Bearer JWT issuers (SPEC §5); a token is checked against the issuer its `iss` names. */
  jwt: z
    .array(jwtIssuerSchema)
    .min(1, 'list at least one issuer, or leave jwt out')
    .superRefine((issuers, ctx) => {
      const seen = new Map<string, number>();
      issuers.forEach((c, i) => {
        const first = seen.get(c.issuer);
        if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'issuer'], message: `duplicate issuer (also identity.jwt.${first}.issuer)` });
        else seen.set(c.issuer, i);
      });
    })
    .optional(),
  /** Verified bearer tokens kept (by hash) until their exp, at most maxTtl. max 0: verify every request. */
  tokenCache: z
    .strictObject({
      max: z.number().int().nonnegative().default(10_000),
      maxTtl: parsedWith(z.string(), parseDuration, '5m'),
    })
    .prefault({}),
  /** X-ZT-Assertion, the signed identity statement every forwarded request carries. */
  assertion: z
    .strictObject({
      /** Private ES256 JWK files; the first signs, all are published (rotation). None: a key per process. */
      keys: z.array(filePath).min(1, 'list at least one key file, or leave keys out for a per-process key').optional(),
      issuer: z.string().min(1).default('ztproxy'),
      ttl: parsedWith(z.string(), parseDuration, '60s').refine((ms) => ms >= 1000 && ms <= 60_000, {
        message: 'must be from 1s to 60s (an assertion is a short-lived statement)',
      }),
    })
    .prefault({}),
  /** `ztproxy login`: the public CLI client, published at /.well-known/ztproxy/cli-configuration. */
  cli: cliSchema.optional(),
}).superRefine(
  (identity, ctx) => {
    for (const issue of cliIssues(identity)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  },
  // Across keys only once cli, oidc and jwt parsed: their own problems are reported at their keys.
  { when: (payload) => !payload.issues.some((issue) => ['cli', 'oidc', 'jwt'].includes(String(issue.path?.[0]))) },
);

export const configSchema = z.strictObject({
  listen: z.strictObject({
    address: listenAddress('0.0.0.0:8443'),
    tls: z.strictObject({
      cert: filePath,
      key: filePath,
      minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    }),
    clientAuth: z
      .strictObject({
        mode: z.enum(['off', 'optional', 'require']).default('off'),
        ca: filePath.optional(),
        crl: filePath.optional(),
      })
      .refine((c) => c.mode === 'off' || c.ca !== undefined, {
        message: 'mode optional or require needs a ca bundle',
        path: ['ca'],
      })
      .prefault({}),
    trustedProxies: z.array(cidr).default([]),
    redirectHttp: z.strictObject({ address: listenAddress('0.0.0.0:8080') }).optional(),
    hsts: z
      .strictObject({
        enabled: z.boolean().default(true),
        maxAge: duration('365d'),
        includeSubDomains: z.boolean().default(true),
        preload: z.boolean().default(false),
      })
      .prefault({}),
    limits: z
      .strictObject({
        maxHeaderSize: size('16KiB'),
        headersTimeout: duration('10s'),
        requestTimeout: duration('5m'),
        keepAliveTimeout: duration('5s'),
        handshakeTimeout: duration('10s'),
        maxConnections: z.number().int().positive().optional(),
        /** TLS handshakes in progress at once (all clients); a connection arriving at the cap is admitted and the oldest pending handshake cut. */
        maxHandshakes: z.number().int().positive().default(512),
        /** Open connections from one client address (IPv6: one /64); peers in trustedProxies are exempt. */
        maxConnectionsPerIp: z.number().int().positive().default(256),
        /** Lingering close after a refusal with an unread body: how long the rest is read and discarded. */
        lingerTimeout: duration('3s'),
        /** ... and how much of it; past this, reading stops (the client's sends block) until lingerTimeout. */
        lingerMaxBytes: size('4MiB'),
      })
      .prefault({}),
  }),
  admin: z
    .strictObject({
      address: listenAddress('127.0.0.1:9901'),
    })
    .prefault({}),
  identity: identitySchema.prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  shutdown: z.strictObject({ timeout: duration('10s') }).prefault({}),
  /** The HTML pages a refused browser navigation gets instead of the JSON error. */
  errorPages: z
    .strictObject({
      /** Show the access log's reason (`policy-deny`, `upstream-connect-refused`) on the page: for debugging, never in production. */
      showReasons: z.boolean().default(false),
    })
    .prefault({}),
  /** Device posture (SPEC §6): the device-trust issuers whose signed assertions count. Absent: no request ever has posture. */
  device: deviceSchema.optional(),
  /** Client headers removed on every route, besides the built-in identity-header families. */
  stripHeaders: stripHeadersSchema,
  /** The policy decision point: embedded, OPA or AuthZEN (SPEC §7); a route may override it. */
  pdp: pdpSchema,
  /** Deny after repeated failures (fail2ban's job, in the PEP). Absent: nothing is counted. */
  lockout: lockoutSchema.optional(),
  /**
   * Long-lived streams (WebSocket, CONNECT tunnels): how often every open one is judged
   * again (policy, session, token, posture, lockout). 1s keeps a sweep's cost per second
   * bounded; 1h is the longest a stream may go on after a time-of-day rule or a PDP's
   * answer turned to no (revocations, reloads and expiries close streams at once anyway).
   */
  streams: z
    .strictObject({
      reauthorizeInterval: durationWithin(1000, 3600_000, 'from 1s to 1h').prefault('30s'),
    })
    .prefault({}),
  routes: z
    .array(routeSchema)
    .min(1, 'at least one route is needed (nothing is reachable without one)')
    .superRefine((routes, ctx) => {
      const seen = new Map<string, number>();
      const targets = new Map<string, number>();
      routes.forEach((r, i) => {
        const first = seen.get(r.name);
        if (first !== undefined) {
          ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate route name "${r.name}" (also routes.${first}.name)` });
        } else seen.set(r.name, i);
        if (!isTcpRoute(r) || r.match.host === undefined || r.match.port === undefined) return;
        const v6 = r.match.host.includes(':') ? canonicalizeConnectTarget(`[${r.match.host}]:1`) : undefined;
        const host = v6?.ok ? v6.target.name : r.match.host;
        const target = `${host.includes(':') ? `[${host}]` : host}:${r.match.port}`;
        const other = targets.get(target);
        if (other !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'match'], message: `routes.${other} ("${routes[other]!.name}") is a TCP route for ${target} too: a CONNECT could belong to either` });
        else targets.set(target, i);
      });
      for (const issue of routePathsIssues(routes)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    }),
}).superRefine(
  (config, ctx) => {
    const value: unknown = config.routes;
    const routes = Array.isArray(value) ? (value as { policy?: unknown; shadowPolicy?: unknown }[]) : [];
    for (const issue of pdpIssues(config.pdp, routes)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    for (const issue of sharedIssuerIssues(config.identity, config.device)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    if (config.device !== undefined) return;
    // Without a `device` block no request ever carries posture, so a `device` rule could
    // never match: an allow rule that silently denies everyone, or (under `not`, in a
    // deny block) a rule whose meaning depends on an attribute that cannot exist.
    // The same for a shadowPolicy: its device rules would diverge on every request.
    routes.forEach((route, i) => {
      for (const block of ['policy', 'shadowPolicy'] as const) {
        for (const path of criterionPaths(route?.[block], 'device')) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', i, block, ...path],
            message: 'a device rule needs the top-level device block (the issuers whose posture assertions count); without it no request has posture',
          });
        }
      }
    });
  },
  {
    // Checked beside the other problems (all reported at once) once `pdp` itself parsed;
    // pdpIssues skips a route that did not.
    when: (payload) =>
      typeof payload.value === 'object' && payload.value !== null && !payload.issues.some((issue) => issue.path?.[0] === 'pdp'),
  },
);

/**
 * Token substitution (RFC 8725 §2.8, §3.12): a posture assertion and a bearer access
 * token are both JWTs a client puts in a header, and `iss` alone chooses whose keys and
 * which checks apply. One issuer in both lists would make them interchangeable — a
 * posture assertion carrying the API's `aud` authenticates its device id as a user, an
 * access token with a `posture` claim is a device. Read defensively: this runs even when
 * identity or device did not parse (their own problems are reported at their keys).
 */
function sharedIssuerIssues(identity: unknown, device: unknown): { path: (string | number)[]; message: string }[] {
  const list = (v: unknown, key: string): unknown[] => {
    const inner = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
    return Array.isArray(inner) ? inner : [];
  };
  const issuerOf = (v: unknown): unknown => (typeof v === 'object' && v !== null ? (v as { issuer?: unknown }).issuer : undefined);
  const bearer = new Map<string, number>();
  list(identity, 'jwt').forEach((c, i) => {
    const iss = issuerOf(c);
    if (typeof iss === 'string' && !bearer.has(iss)) bearer.set(iss, i);
  });
  const issues: { path: (string | number)[]; message: string }[] = [];
  list(device, 'issuers').forEach((c, i) => {
    const iss = issuerOf(c);
    const j = typeof iss === 'string' ? bearer.get(iss) : undefined;
    if (j === undefined) return;
    issues.push({
      path: ['device', 'issuers', i, 'issuer'],
      message: `${String(iss)} is also a bearer-token issuer (identity.jwt.${j}): a posture assertion could be presented as an access token and an access token as posture (RFC 8725 §3.12); give the device-trust issuer its own iss`,
    });
  });
  return issues;
}

/** Where a criterion is used in a (validated) policy: the paths of its keys. */
function criterionPaths(node: unknown, key: string, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(node)) return node.flatMap((child, i) => criterionPaths(child, key, [...at, i]));
  if (typeof node !== 'object' || node === null) return [];
  const out: (string | number)[][] = [];
  for (const [k, v] of Object.entries(node)) {
    if (k === key) out.push([...at, k]);
    else if (k === 'allow' || k === 'deny' || k === 'and' || k === 'or' || k === 'not') out.push(...criterionPaths(v, key, [...at, k]));
  }
  return out;
}

export type Config = z.output<typeof configSchema>;
export type RouteConfig = Config['routes'][number];
