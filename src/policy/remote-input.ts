// The documents a remote PDP is sent (SPEC §7), built from the same PolicyInput the
// embedded engine decides on — pure code, no sockets, so `ztproxy explain` and the tests
// build exactly what the proxy sends.
//
// One input for every mode: `{subject, device, client: {spiffeId, ip}, request: {method,
// host, path, template, params}, route}`. OPA's Data API gets it as `{input}`; an
// AuthZEN 1.0 PDP gets it in the shape of the API-gateway profile (subject, action,
// resource with the path template and its parameters, context).
//
// What is left out, and why: the token and its raw claims (the PDP decides on who, not
// on a bearer credential, and a token's `jti`/`iat` would make every decision unique to
// the cache); the evaluation time and the posture assertion's `iat`/`exp` (ztproxy has
// already checked freshness, and the decision cache is keyed by these exact bytes); the
// query (SPEC §4: policy never reads it). An attribute the request does not have is
// `null` (OPA) or absent (AuthZEN), never `false`.
import type { Device } from '../basics/device.ts';
import type { MatchedResource, TemplateMatcher } from './path-templates.ts';
import type { PolicyInput } from './types.ts';

/** What the document needs of the route. */
export interface RemoteRoute {
  readonly name: string;
  /** The route's templates; undefined: the resource is always the prefix. */
  readonly templates: TemplateMatcher | undefined;
  readonly pathPrefix: string;
}

export type RemoteMode = 'opa' | 'authzen';

function resourceOf(input: PolicyInput, route: RemoteRoute): MatchedResource {
  return route.templates ? route.templates.match(input.path) : { id: route.pathPrefix, params: Object.create(null) as Record<string, string> };
}

function deviceOf(device: Device): Record<string, unknown> {
  const p = device.posture;
  return {
    id: device.id,
    issuer: device.issuer,
    posture: {
      managed: p.managed,
      compliant: p.compliant,
      os: p.os === undefined ? undefined : { name: p.os.name, version: p.os.version },
      patchAgeDays: p.patchAgeDays,
      diskEncrypted: p.diskEncrypted,
      firewall: p.firewall,
      edr: p.edr,
      screenLock: p.screenLock,
    },
  };
}

/** OPA's `{input}` (the Data API request body), as an object. */
export function opaDocument(input: PolicyInput, route: RemoteRoute): { input: Record<string, unknown> } {
  const s = input.subject;
  const resource = resourceOf(input, route);
  return {
    input: {
      subject:
        s === undefined
          ? null
          : { id: s.sub, issuer: s.issuer, email: s.email ?? null, emailVerified: s.emailVerified, groups: s.groups, authTime: s.authTime ?? null, acr: s.acr ?? null, amr: s.amr },
      device: input.device === undefined ? null : deviceOf(input.device),
      client: { spiffeId: input.spiffeId ?? null, ip: input.sourceIp },
      request: { method: input.method, host: input.host, path: input.path, template: resource.id, params: resource.params },
      route: route.name,
    },
  };
}

/**
 * The AuthZEN evaluation request (API-gateway profile), as an object; undefined for an
 * anonymous request, which AuthZEN cannot describe (`subject.id` is required) — the
 * caller answers it as a request that needs a login.
 */
export function authzenDocument(input: PolicyInput, route: RemoteRoute): Record<string, unknown> | undefined {
  const s = input.subject;
  if (s === undefined) return undefined;
  const resource = resourceOf(input, route);
  const hostname = input.host.includes(':') ? `[${input.host}]` : input.host;
  const context: Record<string, unknown> = { issuer: s.issuer, groups: s.groups };
  if (input.spiffeId !== undefined) context.spiffeId = input.spiffeId;
  if (input.device !== undefined) context.device = deviceOf(input.device);
  return {
    subject: { type: 'identity', id: s.sub },
    action: { name: input.method },
    resource: {
      type: 'route',
      id: resource.id,
      properties: {
        // ztproxy's listener is TLS only: the client always spoke https.
        uri: `https://${hostname}${input.path}`,
        schema: 'https',
        hostname: input.host,
        path: input.path,
        params: resource.params,
        ip: input.sourceIp,
      },
    },
    context,
  };
}

/** The exact bytes sent (and hashed for the decision cache); undefined: not askable (anonymous, AuthZEN). */
export function remoteDocument(mode: RemoteMode, input: PolicyInput, route: RemoteRoute): string | undefined {
  const doc = mode === 'opa' ? opaDocument(input, route) : authzenDocument(input, route);
  return doc === undefined ? undefined : JSON.stringify(doc);
}
