// Zod building blocks shared by the rule schema and the criteria schemas. They exist so
// that an operator sees the real mistake at its real path
// (`routes.0.policy.allow.and.1.method.0: ...`) rather than a union's bare
// "Invalid input", and so that the generated JSON Schema still describes the same shapes.
import { z } from 'zod';

/**
 * `item` or a non-empty list of `item` (a list means any-of). An empty list is refused:
 * as an any-of it would never match, which in a deny block silently disables the rule.
 *
 * A plain union reports "Invalid input" at the list's own path once both branches fail.
 * Here the branch that fits the value's JavaScript type (array or not) supplies its own
 * issues instead; only a value that fits neither keeps the union's message.
 */
export function oneOrList<T extends z.ZodType>(item: T, expected: string) {
  return z
    .union([item, z.array(item).min(1, { error: `expected ${expected}, not an empty list` })], {
      error: `expected ${expected}`,
    })
    .superRefine(
      (value, payload) => {
        if (typeof value !== 'object' || value === null) return;
        const at = payload.issues.findIndex(
          (issue) => issue.code === 'invalid_union' && (issue.path === undefined || issue.path.length === 0),
        );
        const issue = payload.issues[at];
        if (issue === undefined || issue.code !== 'invalid_union') return;
        const branch = issue.errors[Array.isArray(value) ? 1 : 0];
        if (branch === undefined || branch.length === 0) return;
        // The branch's issues are already final (message and relative path set); the
        // parents prefix their own path segments as for any other issue.
        payload.issues.splice(at, 1, ...(branch as unknown as z.core.$ZodRawIssue[]));
      },
      // Run even though the union failed: replacing its issue is the point.
      { when: () => true },
    );
}

/** `"a", "b"` for messages. */
export function quoteList(keys: readonly PropertyKey[]): string {
  return keys.map((k) => JSON.stringify(String(k))).join(', ');
}

/**
 * Error map for a strict object: an unknown key (usually a typo such as `metod`, which
 * must not be silently ignored) gets a message naming what is allowed, and so does a
 * value that is not an object at all. `allowed` reads after "takes", e.g.
 * `exactly one of: exact, prefix, glob`.
 */
export function objectError(what: string, allowed: string) {
  // Only issues raised by the object itself reach this map, never its values' issues.
  return (issue: z.core.$ZodRawIssue): string | undefined => {
    if (issue.code === 'unrecognized_keys') {
      const unknown = issue.keys;
      return `unknown key${unknown.length === 1 ? '' : 's'} ${quoteList(unknown)}; ${what} takes ${allowed}`;
    }
    if (issue.code === 'invalid_type') return `expected ${what}: an object that takes ${allowed}`;
    return undefined;
  };
}

/** The keys of `value` that are set (an optional key holding undefined counts as unset). */
export function presentKeys(value: object, keys: readonly string[]): string[] {
  const record = value as Record<string, unknown>;
  return keys.filter((k) => record[k] !== undefined);
}

/**
 * Checks run only when the object itself parsed (right type, no unknown keys): then
 * "exactly one key" is reported together with problems inside the values, in one go,
 * but not as a second message about an object already reported as malformed.
 */
export const whenObjectParsed = {
  when: (payload: z.core.ParsePayload): boolean =>
    typeof payload.value === 'object' &&
    payload.value !== null &&
    !payload.issues.some((issue) => issue.path === undefined || issue.path.length === 0),
};
