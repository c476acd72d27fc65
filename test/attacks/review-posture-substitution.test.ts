// Attack review: token substitution between the two kinds of signed token a client
// presents (RFC 8725 §2.8, §3.12). A device-posture assertion and a bearer access token
// are both JWTs in a request header, checked by the same JOSE code; what tells them apart
// is whose keys verify them, chosen by `iss`. With one issuer configured for both, a
// posture assertion that carries the API's `aud` was accepted as an access token — its
// `sub`, a device id, became the user — and an access token with a `posture` claim as a
// device. Refused where it can be decided once: an issuer is either a bearer issuer or a
// device-trust issuer, never both. Two issuers that share keys stay apart: each token is
// verified only as what its `iss` says it is.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { get, startTestProxy } from '../helpers/proxy.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';

const USER_ISS = 'https://idp.test';
const DEVICE_ISS = 'device-agent.test';
const AUD = 'https://api.test';

let signingKey: CryptoKey;
let jwksFile: string;

function routes(upstream: string): Record<string, unknown>[] {
  return [
    { name: 'admin', match: { host: 'admin.test' }, upstream, policy: { allow: { user: ['admin'] } } },
    { name: 'managed', match: { host: 'managed.test' }, upstream, policy: { allow: { device: { managed: true } } } },
  ];
}

// One key pair for both issuers: the worst case, an IdP that also acts as device-trust issuer.
const stack = useProxyStack(async ({ upstream }) => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  signingKey = pair.privateKey;
  jwksFile = join(mkdtempSync(join(tmpdir(), 'ztproxy-subst-')), 'keys.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  return {
    identity: { jwt: [{ issuer: USER_ISS, audience: AUD, jwksFile, algorithms: ['ES256'] }] },
    device: { issuers: [{ issuer: DEVICE_ISS, jwksFile }] },
    routes: routes(upstream.url),
  };
});

async function sign(claims: Record<string, unknown>, typ?: string): Promise<string> {
  const t = Math.floor(Date.now() / 1000);
  return new SignJWT({ iat: t, exp: t + 300, ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'k1', ...(typ ? { typ } : {}) }).sign(signingKey);
}

describe('one issuer for bearer tokens and posture assertions', () => {
  it('is a config error, reported at the device issuer', () => {
    const config = {
      listen: { address: '127.0.0.1:8443', tls: { cert: 'package.json', key: 'package.json' } },
      identity: { jwt: [{ issuer: USER_ISS, audience: AUD, jwksFile: 'package.json', algorithms: ['ES256'] }] },
      device: { issuers: [{ issuer: 'device-agent.test', jwksFile: 'package.json' }, { issuer: USER_ISS, jwksFile: 'package.json' }] },
      routes: [{ name: 'app', upstream: 'http://127.0.0.1:9000', policy: { allow: { accept: true } } }],
    };
    expect(parseConfig(stringify(config), process.cwd(), {}).errors).toEqual([
      'device.issuers.1.issuer: https://idp.test is also a bearer-token issuer (identity.jwt.0): a posture assertion could be presented as an access token and an access token as posture (RFC 8725 §3.12); give the device-trust issuer its own iss',
    ]);
  });

  it('a proxy with such a config never starts, so a posture assertion never becomes the user "admin"', async () => {
    const upstream = stack.upstream;
    const config = {
      listen: { tls: serverTls(stack.pki) },
      identity: { jwt: [{ issuer: USER_ISS, audience: AUD, jwksFile, algorithms: ['ES256'] }] },
      device: { issuers: [{ issuer: USER_ISS, jwksFile }] },
      routes: routes(upstream.url),
    };
    let proxy: Awaited<ReturnType<typeof startTestProxy>> | undefined;
    try {
      proxy = await startTestProxy(config);
    } catch (err) {
      expect(String(err)).toMatch(/also a bearer-token issuer/);
    }
    if (proxy !== undefined) {
      // Without the refusal: the device "admin"'s posture assertion, sent as a bearer token.
      const posture = await sign({ iss: USER_ISS, sub: 'admin', aud: AUD, posture: { managed: true } });
      const asBearer = await get(proxy.port, '/x', { host: 'admin.test', headers: { authorization: `Bearer ${posture}` } });
      const access = await sign({ iss: USER_ISS, sub: 'alice', aud: AUD, posture: { managed: true } }, 'at+jwt');
      const asPosture = await get(proxy.port, '/x', { host: 'managed.test', headers: { 'x-device-posture': access } });
      await proxy.close();
      expect({ asBearer: asBearer.status, asPosture: asPosture.status, upstreamSaw: upstream.seen.length }).toEqual({ asBearer: 'not started', asPosture: 'not started', upstreamSaw: 0 });
    }
  });
});

describe('two issuers sharing one key stay apart (held)', () => {
  it('a posture assertion with the API audience is no bearer token; an access token with a posture claim is no posture', async () => {
    const posture = await sign({ iss: DEVICE_ISS, sub: 'admin', aud: AUD, posture: { managed: true } });
    expect((await get(stack.proxy.port, '/x', { host: 'admin.test', headers: { authorization: `Bearer ${posture}` } })).status).toBe(401);
    const access = await sign({ iss: USER_ISS, sub: 'alice', aud: AUD, posture: { managed: true } }, 'at+jwt');
    expect((await get(stack.proxy.port, '/x', { host: 'managed.test', headers: { 'x-device-posture': access } })).status).toBe(403);
    expect(stack.upstream.seen).toEqual([]);
    // The genuine article works, so the refusals above are about the kind of token.
    expect((await get(stack.proxy.port, '/x', { host: 'managed.test', headers: { 'x-device-posture': posture } })).status).toBe(200);
  });
});
