// `domain: [example.com, ...]` — the domain of the subject's verified e-mail address,
// the part after the LAST "@", lower-cased, equals one of the list exactly. The last
// "@" because a quoted local part may hold one (`"a@evil.com"@example.com` is a mailbox
// at example.com). Exact because a suffix match is how domain checks get bypassed:
// `example.com` covers neither `evil-example.com` nor `sub.example.com`; list each one.
// An unverified address never matches (see email.ts), nor does one without an "@".
import { z } from 'zod';
import type { Criterion, Matcher } from '../criterion.ts';
import { domainProblem, hasVerifiedEmail, NO_SUBJECT } from '../identity-values.ts';
import { oneOrList } from '../schema-helpers.ts';
import type { PolicyInput } from '../types.ts';

const domainName = z.string().superRefine((value, ctx) => {
  const problem = domainProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
const schema = oneOrList(domainName, 'an e-mail domain or a list of them');

/** `text` from `start` on equals `lower` (ASCII lower case), ASCII letters folded. */
function equalsFoldedAt(text: string, start: number, lower: string): boolean {
  if (text.length - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let c = text.charCodeAt(start + i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

class DomainMatcher implements Matcher {
  /** Lower-cased, valid LDH names (pure ASCII). */
  readonly #domains: readonly string[];
  readonly #set: ReadonlySet<string>;
  constructor(domains: readonly string[]) {
    this.#set = new Set(domains.map((d) => d.toLowerCase()));
    this.#domains = [...this.#set];
  }
  readonly known = hasVerifiedEmail;
  matches(input: PolicyInput): boolean {
    const subject = input.subject;
    if (subject === undefined || !subject.emailVerified) return false;
    const email = subject.email;
    if (email === undefined) return false;
    const start = email.lastIndexOf('@') + 1;
    if (start === 0) return false;
    // The configured names are ASCII, so an ASCII domain compares in place, without
    // slicing or lower-casing a copy per request. Anything else takes the slow path
    // with the same meaning as the `email` criterion's toLowerCase.
    for (let i = start; i < email.length; i++) {
      if (email.charCodeAt(i) > 0x7f) return this.#set.has(email.slice(start).toLowerCase());
    }
    const domains = this.#domains;
    for (let i = 0; i < domains.length; i++) {
      if (equalsFoldedAt(email, start, domains[i] as string)) return true;
    }
    return false;
  }
  describe(input: PolicyInput, matched: boolean): string {
    const subject = input.subject;
    if (subject === undefined) return NO_SUBJECT;
    const email = subject.email;
    if (email === undefined) return 'the subject has no e-mail address';
    if (!subject.emailVerified) return `e-mail ${email} is not verified, so its domain matches nothing`;
    const at = email.lastIndexOf('@');
    if (at === -1) return `e-mail ${email} has no "@", so no domain`;
    const domain = email.slice(at + 1).toLowerCase();
    return `e-mail domain ${domain} (after the last "@" of ${email}) is ${matched ? '' : 'not '}one of ${this.#domains.join(', ')}`;
  }
}

export const domain: Criterion<typeof schema> = {
  schema,
  compile: (value) => new DomainMatcher(typeof value === 'string' ? [value] : value),
  identity: true,
};
