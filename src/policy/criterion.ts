// The contract every policy criterion implements (Pomerium's habit: one criterion per
// file behind a small interface). A criterion brings its own zod schema for its value
// and compiles a validated value once into a Matcher; the rule compiler and the schema
// only know criteria through the registry in criteria/registry.ts.
import type { z } from 'zod';
import type { PolicyInput } from './types.ts';

export interface Matcher {
  /**
   * Called on every request the rule is evaluated for: no allocation, no parsing.
   * Throws PolicyInputError when the input cannot be judged (never answer false for
   * that: under a `not` or in a deny block, false would let the request through).
   */
  matches(input: PolicyInput): boolean;
  /**
   * Whether the request carries what this matcher reads (a subject, a device, a claim,
   * a posture field). When it does not, the rule is *unknown* — neither matched nor not
   * matched: a `not` around it stays unknown, an allow rule needs a definite match, and
   * a deny rule that cannot be ruled out denies (compile.ts). Absent: always known (the
   * method, the path, the source IP are in every request). Allocation-free.
   */
  known?(input: PolicyInput): boolean;
  /** Human text for `explain`, e.g. `method POST is not one of GET, HEAD`. */
  describe(input: PolicyInput, matched: boolean): string;
}

/** What a route tells the compiler about how its requests reach the policy. */
export interface CompileOptions {
  /**
   * The route reads paths case-insensitively (`paths: caseInsensitive`): `input.path`
   * is the case-folded canonical path, and path patterns are folded the same way.
   */
  readonly caseInsensitivePaths: boolean;
}

export interface Criterion<S extends z.ZodType = z.ZodType> {
  /** Validates the value under the criterion's key; reports every problem in one go. */
  readonly schema: S;
  /** Runs once per config snapshot, on a value that passed `schema`. */
  compile(value: z.output<S>, options: CompileOptions): Matcher;
  /**
   * Set by criteria that read `input.subject`: an allow rule using one makes a
   * subject-less `no-allow-matched` deny a `needsAuthentication` one (log in first).
   */
  readonly identity?: true;
}

/** The request carries something a criterion cannot evaluate; the decision is `error`. */
export class PolicyInputError extends Error {
  override readonly name = 'PolicyInputError';
}
