// `claim: {name, equals}` | `{name, has}` — one claim of the subject's token, compared
// without conversion or patterns.
// - `equals`: the claim is strictly equal to the string, number or boolean written
//   (`1` is not `"1"`, `true` is not `"true"`: YAML already types the value, and a
//   loose comparison would let an issuer's type change flip decisions).
// - `has`: the claim is a list with that element (`amr: [pwd, otp]`), or a string whose
//   space-separated tokens include it (OAuth `scope`, RFC 6749 §3.3: `"read write"`
//   has `read`, not `rea`).
// `name` is a top-level claim name taken literally, never a path: namespaced claims are
// URLs full of dots (`https://example.com/roles`), so `a.b` names the claim "a.b", not
// `b` inside `a`; explain says so when such a claim is absent. A missing claim matches
// nothing. `iss`, `sub`, `acr` and `amr` fall back to the Subject's own fields when the
// claim set lacks them (a session may keep only those), so SPEC's step-up examples
// (`{name: acr, equals: mfa}`, `{name: amr, has: otp}`) hold for every subject.
import { z } from 'zod';
import type { Subject } from '../../basics/subject.ts';
import type { Criterion, Matcher } from '../criterion.ts';
import { NO_SUBJECT } from '../identity-values.ts';
import { objectError, presentKeys, whenObjectParsed } from '../schema-helpers.ts';
import type { PolicyInput } from '../types.ts';

const KEYS = ['equals', 'has'] as const;

type Scalar = string | number | boolean;
const scalar = (key: string) =>
  z.union([z.string(), z.number(), z.boolean()], { error: `${key} takes a string, a number or true/false` });

const schema = z
  .strictObject(
    {
      name: z
        .string({
          error: (issue) =>
            issue.input === undefined ? 'claim needs a name, such as acr' : 'name is the claim name, a string such as acr',
        })
        .min(1, { error: 'a claim name is not empty' }),
      equals: scalar('equals').optional(),
      has: scalar('has')
        .refine((value) => value !== '', { error: 'has needs a non-empty value' })
        .optional(),
    },
    { error: objectError('claim', 'a name and exactly one of: equals, has') },
  )
  .superRefine((value, ctx) => {
    const present = presentKeys(value, KEYS);
    if (present.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `claim takes a name and exactly one of: ${KEYS.join(', ')}${present.length > 1 ? ` (got ${present.join(', ')})` : ''}`,
      });
    }
  }, whenObjectParsed)
  .meta({ required: ['name'], oneOf: [{ required: ['equals'] }, { required: ['has'] }] });

// Standard claims the Subject also carries as fields; see the header for why.
const SUBJECT_FIELDS: Readonly<Record<string, (subject: Subject) => unknown>> = {
  iss: (subject) => subject.issuer,
  sub: (subject) => subject.sub,
  acr: (subject) => subject.acr,
  amr: (subject) => subject.amr,
};

const MAX_SHOWN = 100;
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
}

/** `text`'s space-separated tokens include `token` (non-empty, without a space). */
function hasToken(text: string, token: string): boolean {
  for (let at = text.indexOf(token); at !== -1; at = text.indexOf(token, at + 1)) {
    const end = at + token.length;
    if ((at === 0 || text.charCodeAt(at - 1) === 0x20) && (end === text.length || text.charCodeAt(end) === 0x20)) return true;
  }
  return false;
}

abstract class ClaimMatcher implements Matcher {
  readonly #name: string;
  /** The Subject field a missing claim falls back to (see the header), if any. */
  readonly #field: ((subject: Subject) => unknown) | undefined;
  protected readonly shownName: string;
  constructor(name: string) {
    this.#name = name;
    this.#field = Object.hasOwn(SUBJECT_FIELDS, name) ? SUBJECT_FIELDS[name] : undefined;
    this.shownName = JSON.stringify(name);
  }
  /**
   * The claim, without allocating; undefined when absent. A method over the matcher's
   * fields, not a closure per rule: one function for every claim rule of a config.
   */
  protected read(subject: Subject): unknown {
    // hasOwn: a claim named `constructor` or `toString` must not find Object.prototype's.
    return Object.hasOwn(subject.claims, this.#name) ? subject.claims[this.#name] : this.#field?.(subject);
  }
  /** An absent claim is unknown: `not: {claim: {name: acr, equals: mfa}}` must not admit a token without `acr`. */
  known(input: PolicyInput): boolean {
    const subject = input.subject;
    return subject !== undefined && this.read(subject) !== undefined;
  }
  matches(input: PolicyInput): boolean {
    const subject = input.subject;
    if (subject === undefined) return false;
    const value = this.read(subject);
    return value !== undefined && this.test(value);
  }
  describe(input: PolicyInput, matched: boolean): string {
    const subject = input.subject;
    if (subject === undefined) return NO_SUBJECT;
    const value = this.read(subject);
    if (value === undefined) {
      const path = this.#name.includes('.') && !this.#name.includes('/');
      return `claim ${this.shownName} is absent${path ? ' (a claim name is never a path: this is the top-level claim of that exact name)' : ''}`;
    }
    return `claim ${this.shownName} = ${show(value)} ${this.explainValue(value, matched)}`;
  }
  protected abstract test(value: unknown): boolean;
  protected abstract explainValue(value: unknown, matched: boolean): string;
}

class ClaimEquals extends ClaimMatcher {
  readonly #expected: Scalar;
  constructor(name: string, expected: Scalar) {
    super(name);
    this.#expected = expected;
  }
  protected test(value: unknown): boolean {
    return value === this.#expected;
  }
  protected explainValue(value: unknown, matched: boolean): string {
    const expected = this.#expected;
    if (matched) return `equals ${show(expected)}`;
    const actual = Array.isArray(value) ? 'list' : value === null ? 'null' : typeof value;
    const types = actual === typeof expected ? '' : ` (${actual} vs ${typeof expected}: values are compared without conversion)`;
    return `does not equal ${show(expected)}${types}`;
  }
}

class ClaimHas extends ClaimMatcher {
  readonly #element: Scalar;
  /** A token never holds a space, so such a value can only be a list element. */
  readonly #token: string | undefined;
  constructor(name: string, element: Scalar) {
    super(name);
    this.#element = element;
    this.#token = typeof element === 'string' && !element.includes(' ') ? element : undefined;
  }
  protected test(value: unknown): boolean {
    if (Array.isArray(value)) return value.includes(this.#element);
    return typeof value === 'string' && this.#token !== undefined && hasToken(value, this.#token);
  }
  protected explainValue(value: unknown, matched: boolean): string {
    const element = show(this.#element);
    if (Array.isArray(value)) return `${matched ? 'contains' : 'does not contain'} ${element}`;
    if (typeof value === 'string') return `${matched ? 'has' : 'does not have'} ${element} among its space-separated tokens`;
    return `is neither a list nor a space-separated string, so it has no ${element}`;
  }
}

export const claim: Criterion<typeof schema> = {
  schema,
  compile: (value) => {
    if (value.equals !== undefined) return new ClaimEquals(value.name, value.equals);
    if (value.has !== undefined) return new ClaimHas(value.name, value.has);
    throw new TypeError('claim criterion without equals or has (config not validated by policySchema)');
  },
  identity: true,
};
