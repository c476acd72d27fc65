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

// Decoded bytes: 1 = a character Windows forbids in names, 2 = a backslash.
const FORBIDDEN = new Uint8Array(128);
for (const c of ':*?"<>|') FORBIDDEN[c.charCodeAt(0)] = 1;
FORBIDDEN[92] = 2;
const COOKIELESS = /^(?:\(|%28)[A-Za-z](?:\(|%28)/i;
const DEVICES = new Set(['con', 'prn', 'aux', 'nul', 'conin$', 'conout$']);
for (let d = 0; d <= 9; d++) DEVICES.add(`com${d}`).add(`lpt${d}`);
// First letters of the device names, lower-cased: the only segments worth a lookup.
const DEVICE_INITIAL = new Set([99, 112, 97, 110, 108]); // c p a n l

function hexValue(code: number): number {
  return code <= 57 ? code - 48 : (code | 0x20) - 87;
}

function isLetter(code: number): boolean {
  const lower = code | 0x20;
  return lower >= 97 && lower <= 122;
}

/** The first `count` decoded characters of the segment at `start`, lower-cased. */
function decodedPrefix(path: string, start: number, count: number): string {
  let out = '';
  for (let i = start; out.length < count; ) {
    if (path.charCodeAt(i) === 37) {
      out += String.fromCharCode(hexValue(path.charCodeAt(i + 1)) * 16 + hexValue(path.charCodeAt(i + 2)));
      i += 3;
    } else out += path[i++];
  }
  return out.toLowerCase();
}

/**
 * The reason Windows would read this canonical path as another, or undefined. One pass
 * over the decoded bytes of each segment, allocating only for a device-name candidate.
 */
export function windowsPathProblem(path: string): string | undefined {
  let i = 1;
  while (i <= path.length) {
    const start = i;
    let n = 0; // decoded length of the segment
    let prev = -1;
    let c0 = -1;
    let c1 = -1;
    let c2 = -1;
    let baseLength = -1; // decoded length before the first '.'
    while (i < path.length && path.charCodeAt(i) !== 47) {
      let byte = path.charCodeAt(i);
      if (byte === 37 /* % */) {
        byte = hexValue(path.charCodeAt(i + 1)) * 16 + hexValue(path.charCodeAt(i + 2));
        i += 3;
      } else i++;
      const forbidden = byte < 128 ? FORBIDDEN[byte] : 0;
      if (forbidden === 1) return 'windows-reserved-character';
      if (forbidden === 2) return 'encoded-backslash';
      if (prev === 126 /* ~ */ && byte >= 48 && byte <= 57) return 'windows-short-name';
      if (n === 0) c0 = byte;
      else if (n === 1) c1 = byte;
      else if (n === 2) c2 = byte;
      if (byte === 46 && baseLength < 0) baseLength = n;
      prev = byte;
      n++;
    }
    if (n > 0) {
      if (prev === 46 /* . */ || prev === 32 /* space */) return 'windows-trailing-dot-or-space';
      if (c0 === 40 /* ( */ && isLetter(c1) && c2 === 40) return 'aspnet-cookieless-segment';
      const base = baseLength < 0 ? n : baseLength;
      if (base >= 3 && base <= 7 && DEVICE_INITIAL.has(c0 | 0x20) && DEVICES.has(decodedPrefix(path, start, base))) {
        return 'windows-device-name';
      }
    }
    i++;
  }
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
