// An open stream whose client certificate a CRL reload revokes is cut at once (the
// connection is dropped, SPEC §5) — and the close says why: the access-log reason, the
// `stream closed` line and ztproxy_stream_closes_total carry `client-cert-revoked`, not
// the `websocket-closed` of a peer that went away (issue #6 point 4: every close logged
// with its reason). Another client's stream stays.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCrl } from '../../src/tls/pki.ts';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { accessLine, closeLine, closedWithin, closesCounted, echo, openWs, startWsUpstream, type WsUpstream } from '../helpers/ws-streams.ts';

let pki: TestPki;
let ws: WsUpstream;
let proxy: TestProxy;
let dir: string;

beforeAll(async () => {
  pki = await makeTestPki();
  ws = await startWsUpstream();
  dir = mkdtempSync(join(tmpdir(), 'ztproxy-crl-streams-'));
  for (const [from, to] of [
    [pki.server.certPath, 'server.crt'],
    [pki.server.keyPath, 'server.key'],
    [pki.ca.certPath, 'ca.crt'],
    [pki.crl.path, 'ca.crl'],
  ] as const) {
    copyFileSync(from, join(dir, to));
  }
  proxy = await startTestProxy({
    listen: { tls: { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') }, clientAuth: { mode: 'optional', ca: join(dir, 'ca.crt'), crl: join(dir, 'ca.crl') } },
    streams: { reauthorizeInterval: '1h' },
    routes: [{ name: 'chat', match: { host: 'chat.test' }, upstream: ws.url, websocket: true, policy: { allow: { accept: true } } }],
  });
});

afterAll(async () => {
  await proxy?.close();
  await ws?.close();
  rmSync(dir, { recursive: true, force: true });
  await pki?.cleanup();
});

function tls(which: 'valid' | 'cnOnly'): { cert: Buffer; key: Buffer } {
  const c = pki.clients[which];
  return { cert: readFileSync(c.certPath), key: readFileSync(c.keyPath) };
}

describe('a CRL reload under an open stream', () => {
  it('cuts the stream of the revoked certificate with reason client-cert-revoked; another client keeps its stream', async () => {
    const revoked = await openWs(proxy.port, 'chat.test', {}, '/chat', tls('valid'));
    const other = await openWs(proxy.port, 'chat.test', {}, '/chat', tls('cnOnly'));
    try {
      expect(await echo(revoked.ws, 'before')).toBe('echo:before');
      writeFileSync(join(dir, 'ca.crl'), await createCrl(pki.ca, [pki.clients.revoked.serialHex, pki.clients.valid.serialHex]));
      expect(proxy.proxy.reloadTls()).toBe(true);
      expect(await closedWithin(revoked, 3000)).toBeDefined();
      await expect.poll(() => accessLine(proxy, revoked.requestId)?.reason).toBe('client-cert-revoked');
      expect(closeLine(proxy, revoked.requestId)).toMatchObject({ kind: 'websocket', route: 'chat', reason: 'client-cert-revoked' });
      expect(await closesCounted(proxy, 'websocket', 'client-cert-revoked')).toBe(1);
      expect(await echo(other.ws, 'other')).toBe('echo:other');
    } finally {
      revoked.ws.terminate();
      other.ws.terminate();
    }
  });
});
