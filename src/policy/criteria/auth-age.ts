// `authAge: {maxSeconds: N}` — step-up: the subject signed in (the IdP's `auth_time`,
// OIDC Core §2) at most N seconds ago. A subject without an auth time never matches:
// no proof of a recent login is no recent login. An auth time more than 60 s in the
// future (the clock tolerance the token checks allow, issue 3) does not match either:
// it comes from a broken or lying clock, and taken at face value it would stay "fresh"
// for as long as it is ahead. Both ends are inclusive, in milliseconds of `now`.
// Like every identity criterion in an allow rule, it makes a subject-less denial
// `needsAuthentication`; a subject whose login is too old gets a plain
// `no-allow-matched` (needsAuthentication is about a missing subject only).
import { z } from 'zod';
import { PolicyInputError, type Criterion, type Matcher } from '../criterion.ts';
import { NO_SUBJECT } from '../identity-values.ts';
import { objectError } from '../schema-helpers.ts';
import type { PolicyInput } from '../types.ts';

/** Clock skew tolerated for an auth time ahead of ours. */
const FUTURE_SKEW_MS = 60_000;
// ECMAScript time values end at ±8.64e15 ms (as for the time criterion).
const MAX_TIME = 8.64e15;

const schema = z.strictObject(
  {
    maxSeconds: z
      .number({ error: 'maxSeconds is a whole number of seconds, at least 1' })
      .int({ error: 'maxSeconds is a whole number of seconds, at least 1' })
      .min(1, { error: 'maxSeconds is a whole number of seconds, at least 1' }),
  },
  { error: objectError('authAge', 'maxSeconds') },
);

class AuthAgeMatcher implements Matcher {
  readonly #maxMs: number;
  readonly #maxSeconds: number;
  constructor(maxSeconds: number) {
    this.#maxSeconds = maxSeconds;
    this.#maxMs = maxSeconds * 1000;
  }
  /** Milliseconds since the subject's login, or NaN when it has no auth time. */
  #ageMs(input: PolicyInput): number {
    const now = input.now;
    // A broken clock is the pipeline's fault, not the subject's: fail closed as for time.
    if (!(Math.abs(now) <= MAX_TIME)) throw new PolicyInputError(`time ${now} is not a valid epoch-milliseconds instant`);
    const authTime = input.subject?.authTime;
    return authTime === undefined ? Number.NaN : now - authTime * 1000;
  }
  /** No subject, or one whose token says nothing of its login time: unknown. */
  known(input: PolicyInput): boolean {
    return input.subject?.authTime !== undefined;
  }
  matches(input: PolicyInput): boolean {
    if (input.subject === undefined) return false;
    const age = this.#ageMs(input);
    // NaN (no auth time, or a non-finite one) fails both comparisons.
    return age <= this.#maxMs && age >= -FUTURE_SKEW_MS;
  }
  describe(input: PolicyInput, matched: boolean): string {
    if (input.subject === undefined) return NO_SUBJECT;
    // Before the clock is read: an unknown rule is described without evaluating it, and
    // an unreadable clock must not turn explain's answer into an exception.
    if (input.subject.authTime === undefined) return 'the subject has no auth time, so no recent login is proven';
    const age = this.#ageMs(input);
    if (Number.isNaN(age)) return 'the subject has no auth time, so no recent login is proven';
    const seconds = Math.abs(age) / 1000;
    if (age < -FUTURE_SKEW_MS) return `auth time is ${seconds} s in the future, beyond the ${FUTURE_SKEW_MS / 1000} s clock skew allowed`;
    if (age < 0) return `auth time is ${seconds} s in the future, within the allowed clock skew: ${matched ? 'fresh' : 'not fresh'}`;
    return `signed in ${seconds} s ago, ${matched ? 'within' : 'more than'} ${this.#maxSeconds} s`;
  }
}

export const authAge: Criterion<typeof schema> = {
  schema,
  compile: (value) => new AuthAgeMatcher(value.maxSeconds),
  identity: true,
};
