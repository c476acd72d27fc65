// The embedded policy engine — the NIST SP 800-207 "policy engine" (PE) inside the
// proxy. A route's `policy` block is validated by policySchema (part of the config
// schema), compiled once per config snapshot by compilePolicy, and asked for a Decision
// on every request by the authorization stage; `explain` gives the same decision with
// the trail of rules behind it, for `ztproxy explain` and debugging. Criteria live one
// per file in criteria/, listed in criteria/registry.ts.
export type { CompiledPolicy, Decision, Effect, ExplainStep, Explanation, PolicyInput } from './types.ts';
export { policySchema, ruleSchema, RULE_KEYS, type PolicyConfig, type Rule } from './schema.ts';
export { compilePolicy } from './compile.ts';
export type { CompileOptions } from './criterion.ts';
