// `authenticated: true` — the request carries a verified subject (a session cookie or a
// bearer token), whoever it is. Only `true` is accepted, as for `accept`:
// `authenticated: false` reads like "anonymous only" but would merely never match.
import { z } from 'zod';
import type { Criterion, Matcher } from '../criterion.ts';
import { NO_SUBJECT } from '../identity-values.ts';
import type { PolicyInput } from '../types.ts';

const schema = z.literal(true, {
  error: 'authenticated must be true (it requires a signed-in subject); for a public route use accept',
});

const present: Matcher = {
  matches: (input: PolicyInput): boolean => input.subject !== undefined,
  describe: (input: PolicyInput): string => {
    const subject = input.subject;
    if (subject === undefined) return NO_SUBJECT;
    return `authenticated as ${JSON.stringify(subject.sub)} of ${subject.issuer} (${subject.source})`;
  },
};

export const authenticated: Criterion<typeof schema> = {
  schema,
  compile: () => present,
  identity: true,
};
