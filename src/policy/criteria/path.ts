// `path: {exact}` | `{prefix}` | `{glob}` over the canonical request path, case-sensitive
// (paths are case-sensitive to the upstream, so `/Admin` is not `/admin`), except on a
// route with `paths: caseInsensitive`, where the pipeline hands in the case-folded path
// and the patterns are folded here the same way (../../basics/path-case.ts). A prefix
// matches whole segments (SPEC §7); a glob's `*` stays within a segment and `**` spans
// segments (see ../glob.ts for why its RegExp has the shape it has).
//
// A trailing slash is never significant: `exact: /admin` and `glob: /files/*.pdf` also
// match `/admin/` and `/files/a.pdf/` (as `prefix` always did). Express (non-strict
// routing, its default), Spring MVC before 6, Rails, Django with APPEND_SLASH, IIS and
// most static servers answer `/admin/` with `/admin`, so an exact-only deny would be
// bypassed by one `/`; `/admin//` is the same path (slashes are merged before policy).
import { z } from 'zod';
import { canonicalPathProblem } from '../canonical-path.ts';
import { foldPathCase } from '../../basics/path-case.ts';
import type { CompileOptions, Criterion, Matcher } from '../criterion.ts';
import { compileGlob, globSyntaxProblem } from '../glob.ts';
import { objectError, presentKeys, whenObjectParsed } from '../schema-helpers.ts';
import { hasSegmentPrefix, normalizeSegmentPrefix } from '../segment-prefix.ts';
import type { PolicyInput } from '../types.ts';

const KEYS = ['exact', 'prefix', 'glob'] as const;

const literalPath = z.string().superRefine((value, ctx) => {
  const problem = canonicalPathProblem(value, { allowStar: false });
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
const globPath = z.string().superRefine((value, ctx) => {
  const problem = canonicalPathProblem(value, { allowStar: true }) ?? globSyntaxProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const schema = z
  .strictObject(
    { exact: literalPath.optional(), prefix: literalPath.optional(), glob: globPath.optional() },
    { error: objectError('path', `exactly one of: ${KEYS.join(', ')}`) },
  )
  .superRefine((value, ctx) => {
    const present = presentKeys(value, KEYS);
    if (present.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `path takes exactly one of: ${KEYS.join(', ')}${present.length > 1 ? ` (got ${present.join(', ')})` : ''}`,
      });
    }
  }, whenObjectParsed)
  .meta({ minProperties: 1, maxProperties: 1 });

/** One trailing slash off (except on `/`): the form patterns are kept in. */
function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** The pattern as the route compares it: folded when the route ignores case. */
function comparable(pattern: string, options: CompileOptions): string {
  if (!options.caseInsensitivePaths) return pattern;
  const folded = foldPathCase(pattern);
  if (folded === undefined) {
    throw new TypeError(`path "${pattern}" holds a character that case-insensitive routes refuse (config not validated by configSchema)`);
  }
  return folded;
}

function ignoringCase(options: CompileOptions): string {
  return options.caseInsensitivePaths ? ' ignoring case' : '';
}

class ExactPath implements Matcher {
  readonly #path: string;
  readonly #shown: string;
  constructor(path: string, options: CompileOptions) {
    this.#path = withoutTrailingSlash(comparable(path, options));
    this.#shown = `${path}${ignoringCase(options)}`;
  }
  matches(input: PolicyInput): boolean {
    const value = input.path;
    const path = this.#path;
    if (value === path) return true;
    // `/admin/` for `/admin`, without allocating.
    return value.length === path.length + 1 && value.charCodeAt(path.length) === 47 && value.startsWith(path);
  }
  describe(input: PolicyInput, matched: boolean): string {
    return `path ${input.path} ${matched ? 'equals' : 'does not equal'} ${this.#shown}`;
  }
}

class PrefixPath implements Matcher {
  readonly #prefix: string;
  readonly #shown: string;
  constructor(prefix: string, options: CompileOptions) {
    this.#prefix = normalizeSegmentPrefix(comparable(prefix, options));
    this.#shown = `${prefix}${ignoringCase(options)}`;
  }
  matches(input: PolicyInput): boolean {
    return hasSegmentPrefix(input.path, this.#prefix);
  }
  describe(input: PolicyInput, matched: boolean): string {
    return `path ${input.path} ${matched ? 'has' : 'does not have'} prefix ${this.#shown}`;
  }
}

class GlobPath implements Matcher {
  readonly #regexp: RegExp;
  readonly #shown: string;
  constructor(glob: string, options: CompileOptions) {
    this.#regexp = compileGlob(withoutTrailingSlash(comparable(glob, options)), { optionalTrailingSlash: true });
    this.#shown = `${glob}${ignoringCase(options)}`;
  }
  matches(input: PolicyInput): boolean {
    return this.#regexp.test(input.path);
  }
  describe(input: PolicyInput, matched: boolean): string {
    return `path ${input.path} ${matched ? 'matches' : 'does not match'} glob ${this.#shown}`;
  }
}

export const path: Criterion<typeof schema> = {
  schema,
  compile: (value, options) => {
    if (value.exact !== undefined) return new ExactPath(value.exact, options);
    if (value.prefix !== undefined) return new PrefixPath(value.prefix, options);
    if (value.glob !== undefined) return new GlobPath(value.glob, options);
    throw new TypeError('path criterion without exact, prefix or glob (config not validated by policySchema)');
  },
};
