// Slow clients over real sockets (SPEC §8 operations, listener limits): a slowloris that
// trickles header bytes and a request body trickled slower than requestTimeout. Both
// must be cut by the proxy in bounded time, must not starve a normal client, and must
// never reach the upstream (the slowloris) or hold it forever (the slow body).
import { connect as tcpConnect } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { get, openRoute } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
/** Generous bound for "cut after the timeout": the timeout plus scheduling slack. */
const CUT_WITHIN_MS = 5000;

const stack = useProxyStack(({ upstream }) => ({
  listen: {
    limits: { headersTimeout: '1s', requestTimeout: '2s' },
    redirectHttp: { address: '127.0.0.1:0' },
  },
  routes: [openRoute(upstream.url)],
}));

async function metricValue(name: string): Promise<number> {
  const text = await stack.proxy.proxy.metrics.registry.getSingleMetricAsString(name);
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

async function eventually(what: string, probe: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** ztproxy_requests_total by label set (`route=..,status=..,decision=..`). */
async function requestCounts(): Promise<Map<string, number>> {
  const text = await stack.proxy.proxy.metrics.registry.getSingleMetricAsString('ztproxy_requests_total');
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^ztproxy_requests_total\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    out.set(`route=${labels.route},status=${labels.status},decision=${labels.decision}`, Number(m[2]));
  }
  return out;
}

function diffCounts(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) if (v !== (before.get(k) ?? 0)) out[k] = v - (before.get(k) ?? 0);
  return out;
}

/** Closes the clients and waits until the proxy has seen them go, so tests do not overlap. */
async function stopAll(clients: readonly SlowClient[], baseline: number): Promise<void> {
  for (const c of clients) c.stop();
  await eventually('the proxy saw the test clients go', async () => (await metricValue('ztproxy_open_connections')) === baseline, CUT_WITHIN_MS).catch(() => {});
  await new Promise((r) => setTimeout(r, 100));
}

interface SlowClient {
  readonly socket: TLSSocket;
  /** Bytes the proxy sent back (a 408, or nothing). */
  readonly received: Buffer[];
  /** ms after the first byte when the proxy ended (FIN) or closed the connection. */
  endedAfter: number | undefined;
  closedAfter: number | undefined;
  stop(): void;
}

/**
 * A TLS client that sends `head` and then one byte of `trickle` every `everyMs`.
 * It keeps its own side open (allowHalfOpen) and keeps trickling after a FIN, the way a
 * slowloris that ignores the server does — only a real close stops it.
 */
function slowClient(head: string, trickle: string, everyMs: number): Promise<SlowClient> {
  return new Promise((resolve, reject) => {
    // The TLS socket takes allowHalfOpen from the TCP socket it wraps.
    const tcp = tcpConnect({ host: '127.0.0.1', port: stack.proxy.port, allowHalfOpen: true });
    const socket = connect({ socket: tcp, servername: 'localhost', rejectUnauthorized: false });
    let timer: NodeJS.Timeout | undefined;
    let started = 0;
    const client: SlowClient = {
      socket,
      received: [],
      endedAfter: undefined,
      closedAfter: undefined,
      stop() {
        clearInterval(timer);
        socket.destroy();
      },
    };
    socket.on('data', (c: Buffer) => client.received.push(c));
    socket.on('end', () => {
      client.endedAfter ??= performance.now() - started;
    });
    socket.on('close', () => {
      clearInterval(timer);
      client.closedAfter ??= performance.now() - started;
    });
    socket.on('error', () => {});
    socket.once('secureConnect', () => {
      started = performance.now();
      socket.write(head);
      let i = 0;
      timer = setInterval(() => {
        if (socket.destroyed || !socket.writable) return;
        socket.write(trickle[i % trickle.length]!);
        i++;
      }, everyMs);
      resolve(client);
    });
    socket.once('error', reject);
  });
}

describe('slowloris (headers trickled a byte at a time)', () => {
  it('cuts 20 slow-header connections after headersTimeout, serves others promptly, forwards nothing', async () => {
    stack.upstream.reset();
    const baseline = await metricValue('ztproxy_open_connections');
    const clients = await Promise.all(
      Array.from({ length: 20 }, () => slowClient('GET / HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow-Header-abcdefghijklmnopqrstuvwxyz: 1\r\n', 300)),
    );
    try {
      expect(await metricValue('ztproxy_open_connections')).toBe(baseline + 20);

      // Meanwhile a normal client is served at once.
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      const res = await get(stack.proxy.port, '/normal');
      expect(res.status).toBe(200);
      expect(performance.now() - t0).toBeLessThan(1000);

      // Every slow connection is closed by the proxy: the client sees the FIN, and the
      // proxy's own count of open connections is back where it was (a half-closed socket
      // that the attacker keeps feeding still holds a connection slot).
      await eventually('every slowloris connection ended by the proxy', () => clients.every((c) => c.endedAfter !== undefined || c.closedAfter !== undefined), CUT_WITHIN_MS);
      for (const c of clients) {
        const cut = c.endedAfter ?? c.closedAfter!;
        expect(cut).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100);
        expect(cut).toBeLessThan(CUT_WITHIN_MS);
        const text = Buffer.concat(c.received).toString('latin1');
        // Either nothing or a 408 — never a forwarded answer.
        if (text !== '') expect(text).toMatch(/^HTTP\/1\.1 408 /);
      }
      await eventually('the proxy released every slowloris connection', async () => (await metricValue('ztproxy_open_connections')) === baseline, CUT_WITHIN_MS);
      expect(stack.upstream.seen.map((s) => s.url)).toEqual(['/normal']);
    } finally {
      await stopAll(clients, baseline);
    }
  });
});

describe('slowloris on the plain-HTTP redirect listener', () => {
  it('is cut after headersTimeout as well', async () => {
    const port = stack.proxy.proxy.addresses.redirect!.port;
    const socket = tcpConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    const started = performance.now();
    let cutAfter: number | undefined;
    socket.on('end', () => (cutAfter ??= performance.now() - started));
    socket.on('close', () => (cutAfter ??= performance.now() - started));
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n');
    const timer = setInterval(() => {
      if (socket.writable) socket.write('X');
    }, 300);
    try {
      await eventually('the redirect listener ended the slowloris', () => cutAfter !== undefined, CUT_WITHIN_MS);
      expect(cutAfter!).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100);
    } finally {
      clearInterval(timer);
      socket.destroy();
    }
  });
});

describe('one timed-out request, one record', () => {
  // Node checks its timeouts every connectionsCheckingInterval (30 s unless set), so this
  // waits long enough to see the 408 even on a proxy that leaves the default; what it
  // checks is that the timeout is recorded once — not once more as a 400 parser error
  // when the client finally goes away.
  it('logs a slowloris connection as exactly one 408 access-log line and one count', { timeout: 60_000 }, async () => {
    stack.upstream.reset();
    const baseline = await metricValue('ztproxy_open_connections');
    const from = stack.proxy.logs.length;
    const before = await requestCounts();
    const client = await slowClient('GET /loris HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: 1\r\n', 300);
    try {
      await eventually('the proxy answered the slowloris', () => client.received.length > 0 || client.closedAfter !== undefined, 40_000);
      expect(Buffer.concat(client.received).toString('latin1')).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      // A well-behaved client closes when the server has ended; give any late record time to appear.
      client.socket.end();
      await eventually('the slowloris connection closed', () => client.closedAfter !== undefined, CUT_WITHIN_MS);
      await new Promise((r) => setTimeout(r, 300));
      const lines = stack.proxy.logs.slice(from).filter((l) => l.msg === 'request');
      expect(lines.map((l) => [l.status, l.reason])).toEqual([[408, 'parser-err_http_request_timeout']]);
      const after = await requestCounts();
      expect(diffCounts(before, after)).toEqual({ 'route=,status=408,decision=none': 1 });
      expect(stack.upstream.seen).toEqual([]);
    } finally {
      await stopAll([client], baseline);
    }
  });
});

describe('slow request body', () => {
  it('cuts a body trickled slower than requestTimeout and frees the connection', async () => {
    stack.upstream.reset();
    const baseline = await metricValue('ztproxy_open_connections');
    const from = stack.proxy.logs.length;
    const head = 'POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 10000\r\n\r\n';
    const client = await slowClient(head, 'abcdefghij', 300);
    try {
      await eventually('the proxy ended the slow-body connection', () => client.endedAfter !== undefined || client.closedAfter !== undefined, REQUEST_TIMEOUT_MS + CUT_WITHIN_MS);
      const cut = client.endedAfter ?? client.closedAfter!;
      expect(cut).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
      expect(cut).toBeLessThan(REQUEST_TIMEOUT_MS + CUT_WITHIN_MS);
      const text = Buffer.concat(client.received).toString('latin1');
      // The upstream never answered (its body never completed): nothing but a 408 or a
      // gateway error may come back, never a 200.
      if (text !== '') expect(text).toMatch(/^HTTP\/1\.1 (408|502|504) /);
      await eventually('the proxy released the slow-body connection', async () => (await metricValue('ztproxy_open_connections')) === baseline, CUT_WITHIN_MS);
      // The upstream saw the request start but never a whole 10000-byte body.
      const seen = stack.upstream.last('/upload');
      if (seen) expect(seen.bodyBytes).toBeLessThan(10000);
      // One request, one access-log line (the timeout is not logged as a second request).
      await eventually('the upload is logged', () => stack.proxy.logs.slice(from).some((l) => l.msg === 'request' && l.path === '/upload'), 2000);
      await new Promise((r) => setTimeout(r, 200));
      const lines = stack.proxy.logs.slice(from).filter((l) => l.msg === 'request');
      expect(lines.map((l) => [l.path, l.route])).toEqual([['/upload', 'app']]);
      expect(lines[0]!.status).not.toBe(200);
    } finally {
      await stopAll([client], baseline);
    }
  });
});
