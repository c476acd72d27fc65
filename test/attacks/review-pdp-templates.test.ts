// Attack review: the path template a remote PDP is told (SPEC §7, the AuthZEN gateway
// profile) versus the path the upstream serves. Express (non-strict routing, the
// default), Spring MVC < 6, Rails and Django's APPEND_SLASH answer `/todos/42/` as
// `/todos/42`; the embedded `path` criterion ignores a trailing slash for that reason
// (docs/design.md, "Policy path criterion"). Template matching did not: `/todos/42/`
// matched no template and went to the PDP as the route prefix — on a route whose prefix
// is itself a template (`/todos`, the list), the PDP was asked "may bob GET the list?",
// said yes, and bob read todo 42 through the one resource the PDP denies him.
import { describe, expect, it } from 'vitest';
import { get } from '../helpers/proxy.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';
import { useProxyStack } from '../helpers/stack.ts';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';

/** The PDP's whole policy: (subject, method, template) → allowed; never ztproxy's engine. */
const TABLE = new Set(['bob GET /todos', 'alice GET /todos', 'alice GET /todos/{todoId}', 'bob GET /']);

let key: TestKey;
let pdp: TestPdp;

const stack = useProxyStack(async ({ upstream, onClose }) => {
  key = await makeKey('ES256');
  const jwks = await writeJwksFile(jwksOf(key));
  pdp = await startTestPdp((body) => {
    const sub = (body.subject as { id: string }).id;
    const method = (body.action as { name: string }).name;
    const template = (body.resource as { id: string }).id;
    return { decision: TABLE.has(`${sub} ${method} ${template}`) };
  });
  onClose(() => Promise.all([jwks.cleanup(), pdp.close()]));
  const settings = { mode: 'authzen', url: pdp.origin, timeout: '2s', cache: { ttl: '0s' } };
  return {
    identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
    routes: [
      // The route prefix is also the list's template.
      { name: 'todos', match: { host: 'api.test', pathPrefix: '/todos' }, upstream: upstream.url, pdp: settings, templates: ['/todos', '/todos/{todoId}'] },
      // The interop's layout: prefix `/`, which the PDP may allow on its own (an index page).
      { name: 'root', match: { host: 'root.test' }, upstream: upstream.url, pdp: settings, templates: ['/todos', '/todos/{todoId}'] },
    ],
  };
});

async function as(sub: string, host: string, path: string): Promise<number> {
  const token = await mint(key, accessClaims(Math.floor(Date.now() / 1000), { sub }));
  return (await get(stack.proxy.port, path, { host, headers: { authorization: `Bearer ${token}` } })).status;
}

function lastResource(): unknown {
  return (pdp.calls.at(-1)?.body as { resource?: { id: string; properties: { params: unknown; path: string } } } | undefined)?.resource;
}

describe('a trailing slash does not change the template the PDP is asked about', () => {
  it.each([
    ['the prefix is the list template', 'api.test'],
    ['the prefix is /, which the PDP allows bob', 'root.test'],
  ])('%s: bob cannot read /todos/42/ (denied on /todos/{todoId}); the upstream never sees it', async (_name, host) => {
    pdp.reset();
    expect(await as('bob', host, '/todos/42')).toBe(403);
    expect(await as('bob', host, '/todos/42/')).toBe(403);
    expect(lastResource()).toMatchObject({ id: '/todos/{todoId}', properties: { params: { todoId: '42' }, path: '/todos/42/' } });
    expect(stack.upstream.seen).toEqual([]);
  });

  it('alice, whom the PDP allows the item, gets /todos/42/ forwarded as sent; /todos/ is the list', async () => {
    expect(await as('alice', 'api.test', '/todos/42/')).toBe(200);
    expect(await as('bob', 'api.test', '/todos/')).toBe(200);
    expect(lastResource()).toMatchObject({ id: '/todos', properties: { params: {}, path: '/todos/' } });
    expect(stack.upstream.seen.map((r) => r.url)).toEqual(['/todos/42/', '/todos/']);
  });

  it('only a trailing slash is dropped, and only for matching: /todos/42/x still matches no template (the prefix)', async () => {
    pdp.reset();
    await as('bob', 'root.test', '/todos/42/x');
    expect(lastResource()).toMatchObject({ id: '/', properties: { params: {} } });
  });
});
