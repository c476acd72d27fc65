// `user: [id, ...]` — the subject's `sub` equals one of the list, exactly (OIDC Core
// §2: `sub` is a case-sensitive string; no case folding, no prefix, no pattern).
// A `sub` is unique only within its issuer: with several trusted issuers, pin the issuer
// too (`and: [{user: [...]}, {claim: {name: iss, equals: https://idp.example.com}}]`).
import { z } from 'zod';
import type { Criterion, Matcher } from '../criterion.ts';
import { hasSubject, NO_SUBJECT } from '../identity-values.ts';
import { oneOrList } from '../schema-helpers.ts';
import type { PolicyInput } from '../types.ts';

const userId = z.string().min(1, { error: 'a user id (the subject\'s "sub") is not empty' });
const schema = oneOrList(userId, 'a user id (the subject\'s "sub") or a list of them');

class UserMatcher implements Matcher {
  readonly #ids: ReadonlySet<string>;
  readonly #shown: string;
  constructor(ids: readonly string[]) {
    this.#ids = new Set(ids);
    this.#shown = ids.map((id) => JSON.stringify(id)).join(', ');
  }
  readonly known = hasSubject;
  matches(input: PolicyInput): boolean {
    const subject = input.subject;
    return subject !== undefined && this.#ids.has(subject.sub);
  }
  describe(input: PolicyInput, matched: boolean): string {
    if (input.subject === undefined) return NO_SUBJECT;
    return `user ${JSON.stringify(input.subject.sub)} is ${matched ? '' : 'not '}one of ${this.#shown}`;
  }
}

export const user: Criterion<typeof schema> = {
  schema,
  compile: (value) => new UserMatcher(typeof value === 'string' ? [value] : value),
  identity: true,
};
