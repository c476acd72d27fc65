// Where the browser goes after a login (SPEC §4): only a same-origin relative path.
// Anything that a browser, or an app behind us, could read as another origin falls back
// to `/` — protocol-relative `//evil`, `/\evil` (browsers read `\` as `/`), schemes,
// whitespace and control bytes (stripped by URL parsers: `/\t/evil` is `//evil`), and
// the same spelled with percent-escapes for upstreams that decode once more.
import { canonicalizePath } from '../../basics/canonical.ts';

const BASE = 'https://return-path.invalid';
const MAX_LENGTH = 2048;

function looksOffsite(path: string): boolean {
  // Printable ASCII only, no backslash: no whitespace, no control bytes, no Unicode
  // that a URL parser might normalise into a slash.
  if (!/^[\x21-\x5b\x5d-\x7e]*$/.test(path)) return true;
  if (!path.startsWith('/')) return true;
  if (path.startsWith('//')) return true;
  return false;
}

/** The path to return to after login, or `/` when `candidate` is not a safe same-origin path. */
export function safeReturnPath(candidate: string | null | undefined): string {
  if (typeof candidate !== 'string' || candidate === '' || candidate.length > MAX_LENGTH) return '/';
  if (looksOffsite(candidate)) return '/';
  // Decoded once (and twice), it must still be a plain path: `/%2F%2Fevil.com`,
  // `/%5Cevil.com`, `/%09/evil.com`.
  let decoded = candidate;
  for (let i = 0; i < 2; i++) {
    let next: string;
    try {
      next = decodeURIComponent(decoded);
    } catch {
      return '/';
    }
    if (next === decoded) break;
    if (next.startsWith('//') || /^\/[\\\s]/.test(next) || /[\x00-\x1f\x7f\\]/.test(next.slice(0, 3))) return '/';
    decoded = next;
  }
  let url: URL;
  try {
    url = new URL(candidate, BASE);
  } catch {
    return '/';
  }
  if (url.origin !== BASE) return '/';
  // Our own endpoints are not destinations (a login that returns to logout, or loops),
  // however spelt: the path as the proxy will route it (`/%2Eztproxy/logout` included).
  const routed = canonicalizePath(url.pathname);
  if (!routed.ok || routed.path.startsWith('/.ztproxy/')) return '/';
  return candidate;
}
