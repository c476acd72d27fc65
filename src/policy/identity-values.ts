// Shared by the identity criteria (authenticated, user, email, domain, groups, claim,
// authAge): what each needs to be known (Matcher.known), the validation of e-mail
// domains, which `email` and `domain` both apply to what an operator writes, and the
// explain text for a request without a subject.
import type { PolicyInput } from './types.ts';

/** `known` of the criteria that read only the subject: unknown without one. */
export function hasSubject(input: PolicyInput): boolean {
  return input.subject !== undefined;
}

/** `known` of email and domain: a verified address is what they read; without one they are unknown. */
export function hasVerifiedEmail(input: PolicyInput): boolean {
  const subject = input.subject;
  return subject !== undefined && subject.emailVerified && subject.email !== undefined;
}

/** The explain text of every identity criterion evaluated without a subject. */
export const NO_SUBJECT = 'no subject (the request is not authenticated)';

// RFC 5321 §4.1.2 / RFC 1123: a mail domain is letters, digits and hyphens (LDH) per
// label; no underscores, unlike the host criterion's names (which may be internal).
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Why `domain` (compared lower-cased) cannot be an e-mail domain, or undefined. Exact
 * names only: a wildcard or a leading dot would suggest a suffix match, which does not
 * exist here (`example.com` never covers `sub.example.com`).
 */
export function domainProblem(domain: string): string | undefined {
  if (domain.length === 0) return 'the domain is empty';
  if (domain.includes('@')) return 'a domain is written without the user part: example.com, not alice@example.com';
  if (domain.includes('*') || domain.startsWith('.')) {
    return 'a domain matches exactly, without wildcards or suffixes: list every domain (example.com does not cover sub.example.com)';
  }
  if (domain.endsWith('.')) return 'write the domain without a trailing dot';
  if (domain.includes(':')) return 'a domain is written without a port';
  if (domain.length > 253) return 'a domain has at most 253 characters';
  for (const label of domain.toLowerCase().split('.')) {
    if (label === '') return 'a domain has no empty labels';
    if (label.length > 63) return 'a domain label has at most 63 characters';
    if (!LABEL.test(label)) {
      // An internationalised domain arrives from IdPs in either form; only the ASCII
      // form is comparable exactly, so that is the one to write.
      const hint = /[^\u0000-\u007f]/.test(label) ? '; write an internationalised domain in its ASCII (xn--) form' : '';
      return `label ${JSON.stringify(label)} is not a valid domain label${hint}`;
    }
  }
  return undefined;
}

/** Why `address` cannot be an e-mail address to match, or undefined. */
export function emailProblem(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0) return 'expected an e-mail address such as alice@example.com';
  const problem = domainProblem(address.slice(at + 1));
  return problem === undefined ? undefined : `after the last "@": ${problem}`;
}
