// A reload while a sweep is still walking (it waits on remote-PDP answers: at most 64 in
// flight) must not cut streams the new config allows. Found in a review: the old sweep
// went on after the reload with the old snapshot, whose PDP client the reload had closed,
// so every stream it had not reached yet was judged `pdp-error` and closed — on a reload
// that changed nothing about their answer (issue #6: only streams whose answer changed
// close). A walk whose snapshot was replaced stops; the reload's own walk judges them all.
import { describe, expect, it } from 'vitest';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';
import { echo, openWs, startWsUpstream, type OpenWs, type WsUpstream } from '../helpers/ws-streams.ts';

const STREAMS = 80;

let key: TestKey;
let pdp: TestPdp;
let config: Record<string, unknown>;

function routes(upstream: string, timeout: string): Record<string, unknown>[] {
  return [{ name: 'remote', match: { host: 'remote.test' }, upstream, websocket: true, pdp: { mode: 'authzen', url: pdp.origin, timeout, cache: { ttl: '0s' } } }];
}

const stack = useProxyStack<WsUpstream>(
  async ({ pki, upstream, onClose }) => {
    key = await makeKey('ES256');
    const jwks = await writeJwksFile(jwksOf(key));
    pdp = await startTestPdp(() => ({ decision: true }));
    onClose(() => Promise.all([jwks.cleanup(), pdp.close()]));
    config = {
      listen: { tls: serverTls(pki) },
      identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
      streams: { reauthorizeInterval: '1s' },
      routes: routes(upstream.url, '5s'),
    };
    return config;
  },
  { upstream: startWsUpstream },
);

describe('a reload while a sweep waits on PDP answers', () => {
  it('cuts no stream the new config allows', async () => {
    const now = Math.floor(Date.now() / 1000);
    const bearer = await mint(key, accessClaims(now, { sub: 'alice', exp: now + 600 }));
    const streams: OpenWs[] = [];
    try {
      for (let i = 0; i < STREAMS; i++) streams.push(await openWs(stack.proxy.port, 'remote.test', { authorization: `Bearer ${bearer}` }));
      pdp.reset();
      pdp.behave({ kind: 'slow', ms: 1500 });
      // The sweep has asked about 64 streams (one question to the PDP: the same input is
      // asked once) and waits for answers before going on.
      await expect.poll(() => pdp.calls.length, { timeout: 5000 }).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 200));
      // Same PDP, another timeout: a new PDP client; the old one is closed.
      stack.proxy.writeConfig({ ...config, routes: routes(stack.upstream.url, '4s') });
      expect((await stack.proxy.proxy.reload('file')).errors).toEqual([]);
      await new Promise((r) => setTimeout(r, 3500));
      expect(stack.proxy.logs.filter((l) => l.msg === 'stream closed').map((l) => l.reason)).toEqual([]);
      expect(stack.proxy.proxy.streams.size).toBe(STREAMS);
      pdp.behave({ kind: 'decide' });
      expect(await echo(streams[STREAMS - 1]!.ws, 'last')).toBe('echo:last');
    } finally {
      for (const s of streams) s.ws.terminate();
    }
  });
});
