// Route key `paths`: how the route's upstream reads request paths (see docs/design.md,
// "Legacy upstreams"). `paths: caseInsensitive` is the short form of
// `paths: { case: insensitive }`; `rejectEncoded` lists characters whose percent-encoded
// form the route refuses (`reserved` for all RFC 3986 delimiters and `%`).
//
// Also the checks across routes that make a case-insensitive route safe to add:
// - all routes to one upstream agree on `case` (an upstream reads paths one way; a
//   case-sensitive route to an IIS upstream leaves `/ADMIN` to a broader route's policy);
// - two routes of one host whose prefixes differ only in case, one of them
//   case-insensitive, are ambiguous (which one gets `/Admin`?);
// - every path a case-insensitive route compares (its prefix, its policy's `path`
//   patterns) can be folded, and its prefix is not one Windows would read differently;
// - a case-insensitive route does not allow encoded slashes (Windows splits on them).
import { z } from 'zod';
import { RESERVED_CHARACTERS, rejectableProblem } from '../basics/encoded-reserved.ts';
import { foldPathCase } from '../basics/path-case.ts';
import { windowsPathProblem } from '../basics/windows-path.ts';

export interface RoutePaths {
  /** `insensitive`: IIS-style upstream (case-folded comparisons, Windows name rules). */
  readonly case: 'sensitive' | 'insensitive';
  /** Characters whose escapes are refused (400), `reserved` expanded. */
  readonly rejectEncoded: readonly string[];
}

const SHORT = { caseSensitive: 'sensitive', caseInsensitive: 'insensitive' } as const;

const REJECT_ENCODED = 'must be reserved or a list of single characters, e.g. ["?", "#", ";"]';
const PATHS = 'must be caseSensitive, caseInsensitive or { case: sensitive | insensitive, rejectEncoded: reserved | [characters] }';

const rejectableChar = z.string().superRefine((char, ctx) => {
  const problem = rejectableProblem(char);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const rejectEncodedSchema = z
  .union([z.literal('reserved', { error: REJECT_ENCODED }), z.array(rejectableChar, { error: REJECT_ENCODED })], { error: REJECT_ENCODED })
  .transform((value) => (value === 'reserved' ? RESERVED_CHARACTERS : [...new Set(value)]));

export const routePathsSchema = z
  .union(
    [
      z.enum(['caseSensitive', 'caseInsensitive'], { error: PATHS }),
      z.strictObject({
        case: z.enum(['sensitive', 'insensitive']).default('sensitive'),
        rejectEncoded: rejectEncodedSchema.default([]),
      }),
    ],
    { error: PATHS },
  )
  .transform((value): RoutePaths => (typeof value === 'string' ? { case: SHORT[value], rejectEncoded: [] } : value))
  .prefault('caseSensitive');

/** What the cross-route checks read of a parsed route. */
interface RouteView {
  readonly name: string;
  readonly match: { readonly host?: string | undefined; readonly pathPrefix: string };
  readonly upstream: string;
  readonly allowEncodedSlashes: boolean;
  readonly paths: RoutePaths;
  readonly policy?: unknown;
}

export interface PathIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

function originOf(upstream: string): string {
  try {
    return new URL(upstream).origin;
  } catch {
    return upstream;
  }
}

function withoutTrailingSlash(prefix: string): string {
  return prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

/** Every `path: {exact|prefix|glob}` value in a policy tree, with its key path. */
function policyPaths(node: unknown, at: (string | number)[], out: { at: (string | number)[]; value: string }[]): void {
  if (Array.isArray(node)) {
    node.forEach((child, i) => policyPaths(child, [...at, i], out));
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if (key === 'path' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [kind, pattern] of Object.entries(value as Record<string, unknown>)) {
        if (typeof pattern === 'string') out.push({ at: [...at, key, kind], value: pattern });
      }
    } else policyPaths(value, [...at, key], out);
  }
}

const UNFOLDABLE = 'holds a character that case-insensitive routes refuse (a non-ASCII letter that some reading turns into ASCII, e.g. "ı", "ſ", "K", fullwidth forms)';

export function routePathsIssues(routes: readonly RouteView[]): PathIssue[] {
  const issues: PathIssue[] = [];
  const byUpstream = new Map<string, number>();
  const byHostPrefix = new Map<string, number>();
  routes.forEach((route, i) => {
    // A TCP route has no paths (src/config/schema.ts refuses its path keys).
    if (route.upstream.startsWith('tcp://')) return;
    const insensitive = route.paths.case === 'insensitive';
    const origin = originOf(route.upstream);
    const first = byUpstream.get(origin);
    if (first === undefined) byUpstream.set(origin, i);
    else if (routes[first]!.paths.case !== route.paths.case) {
      issues.push({
        path: [i, 'paths'],
        message: `route "${route.name}" reads paths case-${route.paths.case} but routes.${first} ("${routes[first]!.name}") sends to the same upstream ${origin} case-${routes[first]!.paths.case}: an upstream reads paths one way, so set the same paths.case on both`,
      });
    }
    const prefix = withoutTrailingSlash(route.match.pathPrefix);
    if (insensitive && route.allowEncodedSlashes) {
      issues.push({
        path: [i, 'allowEncodedSlashes'],
        message:
          'cannot be true on a case-insensitive route: Windows reads %5C (and HTTP.sys %2F) as a separator, so /admin%2Fx would be /admin/x to the upstream but one segment to the policy',
      });
    }
    if (insensitive) {
      const folded = foldPathCase(prefix);
      if (folded === undefined) issues.push({ path: [i, 'match', 'pathPrefix'], message: UNFOLDABLE });
      const windows = windowsPathProblem(prefix);
      if (windows !== undefined) {
        issues.push({ path: [i, 'match', 'pathPrefix'], message: `is refused on a case-insensitive route (${windows}), so the route could never be used` });
      }
      const patterns: { at: (string | number)[]; value: string }[] = [];
      policyPaths(route.policy, [i, 'policy'], patterns);
      for (const p of patterns) if (foldPathCase(p.value) === undefined) issues.push({ path: p.at, message: UNFOLDABLE });
    }
    // Prefixes that differ only in case: ambiguous as soon as one side ignores case.
    const key = `${route.match.host ?? ''} ${foldPathCase(prefix) ?? prefix}`;
    const other = byHostPrefix.get(key);
    if (other === undefined) byHostPrefix.set(key, i);
    else if (insensitive || routes[other]!.paths.case === 'insensitive') {
      issues.push({
        path: [i, 'match', 'pathPrefix'],
        message: `routes.${other} ("${routes[other]!.name}") has the same host and pathPrefix ignoring case, and one of them is case-insensitive: a request could belong to either`,
      });
    }
  });
  return issues;
}
