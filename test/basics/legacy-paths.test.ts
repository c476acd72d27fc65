// The pure functions behind `paths` (src/basics/path-case.ts, windows-path.ts,
// encoded-reserved.ts), on canonical paths as sanitation produces them.
import { describe, expect, it } from 'vitest';
import { encodedRejectTable, encodedRejected, RESERVED_CHARACTERS } from '../../src/basics/encoded-reserved.ts';
import { foldPathCase, isAsciiConfusable } from '../../src/basics/path-case.ts';
import { windowsPathProblem, windowsReading } from '../../src/basics/windows-path.ts';

describe('foldPathCase', () => {
  it.each([
    ['/', '/'],
    ['/admin', '/admin'],
    ['/ADMIN/Users', '/admin/users'],
    ['/A%3Bb/C%20D', '/a%3Bb/c%20d'], // escape hex stays upper-case
    ['/%C3%89cole', '/%C3%89cole'], // É
    ['/%C3%A9cole', '/%C3%89cole'], // é folds to É, as Windows upper-cases
    ['/%CF%82', '/%CE%A3'], // final sigma ς → Σ
    ['/%CF%83', '/%CE%A3'], // σ → Σ
    ['/stra%C3%9Fe', '/stra%C3%9Fe'], // ß has no one-letter upper case: kept
    ['/%E2%84%A6', '/%E2%84%A6'], // Ohm sign stays itself (Windows: not Ω)
  ])('%s → %s', (path, folded) => {
    expect(foldPathCase(path)).toBe(folded);
  });

  it('returns the path itself when there is nothing to fold', () => {
    const path = '/already/lower/case%3B';
    expect(foldPathCase(path)).toBe(path);
  });

  it.each([
    ['/ADM%C4%B0N', 'İ'],
    ['/adm%C4%B1n', 'ı'],
    ['/%C5%BF', 'ſ'],
    ['/%E2%84%AA', 'Kelvin sign'],
    ['/%EF%BC%A1', 'fullwidth A'],
    ['/%EF%BC%8F', 'fullwidth solidus'],
    ['/%EF%AC%81le', 'ligature ﬁ'],
    ['/%C2%B9', 'superscript one'],
    ['/%C2%A0', 'no-break space'],
    ['/a%FF', 'not UTF-8 (only config patterns can hold it)'],
  ])('%s (%s) cannot be folded', (path) => {
    expect(foldPathCase(path)).toBeUndefined();
  });

  it('confusables: every non-ASCII character JavaScript case mapping turns into ASCII', () => {
    const hasAscii = (s: string) => [...s].some((c) => c.codePointAt(0)! < 0x80);
    for (let cp = 0x80; cp <= 0x2ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const char = String.fromCodePoint(cp);
      const upper = char.toUpperCase();
      const simpleUpperToAscii = [...upper].length === 1 && hasAscii(upper);
      if (simpleUpperToAscii || hasAscii(char.toLowerCase()) || hasAscii(char.normalize('NFKC'))) {
        if (!isAsciiConfusable(char)) expect.fail(`U+${cp.toString(16)} should be confusable`);
      }
    }
    for (const char of ['é', 'É', 'ß', 'ω', 'Ω', '中', 'ö']) expect(isAsciiConfusable(char)).toBe(false);
  });
});

describe('windowsPathProblem', () => {
  it.each([
    ['/admin.', 'windows-trailing-dot-or-space'],
    ['/admin./x', 'windows-trailing-dot-or-space'],
    ['/admin%20', 'windows-trailing-dot-or-space'],
    ['/admin.%20.', 'windows-trailing-dot-or-space'],
    ['/a::$DATA', 'windows-reserved-character'],
    ['/a%3a$DATA', 'windows-reserved-character'],
    ['/a*', 'windows-reserved-character'],
    ['/a%3Fb', 'windows-reserved-character'],
    ['/a%22b', 'windows-reserved-character'],
    ['/a%3Cb', 'windows-reserved-character'],
    ['/a%7Cb', 'windows-reserved-character'],
    ['/a%5Cb', 'encoded-backslash'],
    ['/PROGRA~1', 'windows-short-name'],
    ['/x/abcdef~12.asp', 'windows-short-name'],
    ['/(S(x))/a', 'aspnet-cookieless-segment'],
    ['/(A(x))', 'aspnet-cookieless-segment'],
    ['/NUL', 'windows-device-name'],
    ['/x/com1.txt', 'windows-device-name'],
    ['/lpt9', 'windows-device-name'],
    ['/conin$', 'windows-device-name'],
  ])('%s → %s', (path, reason) => {
    expect(windowsPathProblem(path)).toBe(reason);
  });

  it.each(['/', '/a/', '/a.b/c.aspx', '/~user', '/console', '/com10', '/a%20b', '/(x)', '/.well-known/x', '/%C3%A9'])('%s is fine', (path) => {
    expect(windowsPathProblem(path)).toBeUndefined();
  });
});

describe('windowsReading: the name Windows opens', () => {
  it.each([
    ['/admin', '/admin'],
    ['/admin./x', '/admin/x'],
    ['/admin.%20./x', '/admin/x'],
    ['/admin%20', '/admin'],
    ['/admin::$data', '/admin'],
    ['/admin:$i30:$index_allocation/x', '/admin/x'],
    ['/(s(abc))/admin', '/admin'],
    ['/a.b/c', '/a.b/c'],
    ['/a/', '/a/'],
  ])('%s → %s', (path, reading) => {
    expect(windowsReading(path)).toBe(reading);
  });
});

describe('encodedRejected', () => {
  const table = encodedRejectTable(['?', '#', '%']);
  it.each([
    ['/a%3Fb', '?'],
    ['/a%23', '#'],
    ['/a%2541', '%'],
    ['/a%20b/c%3F', '?'],
    ['/a%20b', undefined],
    ['/a%C3%A9', undefined],
    ['/plain', undefined],
  ])('%s → %s', (path, char) => {
    expect(encodedRejected(path, table)).toBe(char);
  });

  it('reserved covers every RFC 3986 delimiter but "/", and "%"', () => {
    const all = encodedRejectTable(RESERVED_CHARACTERS);
    for (const char of ":?#[]@!$&'()*+,;=%") expect(encodedRejected(`/a%${char.charCodeAt(0).toString(16).toUpperCase()}`, all)).toBe(char);
    expect(encodedRejected('/a%2Fb', all)).toBeUndefined();
  });
});
