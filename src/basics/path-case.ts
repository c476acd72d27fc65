// Case folding of canonical paths for routes whose upstream reads paths case-
// insensitively (`paths: caseInsensitive`: IIS, anything on NTFS). Route selection and
// every `path` criterion of such a route compare the folded path with folded patterns,
// so `/ADMIN`, `/Admin/x` and `/%C3%89cole` meet the rules written for `/admin` and
// `/%C3%A9cole`. The forwarded path is never folded (see docs/design.md).
//
// Windows compares names by upper-casing both with its own table (NTFS `$UpCase`, the
// Unicode simple uppercase mappings). So:
// - ASCII letters fold to lower case (one-to-one on ASCII, and readable in `explain`);
// - a non-ASCII character folds to its simple uppercase mapping (the JS full mapping
//   when it is one code point, else the character itself: `ß` stays `ß` as it does in
//   NTFS, `ς` and `σ` both fold to `Σ` as they do there);
// - a non-ASCII character that some reading turns into ASCII is refused outright:
//   simple case mappings (`ı` → `I`, `ſ` → `S`, `K` Kelvin → `k`, `İ` → `i̇`) and
//   compatibility forms (NFKC: fullwidth `ＡＤＭＩＮ`, `／`, ligature `ﬁ`, superscript `¹`,
//   no-break space). JavaScript's `toLowerCase`/`toUpperCase` fold some of them onto
//   ASCII letters and Windows' best-fit code-page conversion ("WorstFit", 2024) most of
//   the others, so `/ADM%C4%B0N` could be `/admin` to one reader and not to another.
//   No folding is right for every upstream; refusing is.

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

function hasAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x80) return true;
  return false;
}

/** The one-code-point mapping, or undefined when the full mapping has several. */
function simple(mapped: string): string | undefined {
  const first = mapped.codePointAt(0);
  if (first === undefined) return undefined;
  return mapped.length === (first > 0xffff ? 2 : 1) ? mapped : undefined;
}

/** A non-ASCII character that case mapping or NFKC turns into (or mixes with) ASCII. */
export function isAsciiConfusable(char: string): boolean {
  const upper = simple(char.toUpperCase());
  if (upper !== undefined && hasAscii(upper)) return true;
  // The full lower-case mapping too: `İ` becomes `i` + U+0307 (and plain `i` under a
  // Turkish locale, which .NET's culture-sensitive ToLower uses).
  if (hasAscii(char.toLowerCase())) return true;
  return hasAscii(char.normalize('NFKC'));
}

function foldChar(char: string): string {
  return simple(char.toUpperCase()) ?? char;
}

// Folded forms of the non-ASCII characters seen so far ('' = confusable). Bounded: a
// client sending many distinct characters only empties it.
const FOLDED = new Map<string, string>();
const FOLDED_MAX = 4096;

function foldedOrEmpty(char: string): string {
  let folded = FOLDED.get(char);
  if (folded === undefined) {
    folded = isAsciiConfusable(char) ? '' : foldChar(char);
    if (FOLDED.size >= FOLDED_MAX) FOLDED.clear();
    FOLDED.set(char, folded);
  }
  return folded;
}

/** Folds a run of `%XX` escapes of non-ASCII bytes; undefined if not UTF-8 or confusable. */
function foldEscapedRun(run: string): string | undefined {
  const bytes = new Uint8Array(run.length / 3);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
  let text: string;
  try {
    text = STRICT_UTF8.decode(bytes);
  } catch {
    return undefined;
  }
  let folded = '';
  for (const char of text) {
    const f = foldedOrEmpty(char);
    if (f === '') return undefined;
    folded += f;
  }
  return encodeURIComponent(folded);
}

function isHighEscape(path: string, i: number): boolean {
  const hi = path.charCodeAt(i + 1);
  return (hi >= 56 && hi <= 57) || (hi >= 65 && hi <= 70) || (hi >= 97 && hi <= 102); // 8-9, A-F, a-f
}

/**
 * The case-folded form of a canonical path (../basics/canonical.ts: ASCII only, escapes
 * `%XX`), or undefined when it holds a character refused above (or escapes that are not
 * UTF-8, which only a config pattern can). Escape hex stays upper-case. A path with no
 * upper-case letter and no escaped non-ASCII is returned as is, without allocating.
 */
export function foldPathCase(path: string): string | undefined {
  let upper = false;
  let high = false;
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code === 37 /* % */) {
      if (isHighEscape(path, i)) high = true;
      i += 2;
    } else if (code >= 65 && code <= 90) upper = true;
  }
  if (!upper && !high) return path;
  if (!high) {
    const lower = path.toLowerCase();
    // Escape hex stays upper-case, as canonical paths and patterns write it.
    return lower.includes('%') ? lower.replace(/%[0-9a-f]{2}/g, (escape) => escape.toUpperCase()) : lower;
  }
  let out = '';
  let i = 0;
  while (i < path.length) {
    const code = path.charCodeAt(i);
    if (code === 37 && isHighEscape(path, i)) {
      let end = i;
      while (end < path.length && path.charCodeAt(end) === 37 && isHighEscape(path, end)) end += 3;
      const folded = foldEscapedRun(path.slice(i, end).toUpperCase());
      if (folded === undefined) return undefined;
      out += folded;
      i = end;
    } else if (code === 37) {
      out += path.slice(i, i + 3);
      i += 3;
    } else {
      out += code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : path[i];
      i++;
    }
  }
  return out;
}
