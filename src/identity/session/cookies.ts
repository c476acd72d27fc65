// ztproxy's cookies on the wire: names, attributes, and the Cookie header as the
// upstream sees it (without them). Values are JWEs (see codec.ts); only the `cookie`
// package formats and parses them.
import { parseCookie, stringifySetCookie } from 'cookie';

/** The session (SPEC §4). `__Host-`: Secure, Path=/, no Domain — no subdomain can set or read it. */
export const SESSION_COOKIE = '__Host-ztproxy';
/** One per login in flight: `__Host-ztproxy-login-<flow id>`. */
export const LOGIN_COOKIE_PREFIX = '__Host-ztproxy-login-';

/** Any cookie named like one of ours, in any case or prefix spelling, never goes upstream. */
const OURS = /^\s*(?:__host-|__secure-)?ztproxy/i;

export function setCookie(name: string, value: string, maxAgeSeconds: number): string {
  return stringifySetCookie(name, value, {
    httpOnly: true,
    secure: true,
    sameSite: 'lax',
    path: '/',
    maxAge: Math.max(0, Math.floor(maxAgeSeconds)),
  });
}

export function clearCookie(name: string): string {
  return stringifySetCookie(name, '', { httpOnly: true, secure: true, sameSite: 'lax', path: '/', maxAge: 0 });
}

/** The request's cookies by name (the first of a repeated name wins, as browsers send the most specific first). */
export function readCookies(header: string | undefined): Record<string, string | undefined> {
  return header === undefined || header === '' ? {} : parseCookie(header);
}

/** The Cookie header value without ztproxy's cookies; '' if nothing is left. */
export function withoutOurCookies(value: string): string {
  if (!/ztproxy/i.test(value)) return value;
  const kept: string[] = [];
  for (const pair of value.split(';')) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (OURS.test(name)) continue;
    const trimmed = pair.trim();
    if (trimmed !== '') kept.push(trimmed);
  }
  return kept.join('; ');
}

/**
 * True when an upstream's Set-Cookie value would set (or clear) one of ztproxy's cookies —
 * or has no name at all: `=__Host-ztproxy=x` is sent back by some browsers as
 * `__Host-ztproxy=x` (CVE-2022-40958 class), so a nameless cookie is never passed on.
 */
export function setsOurCookie(setCookieValue: string): boolean {
  const eq = setCookieValue.indexOf('=');
  const name = eq < 0 ? setCookieValue : setCookieValue.slice(0, eq);
  return name.trim() === '' || OURS.test(name);
}

/**
 * The Set-Cookie list a client gets: ztproxy's own (a renewed or cleared session) first,
 * then the upstream's without any that would set one of ztproxy's cookies. Undefined when
 * nothing is left.
 */
export function clientSetCookies(upstream: string | readonly string[] | undefined, own: readonly string[] | undefined): string[] | undefined {
  const theirs = upstream === undefined ? [] : (typeof upstream === 'string' ? [upstream] : upstream).filter((c) => !setsOurCookie(c));
  const all = own === undefined ? theirs : own.concat(theirs);
  return all.length === 0 ? undefined : all;
}

/** Cache-Control for a response that carries ztproxy's own Set-Cookie: never in a shared cache. */
export const OWN_COOKIE_CACHE_CONTROL = 'private, no-store';
