// Attack: poisoning the remote PDP's decision cache. Its key is built from the values the
// PDP's document is built from (src/policy/remote-input.ts remoteCacheKey), not from the
// document's bytes: a key that joined those values naively — run together, or with a
// delimiter a claim may contain — would give a request the PDP denies the key of one it
// allowed, and the cache would answer it with that allow. Here the PDP allows a subject
// in the `admin` group; the allowed request is answered (and cached) first, then its
// colliding twin is sent over a real TLS connection with a token of its own: the twin
// must be asked about (a second PDP call), refused, and never reach the upstream.
import { describe, expect, it } from 'vitest';
import { get } from '../helpers/proxy.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';
import { useProxyStack } from '../helpers/stack.ts';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';

/** The PDP's whole policy: these subjects, in the admin group. */
const SUBJECTS = new Set(['alice', 'jos\u00e9']);
const allows = (subject: { id?: unknown; groups?: unknown } | null | undefined): boolean =>
  typeof subject?.id === 'string' && SUBJECTS.has(subject.id) && Array.isArray(subject.groups) && subject.groups.includes('admin');

let key: TestKey;
let authzen: TestPdp;
let opa: TestPdp;

const stack = useProxyStack(async ({ upstream, onClose }) => {
  key = await makeKey('ES256');
  const jwks = await writeJwksFile(jwksOf(key));
  authzen = await startTestPdp((body) => {
    const context = body.context as { groups?: unknown };
    return { decision: allows({ id: (body.subject as { id?: unknown }).id, groups: context.groups }) };
  });
  opa = await startTestPdp((body) => ({ result: allows((body.input as { subject: { id?: unknown; groups?: unknown } | null }).subject) }));
  onClose(() => Promise.all([jwks.cleanup(), authzen.close(), opa.close()]));
  // A cache that outlives the test: a second call can only come from a second key.
  const cache = { ttl: '10m' };
  return {
    identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
    routes: [
      { name: 'az', match: { host: 'az.test' }, upstream: upstream.url, pdp: { mode: 'authzen', url: authzen.origin, timeout: '2s', cache } },
      { name: 'opa', match: { host: 'opa.test' }, upstream: upstream.url, pdp: { mode: 'opa', url: `${opa.origin}/v1/data/ztproxy/allow`, timeout: '2s', cache } },
    ],
  };
});

async function send(host: string, path: string, sub: string, groups: string[]): Promise<number> {
  const token = await mint(key, accessClaims(Math.floor(Date.now() / 1000), { sub, groups }));
  return (await get(stack.proxy.port, path, { host, headers: { authorization: `Bearer ${token}` } })).status;
}

/** [name, the allowed request, its twin]: sub and groups; the twin collides with it under the naive key named. */
const PAIRS: [string, [string, string[]], [string, string[]]][] = [
  ['groups joined with a delimiter a group may contain', ['alice', ['eng', 'admin']], ['alice', ['eng|admin']]],
  ['groups run together', ['alice', ['eng', 'admin']], ['alice', ['engadmin']]],
  ['groups joined with a comma', ['alice', ['eng', 'admin']], ['alice', ['eng,admin']]],
  ['a subject equal after Unicode normalization (NFC and NFD)', ['jos\u00e9', ['admin']], ['jose\u0301', ['admin']]],
];

describe.each([
  ['AuthZEN', 'az.test', () => authzen],
  ['OPA', 'opa.test', () => opa],
] as const)('%s: a request the PDP denies never gets the cached allow of its naive-key twin', (_mode, host, pdp) => {
  it.each(PAIRS)('%s', async (name, [sub, groups], [twinSub, twinGroups]) => {
    const path = `/doc/${encodeURIComponent(name)}`;
    pdp().reset();
    expect(await send(host, path, sub, groups)).toBe(200);
    // The allow is cached: the same request again is not asked about.
    expect(await send(host, path, sub, groups)).toBe(200);
    expect(pdp().calls).toHaveLength(1);
    expect(await send(host, path, twinSub, twinGroups)).toBe(403);
    expect(pdp().calls).toHaveLength(2);
    expect(JSON.stringify(pdp().calls[1]!.body)).toContain(JSON.stringify(twinGroups));
    expect(stack.upstream.seen.map((r) => r.url)).toEqual([path, path]);
  });
});
