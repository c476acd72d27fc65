// One canonical form of the request target and Host, computed once and used by route
// selection, policy AND the upstream, so the policy can never check one path while the
// upstream serves another (the root of most proxy ACL bypasses: CVE-2021-29492 Envoy
// escaped slashes, CVE-2021-43824, oauth2-proxy / Pomerium path-normalisation issues,
// Tomcat's `;` path parameters).
//
// Rules (RFC 3986 §2, §6.2.2):
// - only unreserved characters (ALPHA DIGIT - . _ ~) are percent-decoded, exactly once;
//   every other escape is kept, with upper-case hex;
// - `%2F` / `%5C` (encoded slash / backslash) are rejected unless the route allows them,
//   in which case they stay encoded and are never treated as separators;
// - `%00`, a bad escape, a raw backslash, a `;` path parameter, a `#`, whitespace,
//   control or non-ASCII bytes are rejected;
// - dot segments are resolved; one that was percent-encoded (`%2e%2e`) is rejected, and
//   so is `..` climbing above the root;
// - repeated slashes are merged.
import { isIPv4, isIPv6 } from 'node:net';

export type PathResult =
  | { readonly ok: true; readonly path: string; readonly encodedSlash: boolean }
  | { readonly ok: false; readonly reason: string };

const HEX = '0123456789ABCDEF';

// Characters allowed raw in a path: unreserved, sub-delims except ';', ':' '@' '/' and '%'.
const PATH_RAW = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@/%") {
  PATH_RAW[c.charCodeAt(0)] = 1;
}
const UNRESERVED = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[c.charCodeAt(0)] = 1;

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

function fail(reason: string): PathResult {
  return { ok: false, reason };
}

/** Canonical path of an origin-form path (the part before `?`). */
export function canonicalizePath(raw: string): PathResult {
  if (raw.length === 0 || raw.charCodeAt(0) !== 47 /* / */) return fail('target-not-origin-form');
  const segments: string[] = [];
  let segment = '';
  let segmentEncodedDot = false;
  let encodedSlash = false;
  let trailingSlash = false;
  let sawHighByte = false;

  const closeSegment = (): PathResult | undefined => {
    if (segment === '.' || segment === '..') {
      // `%2e%2e` is a dot segment to some upstreams and a name to others: refuse it.
      if (segmentEncodedDot) return fail('encoded-dot-segment');
      if (segment === '..') {
        if (segments.length === 0) return fail('path-traversal');
        segments.pop();
      }
      trailingSlash = true;
    } else if (segment !== '') {
      segments.push(segment);
      trailingSlash = false;
    } else {
      trailingSlash = segments.length > 0 || trailingSlash;
    }
    segment = '';
    segmentEncodedDot = false;
    return undefined;
  };

  for (let i = 1; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code >= 128) return fail('invalid-path-character');
    if (code === 47 /* / */) {
      const bad = closeSegment();
      if (bad) return bad;
      trailingSlash = true;
      continue;
    }
    if (PATH_RAW[code] !== 1) {
      if (code === 92) return fail('backslash');
      if (code === 59) return fail('path-parameter');
      if (code === 35) return fail('fragment');
      return fail('invalid-path-character');
    }
    if (code !== 37 /* % */) {
      segment += raw[i];
      continue;
    }
    const hi = i + 2 < raw.length ? hexValue(raw.charCodeAt(i + 1)) : -1;
    const lo = hi >= 0 ? hexValue(raw.charCodeAt(i + 2)) : -1;
    if (lo < 0) return fail('invalid-percent-encoding');
    const byte = hi * 16 + lo;
    i += 2;
    if (byte === 0) return fail('nul-byte');
    // CR, LF and other controls have no business in a path (header injection into an
    // upstream that decodes and logs or redirects with it).
    if (byte < 0x20 || byte === 0x7f) return fail('encoded-control-character');
    if (byte >= 0x80) sawHighByte = true;
    if (byte < 128 && UNRESERVED[byte] === 1) {
      if (byte === 46) segmentEncodedDot = true;
      segment += String.fromCharCode(byte);
    } else {
      if (byte === 0x2f || byte === 0x5c) encodedSlash = true;
      segment += '%' + HEX[hi] + HEX[lo];
    }
  }
  const bad = closeSegment();
  if (bad) return bad;
  if (segments.length === 0) return { ok: true, path: '/', encodedSlash };
  if (sawHighByte) {
    for (const segment of segments) if (!isValidUtf8Escapes(segment)) return fail('invalid-utf8');
  }
  const path = '/' + segments.join('/') + (trailingSlash ? '/' : '');
  return { ok: true, path, encodedSlash };
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
const HIGH_ESCAPES = /(?:%[89A-F][0-9A-F])+/g;

/**
 * Escaped non-ASCII bytes must be well-formed UTF-8 (no overlong forms like `%c0%ae`,
 * no surrogates, nothing above U+10FFFF, no stray bytes): a lax decoder upstream (old
 * IIS, Tomcat, Java's modified UTF-8) reads `%c0%ae%c0%ae` as `..`.
 */
function isValidUtf8Escapes(segment: string): boolean {
  for (const run of segment.match(HIGH_ESCAPES) ?? []) {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    try {
      STRICT_UTF8.decode(bytes);
    } catch {
      return false;
    }
  }
  return true;
}

// Raw characters allowed in a query: RFC 3986 query chars. `#`, whitespace, controls
// and non-ASCII are refused, the rest is forwarded byte for byte (policy never looks
// at the query).
const QUERY_RAW = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%[]|{}^`\"<>\\") {
  QUERY_RAW[c.charCodeAt(0)] = 1;
}

export function isValidQuery(query: string): boolean {
  for (let i = 0; i < query.length; i++) {
    const code = query.charCodeAt(i);
    if (code >= 128 || QUERY_RAW[code] !== 1) return false;
  }
  return true;
}

export interface CanonicalHost {
  /** Lower-case, no trailing dot, no port; IPv6 without brackets. */
  readonly name: string;
  /** `name[:port]` as forwarded (IPv6 bracketed). */
  readonly authority: string;
  readonly port: number | undefined;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|[0-9]+)$/;

function isCanonicalIPv4(host: string): boolean {
  return isIPv4(host) && host.split('.').every((part) => part === String(Number(part)));
}

function canonicalIPv6(host: string): string | undefined {
  try {
    return new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/**
 * What canonicalizeHost said of the Host values seen lately. A deployment's clients send a
 * handful of distinct Host values, and judging one costs ~2 µs (labels, the IPv4 rules) on
 * every request; the answer depends on the string alone, so it is kept. Bounded: a client
 * cycling through made-up hosts only empties it (the cache is dropped whole when full).
 */
const HOST_CACHE_MAX = 512;
let hostCache = new Map<string, CanonicalHost | null>();

/** canonicalizeHost with its answers for recent values remembered (the request hot path). */
export function canonicalizeHostCached(raw: string): CanonicalHost | undefined {
  const known = hostCache.get(raw);
  if (known !== undefined) return known ?? undefined;
  const host = canonicalizeHost(raw);
  if (hostCache.size >= HOST_CACHE_MAX) hostCache = new Map();
  hostCache.set(raw, host === undefined ? null : Object.freeze(host));
  return host;
}

/**
 * A Host header as `host[:port]`; anything else (userinfo, lists, spaces, empty, a bad
 * port) is undefined, which the caller answers 400.
 */
export function canonicalizeHost(raw: string): CanonicalHost | undefined {
  if (raw.length === 0 || raw.length > 300) return undefined;
  let host: string;
  let portText: string | undefined;
  if (raw.charCodeAt(0) === 91 /* [ */) {
    const end = raw.indexOf(']');
    if (end < 0) return undefined;
    host = raw.slice(1, end).toLowerCase();
    const rest = raw.slice(end + 1);
    if (rest !== '') {
      if (rest[0] !== ':') return undefined;
      portText = rest.slice(1);
    }
    if (!/^[0-9a-f:.]+$/.test(host) || !host.includes(':')) return undefined;
    if (!isIPv6(host)) return undefined;
    // Only the RFC 5952 form (what URL parsers produce): `[0:0::1]` is not a second `[::1]`.
    if (canonicalIPv6(host) !== host) return undefined;
    // An IPv4-mapped literal is an IPv4 address in disguise: a second name for a host
    // that routes and policies know by its dotted quad.
    if (host.startsWith('::ffff:')) return undefined;
  } else {
    const colon = raw.indexOf(':');
    host = (colon < 0 ? raw : raw.slice(0, colon)).toLowerCase();
    if (colon >= 0) portText = raw.slice(colon + 1);
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (host === '') return undefined;
    const labels = host.split('.');
    for (const label of labels) if (!LABEL.test(label)) return undefined;
    // A name whose last label is a number is an IPv4 literal to WHATWG URL parsers and
    // to many resolvers (`127.1`, `2130706433`, `0x7f.0.0.1`, `127.000.000.001`). Only the
    // canonical dotted quad is taken, so one address cannot pass as several hosts.
    if (NUMERIC_LABEL.test(labels[labels.length - 1]!) && !isCanonicalIPv4(host)) return undefined;
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port === 0 || port > 65535) return undefined;
  }
  const shown = host.includes(':') ? `[${host}]` : host;
  return { name: host, authority: port === undefined ? shown : `${shown}:${port}`, port };
}


/** A CONNECT target in its one canonical form: the key a TCP route is looked up by. */
export interface ConnectTarget {
  /** Lower-case name without trailing dot, canonical dotted quad, or compressed IPv6 (no brackets). */
  readonly name: string;
  readonly port: number;
  /** `name:port`, IPv6 bracketed. */
  readonly authority: string;
}

export type ConnectTargetResult = { readonly ok: true; readonly target: ConnectTarget } | { readonly ok: false; readonly reason: string };

const PORT = /^[1-9][0-9]{0,4}$/;

function refuseTarget(reason: string): ConnectTargetResult {
  return { ok: false, reason };
}

/**
 * The target of a CONNECT (RFC 9110 §9.3.6: authority-form only, `host:port`) with a
 * strict grammar, so that one upstream cannot be named in several spellings of which only
 * one is routed (an open proxy through a respelling is the classic CONNECT hole: Squid
 * and Apache `AllowCONNECT` bypasses with `127.1`, `0x7f.1`, `[::ffff:127.0.0.1]`,
 * `user@host`). Case and one trailing dot are folded, an IPv6 literal is compressed
 * (RFC 5952); every other alternative spelling — userinfo, absolute-form, percent-escapes,
 * non-ASCII (IDN U-labels: only A-labels `xn--` are names), IPv4 in anything but the
 * canonical dotted quad, IPv4-mapped IPv6, zone ids, a missing, zero, padded or
 * out-of-range port — is refused with a reason (docs/design.md "CONNECT targets").
 */
export function canonicalizeConnectTarget(raw: string): ConnectTargetResult {
  if (raw.length === 0) return refuseTarget('connect-target-empty');
  if (raw.length > 300) return refuseTarget('connect-target-too-long');
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code >= 128) return refuseTarget('connect-target-non-ascii');
    if (code <= 0x20 || code === 0x7f) return refuseTarget('connect-target-invalid-character');
  }
  if (raw.includes('/')) return refuseTarget('connect-target-not-authority-form');
  if (raw.includes('@')) return refuseTarget('connect-target-userinfo');
  if (raw.includes('%')) return refuseTarget('connect-target-percent-escape');
  let name: string;
  let portText: string;
  if (raw.charCodeAt(0) === 91 /* [ */) {
    const end = raw.indexOf(']');
    if (end < 0 || raw.charCodeAt(end + 1) !== 58 /* : */) return refuseTarget('connect-target-no-port');
    const literal = raw.slice(1, end).toLowerCase();
    portText = raw.slice(end + 2);
    if (!/^[0-9a-f:.]+$/.test(literal) || !isIPv6(literal)) return refuseTarget('connect-target-invalid-ipv6');
    const canonical = canonicalIPv6(literal);
    if (canonical === undefined) return refuseTarget('connect-target-invalid-ipv6');
    // An IPv4 address in disguise (mapped, or the deprecated compatible form the URL
    // parser prints as `::7f00:1`): a second name for a dotted quad.
    if (canonical.startsWith('::ffff:') || /^::[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(canonical)) return refuseTarget('connect-target-ipv4-in-ipv6');
    name = canonical;
  } else {
    const colon = raw.lastIndexOf(':');
    if (colon < 0) return refuseTarget('connect-target-no-port');
    name = raw.slice(0, colon).toLowerCase();
    portText = raw.slice(colon + 1);
    if (name.includes(':')) return refuseTarget('connect-target-invalid-host');
    if (name.endsWith('.')) name = name.slice(0, -1);
    if (name === '') return refuseTarget('connect-target-invalid-host');
    const labels = name.split('.');
    for (const label of labels) if (!LABEL.test(label)) return refuseTarget('connect-target-invalid-host');
    // `127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`, `127.000.000.001` are 127.0.0.1
    // to inet_aton and to WHATWG URL parsers: only the dotted quad itself is an address.
    if (NUMERIC_LABEL.test(labels[labels.length - 1]!) && !isCanonicalIPv4(name)) return refuseTarget('connect-target-ipv4-not-dotted-quad');
  }
  if (portText === '') return refuseTarget('connect-target-no-port');
  if (!PORT.test(portText) || Number(portText) > 65535) return refuseTarget('connect-target-invalid-port');
  const port = Number(portText);
  const shown = name.includes(':') ? `[${name}]` : name;
  return { ok: true, target: { name, port, authority: `${shown}:${port}` } };
}
