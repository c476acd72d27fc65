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
import { isIPv6 } from 'node:net';

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
  const path = '/' + segments.join('/') + (trailingSlash ? '/' : '');
  return { ok: true, path, encodedSlash };
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
  } else {
    const colon = raw.indexOf(':');
    host = (colon < 0 ? raw : raw.slice(0, colon)).toLowerCase();
    if (colon >= 0) portText = raw.slice(colon + 1);
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (host === '') return undefined;
    const labels = host.split('.');
    for (const label of labels) if (!LABEL.test(label)) return undefined;
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

