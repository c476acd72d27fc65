// `ztproxy check -c FILE --tests DIR` (SPEC §2): policy test files — described requests
// and the decision each must get — run against the config's embedded policies, so that
// an operator tests a policy change before it ships, in CI. Each request goes through
// the proxy's own canonicalisation and route selection (./described-request.ts) and the
// route's compiled policy, exactly as on the wire.
//
// A test file is strict (zod): a misspelt key (`expcet:`, `subjct:`) is an error that
// fails the run, never a case that silently asserts less than its author meant.
import { readFileSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { formatIssues } from '../config/load.ts';
import type { Effect, ExplainStep } from '../policy/index.ts';
import type { Snapshot } from '../pipeline/context.ts';
import { cannotOccur, describedRequestSchema, judgeOffline, offlineStatus, resolveRequest } from './described-request.ts';

/** `route: none` in an expectation: no route matched (404, deny by default). */
export const NO_ROUTE = 'none';

const STATUSES = ['forwarded', 'pdp', 'local', 400, 401, 403, 404, 405, 503] as const;

// Printed on one line of CI output: a newline or escape sequence could print a forged
// `ok` line or hide a FAIL in a terminal.
const oneLine = z
  .string()
  .min(1)
  .refine((n) => !/[\u0000-\u001f\u007f-\u009f]/.test(n), { message: 'must be one line without control characters' });

const expectationObject = z
  .strictObject({
    /** `pdp`: the route's gate allows and its remote PDP decides (not asked by a test). */
    decision: z.enum(['allow', 'deny', 'error', 'pdp']).optional(),
    /** The route the request is judged on, or `none`. */
    route: oneLine.optional(),
    /** The deciding rule's id, e.g. `deny.or[0].path` (as `ztproxy explain` shows it). */
    rule: oneLine.optional(),
    /** The access log's reason: `policy-allow`, `policy-deny`, `no-allow-matched`, `no-route`, `encoded-slash`, ... */
    reason: oneLine.optional(),
    /** What the client gets: `forwarded`, `pdp` (the remote PDP decides), `local` (ztproxy's own endpoint: /.ztproxy/…, its JWKS), or 400 / 401 (a login could change it) / 403 / 404 / 405 / 503. */
    status: z.literal(STATUSES).optional(),
    /** What the route's shadowPolicy would decide (`none`: the route has none, or no route) — to test a candidate before it is swapped in. */
    shadow: z.enum(['allow', 'deny', 'error', 'none']).optional(),
  })
  .refine((e) => Object.values(e).some((v) => v !== undefined), { message: 'name at least one of decision, route, rule, reason, status, shadow' })
  .refine((e) => !(e.route === NO_ROUTE && e.decision !== undefined && e.decision !== 'deny'), {
    message: 'a request no route matches is denied (404): decision must be deny',
    path: ['decision'],
  });

// `expect: allow` is short for `expect: {decision: allow}`.
const expectationSchema = z.preprocess((v) => (typeof v === 'string' ? { decision: v } : v), expectationObject);

export type Expectation = z.output<typeof expectationObject>;

const testCaseSchema = z.strictObject({
  name: oneLine,
  request: describedRequestSchema,
  expect: expectationSchema,
});

const testFileSchema = z
  .array(testCaseSchema, { error: 'must be a list of test cases (- name: ..., request: {...}, expect: allow)' })
  .min(1, 'has no test cases')
  .superRefine((cases, ctx) => {
    const seen = new Map<string, number>();
    cases.forEach((c, i) => {
      const first = seen.get(c.name);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate name (also case ${first})` });
      else seen.set(c.name, i);
    });
  });

export type PolicyTestCase = z.output<typeof testCaseSchema>;

export interface PolicyTestFile {
  /** As the user will look for it: DIR joined with the file name. */
  readonly file: string;
  readonly cases: readonly PolicyTestCase[];
}

/** Parses one test file's text; problems as `FILE:index.key: message` (or `FILE:line:column: message` for YAML syntax). */
export function parsePolicyTests(file: string, text: string): { tests?: PolicyTestFile; errors: string[] } {
  const lines = new LineCounter();
  // As for the config: a repeated key is an error (not "last one wins"); aliases bounded.
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, merge: false, lineCounter: lines });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    // The first syntax error only: the parser's later ones are mostly its consequences.
    const pos = lines.linePos(syntax.pos[0]);
    return { errors: [`${file}:${pos.line}:${pos.col}: ${syntax.message.split('\n')[0]}`] };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { errors: [`${file}: ${(err as Error).message}`] };
  }
  const parsed = testFileSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) return { errors: formatIssues(parsed.error.issues).map((line) => `${file}:${line}`) };
  return { tests: { file, cases: parsed.data }, errors: [] };
}

/**
 * Every `*.yaml` / `*.yml` file directly in `dir`, in name order; a symbolic link to a
 * file counts as that file. Nothing in `dir` is skipped silently: a subdirectory (not
 * searched), a `*.yaml` that is not a file or a dangling link is a problem that fails the
 * run — a CI job must not pass because the failing cases were never read.
 */
export function loadPolicyTests(dir: string): { files: PolicyTestFile[]; errors: string[] } {
  let names: string[];
  const errors: string[] = [];
  try {
    names = [];
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const yaml = /\.ya?ml$/i.test(e.name);
      if (e.isFile()) {
        if (yaml) names.push(e.name);
        continue;
      }
      let target: Stats | undefined;
      try {
        target = e.isSymbolicLink() ? statSync(join(dir, e.name)) : undefined;
      } catch (err) {
        if (yaml) errors.push(`${join(dir, e.name)}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        continue;
      }
      if (target?.isFile() === true) {
        if (yaml) names.push(e.name);
      } else if (e.isDirectory() || target?.isDirectory() === true) {
        errors.push(`${join(dir, e.name)}: a directory: not searched (policy tests are the *.yaml, *.yml files directly in ${dir})`);
      } else if (yaml) {
        errors.push(`${join(dir, e.name)}: not a file`);
      }
    }
    names.sort();
  } catch (err) {
    return { files: [], errors: [`${dir}: cannot read the tests directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`] };
  }
  // A CI job pointed at the wrong folder must not pass by running nothing.
  if (names.length === 0) return { files: [], errors: [...errors, `${dir}: no test files (*.yaml, *.yml)`] };
  const files: PolicyTestFile[] = [];
  for (const name of names) {
    const file = join(dir, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      errors.push(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      continue;
    }
    const result = parsePolicyTests(file, text);
    errors.push(...result.errors);
    if (result.tests) files.push(result.tests);
  }
  return { files, errors };
}

/** What a described request got, in the terms an expectation uses. */
export interface Outcome {
  readonly decision: Effect | 'pdp';
  /** The route's name, or `none`. */
  readonly route: string;
  readonly rule: string | undefined;
  readonly reason: string;
  readonly status: 'forwarded' | 'pdp' | 'local' | number;
  /** The rules evaluated, when a route's policy decided. */
  /** The shadowPolicy's effect, or `none`. */
  readonly shadow: Effect | 'none';
  readonly trail: readonly ExplainStep[];
  /** The request cannot occur with this config (cannotOccur): the case fails whatever it expects. */
  readonly problem?: string;
}

export function decideCase(snapshot: Snapshot, c: PolicyTestCase): Outcome {
  const problem = cannotOccur(snapshot, c.request);
  if (problem !== undefined) return { decision: 'error', route: NO_ROUTE, rule: undefined, reason: 'cannot-occur', status: 400, shadow: 'none', trail: [], problem };
  const resolved = resolveRequest(snapshot, c.request);
  if (resolved.kind === 'refused') {
    return { decision: 'deny', route: resolved.route?.name ?? NO_ROUTE, rule: undefined, reason: resolved.reason, status: resolved.status, shadow: 'none', trail: [] };
  }
  const judged = judgeOffline(resolved.route, resolved.input);
  const { decision, trail } = judged.explanation;
  const shadow = resolved.route.shadowPolicy?.decide(resolved.input).effect ?? 'none';
  const status = offlineStatus(judged);
  const route = resolved.route.name;
  // A remote route whose gate allows: the PDP's answer is not known here, and is not guessed.
  if (judged.pdp !== undefined) return { decision: 'pdp', route, rule: decision.rule, reason: 'pdp-decides', status, shadow, trail };
  if (judged.needsSubject) return { decision: 'deny', route, rule: undefined, reason: 'pdp-needs-subject', status, shadow, trail };
  const reason = judged.stepUp ? 'step-up-required' : decision.reason;
  return { decision: decision.effect, route, rule: decision.rule, reason, status, shadow, trail };
}

// C0/C1 controls, DEL, line/paragraph separators and bidi overrides (Trojan Source,
// CVE-2021-42574): a file name, a described value or an unknown key printed raw could
// start a line of its own (a forged `ok` or summary line) or make the terminal erase
// or reorder a FAIL line.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One line of CLI output as it may be printed: every unprintable character escaped. */
export function printable(line: string): string {
  return line.replace(UNPRINTABLE, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const KEYS = ['decision', 'route', 'rule', 'reason', 'status', 'shadow'] as const;

/** The expectation's keys the outcome does not meet (empty: the case passes). */
export function mismatches(expected: Expectation, got: Outcome): (typeof KEYS)[number][] {
  return KEYS.filter((k) => expected[k] !== undefined && expected[k] !== got[k]);
}

const describe = (o: Partial<Record<(typeof KEYS)[number], unknown>>): string =>
  KEYS.filter((k) => o[k] !== undefined)
    .map((k) => `${k} ${String(o[k])}`)
    .join(', ');

export interface RunSummary {
  readonly passed: number;
  readonly failed: number;
}

/** Runs every case; writes one line per case (`ok` / `FAIL`, with expected, got and the rule trail). */
export function runPolicyTests(snapshot: Snapshot, files: readonly PolicyTestFile[], write: (line: string) => void): RunSummary {
  let passed = 0;
  let failed = 0;
  for (const { file, cases } of files) {
    for (const c of cases) {
      const got = decideCase(snapshot, c);
      if (got.problem !== undefined) {
        failed++;
        write(`FAIL ${file} › ${c.name}`);
        write(`     cannot occur: ${got.problem}`);
        continue;
      }
      const wrong = mismatches(c.expect, got);
      if (wrong.length === 0) {
        passed++;
        write(`ok   ${file} › ${c.name}`);
        continue;
      }
      failed++;
      write(`FAIL ${file} › ${c.name}`);
      write(`     expected: ${describe(c.expect)}`);
      const shadow = c.expect.shadow !== undefined || got.shadow !== 'none' ? got.shadow : undefined;
      write(`     got:      ${describe({ ...got, rule: got.rule ?? '(none)', shadow })}`);
      if (got.trail.length > 0) {
        write('     trail:');
        for (const step of got.trail) write(`       ${step.unknown === true ? 'unknown ' : step.matched ? 'match   ' : 'no match'} ${step.rule}: ${step.detail}`);
      }
    }
  }
  return { passed, failed };
}
