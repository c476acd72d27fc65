// Attacks on continuous re-authorization over real sockets (issue #6 point 4), found in a
// review of the stream registry:
//  - a stream whose handshake was still in flight when a reload refused it, or when its
//    subject was banned, was registered after the reload's walk and the ban's lookup had
//    passed it by — and stayed open for up to an interval (an hour here);
//  - the deadline heap kept a slot for every stream ever opened until that stream's
//    deadline (its token's exp: hours), with the stream's context and socket: a client
//    opening and closing streams in a loop grew it without bound.
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';
import { get, type TestProxy } from '../helpers/proxy.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';
import { openTunnel, startTcpUpstream, type TcpUpstream } from '../helpers/tcp.ts';
import { accessLine, closedWithin, echo, openWs, startHoldingWsUpstream, type HoldingWsUpstream, type OpenWs } from '../helpers/ws-streams.ts';

/** Cut "at once": far inside the hour-long interval (socket and event-loop slack only). */
const AT_ONCE_MS = 3000;

let key: TestKey;
let pdp: TestPdp;
let tcp: TcpUpstream;
let banning: TestProxy;
let config: Record<string, unknown>;

function routes(upstream: string, chatUsers: string[], tunnelPdp: boolean): Record<string, unknown>[] {
  return [
    { name: 'chat', match: { host: 'chat.test' }, upstream, websocket: true, policy: { allow: { user: chatUsers } } },
    { name: 'forbidden', match: { host: 'forbidden.test' }, upstream, policy: { allow: { user: ['nobody'] } } },
    tunnelPdp
      ? { name: 'ssh', match: { host: 'ssh.internal', port: 22 }, upstream: tcp.url, pdp: { mode: 'authzen', url: pdp.origin, timeout: '5s', cache: { ttl: '0s' } } }
      : { name: 'ssh', match: { host: 'ssh.internal', port: 22 }, upstream: tcp.url, policy: { allow: { user: chatUsers } } },
  ];
}

const stack = useProxyStack<HoldingWsUpstream>(
  async ({ pki, upstream, onClose, startProxy }) => {
    key = await makeKey('ES256');
    const jwks = await writeJwksFile(jwksOf(key));
    pdp = await startTestPdp(() => ({ decision: true }));
    tcp = await startTcpUpstream('silent');
    onClose(() => Promise.all([jwks.cleanup(), pdp.close(), tcp.close()]));
    config = {
      listen: { tls: serverTls(pki) },
      identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
      streams: { reauthorizeInterval: '1h' },
      routes: routes(upstream.url, ['alice', 'bob'], true),
    };
    banning = await startProxy({ ...config, lockout: { maxFailures: 3, window: '1m', banFor: '1m' } });
    return config;
  },
  { upstream: startHoldingWsUpstream },
);

/** openWs, or undefined when the connection closes before the handshake completed (cut before the 101 reached the client). */
function openOrCut(port: number, bearer: string): Promise<OpenWs | undefined> {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/chat`, { rejectUnauthorized: false, headers: { host: 'chat.test', authorization: `Bearer ${bearer}` } });
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.once('close', () => resolve(Date.now())));
  return new Promise((resolve) => {
    ws.once('upgrade', (res) => {
      const ids = { requestId: String(res.headers['x-request-id']), streamId: String(res.headers['x-zt-stream']) };
      resolve({ ws, closed, ...ids });
    });
    ws.once('unexpected-response', () => resolve(undefined));
    void closed.then(() => resolve(undefined));
  });
}

const nowS = (): number => Math.floor(Date.now() / 1000);
const token = (sub: string, extra: Record<string, unknown> = {}): Promise<string> => mint(key, accessClaims(nowS(), { sub, exp: nowS() + 3600, ...extra }));

async function reload(next: Record<string, unknown>): Promise<void> {
  stack.proxy.writeConfig(next);
  const result = await stack.proxy.proxy.reload('file');
  expect(result.errors).toEqual([]);
}

describe('a stream whose handshake is in flight when its answer turns to no', () => {
  it('a reload that refuses it while the upstream answers the WebSocket handshake: cut as it opens, not an interval later', async () => {
    const held = stack.upstream.hold();
    const opening = openOrCut(stack.proxy.port, await token('alice'));
    try {
      await held;
      // The handshake passed the chain on the old config and waits for the upstream's 101.
      await reload({ ...config, routes: routes(stack.upstream.url, ['bob'], true) });
      stack.upstream.release();
      const s = await opening;
      if (s !== undefined) {
        expect(await closedWithin(s, AT_ONCE_MS)).toBeDefined();
        stack.upstream.reset();
        expect(await echo(s.ws, 'after-reload')).toBeUndefined();
        expect(stack.upstream.messages).toEqual([]);
        await expect.poll(() => accessLine(stack.proxy, s.requestId)?.reason).toBe('policy-denied');
      }
      expect(stack.proxy.proxy.streams.size).toBe(0);
      await expect.poll(() => stack.proxy.logs.find((l) => l.msg === 'stream closed')).toMatchObject({ kind: 'websocket', subject: 'alice', reason: 'policy-denied' });
    } finally {
      stack.upstream.release();
      void opening.then((s) => s?.ws.terminate());
      await reload(config);
    }
  });

  it('a reload that refuses a CONNECT while its PDP answer is on the way: no 200, and the bytes sent behind the CONNECT never reach the upstream', async () => {
    pdp.behave({ kind: 'slow', ms: 800 });
    tcp.reset();
    try {
      const opening = openTunnel(stack.proxy.port, 'ssh.internal:22', { headers: { authorization: `Bearer ${await token('alice')}` }, after: 'SSH-2.0-smuggled\r\n' });
      await expect.poll(() => pdp.calls.length).toBeGreaterThan(0);
      // The PDP (old config) will allow; the new config lets only bob through.
      await reload({ ...config, routes: routes(stack.upstream.url, ['bob'], false) });
      const answer = await opening;
      answer.socket.destroy();
      expect(answer.status).not.toBe(200);
      await new Promise((r) => setTimeout(r, 200));
      expect(tcp.received().length).toBe(0);
      expect(stack.proxy.proxy.streams.size).toBe(0);
    } finally {
      pdp.reset();
      await reload(config);
    }
  });

  it("a ban of its subject while the upstream answers the WebSocket handshake: cut as it opens (locked-out)", async () => {
    const held = stack.upstream.hold();
    const opening = openOrCut(banning.port, await token('alice'));
    try {
      await held;
      for (let i = 0; i < 3; i++) {
        const res = await get(banning.port, '/x', { host: 'forbidden.test', headers: { authorization: `Bearer ${await token('alice')}` } });
        expect(res.status).toBe(403);
      }
      stack.upstream.release();
      const s = await opening;
      if (s !== undefined) {
        expect(await closedWithin(s, AT_ONCE_MS)).toBeDefined();
        await expect.poll(() => accessLine(banning, s.requestId)?.reason).toBe('locked-out');
      }
      expect(banning.proxy.streams.size).toBe(0);
      await expect.poll(() => banning.logs.find((l) => l.msg === 'stream closed')).toMatchObject({ kind: 'websocket', subject: 'alice', reason: 'locked-out' });
    } finally {
      stack.upstream.release();
      void opening.then((s) => s?.ws.terminate());
    }
  });
});

describe('streams opened and closed in a loop', () => {
  it('leave nothing behind on the deadline heap: one slot per open stream, none for closed ones', async () => {
    const kept = await openWs(stack.proxy.port, 'chat.test', { authorization: `Bearer ${await token('bob')}` });
    try {
      const bearer = await token('alice');
      for (let i = 0; i < 40; i++) {
        const s = await openWs(stack.proxy.port, 'chat.test', { authorization: `Bearer ${bearer}` });
        s.ws.terminate();
        await s.closed;
      }
      await expect.poll(() => stack.proxy.proxy.streams.size).toBe(1);
      expect(stack.proxy.proxy.streams.deadlinesQueued).toBe(1);
      expect(await echo(kept.ws, 'still')).toBe('echo:still');
    } finally {
      kept.ws.terminate();
    }
    await expect.poll(() => stack.proxy.proxy.streams.deadlinesQueued).toBe(0);
  });
});

