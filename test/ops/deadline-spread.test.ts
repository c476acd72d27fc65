// Deadlines that do not line up (issue #4). Node finds expired headersTimeout/requestTimeout
// deadlines in one periodic sweep and reported every connection that expired since the
// last sweep at once: 1,000 slowloris connections opened within a second were all cut in
// the same tick, and destroying that many TLS sockets stalled the event loop 50-150 ms.
// Each connection's cut now comes after its own random extra (up to 25 % of the timeout)
// and a few per tick. Measured here as what a client sees: when its connection ends.
import { connect, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { openRoute } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const CONNECTIONS = 200;
const HEADERS_TIMEOUT_MS = 4000;

const stack = useProxyStack(({ upstream }) => ({
  listen: { limits: { headersTimeout: '4s' } },
  log: { level: 'warn' },
  routes: [openRoute(upstream.url)],
}));

interface Loris {
  readonly socket: TLSSocket;
  readonly openedAt: number;
  cutAt: number | undefined;
  text: string;
}

/** A connection that sends the start of a request head and never finishes it. */
function loris(): Promise<Loris> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: stack.proxy.port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const l: Loris = { socket, openedAt: performance.now(), cutAt: undefined, text: '' };
      const cut = (): void => {
        l.cutAt ??= performance.now();
      };
      socket.on('data', (c: Buffer) => (l.text += c.toString('latin1')));
      socket.on('end', cut);
      socket.on('close', cut);
      socket.write('GET /loris HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
      resolve(l);
    });
    socket.once('error', reject);
  });
}

describe('slow connections expiring together', () => {
  it(`${CONNECTIONS} slowloris connections are cut spread out, never in one burst`, { timeout: 40_000 }, async () => {
    const clients: Loris[] = [];
    for (let i = 0; i < CONNECTIONS; i += 20) clients.push(...(await Promise.all(Array.from({ length: 20 }, loris))));
    try {
      const end = Date.now() + HEADERS_TIMEOUT_MS * 3;
      while (clients.some((c) => c.cutAt === undefined) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(clients.filter((c) => c.cutAt === undefined)).toHaveLength(0);
      for (const c of clients) {
        // Never before the limit; a 408 or nothing, never a forwarded answer.
        expect(c.cutAt! - c.openedAt).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100);
        if (c.text !== '') expect(c.text).toMatch(/^HTTP\/1\.1 408 /);
      }
      // The densest 50 ms: with the cuts lined up on Node's sweep, half or more of them
      // fall into one window; spread over ~1 s of jitter, a small share does.
      const times = clients.map((c) => c.cutAt!).sort((a, b) => a - b);
      let densest = 0;
      for (let i = 0, j = 0; i < times.length; i++) {
        while (times[i]! - times[j]! > 50) j++;
        densest = Math.max(densest, i - j + 1);
      }
      expect(densest).toBeLessThan(CONNECTIONS / 4);
      expect(times.at(-1)! - times[0]!).toBeGreaterThan(400);
      expect(stack.upstream.seen).toEqual([]);
    } finally {
      for (const c of clients) c.socket.destroy();
    }
  });
});

describe('idle keep-alive connections', () => {
  // With a 'timeout' listener on the server Node no longer destroys idle sockets itself:
  // the jittered cut must still come, after keepAliveTimeout (5 s) and Node's 1 s buffer.
  it('are still closed by the proxy, never before keepAliveTimeout', { timeout: 30_000 }, async () => {
    const sockets: { socket: TLSSocket; answeredAt: number; closedAt: number | undefined }[] = [];
    for (let i = 0; i < 20; i++) {
      sockets.push(
        await new Promise((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port: stack.proxy.port, servername: 'localhost', rejectUnauthorized: false }, () => {
            socket.write('GET /idle HTTP/1.1\r\nHost: localhost\r\n\r\n');
          });
          const entry = { socket, answeredAt: 0, closedAt: undefined as number | undefined };
          socket.once('data', () => {
            entry.answeredAt = performance.now();
            resolve(entry);
          });
          socket.on('close', () => (entry.closedAt = performance.now()));
          socket.once('error', reject);
        }),
      );
    }
    try {
      const end = Date.now() + 15_000;
      while (sockets.some((s) => s.closedAt === undefined) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(sockets.filter((s) => s.closedAt === undefined)).toHaveLength(0);
      for (const s of sockets) expect(s.closedAt! - s.answeredAt).toBeGreaterThanOrEqual(5000 - 100);
    } finally {
      for (const s of sockets) s.socket.destroy();
    }
  });
});
