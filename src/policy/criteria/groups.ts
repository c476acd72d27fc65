// `groups: {has: g}` | `{hasAny: [..]}` | `{hasAll: [..]}` — membership in the subject's
// groups, by exact string equality: IdPs send names (`admins`), paths (`/org/admins`)
// or ids (Entra ID object GUIDs), and none of them is safe to fold or pattern-match —
// `admins` must not cover `Admins-readonly` or `/admins`. A subject without groups
// matches none of the three.
import { z } from 'zod';
import type { Criterion, Matcher } from '../criterion.ts';
import { hasSubject, NO_SUBJECT } from '../identity-values.ts';
import { objectError, presentKeys, whenObjectParsed } from '../schema-helpers.ts';
import type { PolicyInput } from '../types.ts';

const KEYS = ['has', 'hasAny', 'hasAll'] as const;

const groupName = z.string().min(1, { error: 'a group name is not empty' });
const groupList = (key: string) =>
  z
    .array(groupName, { error: `${key} takes a list of groups` })
    .min(1, { error: `${key} needs at least one group` });

const schema = z
  .strictObject(
    {
      has: z
        .string({
          error: (issue) =>
            Array.isArray(issue.input) ? 'has takes one group; for a list use hasAny or hasAll' : 'has takes one group name',
        })
        .min(1, { error: 'a group name is not empty' })
        .optional(),
      hasAny: groupList('hasAny').optional(),
      hasAll: groupList('hasAll').optional(),
    },
    { error: objectError('groups', `exactly one of: ${KEYS.join(', ')}`) },
  )
  .superRefine((value, ctx) => {
    const present = presentKeys(value, KEYS);
    if (present.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `groups takes exactly one of: ${KEYS.join(', ')}${present.length > 1 ? ` (got ${present.join(', ')})` : ''}`,
      });
    }
  }, whenObjectParsed)
  .meta({ minProperties: 1, maxProperties: 1 });

const SHOWN_GROUPS = 10;

/** The subject's groups for explain, cut short: some IdPs send hundreds. */
function showGroups(groups: readonly string[]): string {
  const shown = groups.slice(0, SHOWN_GROUPS).map((g) => JSON.stringify(g)).join(', ');
  const more = groups.length > SHOWN_GROUPS ? `, … (${groups.length - SHOWN_GROUPS} more)` : '';
  return `groups [${shown}${more}]`;
}

const quoted = (groups: readonly string[]): string => groups.map((g) => JSON.stringify(g)).join(', ');

class HasGroup implements Matcher {
  readonly #group: string;
  constructor(group: string) {
    this.#group = group;
  }
  readonly known = hasSubject;
  matches(input: PolicyInput): boolean {
    const subject = input.subject;
    return subject !== undefined && subject.groups.includes(this.#group);
  }
  describe(input: PolicyInput, matched: boolean): string {
    if (input.subject === undefined) return NO_SUBJECT;
    return `${showGroups(input.subject.groups)} ${matched ? 'include' : 'do not include'} ${JSON.stringify(this.#group)}`;
  }
}

class HasAnyGroup implements Matcher {
  readonly #groups: ReadonlySet<string>;
  readonly #shown: string;
  constructor(groups: readonly string[]) {
    this.#groups = new Set(groups);
    this.#shown = quoted([...this.#groups]);
  }
  readonly known = hasSubject;
  matches(input: PolicyInput): boolean {
    const subject = input.subject;
    if (subject === undefined) return false;
    const groups = subject.groups;
    for (let i = 0; i < groups.length; i++) {
      if (this.#groups.has(groups[i] as string)) return true;
    }
    return false;
  }
  describe(input: PolicyInput, matched: boolean): string {
    if (input.subject === undefined) return NO_SUBJECT;
    return `${showGroups(input.subject.groups)} include ${matched ? 'one' : 'none'} of ${this.#shown}`;
  }
}

class HasAllGroups implements Matcher {
  readonly #groups: readonly string[];
  constructor(groups: readonly string[]) {
    this.#groups = [...new Set(groups)];
  }
  readonly known = hasSubject;
  matches(input: PolicyInput): boolean {
    const subject = input.subject;
    if (subject === undefined) return false;
    const required = this.#groups;
    for (let i = 0; i < required.length; i++) {
      if (!subject.groups.includes(required[i] as string)) return false;
    }
    return true;
  }
  describe(input: PolicyInput, matched: boolean): string {
    const subject = input.subject;
    if (subject === undefined) return NO_SUBJECT;
    if (matched) return `${showGroups(subject.groups)} include all of ${quoted(this.#groups)}`;
    const missing = this.#groups.filter((g) => !subject.groups.includes(g));
    return `${showGroups(subject.groups)} lack ${quoted(missing)} of ${quoted(this.#groups)}`;
  }
}

export const groups: Criterion<typeof schema> = {
  schema,
  compile: (value) => {
    if (value.has !== undefined) return new HasGroup(value.has);
    if (value.hasAny !== undefined) return new HasAnyGroup(value.hasAny);
    if (value.hasAll !== undefined) return new HasAllGroups(value.hasAll);
    throw new TypeError('groups criterion without has, hasAny or hasAll (config not validated by policySchema)');
  },
  identity: true,
};
