// `email: [address, ...]` — the subject's e-mail address equals one of the list, and the
// issuer says it is verified (`email_verified`): an unverified address is whatever the
// user typed at sign-up and proves nothing, so it never matches.
//
// Compared lower-cased on both sides. The domain part is case-insensitive (DNS). The
// local part is case-sensitive on paper (RFC 5321 §2.4), but no mainstream mail system
// treats it so, and IdPs report the address as the user typed it (`Alice@Example.com`):
// an exact comparison would deny the right person over capitalisation nobody sees.
// Folding never crosses a domain, and the mailbox names within one belong to its owner.
// Otherwise exact: no substring, no pattern, no "+tag" or dot stripping.
import { z } from 'zod';
import type { Criterion, Matcher } from '../criterion.ts';
import { emailProblem, hasVerifiedEmail, NO_SUBJECT } from '../identity-values.ts';
import { oneOrList } from '../schema-helpers.ts';
import type { PolicyInput } from '../types.ts';

const address = z.string().superRefine((value, ctx) => {
  const problem = emailProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
const schema = oneOrList(address, 'an e-mail address or a list of them');

class EmailMatcher implements Matcher {
  /** Lower-cased. */
  readonly #addresses: ReadonlySet<string>;
  readonly #shown: string;
  constructor(addresses: readonly string[]) {
    this.#addresses = new Set(addresses.map((a) => a.toLowerCase()));
    this.#shown = [...this.#addresses].join(', ');
  }
  readonly known = hasVerifiedEmail;
  matches(input: PolicyInput): boolean {
    const subject = input.subject;
    if (subject === undefined || !subject.emailVerified) return false;
    const email = subject.email;
    if (email === undefined) return false;
    // Most IdPs already send lower case: try as is first, so the common case allocates
    // nothing; toLowerCase is idempotent, so the first lookup cannot admit more.
    return this.#addresses.has(email) || this.#addresses.has(email.toLowerCase());
  }
  describe(input: PolicyInput, matched: boolean): string {
    const subject = input.subject;
    if (subject === undefined) return NO_SUBJECT;
    if (subject.email === undefined) return 'the subject has no e-mail address';
    if (!subject.emailVerified) return `e-mail ${subject.email} is not verified, so it matches nothing`;
    return `e-mail ${subject.email} is ${matched ? '' : 'not '}one of ${this.#shown}`;
  }
}

export const email: Criterion<typeof schema> = {
  schema,
  compile: (value) => new EmailMatcher(typeof value === 'string' ? [value] : value),
  identity: true,
};
