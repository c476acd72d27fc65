// What the fixture tables cannot show: callers that build a PolicyInput without the
// `subject` key at all (the pipeline before the identity stage) still get decisions,
// and the needsAuthentication decision is one shared frozen object, like the others.
import { describe, expect, it } from 'vitest';
import type { Subject } from '../../src/basics/subject.ts';
import { compilePolicy, policySchema, type PolicyInput } from '../../src/policy/index.ts';

const compile = (policy: unknown) => compilePolicy(policySchema.parse(policy));

// No `subject` key: the shape src/pipeline/stages/authorize.ts builds today.
const anonymous: PolicyInput = { method: 'GET', host: 'app.example.com', path: '/', sourceIp: '192.0.2.1', spiffeId: undefined, now: 0 };

const alice: Subject = Object.freeze({
  source: 'bearer',
  issuer: 'https://idp.example.com',
  sub: 'alice',
  email: 'alice@example.com',
  emailVerified: true,
  groups: Object.freeze(['admins']),
  claims: Object.freeze({ scope: 'read write' }),
  authTime: 0,
  acr: undefined,
  amr: Object.freeze([]),
});

describe('needsAuthentication', () => {
  it('is one frozen decision shared by every policy, as is the plain no-allow-matched', () => {
    const a = compile({ allow: { groups: { has: 'admins' } } });
    const b = compile({ allow: { and: [{ method: 'POST' }, { authenticated: true }] } });
    const plain = compile({ allow: { method: 'POST' } });
    const needs = a.decide(anonymous);
    expect(needs).toEqual({ effect: 'deny', reason: 'no-allow-matched', rule: undefined, needsAuthentication: true });
    expect(Object.isFrozen(needs)).toBe(true);
    expect(b.decide(anonymous)).toBe(needs);
    expect(a.explain(anonymous).decision).toBe(needs);
    const forbidden = plain.decide(anonymous);
    expect(forbidden).toEqual({ effect: 'deny', reason: 'no-allow-matched', rule: undefined, needsAuthentication: false });
    expect(a.decide({ ...anonymous, subject: { ...alice, groups: [] } })).toBe(forbidden);
  });

  it('works with a frozen Subject as the identity stage hands it in', () => {
    const policy = compile({
      allow: {
        and: [
          { authenticated: true },
          { user: 'alice' },
          { email: 'ALICE@example.com' },
          { domain: 'example.com' },
          { groups: { hasAll: ['admins'] } },
          { claim: { name: 'scope', has: 'write' } },
          { authAge: { maxSeconds: 60 } },
        ],
      },
    });
    const decision = policy.decide({ ...anonymous, now: 30_000, subject: alice });
    expect(decision).toEqual({ effect: 'allow', reason: 'policy-allow', rule: 'allow.and', needsAuthentication: false });
  });
});
