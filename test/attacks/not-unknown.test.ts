// `not` over an identity criterion used to admit anonymous callers: without a subject,
// `groups: {has: contractors}` did not match, so `not` of it did — "everyone but
// contractors" let in everyone who did not log in at all. A missing attribute is unknown
// now (src/policy/compile.ts); over a real socket: anonymous callers and callers without
// a client certificate never reach the upstream through a `not` rule, a signed-in caller
// the rule is about is decided on the attribute, and a deny rule that cannot be ruled
// out denies.
import { describe, expect, it } from 'vitest';
import { AUDIENCE, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';
import { get, type SimpleResponse } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const ISS = 'https://idp.test';
let key: TestKey;

const stack = useProxyStack(async ({ upstream, onClose }) => {
  key = await makeKey('ES256', 'k1');
  const jwks = await writeJwksFile(jwksOf(key));
  onClose(() => jwks.cleanup());
  const route = (name: string, prefix: string, policy: unknown) => ({ name, match: { host: 'app.test', pathPrefix: prefix }, upstream: upstream.url, policy });
  return {
    identity: { jwt: [{ issuer: ISS, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
    routes: [
      route('not-contractors', '/staff', { allow: { not: { groups: { has: 'contractors' } } } }),
      route('not-workload', '/no-billing', { allow: { not: { spiffe: { id: 'spiffe://prod.test/ns/billing/sa/api' } } } }),
      route('not-mfa-less', '/mfa', { allow: { not: { claim: { name: 'acr', equals: 'pwd' } } } }),
      route('deny-non-staff', '/board', { allow: { accept: true }, deny: { not: { groups: { has: 'staff' } } } }),
    ],
  };
});

async function call(path: string, groups?: string[], extra: Record<string, unknown> = {}): Promise<SimpleResponse> {
  const headers: Record<string, string> = {};
  if (groups !== undefined) {
    const now = Math.floor(Date.now() / 1000);
    headers.authorization = `Bearer ${await mint(key, { iss: ISS, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 300, groups, ...extra })}`;
  }
  return get(stack.proxy.port, path, { host: 'app.test', headers });
}

describe('not over a missing attribute is not a yes', () => {
  it('an anonymous caller is asked to log in, never let through "not a contractor"', async () => {
    const res = await call('/staff/x');
    expect(res.status).toBe(401);
    expect(stack.upstream.seen).toHaveLength(0);
  });

  it('a contractor is refused and a signed-in non-contractor admitted', async () => {
    expect((await call('/staff/x', ['contractors'])).status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect((await call('/staff/x', ['staff'])).status).toBe(200);
    expect(stack.upstream.seen).toHaveLength(1);
  });

  it('no client certificate is not "another workload"', async () => {
    expect((await call('/no-billing/x')).status).toBe(403);
    expect((await call('/no-billing/x', ['staff'])).status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
  });

  it('a token without the claim is not "a claim other than pwd"', async () => {
    expect((await call('/mfa/x', ['staff'])).status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect((await call('/mfa/x', ['staff'], { acr: 'pwd' })).status).toBe(403);
    expect((await call('/mfa/x', ['staff'], { acr: 'mfa' })).status).toBe(200);
    expect(stack.upstream.seen).toHaveLength(1);
  });

  it('a deny rule an anonymous caller cannot be ruled out of asks for a login, even beside allow: accept', async () => {
    const res = await call('/board/x');
    expect(res.status).toBe(401);
    expect(stack.upstream.seen).toHaveLength(0);
    expect((await call('/board/x', ['contractors'])).status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect((await call('/board/x', ['staff'])).status).toBe(200);
    const line = stack.proxy.logs.find((l) => l.msg === 'request' && l.requestId === res.headers['x-request-id']);
    expect(line?.rule).toBe('deny.not');
  });
});
