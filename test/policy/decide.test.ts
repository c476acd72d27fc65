// Table-driven decisions from test/fixtures/policy/*.yaml: each group's policy goes
// through the real schema and compiler, each case through decide() and explain().
import { describe, expect, it } from 'vitest';
import { compilePolicy, policySchema, type CompiledPolicy } from '../../src/policy/index.ts';
import { foldPathCase } from '../../src/basics/path-case.ts';
import { loadDecisionTables, toPolicyInput } from './fixtures.ts';

function compileFixturePolicy(policy: unknown, caseInsensitivePaths: boolean): CompiledPolicy {
  const parsed = policySchema.safeParse(policy);
  if (!parsed.success) {
    throw new Error(`fixture policy invalid:\n${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  return compilePolicy(parsed.data, { caseInsensitivePaths });
}

for (const { file, groups } of loadDecisionTables()) {
  describe(file, () => {
    for (const group of groups) {
      describe(group.name, () => {
        // One compiled policy per group, cases in order: as on a running proxy, where
        // per-zone clock caches and matchers are shared across requests.
        const policy = compileFixturePolicy(group.policy, group.caseInsensitivePaths);
        group.cases.forEach((testCase, index) => {
          const input = toPolicyInput(testCase.input);
          if (group.caseInsensitivePaths) {
            const folded = foldPathCase(input.path);
            if (folded === undefined) throw new Error(`fixture path ${input.path} cannot be folded (the pipeline answers 400)`);
            input.path = folded;
          }
          const label = testCase.name ?? `#${index} ${JSON.stringify(testCase.input)}`;
          const login = testCase.expect.needsAuthentication ? ' (needs authentication)' : '';
          it(`${label} → ${testCase.expect.effect} ${testCase.expect.reason} ${testCase.expect.rule ?? ''}${login}`, () => {
            const decision = policy.decide(input);
            expect({ ...decision }).toEqual({
              effect: testCase.expect.effect,
              reason: testCase.expect.reason,
              rule: testCase.expect.rule,
              needsAuthentication: testCase.expect.needsAuthentication,
            });

            const explanation = policy.explain(input);
            expect(explanation.decision).toEqual(decision);
            if (decision.effect !== 'error') {
              // The hot path hands out the rule's preallocated, frozen decision.
              expect(explanation.decision).toBe(decision);
              expect(policy.decide(input)).toBe(decision);
              expect(Object.isFrozen(decision)).toBe(true);
            }
            if (decision.rule !== undefined) {
              const step = explanation.trail.find((s) => s.rule === decision.rule);
              expect(step, `trail names ${decision.rule}`).toBeDefined();
              // A deny rule that could not be ruled out is in the trail as unknown, not matched.
              const unknown = decision.reason === 'policy-deny-unknown';
              expect(step?.matched).toBe(decision.effect !== 'error' && !unknown);
              if (unknown) expect(step?.unknown).toBe(true);
            }
            for (const step of explanation.trail) expect(step.detail).not.toBe('');
            if (testCase.trail !== undefined) expect(explanation.trail).toEqual(testCase.trail);
          });
        });
      });
    }
  });
}
