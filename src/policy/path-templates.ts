// A route's path templates, compiled once per snapshot into a segment trie: which
// template a canonical request path is (the resource a remote PDP is asked about) and
// the values of its parameters. Cost per request is one walk down the path's segments,
// whatever the number of templates (an OpenAPI document may list thousands).
//
// Rules: `{name}` matches exactly one non-empty segment; a literal segment matches
// itself only; where both could match, the literal wins (the most specific template:
// `/users/me` before `/users/{userId}`), tried segment by segment from the left, with
// backtracking — `/a/{x}/c` still matches `/a/b/c` when `/a/b/d` exists. Backtracking
// stays bounded: a trie node sits at one depth, so one match visits each node at most
// once, and a path longer than the deepest template stops at the first missing child.
import { parsePathTemplate } from '../basics/path-template.ts';
import { foldPathCase } from '../basics/path-case.ts';

/** The resource a request is: its template (or the route prefix) and the parameter values. */
export interface MatchedResource {
  readonly id: string;
  /** Parameter name → the path segment, in the canonical form the path has. Null prototype. */
  readonly params: Readonly<Record<string, string>>;
}

interface Leaf {
  readonly text: string;
  /** Parameter names, in the order of the template's parameter segments. */
  readonly names: readonly string[];
}

interface TrieNode {
  literals: Map<string, TrieNode> | undefined;
  param: TrieNode | undefined;
  leaf: Leaf | undefined;
}

const newNode = (): TrieNode => ({ literals: undefined, param: undefined, leaf: undefined });

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);

export class TemplateMatcher {
  readonly #root = newNode();
  readonly #fallback: MatchedResource;

  /**
   * Templates are validated by the config (../config/pdp.ts); one that does not parse
   * here throws. On a case-insensitive route literal segments are folded as request
   * paths are, and matched against the folded path.
   */
  constructor(templates: readonly string[], opts: { fallbackId: string; caseInsensitive?: boolean }) {
    this.#fallback = Object.freeze({ id: opts.fallbackId, params: NO_PARAMS });
    for (const text of templates) {
      const parsed = parsePathTemplate(text);
      if (typeof parsed === 'string') throw new Error(`template "${text}": ${parsed}`);
      let node = this.#root;
      const names: string[] = [];
      for (const seg of parsed.segments) {
        if ('param' in seg) {
          names.push(seg.param);
          node = node.param ??= newNode();
        } else {
          const literal = opts.caseInsensitive ? foldPathCase(seg.literal) : seg.literal;
          if (literal === undefined) throw new Error(`template "${text}": segment "${seg.literal}" cannot be case-folded`);
          node.literals ??= new Map();
          let next = node.literals.get(literal);
          if (!next) {
            next = newNode();
            node.literals.set(literal, next);
          }
          node = next;
        }
      }
      // The config refuses two templates of one shape; a repeat here keeps the first.
      node.leaf ??= Object.freeze({ text, names: Object.freeze(names) });
    }
  }

  /**
   * The template the canonical path matches, else the route prefix with no parameters.
   * A trailing slash is not significant unless a template has one, as for the `path`
   * criterion: Express (non-strict routing), Spring MVC < 6, Rails and Django serve
   * `/todos/42/` as `/todos/42`, so the PDP must be asked about `/todos/{todoId}`. Sent as
   * the prefix instead (`/todos`, the list, on a route whose prefix is a template too),
   * one `/` bypassed the PDP's item rule. A template written with the slash (`/todos/`,
   * an OpenAPI path of its own) is tried first and keeps the exact path.
   */
  match(path: string): MatchedResource {
    const exact = this.#find(path);
    if (exact !== undefined) return exact;
    if (path.length > 1 && path.endsWith('/')) return this.#find(path.slice(0, -1)) ?? this.#fallback;
    return this.#fallback;
  }

  #find(path: string): MatchedResource | undefined {
    const segments = path.split('/');
    const values: string[] = [];
    const leaf = walk(this.#root, segments, 1, values);
    if (leaf === undefined) return undefined;
    if (leaf.names.length === 0) return { id: leaf.text, params: NO_PARAMS };
    const params = Object.create(null) as Record<string, string>;
    for (let i = 0; i < leaf.names.length; i++) params[leaf.names[i]!] = values[i]!;
    return { id: leaf.text, params };
  }
}

function walk(node: TrieNode, segments: readonly string[], i: number, values: string[]): Leaf | undefined {
  if (i === segments.length) return node.leaf;
  const seg = segments[i]!;
  const literal = node.literals?.get(seg);
  if (literal !== undefined) {
    const found = walk(literal, segments, i + 1, values);
    if (found !== undefined) return found;
  }
  if (node.param !== undefined && seg !== '') {
    values.push(seg);
    const found = walk(node.param, segments, i + 1, values);
    if (found !== undefined) return found;
    values.pop();
  }
  return undefined;
}
