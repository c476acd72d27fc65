// Bearer JWT authentication through the proxy over real sockets: who gets in, what the
// upstream sees, and the RFC 6750 answers for API clients.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { get, startTestProxy } from '../helpers/proxy.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';

const ISS = 'https://idp.test';
const AUD = 'https://api.test';

let key: CryptoKey;
let otherKey: CryptoKey;

async function token(claims: JWTPayload = {}, opts: { key?: CryptoKey; exp?: number; typ?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: 'alice', groups: ['eng'], email: 'alice@example.com', email_verified: true, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: opts.key ? 'other' : 'k1', typ: opts.typ ?? 'at+jwt' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setIssuedAt(now)
    .setExpirationTime(opts.exp ?? now + 300)
    .sign(opts.key ?? key);
}

const stack = useProxyStack(async ({ pki, upstream }) => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  otherKey = (await generateKeyPair('ES256')).privateKey;
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-bearer-'));
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  return {
    listen: { clientAuth: { mode: 'optional', ca: pki.ca.certPath } },
    identity: { jwt: [{ issuer: ISS, audience: AUD, jwksFile, algorithms: ['ES256'] }] },
    routes: [
      { name: 'public', match: { host: 'app.test', pathPrefix: '/public' }, upstream: upstream.url, policy: { allow: { accept: true } } },
      { name: 'pass', match: { host: 'app.test', pathPrefix: '/pass' }, upstream: upstream.url, passAccessToken: true, policy: { allow: { authenticated: true } } },
      {
        name: 'api',
        match: { host: 'app.test' },
        upstream: upstream.url,
        policy: { allow: { and: [{ authenticated: true }, { groups: { has: 'eng' } }] }, deny: { path: { prefix: '/api/admin' } } },
      },
    ],
  };
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('bearer tokens', () => {
  it('no token on a route that needs one → 401 with a bare Bearer challenge, nothing forwarded', async () => {
    const res = await get(stack.proxy.port, '/api/x', { host: 'app.test' });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a valid token → forwarded, the token itself removed, the subject logged', async () => {
    const res = await get(stack.proxy.port, '/api/x', { host: 'app.test', headers: bearer(await token()) });
    expect(res.status).toBe(200);
    expect(stack.upstream.last()!.headers.authorization).toBeUndefined();
    const line = stack.proxy.logs.find((l) => l.msg === 'request' && l.requestId === res.headers['x-request-id']);
    expect(line).toMatchObject({ subject: 'alice', issuer: ISS, decision: 'allow' });
  });

  it('a route with passAccessToken gets the token', async () => {
    const t = await token();
    expect((await get(stack.proxy.port, '/pass', { host: 'app.test', headers: bearer(t) })).status).toBe(200);
    expect(stack.upstream.last()!.headers.authorization).toBe(`Bearer ${t}`);
  });

  it('authenticated but not allowed → 403; deny overrides → 403', async () => {
    expect((await get(stack.proxy.port, '/api/x', { host: 'app.test', headers: bearer(await token({ groups: ['sales'] })) })).status).toBe(403);
    expect((await get(stack.proxy.port, '/api/admin', { host: 'app.test', headers: bearer(await token()) })).status).toBe(403);
    expect(stack.upstream.seen).toEqual([]);
  });

  it.each([
    ['signed by an unknown key', async () => token({}, { key: otherKey })],
    ['expired', async () => token({}, { exp: Math.floor(Date.now() / 1000) - 3600 })],
    ['an ID token (typ JWT with nonce)', async () => token({ nonce: 'n' }, { typ: 'JWT' })],
    ['garbage', async () => 'not.a.jwt'],
    ['alg none', async () => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'alice', iss: ISS, aud: AUD, exp: 9999999999 })).toString('base64url')}.`],
  ])('%s → 401 invalid_token, even on a public route; nothing forwarded', async (_why, make) => {
    const t = await make();
    for (const path of ['/api/x', '/public/x']) {
      const res = await get(stack.proxy.port, path, { host: 'app.test', headers: bearer(t) });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      expect(JSON.parse(res.body)).toEqual({ error: 'unauthorized', requestId: res.headers['x-request-id'] });
    }
    expect(stack.upstream.seen).toEqual([]);
  });

  it('another Authorization scheme is the upstream\'s business (forwarded, no subject)', async () => {
    const res = await get(stack.proxy.port, '/public/basic', { host: 'app.test', headers: { authorization: 'Basic YTpi' } });
    expect(res.status).toBe(200);
    expect(stack.upstream.last()!.headers.authorization).toBe('Basic YTpi');
    expect((await get(stack.proxy.port, '/api/x', { host: 'app.test', headers: { authorization: 'Basic YTpi' } })).status).toBe(401);
  });

  it('two Authorization headers → 400', async () => {
    const t = await token();
    const res = await get(stack.proxy.port, '/api/x', { host: 'app.test', headers: { authorization: [`Bearer ${t}`, 'Bearer other'] } });
    expect(res.status).toBe(400);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a certificate-bound token only over its certificate (RFC 8705)', async () => {
    const { createHash, X509Certificate } = await import('node:crypto');
    const thumb = createHash('sha256').update(new X509Certificate(stack.pki.clients.valid.certPem).raw).digest('base64url');
    const t = await token({ cnf: { 'x5t#S256': thumb } });
    const withCert = { cert: stack.pki.clients.valid.certPem, key: stack.pki.clients.valid.keyPem };
    const wrongCert = { cert: stack.pki.clients.twoSpiffe.certPem, key: stack.pki.clients.twoSpiffe.keyPem };
    expect((await get(stack.proxy.port, '/api/x', { host: 'app.test', headers: bearer(t), tls: withCert })).status).toBe(200);
    expect((await get(stack.proxy.port, '/api/x', { host: 'app.test', headers: bearer(t), tls: wrongCert })).status).toBe(401);
    expect((await get(stack.proxy.port, '/api/x', { host: 'app.test', headers: bearer(t) })).status).toBe(401);
    expect(stack.upstream.seen).toHaveLength(1);
  });
});

describe('key rotation by file', () => {
  it('a JWKS file that changes is picked up without touching the config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ztproxy-jwks-rotate-'));
    const jwksFile = join(dir, 'jwks.json');
    const oldPair = await generateKeyPair('ES256', { extractable: true });
    const newPair = await generateKeyPair('ES256', { extractable: true });
    const publish = async (pub: CryptoKey, kid: string) =>
      writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pub)), kid, alg: 'ES256', use: 'sig' }] }));
    await publish(oldPair.publicKey, 'old');
    const own = await startTestProxy(
      {
        listen: { tls: serverTls(stack.pki) },
        identity: { jwt: [{ issuer: ISS, audience: AUD, jwksFile, algorithms: ['ES256'] }] },
        routes: [{ name: 'api', upstream: stack.upstream.url, policy: { allow: { authenticated: true } } }],
      },
      { watch: true, watchIntervalMs: 100 },
    );
    try {
      const signed = async (k: CryptoKey, kid: string) =>
        new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(ISS).setAudience(AUD).setIssuedAt().setExpirationTime('5m').sign(k);
      const newToken = await signed(newPair.privateKey, 'new');
      expect((await get(own.port, '/', { host: 'a.test', headers: bearer(await signed(oldPair.privateKey, 'old')) })).status).toBe(200);
      expect((await get(own.port, '/', { host: 'a.test', headers: bearer(newToken) })).status).toBe(401);
      await publish(newPair.publicKey, 'new');
      const end = Date.now() + 5000;
      let status = 0;
      while (Date.now() < end && status !== 200) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await get(own.port, '/', { host: 'a.test', headers: bearer(newToken) })).status;
      }
      expect(status).toBe(200);
    } finally {
      await own.close();
    }
  });
});
