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
import { hash } from 'node:crypto';
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

/** The exact bytes sent; undefined: not askable (anonymous, AuthZEN). */
export function remoteDocument(mode: RemoteMode, input: PolicyInput, route: RemoteRoute): string | undefined {
  const doc = mode === 'opa' ? opaDocument(input, route) : authzenDocument(input, route);
  return doc === undefined ? undefined : JSON.stringify(doc);
}

// The decision-cache key (docs/design.md "Decision-cache key"). A cache hit must not
// build the document (an object tree and its JSON: most of a hit's cost), so the key is
// built from the values the document is built from — every one of them, and for each
// mode exactly the fields that mode's document carries — as a sequence of
// self-delimiting tokens: a string is its length, `:` and its UTF-16 code units; an
// absent value `-`; a boolean `t`/`f`; a number `n…;`; a list its count and `[`; an
// optional object a tag letter before its fields. Each field's token is a prefix code and
// the fields come in a fixed order, so the key decodes back to those values: two keys are
// equal only when every value is, and then the documents — a function of those values —
// are the same bytes. No delimiter can be injected (a length says where a string ends,
// whatever it contains) and no field can be left out silently
// (test/pdp/cache-key.test.ts compares the key's fields with the document's leaves).
// What the document does not carry (the token, `now`, the assertion's times, an
// AuthZEN document's email or route name) is not in the key either: it cannot change
// what the PDP is asked.

/** A key longer than this is replaced by its SHA-256: the cache holds up to `cache.max` keys, and a path may be kilobytes. */
export const MAX_RAW_KEY_LENGTH = 512;

const str = (v: string): string => `${v.length}:${v}`;
const optStr = (v: string | undefined): string => (v === undefined ? '-' : `${v.length}:${v}`);
const optBool = (v: boolean | undefined): string => (v === undefined ? '-' : v ? 't' : 'f');
// String(number) never holds `;` (NaN, Infinity, 1e+21 and -0 included), and `n` keeps a negative number apart from `-`.
const optNum = (v: number | undefined): string => (v === undefined ? '-' : `n${v};`);

function strs(list: readonly string[]): string {
  let out = `${list.length}[`;
  for (let i = 0; i < list.length; i++) out += str(list[i]!);
  return out;
}

function resourceKey(resource: MatchedResource): string {
  let n = 0;
  let params = '';
  for (const name in resource.params) {
    params += str(name) + str(resource.params[name]!);
    n++;
  }
  return `${str(resource.id)}${n}{${params}`;
}

function deviceKey(device: Device | undefined): string {
  if (device === undefined) return '-';
  const p = device.posture;
  const os = p.os === undefined ? '-' : `o${optStr(p.os.name)}${optStr(p.os.version)}`;
  return `d${str(device.id)}${str(device.issuer)}${optBool(p.managed)}${optBool(p.compliant)}${os}${optNum(p.patchAgeDays)}${optBool(p.diskEncrypted)}${optBool(p.firewall)}${optBool(p.edr)}${optBool(p.screenLock)}`;
}

/**
 * The decision-cache key of the document `remoteDocument(mode, input, route)` would
 * send, without building it: equal keys mean byte-identical documents (above).
 * Undefined exactly when the document is.
 */
export function remoteCacheKey(mode: RemoteMode, input: PolicyInput, route: RemoteRoute): string | undefined {
  const s = input.subject;
  let key: string;
  if (mode === 'authzen') {
    if (s === undefined) return undefined;
    key = `z${str(s.sub)}${str(s.issuer)}${strs(s.groups)}${optStr(input.spiffeId)}${deviceKey(input.device)}`;
  } else {
    const subject =
      s === undefined
        ? '-'
        : `s${str(s.sub)}${str(s.issuer)}${optStr(s.email)}${optBool(s.emailVerified)}${strs(s.groups)}${optNum(s.authTime)}${optStr(s.acr)}${strs(s.amr)}`;
    key = `o${subject}${deviceKey(input.device)}${optStr(input.spiffeId)}${str(route.name)}`;
  }
  key += `${str(input.sourceIp)}${str(input.method)}${str(input.host)}${str(input.path)}${resourceKey(resourceOf(input, route))}`;
  return key.length <= MAX_RAW_KEY_LENGTH ? key : hashedKey(key);
}

/**
 * `#` (no raw key starts with it) and the SHA-256 of the key's UTF-16 code units: UTF-8
 * would turn every lone surrogate into U+FFFD, and a subject `\ud800` would share the
 * key of a subject `\ufffd`.
 */
function hashedKey(key: string): string {
  return `#${hash('sha256', Buffer.from(key, 'utf16le'), 'base64url')}`;
}
