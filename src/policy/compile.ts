// Turns a validated policy into a tree of small objects, once per config snapshot, so
// that a decision is a walk over precompiled matchers: no parsing, no RegExp building,
// no allocation (every allow/deny Decision is built and frozen here, one per rule).
//
// Order and semantics (SPEC §7): deny rules first — any match denies, whatever allow
// says; then allow rules — any match allows; otherwise deny (`no-allow-matched`). A
// criterion that cannot evaluate the request makes the whole decision `error`, which the
// pipeline answers 503: neither "matched" nor "not matched" is safe to assume for it.
//
// Three values, not two (Kleene's logic): a criterion over an attribute the request does
// not carry — no subject, no device, no client certificate, a claim or posture field the
// token or assertion lacks (Matcher.known) — is *unknown*, which is not a "no". `not`
// keeps it unknown: `not: {groups: {has: contractors}}` never admits an anonymous caller
// (it used to: no subject, so "not a contractor"). `and` is false if any child is false,
// else unknown if any is; `or` is true if any child is, else unknown if any is. An allow
// rule admits only when definitely true. A deny rule that is unknown cannot be ruled out,
// so it denies (`policy-deny-unknown`) — stripping the posture header must not slip past
// `deny: {not: {device: {managed: true}}}`; when the missing attribute is the subject,
// that denial asks for a login (needsAuthentication) like an allow that wants one. A deny
// that should spare anonymous callers says so: `and: [{authenticated: true}, ...]`.
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

/** The outcome of a rule that reads an attribute the request does not carry. */
const UNKNOWN: unique symbol = Symbol('unknown');
/** The deciding node when a rule matched, null when it did not, UNKNOWN when it cannot tell. */
type Outcome = RuleNode | null | typeof UNKNOWN;

abstract class RuleNode {
  readonly id: string;
  /** Returned (shared, frozen) whenever this node is the deciding rule. */
  readonly decision: Decision;
  /** Returned when this node is a top-level deny rule that is unknown (see the header). */
  readonly unknownDenial: Decision;
  /** The same for a request without a subject when this rule reads one: log in first. */
  readonly unknownDenialNeedsAuthentication: Decision;
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
    this.unknownDenial = Object.freeze({ effect: 'deny', reason: 'policy-deny-unknown', rule: id, needsAuthentication: false });
    this.unknownDenialNeedsAuthentication = Object.freeze({ effect: 'deny', reason: 'policy-deny-unknown', rule: id, needsAuthentication: true });
  }
  /** The deciding node if this rule matches, null if it does not, UNKNOWN if it cannot tell. */
  abstract match(input: PolicyInput): Outcome;
  /** As match, appending this rule and the rules it evaluated to `trail`. */
  abstract explain(input: PolicyInput, trail: ExplainStep[]): Outcome;
}

function pushStep(trail: ExplainStep[], rule: string, outcome: Outcome, detail: string): void {
  trail.push(outcome === UNKNOWN ? { rule, matched: false, unknown: true, detail } : { rule, matched: outcome !== null, detail });
}

class CriterionNode extends RuleNode {
  readonly #matcher: Matcher;
  constructor(id: string, side: Side, matcher: Matcher, usesIdentity: boolean) {
    super(id, side, usesIdentity);
    this.#matcher = matcher;
  }
  #evaluate(input: PolicyInput): Outcome {
    try {
      const matcher = this.#matcher;
      if (matcher.known !== undefined && !matcher.known(input)) return UNKNOWN;
      return matcher.matches(input) ? this : null;
    } catch (err) {
      const reason = err instanceof PolicyInputError ? 'policy-input-invalid' : 'policy-evaluation-failed';
      const message = err instanceof Error ? err.message : String(err);
      throw new RuleEvaluationError(Object.freeze({ effect: 'error', reason, rule: this.id, needsAuthentication: false }), message);
    }
  }
  match(input: PolicyInput): Outcome {
    return this.#evaluate(input);
  }
  explain(input: PolicyInput, trail: ExplainStep[]): Outcome {
    let outcome: Outcome;
    try {
      outcome = this.#evaluate(input);
    } catch (err) {
      if (err instanceof RuleEvaluationError) trail.push({ rule: this.id, matched: false, detail: `error: ${err.message}` });
      throw err;
    }
    pushStep(trail, this.id, outcome, this.#matcher.describe(input, outcome !== null && outcome !== UNKNOWN));
    return outcome;
  }
}

/** Reserves the combinator's step before its children's, then fills it in. */
function explainCombinator(
  node: RuleNode,
  trail: ExplainStep[],
  evaluate: () => { decider: Outcome; detail: string },
): Outcome {
  const step: ExplainStep = { rule: node.id, matched: false, detail: '' };
  trail.push(step);
  try {
    const { decider, detail } = evaluate();
    step.matched = decider !== null && decider !== UNKNOWN;
    if (decider === UNKNOWN) step.unknown = true;
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
  match(input: PolicyInput): Outcome {
    const children = this.#children;
    let unknown = false;
    for (let i = 0; i < children.length; i++) {
      const outcome = (children[i] as RuleNode).match(input);
      if (outcome === null) return null;
      if (outcome === UNKNOWN) unknown = true;
    }
    return unknown ? UNKNOWN : this;
  }
  explain(input: PolicyInput, trail: ExplainStep[]): Outcome {
    return explainCombinator(this, trail, () => {
      let unknown: RuleNode | undefined;
      for (const child of this.#children) {
        const outcome = child.explain(input, trail);
        if (outcome === null) return { decider: null, detail: `${child.id} did not match` };
        if (outcome === UNKNOWN) unknown ??= child;
      }
      if (unknown !== undefined) return { decider: UNKNOWN, detail: `unknown: no rule failed, but ${unknown.id} is unknown` };
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
  match(input: PolicyInput): Outcome {
    const children = this.#children;
    let unknown = false;
    for (let i = 0; i < children.length; i++) {
      const outcome = (children[i] as RuleNode).match(input);
      if (outcome === UNKNOWN) unknown = true;
      else if (outcome !== null) return outcome;
    }
    return unknown ? UNKNOWN : null;
  }
  explain(input: PolicyInput, trail: ExplainStep[]): Outcome {
    return explainCombinator(this, trail, () => {
      let unknown: RuleNode | undefined;
      for (const child of this.#children) {
        const outcome = child.explain(input, trail);
        if (outcome === UNKNOWN) unknown ??= child;
        else if (outcome !== null) return { decider: outcome, detail: `${child.id} matched` };
      }
      if (unknown !== undefined) return { decider: UNKNOWN, detail: `unknown: no rule matched, and ${unknown.id} is unknown` };
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
  match(input: PolicyInput): Outcome {
    const outcome = this.#child.match(input);
    if (outcome === UNKNOWN) return UNKNOWN;
    return outcome === null ? this : null;
  }
  explain(input: PolicyInput, trail: ExplainStep[]): Outcome {
    return explainCombinator(this, trail, () => {
      const outcome = this.#child.explain(input, trail);
      if (outcome === UNKNOWN) return { decider: UNKNOWN, detail: `unknown: ${this.#child.id} is unknown, and so is its negation` };
      return outcome === null
        ? { decider: this, detail: `${this.#child.id} did not match` }
        : { decider: null, detail: `${this.#child.id} matched` };
    });
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

/** The decision of a deny rule that is unknown: asks for a login when the missing attribute may be the subject. */
function unknownDenial(node: RuleNode, input: PolicyInput): Decision {
  return input.subject === undefined && node.usesIdentity ? node.unknownDenialNeedsAuthentication : node.unknownDenial;
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
      // A deny rule that matches outright is the better reason than one that is unknown.
      const deny = this.#deny;
      let undecided: RuleNode | undefined;
      for (let i = 0; i < deny.length; i++) {
        const outcome = (deny[i] as RuleNode).match(input);
        if (outcome === UNKNOWN) undecided ??= deny[i];
        else if (outcome !== null) return outcome.decision;
      }
      if (undecided !== undefined) return unknownDenial(undecided, input);
      const allow = this.#allow;
      for (let i = 0; i < allow.length; i++) {
        const outcome = (allow[i] as RuleNode).match(input);
        if (outcome !== null && outcome !== UNKNOWN) return outcome.decision;
      }
      return this.#noAllowMatched(input);
    } catch (err) {
      if (err instanceof RuleEvaluationError) return err.decision;
      throw err;
    }
  }
  explain(input: PolicyInput): Explanation {
    const trail: ExplainStep[] = [];
    try {
      let undecided: RuleNode | undefined;
      for (const node of this.#deny) {
        const outcome = node.explain(input, trail);
        if (outcome === UNKNOWN) undecided ??= node;
        else if (outcome !== null) return { decision: outcome.decision, trail };
      }
      if (undecided !== undefined) return { decision: unknownDenial(undecided, input), trail };
      for (const node of this.#allow) {
        const outcome = node.explain(input, trail);
        if (outcome !== null && outcome !== UNKNOWN) return { decision: outcome.decision, trail };
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
