// A tunnel outlives the token and posture it rode in on (issue #6 point 4): the proxy
// closes a stream whose token or posture assertion expired, unless fresh ones are
// presented on it. `ztproxy connect` does that shortly before they expire — it re-reads
// --token-file, re-runs --posture-command — and POSTs them to /.ztproxy/streams/renew
// with the X-ZT-Stream id of its tunnel. Without fresh credentials the proxy cuts the
// tunnel when they expire, and ztproxy connect says why.
import { connect as netConnect, type Socket } from 'node:net';
import { writeFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { startTcpUpstream, type TcpUpstream } from '../helpers/tcp.ts';
import { devIdentity, makeDevPki, postureCommand, startListening, tokenFile, type DevPki } from '../helpers/connect.ts';

const OPS = ['--sub', 'alice', '--groups', 'ops'];

let pki: DevPki;
let echo: TcpUpstream;
let proxy: TestProxy;
let via: string;

beforeAll(async () => {
  [pki, echo] = await Promise.all([makeDevPki(), startTcpUpstream('echo')]);
  proxy = await startTestProxy({
    ...devIdentity(pki),
    routes: [{ name: 'db', match: { host: 'db.internal', port: 5432 }, upstream: echo.url, policy: { allow: { and: [{ groups: { has: 'ops' } }, { device: { managed: true } }] } } }],
  });
  via = `https://127.0.0.1:${proxy.port}`;
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await echo?.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A local client of the --listen port: one socket, a round trip at a time. */
function localClient(port: number): Promise<{ socket: Socket; roundTrip(text: string): Promise<string>; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => {
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      resolve({
        socket,
        closed,
        roundTrip: (text) =>
          new Promise((done, fail) => {
            if (socket.destroyed) {
              fail(new Error('the tunnel was closed'));
              return;
            }
            let got = '';
            const onData = (c: Buffer): void => {
              got += c.toString();
              if (got.length >= text.length) {
                socket.off('data', onData);
                done(got);
              }
            };
            socket.on('data', onData);
            socket.once('close', () => fail(new Error(`the tunnel closed (got "${got}")`)));
            socket.write(text);
          }),
      });
    });
    socket.once('error', reject);
  });
}

/** The proxy's `stream closed` lines (ztproxy cut a stream) logged since index `since`. */
async function streamClosedLines(since: number): Promise<Record<string, unknown>[]> {
  await sleep(100);
  return proxy.logs.slice(since).filter((l) => l.msg === 'stream closed' && l.route === 'db');
}

describe('a tunnel kept open past its credentials', () => {
  it('is renewed with the re-read token file and a re-run posture command, and stays open', async () => {
    const since = proxy.logs.length;
    // 20 s token and posture: renewed 5 s before they expire.
    const token = await tokenFile(pki, [...OPS, '--ttl', '20s']);
    const listening = await startListening(pki, ['db.internal:5432', '--via', via, '--ca', pki.ca, '--token-file', token, '--posture-command', postureCommand(pki, ['--device', 'alice-laptop', '--managed', 'true', '--ttl', '20s'])]);
    try {
      const client = await localClient(listening.port);
      expect(await client.roundTrip('before')).toBe('before');
      const opened = Date.now();
      // Whoever keeps the token file fresh (a script, an agent) writes a new one.
      writeFileSync(token, readFileSync(await tokenFile(pki, [...OPS, '--ttl', '1h'])));
      // Past the first token's and posture's expiry.
      await sleep(Math.max(0, 25_000 - (Date.now() - opened)));
      expect(await client.roundTrip('after the first expiry')).toBe('after the first expiry');
      expect(await streamClosedLines(since)).toEqual([]);
      expect(listening.stderr()).not.toMatch(/renewal|expired|cannot/);
      client.socket.destroy();
    } finally {
      await listening.stop();
    }
  }, 90_000);

  it('is cut by the proxy when no fresh token can be had, and ztproxy connect says why', async () => {
    const since = proxy.logs.length;
    const token = await tokenFile(pki, [...OPS, '--ttl', '8s']);
    const posture = postureCommand(pki, ['--device', 'alice-laptop', '--managed', 'true', '--ttl', '1h']);
    const listening = await startListening(pki, ['db.internal:5432', '--via', via, '--ca', pki.ca, '--token-file', token, '--posture-command', posture]);
    try {
      const client = await localClient(listening.port);
      expect(await client.roundTrip('before')).toBe('before');
      // The token file is never rewritten: the same token is all there is.
      await client.closed;
      const cut = await streamClosedLines(since);
      expect(cut).toHaveLength(1);
      expect(cut[0]).toMatchObject({ kind: 'tunnel', reason: 'token-expired', subject: 'alice' });
      await sleep(200);
      expect(listening.stderr()).toMatch(/ztproxy connect: (the tunnel ended as its credentials expired|.*the tunnel's credentials expired at)/);
    } finally {
      await listening.stop();
    }
  }, 60_000);
});
