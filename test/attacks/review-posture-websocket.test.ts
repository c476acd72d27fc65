// Attack review: a WebSocket tunnel outliving the posture that opened it (SPEC §6 "posture
// is checked on every request", §8 "long-lived streams are re-authorized while open and
// closed when the answer turns to no"). A tunnel is one request that lasts for hours: the
// handshake was judged with the device's assertion, and the upstream was told its posture
// in the handshake's X-ZT-Assertion. Once that assertion stops counting (stale at
// iat + maxAge, or expired), a device that has since switched its firewall off would
// otherwise keep its stream for good. The tunnel is re-decided without the device then:
// closed (access log `posture-expired`) where the route needs posture, kept where it
// does not.
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';
import { useProxyStack } from '../helpers/stack.ts';
import { echo, startWsUpstream, type WsUpstream } from '../helpers/ws-streams.ts';

const DEVICE_ISS = 'device-agent.test';
const MAX_AGE_S = 2;

let userKey: TestKey;
let deviceKey: CryptoKey;
let pdp: TestPdp;

const stack = useProxyStack<WsUpstream>(
  async ({ upstream, onClose }) => {
    userKey = await makeKey('ES256');
    const pair = await generateKeyPair('ES256', { extractable: true });
    deviceKey = pair.privateKey;
    const users = await writeJwksFile(jwksOf(userKey));
    const devices = await writeJwksFile({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'agent-1', alg: 'ES256', use: 'sig' }] });
    // A PDP (not ztproxy's engine) that admits managed devices only.
    pdp = await startTestPdp((body) => {
      const device = (body.context as { device?: { posture?: { managed?: boolean } } } | undefined)?.device;
      return { decision: device?.posture?.managed === true };
    });
    onClose(() => Promise.all([users.cleanup(), devices.cleanup(), pdp.close()]));
    return {
      identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: users.path, algorithms: ['ES256'] }] },
      device: { issuers: [{ issuer: DEVICE_ISS, jwksFile: devices.path }], maxAge: `${MAX_AGE_S}s` },
      routes: [
        { name: 'secure', match: { host: 'secure.test' }, upstream: upstream.url, websocket: true, policy: { allow: { and: [{ authenticated: true }, { device: { managed: true } }] } } },
        { name: 'remote', match: { host: 'remote.test' }, upstream: upstream.url, websocket: true, pdp: { mode: 'authzen', url: pdp.origin, timeout: '2s', cache: { ttl: '0s' } } },
        { name: 'open', match: { host: 'open.test' }, upstream: upstream.url, websocket: true, policy: { allow: { authenticated: true } } },
      ],
    };
  },
  { upstream: startWsUpstream },
);

async function open(host: string, posture: string, token: string): Promise<{ ws: WebSocket; id: string; closed: Promise<number> }> {
  const ws = new WebSocket(`wss://127.0.0.1:${stack.proxy.port}/chat`, {
    rejectUnauthorized: false,
    headers: { host, authorization: `Bearer ${token}`, 'x-device-posture': posture },
  });
  ws.on('error', () => {});
  const id = await new Promise<string>((resolve, reject) => {
    ws.once('upgrade', (res) => resolve(String(res.headers['x-request-id'])));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
  });
  await new Promise((resolve) => (ws.readyState === WebSocket.OPEN ? resolve(undefined) : ws.once('open', resolve)));
  const closed = new Promise<number>((resolve) => ws.once('close', () => resolve(Date.now())));
  return { ws, id, closed };
}

describe('a WebSocket tunnel opened with a posture assertion', () => {
  it('is closed when the assertion goes stale on a route that needs posture (embedded or remote PDP), and kept on one that does not', async () => {
    const iat = Math.floor(Date.now() / 1000);
    // exp far beyond maxAge: staleness, not expiry, is what ends this assertion.
    const posture = await new SignJWT({ iss: DEVICE_ISS, sub: 'laptop-1', iat, exp: iat + 600, posture: { managed: true } })
      .setProtectedHeader({ alg: 'ES256', kid: 'agent-1' })
      .sign(deviceKey);
    const token = await mint(userKey, accessClaims(iat, { sub: 'alice' }));
    const secure = await open('secure.test', posture, token);
    const other = await open('open.test', posture, token);
    const remote = await open('remote.test', posture, token);
    try {
      expect(await echo(secure.ws, 'fresh')).toBe('echo:fresh');
      const staleAt = (iat + MAX_AGE_S) * 1000;
      const closedAt = await Promise.race([secure.closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), staleAt - Date.now() + 3000))]);
      expect(closedAt).toBeDefined();
      expect(closedAt).toBeGreaterThanOrEqual(staleAt);
      // Nothing sent on the stale tunnel reaches the upstream.
      await echo(secure.ws, 'stale');
      expect(stack.upstream.messages).not.toContain('stale');
      const log = stack.proxy.logs.find((l) => l.msg === 'request' && l.requestId === secure.id);
      expect(log).toMatchObject({ reason: 'posture-expired', deviceId: 'laptop-1' });
      // A remote PDP is asked again, without the device, and its no closes the tunnel too.
      expect(await remote.closed).toBeGreaterThanOrEqual(staleAt);
      expect(pdp.calls.map((c) => (c.body?.context as Record<string, unknown>).device === undefined)).toEqual([false, true]);
      expect(stack.proxy.logs.find((l) => l.msg === 'request' && l.requestId === remote.id)).toMatchObject({ reason: 'posture-expired' });
      // The route that never asked for posture keeps its tunnel.
      expect(await echo(other.ws, 'still-here')).toBe('echo:still-here');
    } finally {
      secure.ws.terminate();
      other.ws.terminate();
      remote.ws.terminate();
    }
  });
});
