// `host: [app.example.com, "*.example.com"]` — the request's host name (from the
// canonical Host, SPEC §4) is one of the list. Names compare case-insensitively (DNS is
// case-insensitive; the pipeline hands the host in lowercase). `*.example.com` matches
// any name ending in `.example.com`, at any depth, but not `example.com` itself: the
// apex is usually a different application, and granting it should be written out.
import { isIPv6 } from '../../basics/ip.ts';
import { z } from 'zod';
import type { Criterion, Matcher } from '../criterion.ts';
import { oneOrList } from '../schema-helpers.ts';
import type { PolicyInput } from '../types.ts';

// The same label rule as the pipeline's canonical Host (underscores allowed: internal
// names use them), so every name that can arrive can be written here.
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

function hostProblem(entry: string): string | undefined {
  const unbracketed = entry.startsWith('[') && entry.endsWith(']') ? entry.slice(1, -1) : entry;
  if (isIPv6(unbracketed)) return undefined;
  if (entry.includes(':')) return 'a host is written without a port';
  let name = entry.toLowerCase();
  if (name.startsWith('*.')) name = name.slice(2);
  else if (name.includes('*')) return 'a wildcard is only allowed as the whole first label, as in *.example.com';
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.length === 0) return 'the host name is empty';
  if (name.length > 253) return 'a host name has at most 253 characters';
  for (const label of name.split('.')) {
    if (label === '') return 'a host name has no empty labels';
    if (!LABEL.test(label)) return `label ${JSON.stringify(label)} is not a valid host name label`;
  }
  return undefined;
}

const hostName = z.string().superRefine((value, ctx) => {
  const problem = hostProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
const schema = oneOrList(hostName, 'a host name or a list of them');

/** The form the pipeline hands in: lowercase, no trailing dot, IPv6 without brackets. */
function normalizeHost(entry: string): string {
  let name = entry.toLowerCase();
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
  if (name.endsWith('.')) name = name.slice(0, -1);
  return name;
}

class HostMatcher implements Matcher {
  readonly #names: ReadonlySet<string>;
  /** `.example.com` for `*.example.com`. */
  readonly #suffixes: readonly string[];
  readonly #shown: string;
  constructor(entries: readonly string[]) {
    const names = new Set<string>();
    const suffixes: string[] = [];
    for (const entry of entries.map(normalizeHost)) {
      if (entry.startsWith('*.')) suffixes.push(entry.slice(1));
      else names.add(entry);
    }
    this.#names = names;
    this.#suffixes = suffixes;
    this.#shown = entries.join(', ');
  }
  matches(input: PolicyInput): boolean {
    const host = input.host;
    if (this.#names.has(host)) return true;
    const suffixes = this.#suffixes;
    for (let i = 0; i < suffixes.length; i++) {
      const suffix = suffixes[i] as string;
      // The suffix keeps its leading dot, so the apex itself never ends with it.
      if (host.endsWith(suffix)) return true;
    }
    return false;
  }
  describe(input: PolicyInput, matched: boolean): string {
    return `host ${input.host} is ${matched ? '' : 'not '}one of ${this.#shown}`;
  }
}

export const host: Criterion<typeof schema> = {
  schema,
  compile: (value) => new HostMatcher(typeof value === 'string' ? [value] : value),
};
