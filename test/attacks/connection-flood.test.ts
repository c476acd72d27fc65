// Connection floods (issue #4): one source opening connection after connection, and a
// wave of handshakes that never finish. Each connection over a limit is reset before any
// TLS work is done for it, counted in ztproxy_connections_refused_total{reason}, and
// leaves the other clients served. 127.0.0.0/8 gives distinct source addresses on
// loopback (`localAddress`), so "another client" is a real other IP here.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { addressKey } from '../../src/proxy/connection-guard.ts';
import { get, openRoute, startTestProxy } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const PER_IP = 4;
const HANDSHAKES = 3;

const stack = useProxyStack(({ upstream }) => ({
  listen: { limits: { maxConnectionsPerIp: PER_IP, maxHandshakes: HANDSHAKES, handshakeTimeout: '1s' } },
  routes: [openRoute(upstream.url)],
}));

async function metric(name: string, labels = ''): Promise<number> {
  const text = await stack.proxy.proxy.metrics.registry.getSingleMetricAsString(name);
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function eventually(what: string, probe: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** node:https options for a request from the source address `address`. */
function from(address: string): ConnectionOptions {
  return { localAddress: address } as ConnectionOptions;
}

/** A TLS connection from `from`: resolves once the handshake is done, or with the error. */
function tlsFrom(from: string): Promise<TLSSocket | Error> {
  return new Promise((resolve) => {
    const tcp = tcpConnect({ host: '127.0.0.1', port: stack.proxy.port, localAddress: from });
    tcp.on('error', () => {});
    const socket = connect({ socket: tcp, servername: 'localhost', rejectUnauthorized: false }, () => resolve(socket));
    socket.once('error', (err) => resolve(err));
  });
}

/** A TCP connection that never says anything (a handshake that never starts). */
function silentTcp(from: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port: stack.proxy.port, localAddress: from }, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('connections per client address', () => {
  it(`the ${PER_IP + 1}th connection from one address is reset before TLS; another address is still served`, async () => {
    stack.upstream.reset();
    const logsBefore = stack.proxy.logs.length;
    const refusedBefore = await metric('ztproxy_connections_refused_total', '{reason="per_ip"}');
    // One after the other: at most HANDSHAKES may be in progress at once.
    const held: (TLSSocket | Error)[] = [];
    for (let i = 0; i < PER_IP; i++) held.push(await tlsFrom('127.0.0.1'));
    try {
      for (const s of held) expect(s).not.toBeInstanceOf(Error);
      const extra = await tlsFrom('127.0.0.1');
      expect(extra).toBeInstanceOf(Error);
      expect(await metric('ztproxy_connections_refused_total', '{reason="per_ip"}')).toBe(refusedBefore + 1);

      // Another client address is served as usual.
      const other = await get(stack.proxy.port, '/other', { tls: from('127.0.0.2') });
      expect(other.status).toBe(200);
      // The refused connection is no request: no access-log line, no 400.
      expect(stack.proxy.logs.slice(logsBefore).filter((l) => l.msg === 'request').map((l) => l.path)).toEqual(['/other']);
      expect(stack.upstream.seen.map((s) => s.url)).toEqual(['/other']);

      // A slot freed is a slot usable again.
      (held[0] as TLSSocket).destroy();
      await eventually('the proxy saw the connection go', async () => (await metric('ztproxy_open_connections')) === PER_IP - 1);
      const again = await tlsFrom('127.0.0.1');
      expect(again).not.toBeInstanceOf(Error);
      (again as TLSSocket).destroy();
    } finally {
      for (const s of held) if (!(s instanceof Error)) s.destroy();
    }
    await eventually('all test connections closed', async () => (await metric('ztproxy_open_connections')) === 0);
  });
});

describe('TLS handshakes in progress', () => {
  // Silent connections cost an attacker nothing and held a slot for handshakeTimeout each:
  // refusing the newest connection at the cap let maxHandshakes / handshakeTimeout
  // connections a second (51/s at the defaults, from two addresses) lock every client
  // out. The cap now cuts the oldest pending handshake instead — a real handshake takes
  // milliseconds, so the oldest is the stalled one.
  it(`with ${HANDSHAKES} silent connections holding every slot, a new client is served and the oldest is cut for it`, async () => {
    stack.upstream.reset();
    const refusedBefore = await metric('ztproxy_connections_refused_total', '{reason="handshakes"}');
    const pending: Socket[] = [];
    const closedAt: (number | undefined)[] = [];
    const opened = performance.now();
    try {
      // One after the other, so that the proxy sees them in this order.
      for (const source of ['127.0.0.11', '127.0.0.12', '127.0.0.13']) {
        const s = await silentTcp(source);
        const i = pending.push(s) - 1;
        closedAt.push(undefined);
        s.on('error', () => {});
        s.on('close', () => (closedAt[i] = performance.now() - opened));
        await eventually('the proxy counts the pending handshake', async () => (await metric('ztproxy_tls_handshakes_in_progress')) === pending.length);
      }
      const res = await get(stack.proxy.port, '/now', { tls: from('127.0.0.14') });
      expect(res.status).toBe(200);
      expect(stack.upstream.seen.map((s) => s.url)).toEqual(['/now']);
      await eventually('the oldest silent connection is cut', () => closedAt[0] !== undefined);
      expect(closedAt.slice(1)).toEqual([undefined, undefined]);
      expect(await metric('ztproxy_connections_refused_total', '{reason="handshakes"}')).toBe(refusedBefore + 1);

      // handshakeTimeout (1 s, plus up to 25 % jitter) cuts the others.
      await eventually('the silent connections are cut', () => closedAt.every((t) => t !== undefined), 4000);
      for (const t of closedAt.slice(1)) expect(t!).toBeGreaterThanOrEqual(900);
      await eventually('no handshake pending', async () => (await metric('ztproxy_tls_handshakes_in_progress')) === 0);
    } finally {
      for (const s of pending) s.destroy();
    }
  });
});

describe('the per-address key', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['2001:DB8:A::', '2001:db8:a:0::/64'],
    ['1::2:3:4:5:6:7', '1:0:2:3::/64'],
    ['1::2:3:4:5:6.7.8.9', '1:0:2:3::/64'],
    ['::2:3:4:5:6:7:8', '0:2:3:4::/64'],
    ['1:2:3:4:5:6:7::', '1:2:3:4::/64'],
  ])('%s → %s', (ip, key) => {
    expect(addressKey(ip)).toBe(key);
  });
});

describe('listen.limits.maxConnections', () => {
  it('a connection past it is dropped by Node and counted as max_connections', async () => {
    const own = await startTestProxy({
      listen: { tls: { cert: stack.pki.server.certPath, key: stack.pki.server.keyPath }, limits: { maxConnections: 1 } },
      routes: [openRoute(stack.upstream.url)],
    });
    const counted = async (): Promise<number> => {
      const text = await own.proxy.metrics.registry.getSingleMetricAsString('ztproxy_connections_refused_total');
      const line = text.split('\n').find((l) => l.startsWith('ztproxy_connections_refused_total{reason="max_connections"} '));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    const first = await new Promise<TLSSocket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: own.port, servername: 'localhost', rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    try {
      const second = await new Promise<Error | TLSSocket>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: own.port, servername: 'localhost', rejectUnauthorized: false }, () => resolve(s));
        s.once('error', resolve);
      });
      expect(second).toBeInstanceOf(Error);
      await eventually('the drop is counted', async () => (await counted()) === 1);
    } finally {
      first.destroy();
      await own.close();
    }
  });
});
