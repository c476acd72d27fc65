// X-ZT-Assertion towards the upstream, its JWKS, and plain identity headers — over real
// sockets, verified the way an upstream would.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, type CryptoKey, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { get } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const ISS = 'https://idp.test';
const AUD = 'https://api.test';

let idpKey: CryptoKey;
let signingKid: string;

async function token(claims: JWTPayload = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: 'alice', groups: ['eng', 'ops'], email: 'alice@example.com', email_verified: true, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'idp', typ: 'at+jwt' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(idpKey);
}

async function privateJwkFile(dir: string, name: string, kid: string): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ ...(await exportJWK(privateKey)), kid }));
  return file;
}

const stack = useProxyStack(async ({ pki, upstream }) => {
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-assert-'));
  const idp = await generateKeyPair('ES256', { extractable: true });
  idpKey = idp.privateKey;
  const jwksFile = join(dir, 'idp.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(idp.publicKey)), kid: 'idp', alg: 'ES256' }] }));
  // Rotation: the new key signs, the old one is still published.
  signingKid = 'assert-new';
  const keys = [await privateJwkFile(dir, 'new.key', 'assert-new'), await privateJwkFile(dir, 'old.key', 'assert-old')];
  return {
    listen: { clientAuth: { mode: 'optional', ca: pki.ca.certPath } },
    identity: { jwt: [{ issuer: ISS, audience: AUD, jwksFile, algorithms: ['ES256'] }], assertion: { keys, issuer: 'https://ztproxy.test', ttl: '30s' } },
    routes: [
      { name: 'legacy', match: { host: 'app.test', pathPrefix: '/legacy' }, upstream: upstream.url, identityHeaders: true, policy: { allow: { authenticated: true } } },
      { name: 'public', match: { host: 'app.test' }, upstream: upstream.url, policy: { allow: { accept: true } } },
    ],
  };
});

async function jwks() {
  const res = await get(stack.proxy.port, '/.well-known/ztproxy/jwks.json', { host: 'any.host.test' });
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe('application/jwk-set+json');
  return JSON.parse(res.body) as { keys: { kid: string; d?: string }[] };
}

describe('X-ZT-Assertion', () => {
  it('the JWKS is served on every host, with every key and no private parts', async () => {
    const set = await jwks();
    expect(set.keys.map((k) => k.kid)).toEqual(['assert-new', 'assert-old']);
    expect(set.keys.every((k) => k.d === undefined)).toBe(true);
    expect((await get(stack.proxy.port, '/.well-known/ztproxy/jwks.json', { host: 'app.test', method: 'POST' })).status).toBe(405);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('carries the authenticated subject, verifiable with the JWKS; the client cannot forge it', async () => {
    const res = await get(stack.proxy.port, '/legacy/x', { host: 'app.test', headers: { authorization: `Bearer ${await token()}`, 'x-zt-assertion': 'forged' } });
    expect(res.status).toBe(200);
    const values = stack.upstream.last()!.rawHeaders.filter((_, i, a) => i % 2 === 1 && a[i - 1]!.toLowerCase() === 'x-zt-assertion');
    expect(values).toHaveLength(1);
    const assertion = values[0]!;
    expect(decodeProtectedHeader(assertion).kid).toBe(signingKid);
    const { payload } = await jwtVerify(assertion, createLocalJWKSet((await jwks()) as never), { issuer: 'https://ztproxy.test', audience: 'legacy', algorithms: ['ES256'] });
    expect(payload).toMatchObject({ sub: 'alice', email: 'alice@example.com', groups: ['eng', 'ops'], idp: ISS });
    expect(payload.exp! - payload.iat!).toBe(30);
    expect(typeof payload.jti).toBe('string');
  });

  it('anonymous and workload requests get one too (aud = route, sub = SPIFFE ID)', async () => {
    await get(stack.proxy.port, '/p', { host: 'app.test' });
    const anon = await jwtVerify(stack.upstream.last()!.headers['x-zt-assertion'] as string, createLocalJWKSet((await jwks()) as never), { audience: 'public' });
    expect(anon.payload.sub).toBeUndefined();
    await get(stack.proxy.port, '/p', { host: 'app.test', tls: { cert: stack.pki.clients.valid.certPem, key: stack.pki.clients.valid.keyPem } });
    const workload = await jwtVerify(stack.upstream.last()!.headers['x-zt-assertion'] as string, createLocalJWKSet((await jwks()) as never), { audience: 'public' });
    expect(workload.payload).toMatchObject({ sub: stack.pki.spiffeId, spiffe_id: stack.pki.spiffeId });
  });
});

describe('identityHeaders: plain headers for legacy apps', () => {
  it('sets X-Forwarded-User / -Email / -Groups from the verified token, replacing forged ones', async () => {
    const res = await get(stack.proxy.port, '/legacy/x', { host: 'app.test', headers: { authorization: `Bearer ${await token()}`, 'X-Forwarded-User': 'admin', X_Forwarded_Groups: 'admins' } });
    expect(res.status).toBe(200);
    const h = stack.upstream.last()!.headers;
    expect([h['x-forwarded-user'], h['x-forwarded-email'], h['x-forwarded-groups']]).toEqual(['alice', 'alice@example.com', 'eng,ops']);
    expect(stack.upstream.last()!.rawHeaders.filter((n) => /^x.forwarded.(user|groups)$/i.test(n))).toHaveLength(2);
  });

  it('an unverified email is not passed on', async () => {
    await get(stack.proxy.port, '/legacy/x', { host: 'app.test', headers: { authorization: `Bearer ${await token({ email_verified: false })}` } });
    expect(stack.upstream.last()!.headers['x-forwarded-email']).toBeUndefined();
  });

  it.each([
    ['CR LF in sub', { sub: 'alice\r\nX-Admin: 1' }],
    ['a control byte in email', { email: 'a\u0007@example.com' }],
    ['non-ASCII in sub', { sub: 'алиса' }],
    ['a comma in a group name', { groups: ['eng,admins'] }],
    ['LF in a group', { groups: ['eng\nadmins'] }],
  ])('%s → 403, nothing forwarded', async (_why, claims) => {
    const res = await get(stack.proxy.port, '/legacy/x', { host: 'app.test', headers: { authorization: `Bearer ${await token(claims)}` } });
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toEqual([]);
  });
});
