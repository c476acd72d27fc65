// `path: {exact}` | `{prefix}` | `{glob}` over the canonical request path, case-sensitive
// (paths are case-sensitive to the upstream, so `/Admin` is not `/admin`). A prefix
// matches whole segments (SPEC §7); a glob's `*` stays within a segment and `**` spans
// segments (see ../glob.ts for why its RegExp has the shape it has).
import { z } from 'zod';
import { canonicalPathProblem } from '../canonical-path.ts';
import type { Criterion, Matcher } from '../criterion.ts';
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

class ExactPath implements Matcher {
  readonly #path: string;
  constructor(path: string) {
    this.#path = path;
  }
  matches(input: PolicyInput): boolean {
    return input.path === this.#path;
  }
  describe(input: PolicyInput, matched: boolean): string {
    return `path ${input.path} ${matched ? 'equals' : 'does not equal'} ${this.#path}`;
  }
}

class PrefixPath implements Matcher {
  readonly #prefix: string;
  readonly #shown: string;
  constructor(prefix: string) {
    this.#prefix = normalizeSegmentPrefix(prefix);
    this.#shown = prefix;
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
  readonly #glob: string;
  constructor(glob: string) {
    this.#regexp = compileGlob(glob);
    this.#glob = glob;
  }
  matches(input: PolicyInput): boolean {
    return this.#regexp.test(input.path);
  }
  describe(input: PolicyInput, matched: boolean): string {
    return `path ${input.path} ${matched ? 'matches' : 'does not match'} glob ${this.#glob}`;
  }
}

export const path: Criterion<typeof schema> = {
  schema,
  compile: (value) => {
    if (value.exact !== undefined) return new ExactPath(value.exact);
    if (value.prefix !== undefined) return new PrefixPath(value.prefix);
    if (value.glob !== undefined) return new GlobPath(value.glob);
    throw new TypeError('path criterion without exact, prefix or glob (config not validated by policySchema)');
  },
};
