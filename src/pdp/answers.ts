// What a remote PDP may answer, and nothing else. An answer that is not exactly one of
// the documented shapes is malformed, and a malformed answer is an error (503), never a
// decision: `{"decision": "true"}` is a string, `{"result": "yes"}` is no boolean, and a
// PEP that reads either as "truthy" lets through whatever a broken or hostile PDP says.
//
// OPA Data API (POST /v1/data/<path>): `{"result": true|false}` or
// `{"result": {"allow": bool, "reasons": [string, ...]}}`; a missing `result` (the rule
// is undefined: a wrong path, a policy not loaded) is malformed, not a deny.
// AuthZEN 1.0 evaluation: `{"decision": bool, "context"?: object}`; reasons are read from
// `context.reason` (a string) or `context.reason_admin` (an object of strings, the spec's
// example shape).
//
// A member name twice in one object (`{"decision": false, "decision": true}`) is
// malformed too: JSON.parse keeps the last, other parsers the first, and RFC 8259 §4
// calls the outcome unpredictable — which one the PDP (or whatever assembled its answer)
// meant is a guess. JSON.parse cannot see duplicates, so parseAnswerJson looks for them
// with the yaml parser (YAML 1.2 reads JSON; uniqueKeys compares decoded names, so
// `"decisio\u006e"` is caught), but only when the text could hold one: without a
// backslash a name has one spelling, so a name that occurs once as `"name"` occurs once.
// The common answer costs a few indexOf calls, not a second parse.
import { parseDocument } from 'yaml';

export interface ParsedAnswer {
  readonly allow: boolean;
  readonly reasons: readonly string[] | undefined;
}

/** Reasons go to the audit log: bounded, whatever the PDP sends. */
const MAX_REASONS = 16;
const MAX_REASON_LENGTH = 256;

/** The member names the parsers below read, quoted as they appear in JSON text. */
const READ_NAMES = ['"decision"', '"context"', '"reason"', '"reason_admin"', '"result"', '"allow"', '"reasons"'];

function mayRepeatAName(text: string): boolean {
  if (text.includes('\\')) return true;
  for (const name of READ_NAMES) {
    const at = text.indexOf(name);
    if (at !== -1 && text.indexOf(name, at + name.length) !== -1) return true;
  }
  return false;
}

/** The answer's JSON value; throws SyntaxError on anything JSON.parse refuses and on a repeated member name. */
export function parseAnswerJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  if (mayRepeatAName(text)) {
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, merge: false, schema: 'json' });
    if (doc.errors.length > 0) throw new SyntaxError(`PDP answer: ${doc.errors[0]!.code === 'DUPLICATE_KEY' ? 'a member name appears twice in one object' : 'not read the same way twice'}`);
  }
  return value;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function boundedReasons(list: readonly unknown[]): readonly string[] | undefined {
  const out: string[] = [];
  for (const r of list) {
    if (typeof r !== 'string') return undefined;
    if (out.length < MAX_REASONS) out.push(r.length > MAX_REASON_LENGTH ? `${r.slice(0, MAX_REASON_LENGTH)}…` : r);
  }
  return Object.freeze(out);
}

/** OPA's answer, or undefined when it is malformed. */
export function parseOpaAnswer(body: unknown): ParsedAnswer | undefined {
  if (!isObject(body)) return undefined;
  const result = body.result;
  if (typeof result === 'boolean') return { allow: result, reasons: undefined };
  if (!isObject(result) || typeof result.allow !== 'boolean') return undefined;
  if (result.reasons === undefined) return { allow: result.allow, reasons: undefined };
  if (!Array.isArray(result.reasons)) return undefined;
  const reasons = boundedReasons(result.reasons);
  return reasons === undefined ? undefined : { allow: result.allow, reasons };
}

/** An AuthZEN evaluation response, or undefined when it is malformed. */
export function parseAuthzenAnswer(body: unknown): ParsedAnswer | undefined {
  if (!isObject(body) || typeof body.decision !== 'boolean') return undefined;
  const context = body.context;
  if (context === undefined) return { allow: body.decision, reasons: undefined };
  if (!isObject(context)) return undefined;
  let reasons: readonly string[] | undefined;
  if (typeof context.reason === 'string') reasons = boundedReasons([context.reason]);
  else if (isObject(context.reason_admin)) reasons = boundedReasons(Object.values(context.reason_admin).filter((v) => typeof v === 'string'));
  return { allow: body.decision, reasons: reasons?.length === 0 ? undefined : reasons };
}
