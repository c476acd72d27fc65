// Continuous re-authorization of open WebSocket streams over real sockets (SPEC §8, issue
// #6 point 4): a reload that changes a stream's answer cuts it at once and one that does
// not keeps it; a token's exp ends its stream unless renewed; the sweep (1 s here) finds
// what no event announces (a PDP that changed its mind); every cut is in the access log,
// in a `stream closed` line and in ztproxy_stream_closes_total. And the renewal endpoint
// (POST /.ztproxy/streams/renew): accepted for the stream's owner, and the same 404 for
// every id that is not the caller's.
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';
import { accessLine, closeLine, closedWithin, closesCounted, echo, openWs, renew, startWsUpstream, type OpenWs, type WsUpstream } from '../helpers/ws-streams.ts';

const OTHER_ISSUER = 'https://other-issuer.test';
const DEVICE_ISS = 'device-agent.test';
const INTERVAL_MS = 1000;
/** Event-loop and socket slack on a shared 2-core machine: never a timing claim, only "not much later". */
const SLACK_MS = 1500;

let userKey: TestKey;
let otherKey: TestKey;
let deviceKey: CryptoKey;
let pdp: TestPdp;
let pdpAllows = true;
let config: Record<string, unknown>;

function routes(upstream: string, chatUsers: string[]): Record<string, unknown>[] {
  return [
    { name: 'chat', match: { host: 'chat.test' }, upstream, websocket: true, policy: { allow: { user: chatUsers } } },
    { name: 'other', match: { host: 'other.test' }, upstream, websocket: true, policy: { allow: { authenticated: true } } },
    { name: 'managed', match: { host: 'managed.test' }, upstream, websocket: true, policy: { allow: { and: [{ authenticated: true }, { device: { managed: true } }] } } },
    { name: 'remote', match: { host: 'remote.test' }, upstream, websocket: true, pdp: { mode: 'authzen', url: pdp.origin, timeout: '2s', cache: { ttl: '0s' } } },
  ];
}

const stack = useProxyStack<WsUpstream>(
  async ({ pki, upstream, onClose }) => {
    userKey = await makeKey('ES256');
    otherKey = await makeKey('ES256');
    const pair = await generateKeyPair('ES256', { extractable: true });
    deviceKey = pair.privateKey;
    const users = await writeJwksFile(jwksOf(userKey));
    const others = await writeJwksFile(jwksOf(otherKey));
    const devices = await writeJwksFile({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'agent-1', alg: 'ES256', use: 'sig' }] });
    pdp = await startTestPdp(() => ({ decision: pdpAllows }));
    onClose(() => Promise.all([users.cleanup(), others.cleanup(), devices.cleanup(), pdp.close()]));
    config = {
      listen: { tls: serverTls(pki) },
      identity: {
        jwt: [
          { issuer: ISSUER, audience: AUDIENCE, jwksFile: users.path, algorithms: ['ES256'] },
          { issuer: OTHER_ISSUER, audience: AUDIENCE, jwksFile: others.path, algorithms: ['ES256'] },
        ],
      },
      device: { issuers: [{ issuer: DEVICE_ISS, jwksFile: devices.path }], maxAge: '10m' },
      streams: { reauthorizeInterval: `${INTERVAL_MS}ms` },
      routes: routes(upstream.url, ['alice', 'bob']),
    };
    return config;
  },
  { upstream: startWsUpstream },
);

const nowS = (): number => Math.floor(Date.now() / 1000);

function token(sub: string, extra: Record<string, unknown> = {}, key = userKey, issuer = ISSUER): Promise<string> {
  return mint(key, accessClaims(nowS(), { sub, ...extra }, issuer));
}

function posture(device: string, managed: boolean, iat = nowS()): Promise<string> {
  return new SignJWT({ iss: DEVICE_ISS, sub: device, iat, exp: iat + 600, posture: { managed } }).setProtectedHeader({ alg: 'ES256', kid: 'agent-1' }).sign(deviceKey);
}

function open(host: string, bearer: string, extra: Record<string, string> = {}): Promise<OpenWs> {
  return openWs(stack.proxy.port, host, { authorization: `Bearer ${bearer}`, ...extra });
}

async function reload(next: Record<string, unknown>): Promise<void> {
  stack.proxy.writeConfig(next);
  const result = await stack.proxy.proxy.reload('file');
  expect(result).toEqual({ ok: true, errors: [] });
}

describe('a reload re-judges every open stream at once', () => {
  it('keeps every stream when the change does not touch its answer; cuts only those it now refuses (policy-denied), within the interval', async () => {
    const chat = await open('chat.test', await token('alice'));
    const other = await open('other.test', await token('alice'));
    const bobChat = await open('chat.test', await token('bob'));
    try {
      // A route added, the log level unchanged: nothing any stream rides on.
      await reload({ ...config, routes: [...routes(stack.upstream.url, ['alice', 'bob']), { name: 'extra', match: { host: 'extra.test' }, upstream: stack.upstream.url, policy: { allow: { accept: true } } }] });
      expect(await closedWithin(chat, INTERVAL_MS + SLACK_MS)).toBeUndefined();
      expect(await echo(chat.ws, 'after-harmless-reload')).toBe('echo:after-harmless-reload');
      expect(await echo(bobChat.ws, 'bob-1')).toBe('echo:bob-1');

      // alice loses the chat route: her chat stream goes, bob's and her other stream stay.
      const before = await closesCounted(stack.proxy, 'websocket', 'policy-denied');
      const reloadedAt = Date.now();
      await reload({ ...config, routes: routes(stack.upstream.url, ['bob']) });
      const closedAt = await closedWithin(chat, INTERVAL_MS + SLACK_MS);
      expect(closedAt).toBeDefined();
      expect(closedAt! - reloadedAt).toBeLessThan(INTERVAL_MS + SLACK_MS);
      stack.upstream.reset();
      expect(await echo(chat.ws, 'after-cut')).toBeUndefined();
      expect(stack.upstream.messages).not.toContain('after-cut');
      expect(await echo(other.ws, 'other-kept')).toBe('echo:other-kept');
      expect(await echo(bobChat.ws, 'bob-kept')).toBe('echo:bob-kept');

      await expect.poll(() => accessLine(stack.proxy, chat.requestId)).toMatchObject({ status: 101, route: 'chat', subject: 'alice', reason: 'policy-denied' });
      expect(closeLine(stack.proxy, chat.requestId)).toMatchObject({ kind: 'websocket', route: 'chat', subject: 'alice', reason: 'policy-denied' });
      expect(closeLine(stack.proxy, bobChat.requestId)).toBeUndefined();
      expect(await closesCounted(stack.proxy, 'websocket', 'policy-denied')).toBe(before + 1);
    } finally {
      for (const s of [chat, other, bobChat]) s.ws.terminate();
      await reload(config);
    }
  });

  it('a route removed → route-removed; a route sent to another upstream → route-changed', async () => {
    const other = await open('other.test', await token('alice'));
    const chat = await open('chat.test', await token('alice'));
    try {
      const rest = routes(stack.upstream.url, ['alice', 'bob']);
      const moved = rest.map((r) => (r.name === 'chat' ? { ...r, upstream: 'http://127.0.0.1:9' } : r)).filter((r) => r.name !== 'other');
      await reload({ ...config, routes: moved });
      expect(await closedWithin(other, INTERVAL_MS + SLACK_MS)).toBeDefined();
      expect(await closedWithin(chat, INTERVAL_MS + SLACK_MS)).toBeDefined();
      await expect.poll(() => accessLine(stack.proxy, other.requestId)?.reason).toBe('route-removed');
      await expect.poll(() => accessLine(stack.proxy, chat.requestId)?.reason).toBe('route-changed');
    } finally {
      other.ws.terminate();
      chat.ws.terminate();
      await reload(config);
    }
  });
});

describe('a reload and the credentials a stream rides on', () => {
  it("removing the token's issuer from identity.jwt closes its streams (token-issuer-removed); the other issuer's stay", async () => {
    const theirs = await open('other.test', await token('alice', {}, otherKey, OTHER_ISSUER));
    const ours = await open('other.test', await token('alice'));
    try {
      const identity = config.identity as { jwt: unknown[] };
      await reload({ ...config, identity: { jwt: [identity.jwt[0]] } });
      expect(await closedWithin(theirs, INTERVAL_MS + SLACK_MS)).toBeDefined();
      await expect.poll(() => accessLine(stack.proxy, theirs.requestId)?.reason).toBe('token-issuer-removed');
      expect(await echo(ours.ws, 'ours')).toBe('echo:ours');
    } finally {
      theirs.ws.terminate();
      ours.ws.terminate();
      await reload(config);
    }
  });
});

describe('the sweep', () => {
  it('closes a stream within one interval once its remote PDP says no (nothing else announced it)', async () => {
    pdpAllows = true;
    const remote = await open('remote.test', await token('alice'));
    try {
      const calls = pdp.calls.length;
      // Sweeps keep asking (no cache here) and keep the stream while the answer is yes.
      await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS + 200));
      expect(pdp.calls.length).toBeGreaterThan(calls);
      expect(await echo(remote.ws, 'still-allowed')).toBe('echo:still-allowed');
      pdpAllows = false;
      const flippedAt = Date.now();
      const closedAt = await closedWithin(remote, INTERVAL_MS + SLACK_MS);
      expect(closedAt).toBeDefined();
      expect(closedAt! - flippedAt).toBeLessThan(INTERVAL_MS + SLACK_MS);
      await expect.poll(() => accessLine(stack.proxy, remote.requestId)?.reason).toBe('policy-denied');
    } finally {
      pdpAllows = true;
      remote.ws.terminate();
    }
  });
});

describe('token expiry', () => {
  it('ends the stream at the token exp (token-expired) unless a fresh token renewed it (204)', async () => {
    const exp = nowS() + 2;
    const ending = await open('other.test', await token('alice', { exp }));
    const renewed = await open('other.test', await token('alice', { exp }));
    try {
      const res = await renew(stack.proxy.port, { 'x-zt-stream': renewed.streamId, authorization: `Bearer ${await token('alice', { exp: nowS() + 120 })}` });
      expect(res.status).toBe(204);
      expect(res.body).toBe('');
      const closedAt = await closedWithin(ending, 4000);
      expect(closedAt).toBeDefined();
      expect(closedAt!).toBeGreaterThanOrEqual(exp * 1000);
      await expect.poll(() => accessLine(stack.proxy, ending.requestId)?.reason).toBe('token-expired');
      expect(await closesCounted(stack.proxy, 'websocket', 'token-expired')).toBeGreaterThanOrEqual(1);
      expect(await echo(renewed.ws, 'renewed')).toBe('echo:renewed');
    } finally {
      ending.ws.terminate();
      renewed.ws.terminate();
    }
  });
});

describe('POST /.ztproxy/streams/renew', () => {
  it("answers every id that is not the caller's stream with the same 404 — another user's token, another issuer's same sub, a made-up or malformed id — and a refused token 401 whatever the id", async () => {
    const alice = await open('other.test', await token('alice'));
    try {
      const port = stack.proxy.port;
      const fakeId = 'AAAAAAAAAAAAAAAAAAAAAA';
      const cases: [string, Record<string, string>][] = [
        ["bob's token on alice's stream", { 'x-zt-stream': alice.streamId, authorization: `Bearer ${await token('bob')}` }],
        ['another issuer, same sub', { 'x-zt-stream': alice.streamId, authorization: `Bearer ${await token('alice', {}, otherKey, OTHER_ISSUER)}` }],
        ['an id nobody holds', { 'x-zt-stream': fakeId, authorization: `Bearer ${await token('alice')}` }],
        ['a malformed id', { 'x-zt-stream': '../../etc', authorization: `Bearer ${await token('alice')}` }],
      ];
      for (const [name, headers] of cases) {
        const res = await renew(port, headers);
        expect(res.status, name).toBe(404);
        expect(JSON.parse(res.body), name).toMatchObject({ error: 'unknown stream' });
      }
      // A forged token: 401 for the real id and for a made-up one alike.
      const forged = await mint(await makeKey('ES256', userKey.kid), accessClaims(nowS(), { sub: 'alice' }));
      for (const id of [alice.streamId, fakeId]) {
        const res = await renew(port, { 'x-zt-stream': id, authorization: `Bearer ${forged}` });
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toContain('invalid_token');
      }
      expect((await renew(port, { 'x-zt-stream': alice.streamId })).status).toBe(400);
      expect((await renew(port, { authorization: `Bearer ${await token('alice')}` })).status).toBe(400);
      expect((await renew(port, { 'x-zt-stream': alice.streamId, authorization: `Bearer ${await token('alice')}` }, 'GET')).status).toBe(405);
      // None of it touched the stream.
      expect(await echo(alice.ws, 'untouched')).toBe('echo:untouched');
      expect(closeLine(stack.proxy, alice.requestId)).toBeUndefined();
    } finally {
      alice.ws.terminate();
    }
  });

  it("refuses the owner's older token (claims from before a change), and answers 404 once the stream is closed", async () => {
    const alice = await open('other.test', await token('alice'));
    const res = await renew(stack.proxy.port, { 'x-zt-stream': alice.streamId, authorization: `Bearer ${await token('alice', { iat: nowS() - 60 })}` });
    expect(res.status).toBe(401);
    expect(await echo(alice.ws, 'still')).toBe('echo:still');
    alice.ws.terminate();
    await alice.closed;
    await expect.poll(() => accessLine(stack.proxy, alice.requestId)).toBeDefined();
    const late = await renew(stack.proxy.port, { 'x-zt-stream': alice.streamId, authorization: `Bearer ${await token('alice')}` });
    expect(late.status).toBe(404);
  });

  it("refuses another device's posture (403, the stream kept); a downgraded posture of the same device closes the stream at once", async () => {
    const s = await open('managed.test', await token('alice'), { 'x-device-posture': await posture('laptop-1', true) });
    try {
      const swapped = await renew(stack.proxy.port, { 'x-zt-stream': s.streamId, authorization: `Bearer ${await token('alice')}`, 'x-device-posture': await posture('laptop-2', true) });
      expect(swapped.status).toBe(403);
      expect(await echo(s.ws, 'kept')).toBe('echo:kept');
      const fresh = await renew(stack.proxy.port, { 'x-zt-stream': s.streamId, authorization: `Bearer ${await token('alice')}`, 'x-device-posture': await posture('laptop-1', true) });
      expect(fresh.status).toBe(204);
      const downgraded = await renew(stack.proxy.port, { 'x-zt-stream': s.streamId, authorization: `Bearer ${await token('alice')}`, 'x-device-posture': await posture('laptop-1', false) });
      expect(downgraded.status).toBe(403);
      expect(await closedWithin(s, 1000)).toBeDefined();
      await expect.poll(() => accessLine(stack.proxy, s.requestId)?.reason).toBe('policy-denied');
    } finally {
      s.ws.terminate();
    }
  });
});
