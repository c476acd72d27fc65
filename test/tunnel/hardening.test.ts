// Attacks on the tunnel's edges that the refusal and lifecycle tests do not reach (fresh-eyes
// review of issue #6 point 1), each over real sockets:
// - a reload while a CONNECT is still being decided or connected: the tunnel must not open
//   on the old configuration (a removed route, a policy that now refuses it) and relay until
//   the next re-authorization sweep (the reload re-judges only the streams already open);
// - a refused CONNECT whose client never closes its side: the refusal must not hold the
//   socket forever (no HTTP timeout applies once Node handed the socket over).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { openTunnel, startTcpUpstream, tunnelLogLine, type TcpUpstream } from '../helpers/tcp.ts';

let pki: TestPki;
let echo: TcpUpstream;

beforeAll(async () => {
  pki = await makeTestPki();
  echo = await startTcpUpstream('silent');
});
afterAll(() => echo?.close());

const tls = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ tls: { cert: pki.server.certPath, key: pki.server.keyPath }, ...extra });

/**
 * A loopback listener whose accept queue is full, so a connect to it stays pending (the
 * SYN is dropped and retried), until `release()` makes it accept; it reports every
 * connection it accepted beyond the fillers and every byte it received.
 */
interface HeldListener {
  readonly port: number;
  release(): void;
  /** Lines `accepted` / `data <n>` it printed. */
  readonly events: string[];
  close(): void;
}

async function startHeldListener(): Promise<HeldListener> {
  const script = [
    'import socket, sys, threading',
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)",
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.readline()',
    'def read(c):',
    '    while True:',
    '        d = c.recv(65536)',
    '        if not d: return',
    "        print('data', len(d), flush=True)",
    'while True:',
    '    c, _ = s.accept()',
    "    print('accepted', flush=True)",
    '    threading.Thread(target=read, args=(c,), daemon=True).start()',
  ].join('\n');
  const child: ChildProcessWithoutNullStreams = spawn('python3', ['-c', script]);
  const events: string[] = [];
  let first = true;
  const port = await new Promise<number>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      for (const l of d.toString().split('\n').filter((x) => x !== '')) {
        if (first) {
          first = false;
          resolve(Number(l));
        } else events.push(l);
      }
    });
  });
  const fillers: Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    events,
    release: () => child.stdin.write('go\n'),
    close() {
      for (const s of fillers) s.destroy();
      child.kill();
    },
  };
}

describe('a reload while a CONNECT is in flight (decided, its upstream connect pending)', () => {
  const heldRoute = (port: number, policy: unknown): Record<string, unknown> => ({
    name: 'held',
    match: { host: 'held.internal', port: 7 },
    upstream: `tcp://127.0.0.1:${port}`,
    policy,
    timeouts: { connect: '10s' },
  });
  const kept = (): Record<string, unknown> => ({ name: 'kept', match: { host: 'kept.internal', port: 7 }, upstream: echo.url, policy: { allow: { accept: true } } });
  const cases: [string, (port: number) => Record<string, unknown>[], string][] = [
    ['that removes its route', () => [kept()], 'route-removed'],
    ['whose policy now refuses it', (port) => [heldRoute(port, { allow: { sourceIp: ['192.0.2.0/24'] } }), kept()], 'policy-denied'],
  ];
  it.each(cases)('%s: judged by the new config before its 200 — 503 with the reason, not a byte upstream', async (_name, after, reason) => {
    const held = await startHeldListener();
    const proxy = await startTestProxy({ listen: tls(), routes: [heldRoute(held.port, { allow: { accept: true } }), kept()] });
    try {
      // Allowed under the old config; its upstream connect is pending while the reload comes.
      const pending = openTunnel(proxy.port, 'held.internal:7', { after: 'SSH-2.0-after-the-reload\r\n', timeoutMs: 8000 });
      await new Promise((r) => setTimeout(r, 200));
      proxy.writeConfig({ listen: tls(), routes: after(held.port) });
      expect((await proxy.proxy.reload()).ok).toBe(true);
      held.release();
      const t = await pending;
      t.socket.destroy();
      expect(t.status).toBe(503);
      expect(t.headers['x-zt-stream']).toBeUndefined();
      expect(await tunnelLogLine(proxy, t.headers['x-request-id']!)).toMatchObject({ route: 'held', status: 503, reason });
      await new Promise((r) => setTimeout(r, 300));
      expect(held.events.filter((e) => e.startsWith('data'))).toEqual([]);
      // A route the reload kept opens as before.
      const k = await openTunnel(proxy.port, 'kept.internal:7');
      k.socket.destroy();
      expect(k.status).toBe(200);
    } finally {
      await proxy.close();
      held.close();
    }
  });
});

/** A TLS client that never closes its side: it reads the refusal and keeps the connection. */
async function halfOpenClient(port: number, head: string): Promise<{ socket: TLSSocket; answer: () => string; closed: Promise<void> }> {
  // allowHalfOpen: our FIN does not make it end its side (tls.connect passes the option to
  // its TLSSocket; @types/node does not list it).
  const options: ConnectionOptions & { allowHalfOpen: boolean } = { host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, allowHalfOpen: true };
  const socket = tlsConnect(options);
  socket.on('error', () => {});
  await new Promise((r) => socket.once('secureConnect', r));
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(head);
  return { socket, answer: () => answer, closed };
}

describe('a refused CONNECT whose client never closes its side', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startTestProxy({
      listen: tls({ limits: { lingerTimeout: '500ms' } }),
      routes: [{ name: 'closed', match: { host: 'closed.internal', port: 7 }, upstream: echo.url, policy: { allow: { method: ['GET'] } } }],
    });
  });
  afterAll(() => proxy?.close());

  const refusals: [string, string, number][] = [
    ['no route (404)', 'CONNECT nowhere.internal:7 HTTP/1.1\r\nHost: nowhere.internal:7\r\n\r\n', 404],
    ['denied by policy (403)', 'CONNECT closed.internal:7 HTTP/1.1\r\nHost: closed.internal:7\r\n\r\n', 403],
    ['a malformed target (400)', 'CONNECT 127.1:7 HTTP/1.1\r\nHost: 127.1:7\r\n\r\n', 400],
  ];
  it.each(refusals)('%s: the connection is cut after listen.limits.lingerTimeout, however long the client keeps it', async (_name, head, status) => {
    echo.reset();
    const c = await halfOpenClient(proxy.port, head);
    // It keeps sending (a tunnel it believes open) and never sends its FIN.
    const trickle = setInterval(() => c.socket.write('x'), 100);
    const outcome = await Promise.race([c.closed.then(() => 'closed'), new Promise((r) => setTimeout(r, 5000, 'still open'))]);
    clearInterval(trickle);
    c.socket.destroy();
    expect(c.answer()).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(outcome).toBe('closed');
    expect(echo.connections()).toBe(0);
  });
});

describe('identity claimed in headers of a CONNECT counts for nothing', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startTestProxy({
      listen: tls({ clientAuth: { mode: 'optional', ca: pki.ca.certPath } }),
      routes: [
        { name: 'office', match: { host: 'office.internal', port: 7 }, upstream: echo.url, policy: { allow: { sourceIp: ['10.0.0.0/8'] } } },
        { name: 'workload', match: { host: 'workload.internal', port: 7 }, upstream: echo.url, policy: { allow: { spiffe: { id: 'spiffe://example.org/ns/prod/sa/api' } } } },
      ],
    });
  });
  afterAll(() => proxy?.close());

  const forged: [string, Record<string, string>][] = [
    ['office.internal:7', { 'X-Forwarded-For': '10.1.2.3', Forwarded: 'for=10.1.2.3', 'X-Real-IP': '10.1.2.3', 'True-Client-IP': '10.1.2.3', 'X-Client-IP': '10.1.2.3' }],
    ['workload.internal:7', { 'X-Forwarded-Client-Cert': 'By=spiffe://example.org/ns/prod/sa/proxy;URI=spiffe://example.org/ns/prod/sa/api', 'X-Client-Spiffe-Id': 'spiffe://example.org/ns/prod/sa/api', 'X-SSL-Client-Verify': 'SUCCESS' }],
  ];
  it.each(forged)('%s with forged identity headers → 403, the upstream sees no connection', async (target, headers) => {
    echo.reset();
    const t = await openTunnel(proxy.port, target, { headers, after: 'smuggled' });
    t.socket.destroy();
    expect(t.status).toBe(403);
    await new Promise((r) => setTimeout(r, 50));
    expect(echo.connections()).toBe(0);
  });
});

describe('a CONNECT flood from a banned address', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startTestProxy({
      listen: tls(),
      lockout: { maxFailures: 3, window: '1m', banFor: '1m' },
      routes: [
        { name: 'denied', match: { host: 'denied.internal', port: 7 }, upstream: echo.url, policy: { allow: { sourceIp: ['192.0.2.0/24'] } } },
        { name: 'open', match: { host: 'open.internal', port: 7 }, upstream: echo.url, policy: { allow: { accept: true } } },
      ],
    });
  });
  afterAll(() => proxy?.close());

  it('is answered 429 with Retry-After on every route once its denials reach maxFailures; nothing reaches the upstream', async () => {
    echo.reset();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = await openTunnel(proxy.port, 'denied.internal:7', { after: 'x' });
      t.socket.destroy();
      statuses.push(t.status);
    }
    expect(statuses).toEqual([403, 403, 403]);
    const banned = await openTunnel(proxy.port, 'open.internal:7', { after: 'smuggled' });
    banned.socket.destroy();
    expect(banned.status).toBe(429);
    expect(Number(banned.headers['retry-after'])).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(echo.connections()).toBe(0);
  });
});
