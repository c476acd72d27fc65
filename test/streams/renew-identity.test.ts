// The renewal endpoint and the lockout, over real sockets: a stream opened over a client
// certificate is renewed only over the same certificate identity (no certificate, or
// another one: the same 404 as an unknown id); guessing stream ids from one address ends
// in 429 before any token is verified; a user banned by the lockout loses their open
// streams at once (the sweep interval here is an hour).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';
import { get, type TestProxy } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';
import { accessLine, closeLine, closedWithin, echo, openWs, renew, startWsUpstream } from '../helpers/ws-streams.ts';

let key: TestKey;
let lockBan: TestProxy;
let lockFlood: TestProxy;

const stack = useProxyStack(
  async ({ pki, upstream, onClose, startProxy }) => {
    key = await makeKey('ES256');
    const jwks = await writeJwksFile(jwksOf(key));
    onClose(() => jwks.cleanup());
    const base = {
      listen: { clientAuth: { mode: 'optional', ca: pki.ca.certPath } },
      identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
      streams: { reauthorizeInterval: '1h' },
      routes: [
        { name: 'workload', match: { host: 'app.test' }, upstream: upstream.url, websocket: true, policy: { allow: { and: [{ user: ['alice'] }, { spiffe: { id: pki.spiffeId } }] } } },
        { name: 'api', match: { host: 'api.test' }, upstream: upstream.url, websocket: true, policy: { allow: { authenticated: true } } },
        { name: 'forbidden', match: { host: 'forbidden.test' }, upstream: upstream.url, policy: { allow: { user: ['nobody'] } } },
      ],
    };
    const lockout = { maxFailures: 3, window: '1m', banFor: '1m' };
    [lockBan, lockFlood] = await Promise.all([startProxy({ ...base, lockout }), startProxy({ ...base, lockout })]);
    return base;
  },
  { upstream: startWsUpstream },
);

const nowS = (): number => Math.floor(Date.now() / 1000);
const token = (sub: string, extra: Record<string, unknown> = {}): Promise<string> => mint(key, accessClaims(nowS(), { sub, ...extra }));

function clientTls(which: 'valid' | 'twoSpiffe'): { cert: Buffer; key: Buffer } {
  const c = stack.pki.clients[which];
  return { cert: readFileSync(c.certPath), key: readFileSync(c.keyPath) };
}

describe('renewing a stream opened over a client certificate', () => {
  it('needs the same certificate identity: without one, or with another, 404 like an unknown id; with it, 204', async () => {
    const s = await openWs(stack.proxy.port, 'app.test', { authorization: `Bearer ${await token('alice')}` }, '/chat', clientTls('valid'));
    try {
      const port = stack.proxy.port;
      const fresh = `Bearer ${await token('alice', { exp: nowS() + 600 })}`;
      const withoutCert = await renew(port, { 'x-zt-stream': s.streamId, authorization: fresh });
      expect(withoutCert.status).toBe(404);
      expect(JSON.parse(withoutCert.body)).toMatchObject({ error: 'unknown stream' });
      const otherCert = await renew(port, { 'x-zt-stream': s.streamId, authorization: fresh }, 'POST', clientTls('twoSpiffe'));
      expect(otherCert.status).toBe(404);
      expect(JSON.parse(otherCert.body)).toMatchObject({ error: 'unknown stream' });
      const same = await renew(port, { 'x-zt-stream': s.streamId, authorization: fresh }, 'POST', clientTls('valid'));
      expect(same.status).toBe(204);
      expect(await echo(s.ws, 'kept')).toBe('echo:kept');
    } finally {
      s.ws.terminate();
    }
  });
});

describe('renewal and the lockout', () => {
  it('guessing stream ids from one address: each 404 counts; past maxFailures 429, even for the owner with a good token', async () => {
    const alice = await openWs(lockFlood.port, 'api.test', { authorization: `Bearer ${await token('alice')}` });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await renew(lockFlood.port, { 'x-zt-stream': `guess${String(i).padStart(17, '0')}`, authorization: `Bearer ${await token('mallory')}` });
        expect(res.status).toBe(404);
      }
      const banned = await renew(lockFlood.port, { 'x-zt-stream': alice.streamId, authorization: `Bearer ${await token('alice')}` });
      expect(banned.status).toBe(429);
      expect(banned.headers['retry-after']).toBeDefined();
    } finally {
      alice.ws.terminate();
    }
  });

  it('a user banned for repeated denials loses their open stream at once (locked-out), within an hour-long interval', async () => {
    const alice = await openWs(lockBan.port, 'api.test', { authorization: `Bearer ${await token('alice')}` });
    try {
      expect(await echo(alice.ws, 'before')).toBe('echo:before');
      const bannedAt = Date.now();
      for (let i = 0; i < 3; i++) {
        const res = await get(lockBan.port, '/x', { host: 'forbidden.test', headers: { authorization: `Bearer ${await token('alice')}` } });
        expect(res.status).toBe(403);
      }
      const closedAt = await closedWithin(alice, 3000);
      expect(closedAt).toBeDefined();
      expect(closedAt! - bannedAt).toBeLessThan(3000);
      await expect.poll(() => accessLine(lockBan, alice.requestId)?.reason).toBe('locked-out');
      expect(closeLine(lockBan, alice.requestId)).toMatchObject({ subject: 'alice', reason: 'locked-out' });
    } finally {
      alice.ws.terminate();
    }
  });
});
