// Turns a validated policy into a tree of small objects, once per config snapshot, so
// that a decision is a walk over precompiled matchers: no parsing, no RegExp building,
// no allocation (every allow/deny Decision is built and frozen here, one per rule).
//
// Order and semantics (SPEC §7): deny rules first — any match denies, whatever allow
// says; then allow rules — any match allows; otherwise deny (`no-allow-matched`). A
// criterion that cannot evaluate the request makes the whole decision `error`, which the
// pipeline answers 503: neither "matched" nor "not matched" is safe to assume for it.
// Which policies have allow rules that read the subject is settled here too, so that a
// subject-less no-allow-matched picks one of two frozen decisions (needsAuthentication).
import type { CompileOptions, Criterion, Matcher } from './criterion.ts';
import { PolicyInputError } from './criterion.ts';
import { criteria } from './criteria/registry.ts';
import { RULE_KEYS, type PolicyConfig, type Rule } from './schema.ts';
import type { CompiledPolicy, Decision, ExplainStep, Explanation, PolicyInput } from './types.ts';

type Side = 'allow' | 'deny';

/** Thrown inside one decide/explain call only; carries the decision it becomes. */
class RuleEvaluationError extends Error {
  readonly decision: Decision;
  constructor(decision: Decision, message: string) {
    super(message);
    this.decision = decision;
  }
}

abstract class RuleNode {
  readonly id: string;
  /** Returned (shared, frozen) whenever this node is the deciding rule. */
  readonly decision: Decision;
  /** This rule or one below it reads the subject (a criterion marked `identity`). */
  readonly usesIdentity: boolean;
  constructor(id: string, side: Side, usesIdentity: boolean) {
    this.id = id;
    this.usesIdentity = usesIdentity;
    this.decision = Object.freeze({
      effect: side,
      reason: side === 'allow' ? 'policy-allow' : 'policy-deny',
      rule: id,
      needsAuthentication: false,
    });
  }
  /** The deciding node if this rule matches, else null. */
  abstract match(input: PolicyInput): RuleNode | null;
  /** As match, appending this rule and the rules it evaluated to `trail`. */
  abstract explain(input: PolicyInput, trail: ExplainStep[]): RuleNode | null;
}

class CriterionNode extends RuleNode {
  readonly #matcher: Matcher;
  constructor(id: string, side: Side, matcher: Matcher, usesIdentity: boolean) {
    super(id, side, usesIdentity);
    this.#matcher = matcher;
  }
  #evaluate(input: PolicyInput): boolean {
    try {
      return this.#matcher.matches(input);
    } catch (err) {
      const reason = err instanceof PolicyInputError ? 'policy-input-invalid' : 'policy-evaluation-failed';
      const message = err instanceof Error ? err.message : String(err);
      throw new RuleEvaluationError(Object.freeze({ effect: 'error', reason, rule: this.id, needsAuthentication: false }), message);
    }
  }
  match(input: PolicyInput): RuleNode | null {
    return this.#evaluate(input) ? this : null;
  }
  explain(input: PolicyInput, trail: ExplainStep[]): RuleNode | null {
    let matched: boolean;
    try {
      matched = this.#evaluate(input);
    } catch (err) {
      if (err instanceof RuleEvaluationError) trail.push({ rule: this.id, matched: false, detail: `error: ${err.message}` });
      throw err;
    }
    trail.push({ rule: this.id, matched, detail: this.#matcher.describe(input, matched) });
    return matched ? this : null;
  }
}

/** Reserves the combinator's step before its children's, then fills it in. */
function explainCombinator(
  node: RuleNode,
  trail: ExplainStep[],
  evaluate: () => { decider: RuleNode | null; detail: string },
): RuleNode | null {
  const step: ExplainStep = { rule: node.id, matched: false, detail: '' };
  trail.push(step);
  try {
    const { decider, detail } = evaluate();
    step.matched = decider !== null;
    step.detail = detail;
    return decider;
  } catch (err) {
    if (err instanceof RuleEvaluationError) step.detail = `not decided: ${err.decision.rule} could not be evaluated`;
    throw err;
  }
}

// An `and` decides as a whole (every child contributed), so it names itself.
class AndNode extends RuleNode {
  readonly #children: readonly RuleNode[];
  constructor(id: string, side: Side, children: readonly RuleNode[]) {
    super(id, side, children.some((child) => child.usesIdentity));
    this.#children = children;
  }
  match(input: PolicyInput): RuleNode | null {
    const children = this.#children;
    for (let i = 0; i < children.length; i++) {
      if ((children[i] as RuleNode).match(input) === null) return null;
    }
    return this;
  }
  explain(input: PolicyInput, trail: ExplainStep[]): RuleNode | null {
    return explainCombinator(this, trail, () => {
      for (const child of this.#children) {
        if (child.explain(input, trail) === null) return { decider: null, detail: `${child.id} did not match` };
      }
      return { decider: this, detail: `all ${this.#children.length} rules matched` };
    });
  }
}

// An `or` is decided by the child that matched, which is the more useful name in a log.
class OrNode extends RuleNode {
  readonly #children: readonly RuleNode[];
  constructor(id: string, side: Side, children: readonly RuleNode[]) {
    super(id, side, children.some((child) => child.usesIdentity));
    this.#children = children;
  }
  match(input: PolicyInput): RuleNode | null {
    const children = this.#children;
    for (let i = 0; i < children.length; i++) {
      const decider = (children[i] as RuleNode).match(input);
      if (decider !== null) return decider;
    }
    return null;
  }
  explain(input: PolicyInput, trail: ExplainStep[]): RuleNode | null {
    return explainCombinator(this, trail, () => {
      for (const child of this.#children) {
        const decider = child.explain(input, trail);
        if (decider !== null) return { decider, detail: `${child.id} matched` };
      }
      return { decider: null, detail: `none of ${this.#children.length} rules matched` };
    });
  }
}

class NotNode extends RuleNode {
  readonly #child: RuleNode;
  constructor(id: string, side: Side, child: RuleNode) {
    super(id, side, child.usesIdentity);
    this.#child = child;
  }
  match(input: PolicyInput): RuleNode | null {
    return this.#child.match(input) === null ? this : null;
  }
  explain(input: PolicyInput, trail: ExplainStep[]): RuleNode | null {
    return explainCombinator(this, trail, () =>
      this.#child.explain(input, trail) === null
        ? { decider: this, detail: `${this.#child.id} did not match` }
        : { decider: null, detail: `${this.#child.id} matched` },
    );
  }
}

function compileRule(rule: Rule, base: string, side: Side, options: CompileOptions): RuleNode {
  const keys = RULE_KEYS.filter((key) => (rule as Record<string, unknown>)[key] !== undefined);
  const key = keys[0];
  if (key === undefined || keys.length !== 1) {
    throw new TypeError(`${base}: a rule needs exactly one key, got ${keys.length} (config not validated by policySchema)`);
  }
  const id = `${base}.${key}`;
  const children = (list: Rule[]) => list.map((child, i) => compileRule(child, `${id}[${i}]`, side, options));
  if (rule.and !== undefined) return new AndNode(id, side, children(rule.and));
  if (rule.or !== undefined) return new OrNode(id, side, children(rule.or));
  if (rule.not !== undefined) return new NotNode(id, side, compileRule(rule.not, id, side, options));
  const criterion = criteria[key as keyof typeof criteria] as Criterion;
  return new CriterionNode(id, side, criterion.compile((rule as Record<string, unknown>)[key], options), criterion.identity === true);
}

function compileSide(rules: Rule | Rule[] | undefined, side: Side, options: CompileOptions): readonly RuleNode[] {
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) return [compileRule(rules, side, side, options)];
  return rules.map((rule, i) => compileRule(rule, `${side}[${i}]`, side, options));
}

const NO_ALLOW_MATCHED: Decision = Object.freeze({
  effect: 'deny',
  reason: 'no-allow-matched',
  rule: undefined,
  needsAuthentication: false,
});
// The same denial for an anonymous request on a policy whose allow rules ask who the
// user is: logging in might change the answer, so the pipeline offers a login (302 for a
// browser, 401 for an API client) instead of a 403.
const NO_ALLOW_MATCHED_NEEDS_AUTHENTICATION: Decision = Object.freeze({
  effect: 'deny',
  reason: 'no-allow-matched',
  rule: undefined,
  needsAuthentication: true,
});

function firstMatch(nodes: readonly RuleNode[], input: PolicyInput): RuleNode | null {
  for (let i = 0; i < nodes.length; i++) {
    const decider = (nodes[i] as RuleNode).match(input);
    if (decider !== null) return decider;
  }
  return null;
}

class Policy implements CompiledPolicy {
  readonly #deny: readonly RuleNode[];
  readonly #allow: readonly RuleNode[];
  /** Some allow rule references an identity criterion (anywhere, `not` included). */
  readonly #identityAllow: boolean;
  constructor(config: PolicyConfig, options: CompileOptions) {
    this.#deny = compileSide(config.deny, 'deny', options);
    this.#allow = compileSide(config.allow, 'allow', options);
    this.#identityAllow = this.#allow.some((node) => node.usesIdentity);
  }
  #noAllowMatched(input: PolicyInput): Decision {
    return input.subject === undefined && this.#identityAllow ? NO_ALLOW_MATCHED_NEEDS_AUTHENTICATION : NO_ALLOW_MATCHED;
  }
  decide(input: PolicyInput): Decision {
    try {
      const denied = firstMatch(this.#deny, input);
      if (denied !== null) return denied.decision;
      const allowed = firstMatch(this.#allow, input);
      return allowed !== null ? allowed.decision : this.#noAllowMatched(input);
    } catch (err) {
      if (err instanceof RuleEvaluationError) return err.decision;
      throw err;
    }
  }
  explain(input: PolicyInput): Explanation {
    const trail: ExplainStep[] = [];
    try {
      for (const node of this.#deny) {
        const decider = node.explain(input, trail);
        if (decider !== null) return { decision: decider.decision, trail };
      }
      for (const node of this.#allow) {
        const decider = node.explain(input, trail);
        if (decider !== null) return { decision: decider.decision, trail };
      }
      return { decision: this.#noAllowMatched(input), trail };
    } catch (err) {
      if (err instanceof RuleEvaluationError) return { decision: err.decision, trail };
      throw err;
    }
  }
}

const DEFAULT_OPTIONS: CompileOptions = Object.freeze({ caseInsensitivePaths: false });

/**
 * Compiles a policy that passed policySchema. Throws TypeError on one that did not.
 * `caseInsensitivePaths`: the route reads paths case-insensitively; `path` patterns are
 * folded here and the caller hands in the folded request path (../basics/path-case.ts).
 */
export function compilePolicy(policy: PolicyConfig, options: CompileOptions = DEFAULT_OPTIONS): CompiledPolicy {
  return new Policy(policy, options);
}
