// Attacks on X-ZT-Assertion and identity headers over real sockets: assertion reuse
// across identities (the signer's cache key), replay across routes (aud), JWKS path
// shadowing by a route, and identity-header bytes.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { get, rawRequest } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const ISS = 'https://idp.test';
const AUD = 'https://api.test';

let idpKey: CryptoKey;

async function token(claims: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: 'alice', groups: ['eng'], email: 'alice@example.com', email_verified: true, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'idp', typ: 'at+jwt' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(idpKey);
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

const stack = useProxyStack(async ({ pki, upstream }) => {
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-assert-attack-'));
  const idp = await generateKeyPair('ES256', { extractable: true });
  idpKey = idp.privateKey;
  const jwksFile = join(dir, 'idp.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(idp.publicKey)), kid: 'idp', alg: 'ES256' }] }));
  return {
    listen: { clientAuth: { mode: 'optional', ca: pki.ca.certPath } },
    identity: { jwt: [{ issuer: ISS, audience: AUD, jwksFile, algorithms: ['ES256'] }] },
    routes: [
      { name: 'legacy', match: { host: 'app.test', pathPrefix: '/legacy' }, upstream: upstream.url, identityHeaders: true, policy: { allow: { authenticated: true } } },
      { name: 'b', match: { host: 'app.test', pathPrefix: '/b' }, upstream: upstream.url, policy: { allow: { authenticated: true } } },
      { name: 'a', match: { host: 'app.test' }, upstream: upstream.url, policy: { allow: { accept: true } } },
      { name: 'other-host', match: { host: 'other.test' }, upstream: upstream.url, policy: { allow: { accept: true } } },
    ],
  };
});

async function assertionFor(path: string, t?: string): Promise<JWTPayload> {
  stack.upstream.reset();
  const res = await get(stack.proxy.port, path, { host: 'app.test', headers: t ? bearer(t) : {} });
  expect(res.status).toBe(200);
  const a = stack.upstream.last()!.headers['x-zt-assertion'];
  expect(typeof a).toBe('string');
  return decodeJwt(a as string);
}

describe('assertion reuse across identities', () => {
  // FINDING: the signer's cache key holds `email` but not `emailVerified`, while the
  // assertion carries `email` only when it is verified. The same sub first seen with a
  // verified address makes every later request with that address — verified or not —
  // get an assertion that vouches for the e-mail, for half the TTL.
  it('a token with email_verified false never gets an assertion that carries the e-mail', async () => {
    const verified = await assertionFor('/x', await token({ sub: 'ev-user', email: 'ev@example.com', email_verified: true }));
    expect(verified.email).toBe('ev@example.com');
    const unverified = await assertionFor('/x', await token({ sub: 'ev-user', email: 'ev@example.com', email_verified: false }));
    expect(unverified.email).toBeUndefined();
  });

  // FINDING (low): the cache key joins fields with "\n" and groups with "\0", both of
  // which a JSON claim may contain, so two different identities can share a key and the
  // second is sent the first one's assertion (another `sub`).
  it('two different subjects never share an assertion (delimiters inside claims)', async () => {
    const first = await assertionFor('/x', await token({ sub: 'carol', email: '\n', email_verified: false, groups: [] }));
    expect(first.sub).toBe('carol');
    const second = await assertionFor('/x', await token({ sub: 'carol\n', email: undefined, email_verified: false, groups: [] }));
    expect(second.sub).toBe('carol\n');
  });

  it('groups ["x\\u0000y"] and ["x","y"] of the same sub get distinct assertions', async () => {
    const one = await assertionFor('/x', await token({ sub: 'dave', groups: ['x\u0000y'] }));
    expect(one.groups).toEqual(['x\u0000y']);
    const two = await assertionFor('/x', await token({ sub: 'dave', groups: ['x', 'y'] }));
    expect(two.groups).toEqual(['x', 'y']);
  });

  it('same sub, different groups / email → the assertion follows the token', async () => {
    const one = await assertionFor('/x', await token({ sub: 'erin', groups: ['eng'] }));
    const two = await assertionFor('/x', await token({ sub: 'erin', groups: ['eng', 'admins'] }));
    expect(one.groups).toEqual(['eng']);
    expect(two.groups).toEqual(['eng', 'admins']);
    const three = await assertionFor('/x', await token({ sub: 'erin', groups: ['eng'], email: 'other@example.com' }));
    expect(three.email).toBe('other@example.com');
  });

  it('anonymous and authenticated requests on one route never share an assertion', async () => {
    const anon = await assertionFor('/x');
    expect(anon.sub).toBeUndefined();
    const authd = await assertionFor('/x', await token({ sub: 'frank' }));
    expect(authd.sub).toBe('frank');
    const anon2 = await assertionFor('/x');
    expect(anon2.sub).toBeUndefined();
  });
});

describe('assertion replay across routes', () => {
  it('the assertion for route a has aud "a", for route b aud "b" (an upstream checking aud refuses the replay)', async () => {
    const t = await token({ sub: 'gina' });
    const a = await assertionFor('/x', t);
    const b = await assertionFor('/b/x', t);
    expect(a.aud).toBe('a');
    expect(b.aud).toBe('b');
    expect(a.jti).not.toBe(b.jti);
  });

  it('a client-supplied X-ZT-Assertion never reaches the upstream', async () => {
    const t = await token({ sub: 'gina' });
    const a = await assertionFor('/x', t);
    stack.upstream.reset();
    const forged = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.';
    await get(stack.proxy.port, '/b/x', { host: 'app.test', headers: { ...bearer(t), 'x-zt-assertion': forged } });
    const seen = stack.upstream.last()!;
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-zt-assertion')).toHaveLength(1);
    expect(decodeJwt(seen.headers['x-zt-assertion'] as string).aud).toBe('b');
    expect(a.aud).toBe('a');
  });
});

describe('JWKS path shadowing', () => {
  it('the canonical path and its encoded / query forms are answered by ztproxy, never the upstream', async () => {
    for (const path of ['/.well-known/ztproxy/jwks.json', '/.well-known/ztproxy/jwks%2ejson', '/%2ewell-known/ztproxy/jwks.json', '/.well-known/ztproxy/jwks.json?x=1']) {
      for (const host of ['app.test', 'other.test']) {
        stack.upstream.reset();
        const res = await get(stack.proxy.port, path, { host });
        expect(res.status, `${host}${path}`).toBe(200);
        expect(JSON.parse(res.body).keys.length, path).toBeGreaterThan(0);
        expect(stack.upstream.seen, `${host}${path}`).toEqual([]);
      }
    }
  });

  it('dot-segment and double-slash variants do not let the upstream answer for the JWKS path', async () => {
    for (const path of ['/.well-known/ztproxy/./jwks.json', '/.well-known/x/../ztproxy/jwks.json', '//.well-known/ztproxy/jwks.json', '/.well-known//ztproxy/jwks.json', '/.well-known/ztproxy/jwks.json;x']) {
      stack.upstream.reset();
      const res = await rawRequest(stack.proxy.port, `GET ${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`);
      // Either ztproxy serves its own keys, or the request is refused; if it is forwarded,
      // the upstream must not have been asked for the JWKS path itself.
      if (stack.upstream.seen.length > 0) {
        expect(stack.upstream.seen[0]!.url.split('?')[0], path).not.toBe('/.well-known/ztproxy/jwks.json');
      } else {
        expect([200, 400, 404], path).toContain(res.status);
      }
    }
  });

  it('POST to the JWKS path → 405, nothing forwarded', async () => {
    const res = await get(stack.proxy.port, '/.well-known/ztproxy/jwks.json', { host: 'app.test', method: 'POST', body: '{}' });
    expect(res.status).toBe(405);
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('identity headers', () => {
  it('sub / email / group with TAB, DEL, NUL or non-ASCII → 403, nothing forwarded', async () => {
    const cases: Record<string, unknown>[] = [
      { sub: 'a\tb' },
      { sub: 'a\x7fb' },
      { sub: 'a\u0000b' },
      { sub: 'ädmin' },
      { sub: 'admin\u2028' },
      { email: 'a\t@example.com' },
      { email: 'a\x7f@example.com' },
      { groups: ['eng\tadmins'] },
      { groups: ['eng\x7f'] },
      { groups: ['eng', 'ad,mins'] },
    ];
    for (const claims of cases) {
      stack.upstream.reset();
      const res = await get(stack.proxy.port, '/legacy/x', { host: 'app.test', headers: bearer(await token(claims)) });
      expect(res.status, JSON.stringify(claims)).toBe(403);
      expect(stack.upstream.seen, JSON.stringify(claims)).toEqual([]);
    }
  });

  it('client-sent X-Forwarded-User/-Email/-Groups never reach an upstream, with identityHeaders off or anonymous', async () => {
    const forged = { 'x-forwarded-user': 'admin', 'x-forwarded-email': 'admin@example.com', 'x-forwarded-groups': 'admins' };
    const t = await token({ sub: 'henry' });
    for (const [path, headers] of [
      ['/x', { ...forged }],
      ['/x', { ...forged, ...bearer(t) }],
      ['/b/x', { ...forged, ...bearer(t) }],
    ] as const) {
      stack.upstream.reset();
      const res = await get(stack.proxy.port, path, { host: 'app.test', headers });
      expect(res.status).toBe(200);
      const h = stack.upstream.last()!.headers;
      expect(h['x-forwarded-user'], path).toBeUndefined();
      expect(h['x-forwarded-email'], path).toBeUndefined();
      expect(h['x-forwarded-groups'], path).toBeUndefined();
    }
    // identityHeaders on: only ztproxy's values
    stack.upstream.reset();
    await get(stack.proxy.port, '/legacy/x', { host: 'app.test', headers: { ...forged, ...bearer(t) } });
    const seen = stack.upstream.last()!;
    expect(seen.rawHeaders.filter((x) => x.toLowerCase() === 'x-forwarded-user')).toHaveLength(1);
    expect(seen.headers['x-forwarded-user']).toBe('henry');
    expect(seen.headers['x-forwarded-groups']).toBe('eng');
  });
});

