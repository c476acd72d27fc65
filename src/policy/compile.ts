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
//
// Two forms of one rule tree (issue #7: the decision at 10,000 rules). `explain` walks
// the tree of RuleNode objects below, which carry the ids and describe every step.
// `decide` runs a flat program compiled from the same tree: one array per policy in
// which each rule is a few slots `[opcode, decision, end, matcher?]` in prefix order,
// `end` pointing past the rule's subtree (so a short-circuit is a jump), read by one
// function whose call sites see one shape. Spread over 1,000 routes, the tree cost a
// cache miss per node and per children array (most of the 5 µs measured); the program
// is read in order, from a few lines, and a rule that decides hands out the Decision in
// its slot. Identical criteria (same key, value and path case) compile to ONE shared
// matcher across every route of every live snapshot (internMatcher), so the
// `method: [GET, HEAD]` or office CIDRs that a thousand routes repeat stay in cache.
// The differential test (test/policy/program.test.ts) holds decide to explain's answer
// on random policies and requests.
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

/**
 * Immutable objects shared by every compiled policy that asks for the same key — across
 * routes and live snapshots — so that what a thousand routes repeat is one object in
 * cache. Weakly held: an object lives as long as some policy uses it, and a reload that
 * drops the last user drops it.
 */
class WeakInterner<T extends object> {
  readonly #objects = new Map<string, WeakRef<T>>();
  readonly #gone = new FinalizationRegistry<string>((key) => {
    if (this.#objects.get(key)?.deref() === undefined) this.#objects.delete(key);
  });
  get(key: string, make: () => T): T {
    const known = this.#objects.get(key)?.deref();
    if (known !== undefined) return known;
    const made = make();
    this.#objects.set(key, new WeakRef(made));
    this.#gone.register(made, key);
    return made;
  }
}

// A Decision names a rule by its place in the policy (`allow[3].groups`), not its route,
// so routes of one shape hand out the same few objects; the authorize stage reads the
// one that decided, and a shared one is already in cache.
const decisions = new WeakInterner<Decision>();

function decisionOf(effect: 'allow' | 'deny', reason: string, rule: string, needsAuthentication: boolean): Decision {
  return decisions.get(`${effect}\u0000${reason}\u0000${needsAuthentication ? 1 : 0}\u0000${rule}`, () =>
    Object.freeze({ effect, reason, rule, needsAuthentication }),
  );
}

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
    this.decision = decisionOf(side, side === 'allow' ? 'policy-allow' : 'policy-deny', id, false);
    this.unknownDenial = decisionOf('deny', 'policy-deny-unknown', id, false);
    this.unknownDenialNeedsAuthentication = decisionOf('deny', 'policy-deny-unknown', id, true);
  }
  /**
   * The deciding node if this rule matches, null if it does not, UNKNOWN if it cannot
   * tell; appends this rule and the rules it evaluated to `trail`.
   */
  abstract explain(input: PolicyInput, trail: ExplainStep[]): Outcome;
  /** Appends this rule (and its subtree) to the flat program `decide` runs. */
  abstract emit(program: Program): void;
}

/** Appends a combinator: its header, its children, then `end` filled in. */
function emitCombinator(program: Program, op: number, node: RuleNode, children: readonly RuleNode[]): void {
  const at = program.length;
  program.push(op, node.decision, 0);
  for (const child of children) child.emit(program);
  program[at + 2] = program.length;
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
      throw evaluationError(this.id, err);
    }
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
  emit(program: Program): void {
    program.push(this.#matcher.known === undefined ? OP_CRITERION : OP_CRITERION_KNOWN, this.decision, program.length + 4, this.#matcher);
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
  emit(program: Program): void {
    emitCombinator(program, OP_AND, this, this.#children);
  }
}

// An `or` is decided by the child that matched, which is the more useful name in a log.
class OrNode extends RuleNode {
  readonly #children: readonly RuleNode[];
  constructor(id: string, side: Side, children: readonly RuleNode[]) {
    super(id, side, children.some((child) => child.usesIdentity));
    this.#children = children;
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
  emit(program: Program): void {
    emitCombinator(program, OP_OR, this, this.#children);
  }
}

class NotNode extends RuleNode {
  readonly #child: RuleNode;
  constructor(id: string, side: Side, child: RuleNode) {
    super(id, side, child.usesIdentity);
    this.#child = child;
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
  emit(program: Program): void {
    emitCombinator(program, OP_NOT, this, [this.#child]);
  }
}

// Matchers are immutable once compiled (criterion.ts: compile runs once, matches reads
// only its input), so two rules with the same criterion can share one.
const matchers = new WeakInterner<Matcher>();

/** A JSON key that tells every value apart: the string "1" from the number 1, NaN from Infinity (both `null` in plain JSON). */
function valueKey(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'string' ? `s${v}` : typeof v === 'number' ? `n${Object.is(v, -0) ? '-0' : String(v)}` : v));
}

function internMatcher(key: string, criterion: Criterion, value: unknown, options: CompileOptions): Matcher {
  const id = `${key}\u0000${options.caseInsensitivePaths ? 'i' : 's'}\u0000${valueKey(value)}`;
  return matchers.get(id, () => criterion.compile(value, options));
}

// The program's opcodes. Every rule is `[opcode, decision, end, ...]` — the rule's own
// frozen Decision, which names it (`rule`) for an error too — its children (if any) from
// slot 3 to `end`; a criterion's matcher is slot 3.
const OP_CRITERION = 0;
/** A criterion whose matcher has `known` (asked first: unknown is not a no). */
const OP_CRITERION_KNOWN = 1;
const OP_AND = 2;
const OP_OR = 3;
const OP_NOT = 4;
type Program = (number | Decision | Matcher)[];
/** What `run` answers for a rule: the deciding rule's Decision, null (no match) or UNKNOWN. */
type Verdict = Decision | null | typeof UNKNOWN;

/** The error decision of a criterion that threw, as CriterionNode makes it for explain. */
function evaluationError(rule: string, err: unknown): RuleEvaluationError {
  const reason = err instanceof PolicyInputError ? 'policy-input-invalid' : 'policy-evaluation-failed';
  const message = err instanceof Error ? err.message : String(err);
  return new RuleEvaluationError(Object.freeze({ effect: 'error', reason, rule, needsAuthentication: false }), message);
}

function runCriterion(program: Program, at: number, input: PolicyInput, askKnown: boolean): Verdict {
  const matcher = program[at + 3] as Matcher;
  try {
    if (askKnown && !(matcher.known as (input: PolicyInput) => boolean)(input)) return UNKNOWN;
    return matcher.matches(input) ? (program[at + 1] as Decision) : null;
  } catch (err) {
    throw evaluationError((program[at + 1] as Decision).rule as string, err);
  }
}

/** The rule at `at`: the deciding rule's Decision, null, or UNKNOWN — as explain finds it. */
function run(program: Program, at: number, input: PolicyInput): Verdict {
  const op = program[at] as number;
  if (op <= OP_CRITERION_KNOWN) return runCriterion(program, at, input, op === OP_CRITERION_KNOWN);
  const end = program[at + 2] as number;
  if (op === OP_AND) {
    let unknown = false;
    for (let child = at + 3; child < end; child = program[child + 2] as number) {
      const outcome = run(program, child, input);
      if (outcome === null) return null;
      if (outcome === UNKNOWN) unknown = true;
    }
    return unknown ? UNKNOWN : (program[at + 1] as Decision);
  }
  if (op === OP_OR) {
    let unknown = false;
    for (let child = at + 3; child < end; child = program[child + 2] as number) {
      const outcome = run(program, child, input);
      if (outcome === UNKNOWN) unknown = true;
      else if (outcome !== null) return outcome;
    }
    return unknown ? UNKNOWN : null;
  }
  const outcome = run(program, at + 3, input);
  if (outcome === UNKNOWN) return UNKNOWN;
  return outcome === null ? (program[at + 1] as Decision) : null;
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
  return new CriterionNode(id, side, internMatcher(key, criterion, (rule as Record<string, unknown>)[key], options), criterion.identity === true);
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
  /** The deny rules then the allow rules, as decide runs them (see the header). */
  readonly #program: Program;
  /** Where the allow rules start in #program. */
  readonly #allowAt: number;
  constructor(config: PolicyConfig, options: CompileOptions) {
    this.#deny = compileSide(config.deny, 'deny', options);
    this.#allow = compileSide(config.allow, 'allow', options);
    this.#identityAllow = this.#allow.some((node) => node.usesIdentity);
    const program: Program = [];
    for (const node of this.#deny) node.emit(program);
    this.#allowAt = program.length;
    for (const node of this.#allow) node.emit(program);
    this.#program = program;
  }
  #noAllowMatched(input: PolicyInput): Decision {
    return input.subject === undefined && this.#identityAllow ? NO_ALLOW_MATCHED_NEEDS_AUTHENTICATION : NO_ALLOW_MATCHED;
  }
  decide(input: PolicyInput): Decision {
    try {
      // A deny rule that matches outright is the better reason than one that is unknown.
      const program = this.#program;
      const allowAt = this.#allowAt;
      // The first deny rule that is unknown, by its place in #deny.
      let undecided = -1;
      for (let at = 0, rule = 0; at < allowAt; at = program[at + 2] as number, rule++) {
        const verdict = run(program, at, input);
        if (verdict === UNKNOWN) {
          if (undecided < 0) undecided = rule;
        } else if (verdict !== null) return verdict;
      }
      if (undecided >= 0) return unknownDenial(this.#deny[undecided] as RuleNode, input);
      for (let at = allowAt; at < program.length; at = program[at + 2] as number) {
        const verdict = run(program, at, input);
        if (verdict !== null && verdict !== UNKNOWN) return verdict;
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
