// Differential check of `ztproxy check --tests` against a real ztproxy: the same config,
// the same request described to the check and sent over a TLS socket. Whatever the
// check reports as the status must be what the proxy answers — a case `ok` in CI that
// the running proxy decides differently is a policy test that lies.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { decideCase, type PolicyTestCase } from '../../src/cli/policy-tests.ts';
import { describedRequestSchema } from '../../src/cli/described-request.ts';
import { rawRequest } from '../helpers/proxy.ts';
import { useDescribedSnapshot } from '../helpers/described-snapshot.ts';
import { useProxyStack } from '../helpers/stack.ts';

const ISS = 'https://idp.test';
const AUD = 'https://api.test';
let key: CryptoKey;
let config: Record<string, unknown>;

const stack = useProxyStack(async ({ upstream }) => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-check-diff-'));
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  config = {
    identity: { jwt: [{ issuer: ISS, audience: AUD, jwksFile, algorithms: ['ES256'] }] },
    routes: [
      { name: 'fresh', match: { host: 'app.test', pathPrefix: '/fresh' }, upstream: upstream.url, policy: { allow: { authAge: { maxSeconds: 600 } } } },
      { name: 'open', match: { host: 'app.test' }, upstream: upstream.url, policy: { allow: { accept: true } } },
    ],
  };
  return config;
});

const described = useDescribedSnapshot(stack, () => config);

async function token(authAgeSeconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: 'alice', aud: AUD, auth_time: now - authAgeSeconds })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
    .setIssuer(ISS)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(key);
}

/** What the check says the client gets, as a number (`forwarded`: the upstream's 200), or `local`. */
function checked(request: Record<string, unknown>): { status: number | 'local'; reason: string } {
  const c: PolicyTestCase = { name: 'x', request: describedRequestSchema.parse({ host: 'app.test', ...request }), expect: { decision: 'allow' } };
  const got = decideCase(described.snapshot, c);
  return { status: got.status === 'forwarded' ? 200 : (got.status as number | 'local'), reason: got.reason };
}

/** What the proxy answers to `METHOD target` on app.test, and whether the upstream saw it. */
async function sent(method: string, target: string, headers = ''): Promise<{ status: number; forwarded: boolean }> {
  stack.upstream.reset();
  const r = await rawRequest(stack.proxy.port, `${method} ${target} HTTP/1.1\r\nHost: app.test\r\n${headers}Connection: close\r\n\r\n`);
  return { status: r.status, forwarded: stack.upstream.seen.length > 0 };
}

describe('check --tests agrees with the proxy on the wire', () => {
  it('a path ztproxy answers itself (reserved /.ztproxy/, the assertion JWKS) is never "forwarded" by the check', async () => {
    // No OIDC login configured: everything under /.ztproxy/ is 404, on every host.
    for (const path of ['/.ztproxy/login', '/.ztproxy/anything']) {
      expect(await sent('GET', path)).toEqual({ status: 404, forwarded: false });
      expect(checked({ path })).toEqual({ status: 404, reason: 'reserved-path-unknown' });
    }
    expect(await sent('GET', '/.well-known/ztproxy/jwks.json')).toEqual({ status: 200, forwarded: false });
    expect(checked({ path: '/.well-known/ztproxy/jwks.json' })).toEqual({ status: 'local', reason: 'reserved-path' });
    expect(await sent('POST', '/.well-known/ztproxy/jwks.json', 'Content-Length: 0\r\n')).toEqual({ status: 405, forwarded: false });
    expect(checked({ method: 'POST', path: '/.well-known/ztproxy/jwks.json' })).toEqual({ status: 405, reason: 'reserved-path-method' });
  });

  it("TRACE, CONNECT and methods unknown to Node's parser are refused before any route: the check says so too", async () => {
    for (const method of ['TRACE', 'TRACK', 'FOO', 'PURGE']) {
      const wire = await sent(method, '/x');
      expect({ method, status: checked({ method, path: '/x' }).status }).toEqual({ method, status: wire.forwarded ? 200 : wire.status });
    }
    // A CONNECT names no path; one to a target no TCP route names is 404 on the wire and in the check.
    expect(checked({ method: 'CONNECT', path: '/x' })).toEqual({ status: 400, reason: 'connect-target-not-authority-form' });
    const wire = await rawRequest(stack.proxy.port, 'CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n');
    expect(wire.status).toBe(404);
    expect(checked({ method: 'CONNECT', host: 'app.test:443' })).toEqual({ status: 404, reason: 'no-route' });
  });

  it('a query the proxy refuses (raw space, non-ASCII) is refused by the check', async () => {
    const wire = await sent('GET', '/x?a="b"|{c}');
    expect(wire.status).toBe(200); // the permissive bytes pass
    expect(checked({ path: '/x?a="b"|{c}' }).status).toBe(200);
    expect(await sent('GET', '/x?é')).toEqual({ status: 400, forwarded: false });
    expect(checked({ path: '/x?é' }).status).toBe(400);
    expect(checked({ path: '/x?a b' }).status).toBe(400);
  });

  it('a target that is not origin-form is refused by the check as by the proxy', async () => {
    const wire = await sent('GET', 'x');
    expect(wire.forwarded).toBe(false);
    expect(checked({ path: 'x' }).status).toBe(wire.status);
  });

  it('an old login on an authAge route: the bearer caller gets 401 step-up on the wire, and in the check', async () => {
    const wire = await sent('GET', '/fresh/x', `Authorization: Bearer ${await token(3600)}\r\n`);
    expect(wire).toEqual({ status: 401, forwarded: false });
    const check = checked({ path: '/fresh/x', subject: { sub: 'alice', issuer: ISS, authAge: 3600 } });
    expect(check).toEqual({ status: 401, reason: 'step-up-required' });
    // A recent one passes in both.
    expect(await sent('GET', '/fresh/x', `Authorization: Bearer ${await token(10)}\r\n`)).toEqual({ status: 200, forwarded: true });
    expect(checked({ path: '/fresh/x', subject: { sub: 'alice', issuer: ISS, authAge: 10 } }).status).toBe(200);
  });
});
