// Path templates → the resource a remote PDP is asked about: the most specific template
// wins (literal before parameter, with backtracking), `{x}` is exactly one non-empty
// segment, parameters come out in the canonical form, and a path no template matches is
// the route prefix. Thousands of templates compile into one trie.
import { describe, expect, it } from 'vitest';
import { TemplateMatcher } from '../../src/policy/path-templates.ts';

const m = new TemplateMatcher(
  ['/users/{userId}', '/users/me', '/users/{userId}/todos/{todoId}', '/a/b/d', '/a/{x}/c', '/todos', '/todos/', '/', '/p/{__proto__}'],
  { fallbackId: '/' },
);

describe('TemplateMatcher', () => {
  it.each([
    ['/users/alice', '/users/{userId}', { userId: 'alice' }],
    ['/users/me', '/users/me', {}],
    ['/users/alice/todos/7', '/users/{userId}/todos/{todoId}', { userId: 'alice', todoId: '7' }],
    ['/a/b/c', '/a/{x}/c', { x: 'b' }], // backtracks from the literal /a/b when /a/b/c is not there
    ['/a/b/d', '/a/b/d', {}],
    ['/todos', '/todos', {}],
    ['/todos/', '/todos/', {}], // a template with the slash keeps it
    // Otherwise a trailing slash is not significant (Express, Spring < 6, Rails serve /x/ as /x).
    ['/users/alice/', '/users/{userId}', { userId: 'alice' }],
    ['/users/alice/todos/7/', '/users/{userId}/todos/{todoId}', { userId: 'alice', todoId: '7' }],
    ['/', '/', {}],
    ['/users/ab%40c', '/users/{userId}', { userId: 'ab%40c' }],
    // A parameter named __proto__ is an own property, not the prototype (what the PDP is sent).
    ['/p/x', '/p/{__proto__}', JSON.parse('{"__proto__":"x"}') as Record<string, string>],
  ])('%s → %s', (path, id, params) => {
    const r = m.match(path);
    expect(r.id).toBe(id);
    expect(JSON.stringify(r.params)).toBe(JSON.stringify(params));
  });

  it.each(['/users', '/users/alice/todos', '/users/alice/todos/', '/users//x', '/nope', '/a/b', '/a/b/c/d'])('%s matches no template → the route prefix', (path) => {
    expect(m.match(path)).toEqual({ id: '/', params: {} });
  });

  it('`{x}` never matches an empty segment: /users/ is not /users/{userId}', () => {
    expect(m.match('/users/').id).toBe('/');
  });

  it('a case-insensitive route folds literal segments; parameters keep what the (folded) path has', () => {
    const ci = new TemplateMatcher(['/Users/{Id}'], { fallbackId: '/', caseInsensitive: true });
    expect(ci.match('/users/bob')).toMatchObject({ id: '/Users/{Id}', params: { Id: 'bob' } });
  });

  it('10,000 templates compile and match', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `/svc${i % 100}/res${i}/{id}`);
    const big = new TemplateMatcher(many, { fallbackId: '/' });
    expect(big.match('/svc42/res9942/x')).toMatchObject({ id: '/svc42/res9942/{id}', params: { id: 'x' } });
    expect(big.match('/svc42/res9943/x').id).toBe('/');
  });
});
