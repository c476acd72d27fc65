// The rule set the embedded-decision benchmark measures (bench/micro/policy-decision.ts),
// and the target computed from it. Apart from the script so that tests can check
// the target's arithmetic without running the benchmark.
import type { Subject } from '../../src/basics/subject.ts';
import { target, type TargetResult } from '../lib/part.ts';

export const DECISION_TARGET = 'embedded decision p50 at 10,000 rules';
/** Issue #7: p50 ≤ 2 µs. */
export const DECISION_TARGET_US = 2;

/** The caller every decision is made for: an engineer with MFA, from the office network. */
export const subject: Subject = {
  source: 'bearer',
  issuer: 'https://idp.example.com',
  sub: 'user-17',
  email: 'user-17@example.com',
  emailVerified: true,
  groups: ['engineering', 'oncall', 'vpn-users'],
  claims: { acr: 'mfa', scope: 'api:read api:write' },
  authTime: Math.floor(Date.now() / 1000) - 60,
  acr: 'mfa',
  amr: ['pwd', 'otp'],
};

const ALL_WEEK = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/**
 * Route i's ten rules: 2 deny and 4 allow rules over 10 criteria of the usual kinds. For
 * `subject` every one is evaluated: no deny matches, each allow `and` passes its first
 * criterion and fails its second, and only the last allow admits.
 */
export function tenRules(i: number, prefix: string): { deny: unknown[]; allow: unknown[] } {
  const base = prefix === '/' ? '' : prefix;
  return {
    deny: [
      { path: { glob: `${base}/admin/**` } },
      { and: [{ sourceIp: ['10.0.0.0/8', '192.168.0.0/16'] }, { groups: { has: 'contractors' } }] },
    ],
    allow: [
      { and: [{ method: ['GET', 'HEAD'] }, { groups: { has: `team-${i}` } }] },
      // A window that is always open, so the outcome does not depend on when the bench runs, but the Berlin wall clock is still read.
      { and: [{ time: { days: ALL_WEEK, from: '00:00', to: '24:00', tz: 'Europe/Berlin' } }, { email: [`owner-${i}@example.com`] }] },
      { and: [{ claim: { name: 'acr', equals: 'mfa' } }, { groups: { hasAny: [`ops-${i}`, `sre-${i}`] } }] },
      { groups: { hasAny: ['engineering', `eng-${i}`] } },
    ],
  };
}

/** The target row from the measured p50s by rules in the config (µs); not measured without a 10,000-rule run. */
export function decisionTarget(p50ByRules: ReadonlyMap<number, number>): TargetResult {
  return target(DECISION_TARGET, p50ByRules.get(10_000), '<=', DECISION_TARGET_US, {
    unit: 'µs',
    why: 'not measured: this run built no 10,000-rule config (--tiny)',
  });
}
