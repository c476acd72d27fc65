// A renewal that began before a reload and is judged after it, over real sockets. The
// renewal waits on the device issuer's JWKS (fetched on first use: held here) while a
// reload sends the stream's route to a PDP that refuses it; the reload's question to that
// PDP is on the way when the renewal lands. Found in a review: the renewal judged the
// stream by the snapshot it began on (whose policy allows) and its generation bump voided
// the reload's pending refusal, so the stream stayed open under a config that refuses it
// until the next sweep (an hour here). It is judged by the snapshot in force now.
// Likewise two renewals of one stream at once: an older token checked before the wait
// must not replace the newer one another renewal applied during it.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';
import type { TestProxy } from '../helpers/proxy.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';
import { closedWithin, echo, openWs, renew, startWsUpstream, type WsUpstream } from '../helpers/ws-streams.ts';

const DEVICE_ISS = 'device-agent.test';

/** A JWKS endpoint whose answers can be held back. */
interface HeldJwks {
  readonly url: string;
  hits(): number;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

async function startHeldJwks(jwks: unknown): Promise<HeldJwks> {
  let holding = false;
  let hits = 0;
  let held: ServerResponse[] = [];
  const send = (res: ServerResponse): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  const server = createServer((_req, res) => {
    hits++;
    if (holding) held.push(res);
    else send(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    hits: () => hits,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      const waiting = held;
      held = [];
      for (const res of waiting) send(res);
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

let key: TestKey;
let deviceKey: CryptoKey;
let refusing: TestPdp;
let deviceJwks: HeldJwks;
let config: Record<string, unknown>;
/** Its own snapshot: its device key set is fetched on first use, so it can be held again. */
let second: TestProxy;

function withPdp(upstream: string, pdp: TestPdp): Record<string, unknown>[] {
  return [{ name: 'chat', match: { host: 'chat.test' }, upstream, websocket: true, pdp: { mode: 'authzen', url: pdp.origin, timeout: '5s', cache: { ttl: '0s' } } }];
}

function embedded(upstream: string): Record<string, unknown>[] {
  return [{ name: 'chat', match: { host: 'chat.test' }, upstream, websocket: true, policy: { allow: { authenticated: true } } }];
}

const stack = useProxyStack<WsUpstream>(
  async ({ pki, upstream, onClose, startProxy }) => {
    key = await makeKey('ES256');
    const pair = await generateKeyPair('ES256', { extractable: true });
    deviceKey = pair.privateKey;
    const jwks = await writeJwksFile(jwksOf(key));
    deviceJwks = await startHeldJwks({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'agent-1', alg: 'ES256', use: 'sig' }] });
    refusing = await startTestPdp(() => ({ decision: false }));
    onClose(() => Promise.all([jwks.cleanup(), deviceJwks.close(), refusing.close()]));
    config = {
      listen: { tls: serverTls(pki) },
      identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
      device: { issuers: [{ issuer: DEVICE_ISS, jwksUri: deviceJwks.url }], maxAge: '10m' },
      streams: { reauthorizeInterval: '1h' },
      routes: embedded(upstream.url),
    };
    second = await startProxy(config);
    return config;
  },
  { upstream: startWsUpstream },
);

const nowS = (): number => Math.floor(Date.now() / 1000);

function posture(device: string): Promise<string> {
  const iat = nowS();
  return new SignJWT({ iss: DEVICE_ISS, sub: device, iat, exp: iat + 600, posture: { managed: true } }).setProtectedHeader({ alg: 'ES256', kid: 'agent-1' }).sign(deviceKey);
}

describe('a renewal judged after a reload it began before', () => {
  it("is judged by the new config: the reload's pending refusal is not voided, the stream closes", async () => {
    const s = await openWs(stack.proxy.port, 'chat.test', { authorization: `Bearer ${await mint(key, accessClaims(nowS(), { sub: 'alice' }))}` });
    try {
      expect(await echo(s.ws, 'open')).toBe('echo:open');
      deviceJwks.hold();
      const fresh = await mint(key, accessClaims(nowS(), { sub: 'alice' }));
      const renewing = renew(stack.proxy.port, { 'x-zt-stream': s.streamId, authorization: `Bearer ${fresh}`, 'x-device-posture': await posture('laptop-1') });
      await expect.poll(() => deviceJwks.hits()).toBeGreaterThan(0);
      // The new config's PDP refuses, slowly: its answer is still on the way when the renewal lands.
      refusing.behave({ kind: 'slow', ms: 1000 });
      stack.proxy.writeConfig({ ...config, routes: withPdp(stack.upstream.url, refusing) });
      expect((await stack.proxy.proxy.reload('file')).errors).toEqual([]);
      await expect.poll(() => refusing.calls.length).toBeGreaterThan(0);
      deviceJwks.release();
      const answer = await renewing;
      expect(answer.status).toBe(403);
      expect(await closedWithin(s, 3000)).toBeDefined();
      stack.upstream.reset();
      expect(await echo(s.ws, 'after')).toBeUndefined();
      expect(stack.upstream.messages).toEqual([]);
    } finally {
      deviceJwks.release();
      s.ws.terminate();
    }
  });
});

describe('two renewals of one stream at once', () => {
  it('an older token that waited on the posture check does not replace the newer one applied meanwhile (401)', async () => {
    const t = nowS();
    const withIat = (iat: number, groups: string[]): Promise<string> => mint(key, accessClaims(t, { sub: 'alice', iat, exp: t + 600, groups }));
    const s = await openWs(second.port, 'chat.test', { authorization: `Bearer ${await withIat(t - 120, ['admins'])}` });
    try {
      deviceJwks.hold();
      const fetched = deviceJwks.hits();
      // Still from before the group was removed: broader claims than the newest token.
      const older = renew(second.port, { 'x-zt-stream': s.streamId, authorization: `Bearer ${await withIat(t - 60, ['admins'])}`, 'x-device-posture': await posture('laptop-1') });
      await expect.poll(() => deviceJwks.hits()).toBeGreaterThan(fetched);
      const newer = await renew(second.port, { 'x-zt-stream': s.streamId, authorization: `Bearer ${await withIat(t, [])}` });
      expect(newer.status).toBe(204);
      deviceJwks.release();
      expect((await older).status).toBe(401);
      expect(await echo(s.ws, 'kept')).toBe('echo:kept');
    } finally {
      deviceJwks.release();
      s.ws.terminate();
    }
  });
});
