// `method: [GET, HEAD]` — the request method is one of the list (a single name is fine).
// Compared uppercase: the pipeline hands in the method uppercased, and a policy author
// writing `get` means GET, not a method nobody sends.
import { z } from 'zod';
import type { Criterion, Matcher } from '../criterion.ts';
import type { PolicyInput } from '../types.ts';
import { oneOrList } from '../schema-helpers.ts';

// RFC 9110 §9.1: a method is a token (§5.6.2).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const methodName = z.string().regex(TOKEN, { error: 'an HTTP method is a token such as GET or POST' });
const schema = oneOrList(methodName, 'an HTTP method or a list of them');

class MethodMatcher implements Matcher {
  readonly #methods: ReadonlySet<string>;
  readonly #shown: string;
  constructor(methods: readonly string[]) {
    this.#methods = new Set(methods);
    this.#shown = [...this.#methods].join(', ');
  }
  matches(input: PolicyInput): boolean {
    return this.#methods.has(input.method);
  }
  describe(input: PolicyInput, matched: boolean): string {
    return `method ${input.method} is ${matched ? '' : 'not '}one of ${this.#shown}`;
  }
}

export const method: Criterion<typeof schema> = {
  schema,
  compile: (value) => new MethodMatcher((typeof value === 'string' ? [value] : value).map((m) => m.toUpperCase())),
};
