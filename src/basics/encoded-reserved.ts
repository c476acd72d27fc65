// Opt-in refusal of percent-encoded delimiters (route `paths.rejectEncoded`), for
// upstreams that decode the path and then parse it again: to such an app `/a%3Fb` is
// `/a` with the query `b`, `/admin%23x` is `/admin` with a fragment, `/admin%3Bjsessionid=x`
// is Tomcat's `/admin` with a path parameter, `%2525` decodes twice into `%25` and then
// `%`. The canonical form keeps these escapes as they are (RFC 3986 §2.2: an encoded
// delimiter is data), which is right for an upstream that decodes once; this table is
// for the ones that do not.
//
// `/` and `\` are not listed here: `allowEncodedSlashes` governs them (refused unless
// the route allows them).

/** RFC 3986 §2.2 gen-delims and sub-delims without `/`, and `%` (double encoding). */
export const RESERVED_CHARACTERS: readonly string[] = Object.freeze([
  ':', '?', '#', '[', ']', '@', '!', '$', '&', "'", '(', ')', '*', '+', ',', ';', '=', '%',
]);

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * Why `char` cannot be listed in `rejectEncoded`, or undefined. Only characters whose
 * escapes reach the upstream encoded can be: unreserved ones are decoded (`%41` is `A`),
 * controls and non-ASCII are refused or decoded by their own rules.
 */
export function rejectableProblem(char: string): string | undefined {
  if (char.length !== 1) return 'must be one character';
  if (char === '/' || char === '\\') return 'encoded slashes are governed by allowEncodedSlashes (refused unless it is true)';
  const code = char.charCodeAt(0);
  if (code < 0x20 || code >= 0x7f) return 'must be a printable ASCII character (encoded controls are always refused)';
  if (UNRESERVED.test(char)) return `"%${code.toString(16).toUpperCase()}" is decoded to "${char}" before any route sees it`;
  return undefined;
}

/** A 128-entry table of the bytes whose escape the route refuses. */
export function encodedRejectTable(chars: readonly string[]): Uint8Array {
  const table = new Uint8Array(128);
  for (const char of chars) table[char.charCodeAt(0)] = 1;
  return table;
}

function hexValue(code: number): number {
  return code <= 57 ? code - 48 : (code | 0x20) - 87;
}

/** The first refused character found escaped in a canonical path, or undefined. */
export function encodedRejected(path: string, table: Uint8Array): string | undefined {
  for (let i = path.indexOf('%'); i >= 0; i = path.indexOf('%', i + 3)) {
    const byte = hexValue(path.charCodeAt(i + 1)) * 16 + hexValue(path.charCodeAt(i + 2));
    if (byte < 128 && table[byte] === 1) return String.fromCharCode(byte);
  }
  return undefined;
}
