// Path segments that Windows (IIS, HTTP.sys, NTFS, ASP.NET) reads as another name than
// the one written, refused (400) on routes with `paths: caseInsensitive`, where the
// upstream is taken to be one. Each is a known way to reach `/admin` without the path
// ztproxy judged being `/admin`:
// - a trailing `.` or space (`/admin.`, `/admin%20`, `/admin.%20./x`): Win32 path
//   normalisation strips them, so the file is `admin` (CVE-2019-0221-style ACL bypasses,
//   Tomcat CVE-2017-12617 on Windows);
// - `:` (NTFS alternate data streams: `/default.asp::$DATA` served the source,
//   MS98-003; `/admin:$i30:$index_allocation/` opens the directory) and the other
//   characters Windows forbids in names, `* ? " < > |`, which FindFirstFile reads as
//   wildcards (`<` `>` `"` are DOS `*` `?` `.`). ASP.NET refuses most of them too
//   (`requestPathInvalidCharacters`);
// - `~` followed by a digit: an 8.3 short name (`ADMINI~1` is `administrator` when short
//   names are on; the IIS tilde enumeration);
// - `(X(...))`: an ASP.NET cookieless-session segment, removed by ASP.NET before
//   routing, so `/(S(x))/admin` is `/admin` (CVE-2023-36899, CVE-2023-36560);
// - device names (`CON`, `NUL`, `COM1`, `LPT1.txt`, ...): not files at all, and a
//   denial of service on older Windows;
// - `%5C`: `\` is a separator to Windows even where `allowEncodedSlashes` keeps `%2F`.
// Escapes are read decoded (`%2E`, `%20`, `%3A`): HTTP.sys decodes before NTFS sees it.

const FORBIDDEN = new Set([':', '*', '?', '"', '<', '>', '|']);
const COOKIELESS = /^(?:\(|%28)[A-Za-z](?:\(|%28)/i;
const DEVICE = /^(?:con|prn|aux|nul|conin\$|conout\$|com[0-9]|lpt[0-9])$/i;

function decodeAsciiEscapes(segment: string): string {
  return segment.replace(/%([0-7][0-9A-Fa-f])/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** The reason Windows would read this canonical path as another, or undefined. */
export function windowsPathProblem(path: string): string | undefined {
  let start = 1;
  while (start <= path.length) {
    let end = path.indexOf('/', start);
    if (end < 0) end = path.length;
    if (end > start) {
      const raw = path.slice(start, end);
      const segment = raw.includes('%') ? decodeAsciiEscapes(raw) : raw;
      const problem = segmentProblem(segment);
      if (problem !== undefined) return problem;
    }
    start = end + 1;
  }
  return undefined;
}

function segmentProblem(segment: string): string | undefined {
  const last = segment.charCodeAt(segment.length - 1);
  if (last === 46 /* . */ || last === 32 /* space */) return 'windows-trailing-dot-or-space';
  for (const char of segment) {
    if (FORBIDDEN.has(char)) return 'windows-reserved-character';
    if (char === '\\') return 'encoded-backslash';
  }
  if (/~[0-9]/.test(segment)) return 'windows-short-name';
  if (COOKIELESS.test(segment)) return 'aspnet-cookieless-segment';
  const dot = segment.indexOf('.');
  if (DEVICE.test(dot < 0 ? segment : segment.slice(0, dot))) return 'windows-device-name';
  return undefined;
}

function isSegmentEnd(path: string, i: number): boolean {
  return i >= path.length || path.charCodeAt(i) === 47;
}

/** Does `path` hold a trailing `.`/`%20` on a segment, a `:` / `%3A`, or a `(`? */
function needsWindowsReading(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code === 58 /* : */ || code === 40 /* ( */) return true;
    if (code === 46 /* . */ && isSegmentEnd(path, i + 1)) return true;
    if (code === 37 /* % */) {
      const escape = path.slice(i, i + 3).toUpperCase();
      if (escape === '%3A' || escape === '%28' || (escape === '%20' && isSegmentEnd(path, i + 3))) return true;
      i += 2;
    }
  }
  return false;
}

/**
 * The name Windows opens for a canonical path: each segment without its `:stream` part
 * and without trailing dots and spaces (`/admin./x`, `/admin%20/x` and `/admin::$DATA`
 * are `/admin/...`), ASP.NET cookieless segments left out (`/(S(x))/admin`). Route selection compares this with a case-insensitive route's
 * prefix, so such a path selects the route it is aimed at — which then refuses it
 * (windowsPathProblem) — instead of missing it and falling to a broader route.
 */
export function windowsReading(path: string): string {
  if (!needsWindowsReading(path)) return path;
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    let segment = segments[i]!;
    if (COOKIELESS.test(segment)) continue;
    const colon = segment.search(/:|%3A/i);
    if (colon >= 0) segment = segment.slice(0, colon);
    for (;;) {
      if (segment.endsWith('.')) segment = segment.slice(0, -1);
      else if (/%20$/.test(segment)) segment = segment.slice(0, -3);
      else break;
    }
    if (segment !== '' || i === segments.length - 1) out.push(segment);
  }
  return '/' + out.join('/');
}
