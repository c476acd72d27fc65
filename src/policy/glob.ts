// Path globs: `*` matches within one segment (never `/`), `**` any number of whole
// segments (zero included), everything else literally.
//
// The obvious translation (`*` → `[^/]*`, `**` → `(?:/[^/]*)*`) backtracks
// polynomially on a path the client chooses: measured on Node 24, `/*a*a*a*b` against
// `/` + 300 `a`s takes 1.7 s and `/**/a/**/b` against 20 KB of `/a` 0.4 s, and both
// grow as a power of the length — a denial of service in one request. So every wildcard run that is not the
// last of its scope is made atomic: a lookahead finds the leftmost place where the
// following literal part fits and a backreference consumes exactly that. Taking the
// leftmost fit is exact for `*`-only patterns (what the greedy-star algorithm relies
// on: if a later fit leads to a match, the leftmost one does too), and once taken the
// engine cannot backtrack into it. The last wildcard of each scope stays greedy and is
// anchored by what follows it, so the matcher stays linear in the path length times
// the pattern length.

/** Why `glob` is not valid glob syntax (beyond the path checks), or undefined. */
export function globSyntaxProblem(glob: string): string | undefined {
  for (const segment of glob.split('/')) {
    if (segment.includes('**') && segment !== '**') {
      return `"**" must be a whole path segment, as in /a/**/b (got "${segment}")`;
    }
  }
  return undefined;
}

function escapeLiteral(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/**
 * Compiles a glob that passed globSyntaxProblem to an anchored RegExp.
 * `optionalTrailingSlash`: the path may end in one `/` more than the glob says (what
 * the `path` criterion wants; the optional `/` sits after the last, greedy part, so it
 * adds no backtracking).
 */
export function compileGlob(glob: string, options: { optionalTrailingSlash?: boolean } = {}): RegExp {
  // Named groups: a body may itself contain atomic groups, so numbering by creation
  // order would not follow the textual order that numbered backreferences use.
  let groups = 0;
  const atomic = (body: string): string => {
    const name = `a${groups++}`;
    return `(?=(?<${name}>${body}))\\k<${name}>`;
  };

  // One segment pattern, `/` included: `c0*c1*…*ck` with the middle chunks atomic and
  // the last one anchored at the segment's end by `(?![^/])`.
  const segmentPattern = (segment: string): string => {
    const chunks = segment.split('*');
    let out = '/' + escapeLiteral(chunks[0] as string);
    if (chunks.length === 1) return out + '(?![^/])';
    for (let i = 1; i < chunks.length - 1; i++) out += atomic(`[^/]*?${escapeLiteral(chunks[i] as string)}`);
    return out + `[^/]*${escapeLiteral(chunks[chunks.length - 1] as string)}(?![^/])`;
  };

  // Runs of segments between `**`s (consecutive `**` mean the same as one).
  const runs: string[][] = [[]];
  const segments = glob.split('/').slice(1); // a glob starts with '/'
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (segment === '**') {
      if (segments[i - 1] !== '**') runs.push([]);
    } else {
      (runs[runs.length - 1] as string[]).push(segment);
    }
  }

  const oneSegment = '(?:/[^/]*)';
  const head = runs[0] as string[];
  let source = '^' + head.map(segmentPattern).join('');
  if (runs.length > 1) {
    // Runs between two `**`: the leftmost fit, atomically (a lazy scan inside the lookahead).
    for (let r = 1; r < runs.length - 1; r++) {
      source += atomic(`${oneSegment}*?${(runs[r] as string[]).map(segmentPattern).join('')}`);
    }
    // After the last `**`: greedy, anchored at the end of the path.
    source += `${oneSegment}*` + (runs[runs.length - 1] as string[]).map(segmentPattern).join('');
  }
  return new RegExp(source + (options.optionalTrailingSlash === true ? '/?$' : '$'));
}
