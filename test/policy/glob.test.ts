// Path globs: the compiled RegExp against an obviously correct reference matcher on
// many random globs and paths, and against inputs built to make a backtracking
// translation take seconds (the path is the client's to choose).
import { describe, expect, it } from 'vitest';
import { compileGlob, globSyntaxProblem } from '../../src/policy/glob.ts';
import { mulberry32 } from '../helpers/random.ts';

/** Glob semantics written out directly: `*` within a segment, `**` over whole segments. */
function referenceMatch(glob: string, path: string): boolean {
  const globSegments = glob.split('/').slice(1);
  const pathSegments = path.split('/').slice(1);
  const segment = (pattern: string, text: string, i = 0, j = 0): boolean => {
    if (i === pattern.length) return j === text.length;
    if (pattern[i] === '*') return segment(pattern, text, i + 1, j) || (j < text.length && segment(pattern, text, i, j + 1));
    return j < text.length && pattern[i] === text[j] && segment(pattern, text, i + 1, j + 1);
  };
  const walk = (i: number, j: number): boolean => {
    if (i === globSegments.length) return j === pathSegments.length;
    const g = globSegments[i] as string;
    if (g === '**') return walk(i + 1, j) || (j < pathSegments.length && walk(i, j + 1));
    return j < pathSegments.length && segment(g, pathSegments[j] as string) && walk(i + 1, j + 1);
  };
  return walk(0, 0);
}

describe('compileGlob agrees with the reference matcher', () => {
  const random = mulberry32(20240103);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const text = (alphabet: string, max: number) =>
    Array.from({ length: Math.floor(random() * (max + 1)) }, () => pick([...alphabet])).join('');

  const randomGlob = () => {
    const segments = Array.from({ length: 1 + Math.floor(random() * 4) }, () =>
      random() < 0.25 ? '**' : text('ab*', 4).replace(/\*{2,}/g, '*'),
    );
    return '/' + segments.join('/');
  };
  const randomPath = () => '/' + Array.from({ length: 1 + Math.floor(random() * 5) }, () => text('ab', 3)).join('/');

  it('on 30000 random glob/path pairs', () => {
    let matches = 0;
    for (let n = 0; n < 3000; n++) {
      const glob = randomGlob();
      expect(globSyntaxProblem(glob)).toBeUndefined();
      const regexp = compileGlob(glob);
      for (let k = 0; k < 10; k++) {
        const path = randomPath();
        const expected = referenceMatch(glob, path);
        if (regexp.test(path) !== expected) expect.fail(`${glob} vs ${path}: expected ${expected}, RegExp ${regexp.source}`);
        if (expected) matches++;
      }
    }
    // Both outcomes occur often enough for the comparison to mean something.
    expect(matches).toBeGreaterThan(2000);
    expect(matches).toBeLessThan(28000);
  });

  it('with optionalTrailingSlash: the glob, or the glob plus one "/" (the path criterion)', () => {
    for (let n = 0; n < 2000; n++) {
      const glob = randomGlob();
      const regexp = compileGlob(glob, { optionalTrailingSlash: true });
      for (let k = 0; k < 10; k++) {
        const path = randomPath() + (random() < 0.5 ? '/' : '');
        const expected = referenceMatch(glob, path) || (path.length > 1 && path.endsWith('/') && referenceMatch(glob, path.slice(0, -1)));
        if (regexp.test(path) !== expected) expect.fail(`${glob} vs ${path}: expected ${expected}, RegExp ${regexp.source}`);
      }
    }
  });
});

describe('compileGlob is linear on hostile paths', () => {
  // Sized so that the naive translation (`*` → `[^/]*`, `**` → `(?:/[^/]*)*`) takes
  // 0.3–2 s on each (measured on Node 24), far past the budget; the compiled form
  // answers in well under a millisecond. Larger inputs would make the naive one hang.
  const cases: [glob: string, path: string, expected: boolean][] = [
    ['/*a*a*a*b', '/' + 'a'.repeat(300), false],
    ['/x/*a*a*a*a*a*b/y', '/x/' + 'a'.repeat(60) + '/y', false],
    ['/**/a/**/b', '/a'.repeat(10_000) + '/c', false],
    ['/**/a/**/a/**/b', '/a'.repeat(700) + '/c', false],
    ['/**/*a*a*b/**/c', '/' + 'a'.repeat(1000) + '/a'.repeat(1000) + '/d', false],
    ['/**/a/**/a/**/b', '/a'.repeat(10_000) + '/b', true],
    ['/*a*a*a*b', '/' + 'a'.repeat(20_000) + 'b', true],
  ];
  for (const [glob, path, expected] of cases) {
    it(`${glob} against ${path.length} characters`, () => {
      const regexp = compileGlob(glob);
      const started = performance.now();
      const matched = regexp.test(path);
      const elapsed = performance.now() - started;
      expect(matched).toBe(expected);
      expect(elapsed).toBeLessThan(50);
    });
  }
});

describe('globSyntaxProblem', () => {
  it.each(['/a/**b', '/a**/b', '/***', '/a/b**'])('refuses %s', (glob) => {
    expect(globSyntaxProblem(glob)).toMatch(/must be a whole path segment/);
  });
  it.each(['/**', '/a/**/b/**', '/*', '/a*b*c', '/'])('accepts %s', (glob) => {
    expect(globSyntaxProblem(glob)).toBeUndefined();
  });
});
