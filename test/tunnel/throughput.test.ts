// 100 MB each way through a tunnel with bounded memory (issue #6 tests): a TCP echo
// upstream sends back everything the client writes, while the client reads slowly (it
// stops for a moment after every MiB). With backpressure the relay pauses whichever side
// is ahead, so ztproxy holds a few socket buffers at any time; a relay that wrote without
// waiting for 'drain' would buffer most of the 100 MB. Memory is sampled while the bytes
// flow (client, ztproxy and upstream all live in this process, so the bound covers all
// three); the bytes must arrive complete and in order.
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { openTunnel, startTcpUpstream, type TcpUpstream } from '../helpers/tcp.ts';

const TOTAL = 100 * 1024 * 1024;
const CHUNK = 64 * 1024;
const MiB = 1024 * 1024;

let pki: TestPki;
let echo: TcpUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  pki = await makeTestPki();
  echo = await startTcpUpstream('echo');
  proxy = await startTestProxy({
    listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
    log: { level: 'warn' },
    routes: [{ name: 'echo', match: { host: 'echo.internal', port: 7 }, upstream: echo.url, policy: { allow: { accept: true } } }],
  });
});

afterAll(async () => {
  await proxy?.close();
  await echo?.close();
});

// A full collection before each sample: what is measured is what is still referenced
// (buffered), not garbage chunks a collection has not yet reached.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (opts?: { type: 'minor' | 'major' }) => void;

function memory(): number {
  // A scavenge is enough for the chunks (their wrappers die young) and costs ~1 ms.
  gc({ type: 'minor' });
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('a 100 MB transfer each way', () => {
  it('arrives complete, in order, with memory bounded while the client reads slowly', { timeout: 180_000 }, async () => {
    const t = await openTunnel(proxy.port, 'echo.internal:7');
    expect(t.status).toBe(200);
    const socket = t.socket;
    const baseline = memory();
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, memory() - baseline);
    }, 20);

    // The pattern changes per chunk so a lost, repeated or reordered chunk changes the hash.
    const chunkAt = (i: number): Buffer => Buffer.alloc(CHUNK, i % 251);
    const sent = createHash('sha256');
    const received = createHash('sha256');
    const writer = (async (): Promise<void> => {
      for (let i = 0; i < TOTAL / CHUNK; i++) {
        const chunk = chunkAt(i);
        sent.update(chunk);
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
      }
    })();
    let got = t.rest.length;
    received.update(t.rest);
    const STEP = 256 * 1024;
    let nextPause = STEP;
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (c: Buffer) => {
        received.update(c);
        got += c.length;
        if (got >= TOTAL) resolve();
        else if (got >= nextPause) {
          // The slow reader: a pause after every 256 KiB.
          nextPause += STEP;
          socket.pause();
          setTimeout(() => socket.resume(), 5);
        }
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`closed after ${got} bytes`)));
      socket.resume();
    });
    await writer;
    clearInterval(sampler);
    socket.destroy();
    expect(got).toBe(TOTAL);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
    // Well under the 100 MB that went through (and under the 200 MB that crossed ztproxy).
    expect(peak).toBeLessThan(32 * MiB);
  });
});
