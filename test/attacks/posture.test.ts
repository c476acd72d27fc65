// Attacks on device posture (SPEC §6) over real sockets. The posture header is a signed
// assertion from a configured device-trust issuer; everything else — unsigned JSON,
// `alg: none`, HS256 "signed" with the public key, stale, expired, over-long, a foreign
// issuer or key, another device's certificate, another user, two headers, a plain
// `X-Device-Compliant: true`, the name under another spelling — is *no posture*: on a
// route that asks for posture the upstream never sees the request (403), and no upstream
// ever sees the header. Cached assertions are re-bound on every request.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, decodeJwt, exportJWK, exportSPKI, generateKeyPair, type CryptoKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { certificateThumbprint } from '../../src/identity/jwt/index.ts';
import { get, rawRequest, startTestProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { rawToken } from '../helpers/jwt.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const DEVICE_ISS = 'device-agent.test';
const USER_ISS = 'https://idp.test';
const AUD = 'https://api.test';
const COMPLIANT = { managed: true, compliant: true, os: { name: 'macOS', version: '14.10' }, patchAgeDays: 3, diskEncrypted: true, firewall: true, edr: true, screenLock: true };

let deviceKey: CryptoKey;
let devicePublicPem: string;
let deviceJwk: Awaited<ReturnType<typeof jwk>>;
let evilKey: CryptoKey;
let userKey: CryptoKey;
let thumbA: string;
let thumbB: string;
let customProxy: TestProxy;

const now = (): number => Math.floor(Date.now() / 1000);

interface AssertionOpts {
  key?: CryptoKey;
  kid?: string;
  iss?: string;
}

/** A posture assertion: iat now, exp in 5 min, a compliant device, `claims` on top. */
async function assertion(claims: Record<string, unknown> = {}, opts: AssertionOpts = {}): Promise<string> {
  const t = now();
  return new SignJWT({ iss: opts.iss ?? DEVICE_ISS, sub: 'laptop-7', iat: t, exp: t + 300, posture: COMPLIANT, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'agent-1' })
    .sign(opts.key ?? deviceKey);
}

async function userToken(sub: string): Promise<string> {
  const t = now();
  return new SignJWT({ sub, groups: ['eng'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'u1', typ: 'at+jwt' })
    .setIssuer(USER_ISS)
    .setAudience(AUD)
    .setIssuedAt(t)
    .setExpirationTime(t + 300)
    .sign(userKey);
}

async function jwk(pub: CryptoKey, kid: string) {
  return { ...(await exportJWK(pub)), kid, alg: 'ES256', use: 'sig' };
}

const stack = useProxyStack<TestUpstream>(
  async ({ pki, upstream, startProxy }) => {
    const device = await generateKeyPair('ES256', { extractable: true });
    const evil = await generateKeyPair('ES256', { extractable: true });
    const user = await generateKeyPair('ES256', { extractable: true });
    deviceKey = device.privateKey;
    evilKey = evil.privateKey;
    userKey = user.privateKey;
    devicePublicPem = await exportSPKI(device.publicKey);
    deviceJwk = await jwk(device.publicKey, 'agent-1');
    thumbA = certificateThumbprint(new X509Certificate(pki.clients.valid.certPem).raw);
    thumbB = certificateThumbprint(new X509Certificate(pki.clients.cnOnly.certPem).raw);
    const dir = mkdtempSync(join(tmpdir(), 'ztproxy-posture-'));
    const deviceJwks = join(dir, 'device.json');
    const userJwks = join(dir, 'user.json');
    writeFileSync(deviceJwks, JSON.stringify({ keys: [await jwk(device.publicKey, 'agent-1')] }));
    writeFileSync(userJwks, JSON.stringify({ keys: [await jwk(user.publicKey, 'u1')] }));
    const base = {
      listen: { tls: serverTls(pki), clientAuth: { mode: 'optional', ca: pki.ca.certPath } },
      identity: { jwt: [{ issuer: USER_ISS, audience: AUD, jwksFile: userJwks, algorithms: ['ES256'] }] },
    };
    const routes = [
      {
        name: 'secure',
        match: { host: 'secure.test' },
        upstream: upstream.url,
        websocket: true,
        policy: { allow: { and: [{ authenticated: true }, { device: { managed: true, compliant: true, diskEncrypted: true, minOsVersion: '14.9' } }] } },
      },
      // Anyone, except from a device not known to be managed: stripping the header must not help.
      { name: 'guarded', match: { host: 'guarded.test' }, upstream: upstream.url, policy: { allow: { accept: true }, deny: { not: { device: { managed: true } } } } },
      { name: 'open', match: { host: 'open.test' }, upstream: upstream.url, websocket: true, policy: { allow: { accept: true } } },
    ];
    customProxy = await startProxy({ ...base, device: { header: 'X-Posture-Token', issuers: [{ issuer: DEVICE_ISS, jwksFile: deviceJwks }] }, routes });
    return { ...base, device: { issuers: [{ issuer: DEVICE_ISS, jwksFile: deviceJwks }], maxAge: '5m' }, routes };
  },
  { upstream: () => startUpstream({ websocket: true }) },
);

const certA = (): { cert: string; key: string } => ({ cert: stack.pki.clients.valid.certPem, key: stack.pki.clients.valid.keyPem });
const certB = (): { cert: string; key: string } => ({ cert: stack.pki.clients.cnOnly.certPem, key: stack.pki.clients.cnOnly.keyPem });

async function call(host: string, headers: Record<string, string | string[]>, tls?: { cert: string; key: string }, proxy = stack.proxy) {
  return get(proxy.port, '/x', { host, headers, ...(tls ? { tls } : {}) });
}

async function secure(posture: string | string[] | undefined, sub = 'alice', tls?: { cert: string; key: string }, extra: Record<string, string> = {}) {
  const headers: Record<string, string | string[]> = { authorization: `Bearer ${await userToken(sub)}`, ...extra };
  if (posture !== undefined) headers['x-device-posture'] = posture;
  return call('secure.test', headers, tls);
}

function lastLog(proxy = stack.proxy): LogLine | undefined {
  return proxy.logs.filter((l) => l.msg === 'request').at(-1);
}

/** No request the upstream saw carried any spelling of a posture header. */
function upstreamSawNoPostureHeader(): void {
  for (const seen of stack.upstream.seen) {
    for (let i = 0; i < seen.rawHeaders.length; i += 2) {
      expect(seen.rawHeaders[i]!.toLowerCase().replace(/[^a-z0-9]/g, '')).not.toMatch(/^x(device)?posture/);
    }
  }
}

describe('a valid assertion', () => {
  it('lets a compliant device through; the upstream gets the device in X-ZT-Assertion, never the header', async () => {
    const res = await secure(await assertion());
    expect(res.status).toBe(200);
    const seen = stack.upstream.last();
    expect(seen).toBeDefined();
    upstreamSawNoPostureHeader();
    const claims = decodeJwt(seen!.headers['x-zt-assertion'] as string);
    expect(claims.sub).toBe('alice');
    expect(claims.device).toEqual({ id: 'laptop-7', iss: DEVICE_ISS, ...COMPLIANT });
    expect(lastLog()).toMatchObject({ deviceId: 'laptop-7', posture: 'valid', status: 200 });
  });

  it('without a header: no posture, 403, and the log says posture-absent', async () => {
    const res = await secure(undefined);
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(lastLog()).toMatchObject({ posture: 'posture-absent', status: 403 });
    expect(lastLog()?.deviceId).toBeUndefined();
  });

  it('a non-compliant device signed by the real issuer: verified, and denied by the policy', async () => {
    const res = await secure(await assertion({ posture: { ...COMPLIANT, compliant: false } }));
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(lastLog()).toMatchObject({ deviceId: 'laptop-7', posture: 'valid', status: 403 });
  });

  it('an OS version compared as a version: 14.8 is below 14.9 even though "14.8" > "14.10" as text', async () => {
    const res = await secure(await assertion({ posture: { ...COMPLIANT, os: { name: 'macOS', version: '14.8' } } }));
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
  });
});

describe('forged and broken assertions are no posture: 403, nothing forwarded', () => {
  const cases: [string, () => Promise<string>, string][] = [
    ['unsigned JSON', async () => JSON.stringify({ managed: true, compliant: true, diskEncrypted: true }), 'posture-not-jws'],
    ['alg none', async () => rawToken({ alg: 'none', kid: 'agent-1' }, { iss: DEVICE_ISS, sub: 'laptop-7', iat: now(), exp: now() + 300, posture: COMPLIANT }), 'posture-alg-not-allowed'],
    [
      'HS256 with the public key as the secret',
      async () => {
        const t = now();
        return new SignJWT({ iss: DEVICE_ISS, sub: 'laptop-7', iat: t, exp: t + 300, posture: COMPLIANT })
          .setProtectedHeader({ alg: 'HS256', kid: 'agent-1' })
          .sign(new TextEncoder().encode(devicePublicPem));
      },
      'posture-alg-not-allowed',
    ],
    ['stale: issued 10 min ago, maxAge 5m, not yet expired', () => assertion({ iat: now() - 600, exp: now() + 300 }), 'posture-stale'],
    ['expired', () => assertion({ iat: now() - 200, exp: now() - 120 }), 'posture-expired'],
    ['lifetime over the 24 h cap', () => assertion({ iat: now(), exp: now() + 25 * 3600 }), 'posture-lifetime-too-long'],
    ['issued in the future', () => assertion({ iat: now() + 3600, exp: now() + 3900 }), 'posture-issued-in-future'],
    ['exp that never comes (1e308)', () => assertion({ exp: 1e308 }), 'posture-time-invalid'],
    ['a foreign issuer with its own key', () => assertion({}, { iss: 'evil.test', key: evilKey }), 'posture-unknown-issuer'],
    ['the real issuer\'s name, another key under its kid', () => assertion({}, { key: evilKey }), 'posture-signature-invalid'],
    ['an unknown kid', () => assertion({}, { kid: 'agent-2', key: evilKey }), 'posture-unknown-key'],
    ['a bearer token of the user\'s IdP', () => userToken('alice'), 'posture-unknown-issuer'],
    ['posture field of the wrong type ("managed": "true")', () => assertion({ posture: { ...COMPLIANT, managed: 'true' } }), 'posture-claims-invalid'],
    ['posture field null', () => assertion({ posture: { ...COMPLIANT, diskEncrypted: null } }), 'posture-claims-invalid'],
    ['posture a list', () => assertion({ posture: [COMPLIANT] }), 'posture-claims-invalid'],
    ['os.version a number', () => assertion({ posture: { ...COMPLIANT, os: { name: 'macOS', version: 14.1 } } }), 'posture-claims-invalid'],
    ['no posture claim', () => assertion({ posture: undefined }), 'posture-missing-claim'],
    ['no iat', () => assertion({ iat: undefined }), 'posture-missing-claim'],
    ['empty device id', () => assertion({ sub: '' }), 'posture-claims-invalid'],
    ['a DPoP binding it cannot check', () => assertion({ cnf: { jkt: 'abc' } }), 'posture-cnf-unsupported'],
  ];
  it.each(cases)('%s', async (_name, make, reason) => {
    const res = await secure(await make());
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(lastLog()).toMatchObject({ posture: reason, status: 403 });
    expect(lastLog()?.deviceId).toBeUndefined();
  });

  it('a key carried in the header (jwk) is never trusted', async () => {
    const t = now();
    const token = await new SignJWT({ iss: DEVICE_ISS, sub: 'laptop-7', iat: t, exp: t + 300, posture: COMPLIANT })
      .setProtectedHeader({ alg: 'ES256', kid: 'agent-1', jwk: await jwk((await generateKeyPair('ES256', { extractable: true })).publicKey, 'x') })
      .sign(evilKey);
    const res = await secure(token);
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(lastLog()).toMatchObject({ posture: 'posture-unsafe-header' });
  });

  it('a plain X-Device-Compliant: true grants nothing', async () => {
    const res = await secure(undefined, 'alice', undefined, { 'x-device-compliant': 'true', 'x-device-managed': 'true' });
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(lastLog()).toMatchObject({ posture: 'posture-absent' });
  });

  it('plain device flags never reach an upstream, not even on a public route', async () => {
    const res = await call('open.test', { 'x-device-compliant': 'true', X_Device_Managed: 'true', 'x-device-trust-level': 'high' });
    expect(res.status).toBe(200);
    const seen = stack.upstream.seen[0]!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(seen.filter((n) => n.replace(/_/g, '-').startsWith('x-device-'))).toEqual([]);
  });

  it('two posture headers (both valid) are no posture', async () => {
    const good = await assertion();
    const res = await secure([good, good]);
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(lastLog()).toMatchObject({ posture: 'posture-several-headers' });
  });

  it('the header and another spelling of it are two posture headers', async () => {
    const good = await assertion();
    const res = await secure(good, 'alice', undefined, { x_device_posture: good });
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(lastLog()).toMatchObject({ posture: 'posture-several-headers' });
  });

  it('a valid assertion under another spelling (X_Device_Posture) is not read', async () => {
    const res = await secure(undefined, 'alice', undefined, { X_Device_Posture: await assertion() });
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(lastLog()).toMatchObject({ posture: 'posture-header-spelling' });
  });

  it('an oversized header is refused before parsing', async () => {
    const res = await secure(`${'a'.repeat(9000)}.b.c`);
    expect(res.status).toBe(403);
    expect(lastLog()).toMatchObject({ posture: 'posture-too-large' });
  });
});

describe('a deny over posture cannot be dodged by leaving the header out', () => {
  it('deny: not: device managed — without posture 403, forged 403, managed 200', async () => {
    expect((await call('guarded.test', {})).status).toBe(403);
    expect(lastLog()).toMatchObject({ reason: 'policy-deny-unknown', posture: 'posture-absent' });
    expect((await call('guarded.test', { 'x-device-posture': await assertion({}, { key: evilKey }) })).status).toBe(403);
    expect((await call('guarded.test', { 'x-device-posture': await assertion({ posture: { managed: false } }) })).status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect((await call('guarded.test', { 'x-device-posture': await assertion() })).status).toBe(200);
  });
});

describe('bindings: cnf.x5t#S256 to the device certificate, uid to the user', () => {
  it('bound to certificate A: good over A, no posture over B or without a certificate', async () => {
    const token = await assertion({ cnf: { 'x5t#S256': thumbA } });
    expect((await secure(token, 'alice', certA())).status).toBe(200);
    stack.upstream.reset();
    // The same token again, now a cache hit: still bound.
    const other = await secure(token, 'alice', certB());
    expect(other.status).toBe(403);
    expect(lastLog()).toMatchObject({ posture: 'posture-cert-mismatch' });
    const none = await secure(token, 'alice');
    expect(none.status).toBe(403);
    expect(lastLog()).toMatchObject({ posture: 'posture-cert-mismatch' });
    expect(stack.upstream.seen).toHaveLength(0);
  });

  it('bound to certificate B, presented first (uncached) over A', async () => {
    const res = await secure(await assertion({ cnf: { 'x5t#S256': thumbB }, sub: 'laptop-b' }), 'alice', certA());
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(lastLog()).toMatchObject({ posture: 'posture-cert-mismatch' });
  });

  it('uid alice: good for alice; replayed by bob (a cache hit) it is no posture', async () => {
    const token = await assertion({ uid: 'alice' });
    expect((await secure(token, 'alice')).status).toBe(200);
    stack.upstream.reset();
    const replay = await secure(token, 'bob');
    expect(replay.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(lastLog()).toMatchObject({ posture: 'posture-user-mismatch', subject: 'bob' });
  });

  it('uid alice presented first by bob (uncached)', async () => {
    const res = await secure(await assertion({ uid: 'alice', sub: 'laptop-uid' }), 'bob');
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
    expect(lastLog()).toMatchObject({ posture: 'posture-user-mismatch' });
  });

  it('uid-bound assertion without any authenticated user: no posture (the public route still answers, without a device)', async () => {
    const res = await call('open.test', { 'x-device-posture': await assertion({ uid: 'alice' }) });
    expect(res.status).toBe(200);
    expect(lastLog()).toMatchObject({ posture: 'posture-user-mismatch' });
    const claims = decodeJwt(stack.upstream.last()!.headers['x-zt-assertion'] as string);
    expect(claims.device).toBeUndefined();
    upstreamSawNoPostureHeader();
  });
});

describe('the header never reaches the upstream', () => {
  it('on a public route, in any spelling', async () => {
    const good = await assertion();
    for (const name of ['X-Device-Posture', 'x-device-posture', 'X_Device_Posture', 'X.Device.Posture']) {
      const res = await call('open.test', { [name]: good });
      expect(res.status).toBe(200);
    }
    expect(stack.upstream.seen).toHaveLength(4);
    upstreamSawNoPostureHeader();
  });

  it('a configured header name (X-Posture-Token) is read and stripped, also in another spelling', async () => {
    const good = await assertion();
    const headers = { authorization: `Bearer ${await userToken('alice')}`, 'x-posture-token': good };
    expect((await call('secure.test', headers, undefined, customProxy)).status).toBe(200);
    expect(lastLog(customProxy)).toMatchObject({ posture: 'valid' });
    // The default name is not the posture header on this proxy, but is still stripped.
    expect((await call('secure.test', { authorization: headers.authorization, 'x-device-posture': good }, undefined, customProxy)).status).toBe(403);
    expect((await call('open.test', { X_Posture_Token: good, 'x-device-posture': good }, undefined, customProxy)).status).toBe(200);
    expect(stack.upstream.seen).toHaveLength(2);
    upstreamSawNoPostureHeader();
  });

  it('on a WebSocket upgrade, with the configured name', async () => {
    const good = await assertion();
    const bytes = [
      'GET /ws HTTP/1.1',
      'Host: open.test',
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      `X-Posture-Token: ${good}`,
      `X_Posture_Token: ${good}`,
      `X-Device-Posture: ${good}`,
      '',
      '',
    ].join('\r\n');
    const res = await rawRequest(customProxy.port, bytes, { timeoutMs: 1000 });
    expect(res.status).toBe(101);
    expect(stack.upstream.seen).toHaveLength(1);
    upstreamSawNoPostureHeader();
  });

  it('a WebSocket upgrade to the secure route without posture never reaches the upstream', async () => {
    const bytes = [
      'GET /ws HTTP/1.1',
      'Host: secure.test',
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      `Authorization: Bearer ${await userToken('alice')}`,
      'X-Device-Compliant: true',
      '',
      '',
    ].join('\r\n');
    const res = await rawRequest(stack.proxy.port, bytes, { timeoutMs: 1000 });
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toHaveLength(0);
  });
});

describe('a device-agent key withdrawn from its JWKS file', () => {
  it('stops vouching at once, also for an assertion already cached', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ztproxy-posture-rotate-'));
    const jwksFile = join(dir, 'device.json');
    const replacement = await generateKeyPair('ES256', { extractable: true });
    writeFileSync(jwksFile, JSON.stringify({ keys: [deviceJwk] }));
    const own = await startTestProxy(
      {
        listen: { tls: serverTls(stack.pki) },
        device: { issuers: [{ issuer: DEVICE_ISS, jwksFile }] },
        routes: [{ name: 'guarded', upstream: stack.upstream.url, policy: { allow: { device: { managed: true } } } }],
      },
      { watch: true, watchIntervalMs: 100 },
    );
    try {
      const token = await assertion();
      expect((await get(own.port, '/', { host: 'a.test', headers: { 'x-device-posture': token } })).status).toBe(200);
      expect((await get(own.port, '/', { host: 'a.test', headers: { 'x-device-posture': token } })).status).toBe(200);
      // The agent's key is withdrawn (compromised), another one published in its place.
      writeFileSync(jwksFile, JSON.stringify({ keys: [await jwk(replacement.publicKey, 'agent-2')] }));
      const end = Date.now() + 5000;
      let status = 200;
      while (Date.now() < end && status === 200) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await get(own.port, '/', { host: 'a.test', headers: { 'x-device-posture': token } })).status;
      }
      expect(status).toBe(403);
      expect(lastLog(own)).toMatchObject({ posture: 'posture-unknown-key' });
    } finally {
      await own.close();
    }
  });
});

describe('metrics', () => {
  it('counts posture checks by result', async () => {
    await secure(await assertion());
    await secure(undefined);
    const text = await new Promise<string>((resolve, reject) => {
      httpRequest({ host: '127.0.0.1', port: stack.proxy.proxy.addresses.admin.port, path: '/metrics' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
    expect(text).toMatch(/ztproxy_posture_checks_total\{result="valid"\} [1-9]/);
    expect(text).toMatch(/ztproxy_posture_checks_total\{result="posture-absent"\} [1-9]/);
    expect(text).toMatch(/ztproxy_posture_checks_total\{result="posture-stale"\} [1-9]/);
  });
});
