// CONNECT refusals over real sockets (issue #6 point 1): ztproxy is never an open proxy.
// A CONNECT goes through the same chain as any request (client certificate, bearer token,
// posture, policy with method CONNECT) and only an allowed one reaches its TCP upstream;
// every respelling of a target — an IP literal of the upstream, `0x7f.1`, `127.1`,
// `[::ffff:127.0.0.1]`, upper case, a trailing dot, an IDN U-label, userinfo, absolute
// form, another port, no port, a Host that disagrees, a body — is refused (400) or finds
// no route (404), and the TCP upstream never sees a connection. Bytes pipelined behind a
// refused CONNECT go nowhere. A plain request or WebSocket naming a TCP route's host is
// never relayed to it.
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { get, rawRequest, type TestProxy } from '../helpers/proxy.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';
import { openTunnel, readBytes, startTcpUpstream, type TcpUpstream } from '../helpers/tcp.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const USER_ISS = 'https://idp.test';
const AUD = 'https://api.test';
const DEVICE_ISS = 'device-agent.test';
const SPIFFE_ID = 'spiffe://example.org/ns/prod/sa/api';

let tcp: TcpUpstream;
let userKey: CryptoKey;
let deviceKey: CryptoKey;
let tcpOnly: TestProxy;

const now = (): number => Math.floor(Date.now() / 1000);

function token(groups: string[]): Promise<string> {
  return new SignJWT({ sub: 'alice', groups })
    .setProtectedHeader({ alg: 'ES256', kid: 'u1', typ: 'at+jwt' })
    .setIssuer(USER_ISS)
    .setAudience(AUD)
    .setIssuedAt(now())
    .setExpirationTime(now() + 300)
    .sign(userKey);
}

function posture(managed: boolean): Promise<string> {
  return new SignJWT({ iss: DEVICE_ISS, sub: 'laptop-7', iat: now(), exp: now() + 300, posture: { managed, compliant: true } })
    .setProtectedHeader({ alg: 'ES256', kid: 'agent-1' })
    .sign(deviceKey);
}

const open = (name: string, host: string, port: number, upstream: string, policy: unknown = { allow: { accept: true } }): Record<string, unknown> => ({
  name,
  match: { host, port },
  upstream,
  policy,
});

const stack = useProxyStack<TestUpstream>(
  async ({ pki, upstream: http, onClose, startProxy }) => {
    tcp = await startTcpUpstream('echo');
    onClose(() => tcp.close());
    const user = await generateKeyPair('ES256', { extractable: true });
    const device = await generateKeyPair('ES256', { extractable: true });
    userKey = user.privateKey;
    deviceKey = device.privateKey;
    const dir = mkdtempSync(join(tmpdir(), 'ztproxy-tunnel-'));
    const userJwks = join(dir, 'user.json');
    const deviceJwks = join(dir, 'device.json');
    writeFileSync(userJwks, JSON.stringify({ keys: [{ ...(await exportJWK(user.publicKey)), kid: 'u1', alg: 'ES256', use: 'sig' }] }));
    writeFileSync(deviceJwks, JSON.stringify({ keys: [{ ...(await exportJWK(device.publicKey)), kid: 'agent-1', alg: 'ES256', use: 'sig' }] }));
    const upstream = tcp.url;
    const base = {
      listen: { tls: serverTls(pki), clientAuth: { mode: 'optional', ca: pki.ca.certPath, crl: pki.crl.path } },
      identity: { jwt: [{ issuer: USER_ISS, audience: AUD, jwksFile: userJwks, algorithms: ['ES256'] }] },
      device: { issuers: [{ issuer: DEVICE_ISS, jwksFile: deviceJwks }] },
    };
    tcpOnly = await startProxy({ ...base, routes: [open('open', 'open.internal', 7, upstream)] });
    return {
      ...base,
      routes: [
        open('ssh', 'ssh.internal', 22, upstream, { allow: { and: [{ groups: { has: 'ops' } }, { device: { managed: true } }] } }),
        open('db', 'db.internal', 5432, upstream, { allow: { spiffe: { id: SPIFFE_ID } } }),
        open('open', 'open.internal', 7, upstream),
        open('wild', '*.wild.internal', 9, upstream),
        open('no-connect', 'nc.internal', 7, upstream, { allow: { accept: true }, deny: { method: ['CONNECT'] } }),
        open('path-rule', 'path.internal', 7, upstream, { allow: { path: { exact: '/' } } }),
        // Every HTTP request and WebSocket, whatever its Host, lands here — never on a TCP route.
        { name: 'web', upstream: http.url, websocket: true, policy: { allow: { accept: true } } },
      ],
    };
  },
  { upstream: () => startUpstream({ websocket: true }) },
);

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 50));
}

/**
 * Opens a tunnel that must be refused with `status` (and, if given, this access-log
 * reason); the TCP upstream must see nothing.
 */
async function expectRefused(target: string, status: number, opts: Parameters<typeof openTunnel>[2] = {}, proxy = stack.proxy, reason?: string): Promise<void> {
  tcp.reset();
  const t = await openTunnel(proxy.port, target, { after: 'SSH-2.0-smuggled\r\n', ...opts });
  t.socket.destroy();
  expect(t.status, target).toBe(status);
  expect(t.headers['connection']).toBe('close');
  const id = t.headers['x-request-id'];
  expect(JSON.parse(t.rest.toString())).toEqual({ error: expect.any(String), requestId: id });
  await settle();
  expect(tcp.connections(), `${target}: the TCP upstream saw a connection`).toBe(0);
  if (reason !== undefined) expect(proxy.logs.find((l) => l.msg === 'request' && l.requestId === id)?.reason, target).toBe(reason);
}

async function expectRelayed(target: string, opts: Parameters<typeof openTunnel>[2] = {}): Promise<void> {
  tcp.reset();
  const t = await openTunnel(stack.proxy.port, target, opts);
  expect(t.status, target).toBe(200);
  t.socket.write('ping');
  expect((await readBytes(t.socket, 4, t.rest)).toString()).toBe('ping');
  t.socket.destroy();
  expect(tcp.connections()).toBe(1);
}

describe('identity, posture and policy decide a CONNECT like any request', () => {
  it('relays for an ops user on a managed device', async () => {
    await expectRelayed('ssh.internal:22', { headers: { authorization: `Bearer ${await token(['ops'])}`, 'x-device-posture': await posture(true) } });
    await settle();
    expect(stack.proxy.logs.findLast((l) => l.msg === 'request' && l.route === 'ssh')).toMatchObject({ subject: 'alice', deviceId: 'laptop-7', method: 'CONNECT', decision: 'allow', status: 200 });
  });

  it('no token → 401 with WWW-Authenticate, nothing relayed', async () => {
    await expectRefused('ssh.internal:22', 401, { headers: { 'x-device-posture': await posture(true) } });
  });

  it('a forged token → 401', async () => {
    await expectRefused('ssh.internal:22', 401, { headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.', 'x-device-posture': await posture(true) } });
  });

  it('the wrong group → 403', async () => {
    await expectRefused('ssh.internal:22', 403, { headers: { authorization: `Bearer ${await token(['eng'])}`, 'x-device-posture': await posture(true) } });
  });

  it('no posture, or an unmanaged device → 403', async () => {
    await expectRefused('ssh.internal:22', 403, { headers: { authorization: `Bearer ${await token(['ops'])}` } });
    await expectRefused('ssh.internal:22', 403, { headers: { authorization: `Bearer ${await token(['ops'])}`, 'x-device-posture': await posture(false) } });
  });

  it('a workload route: the right client certificate relays; none, an untrusted or an expired one is refused', async () => {
    const pki = stack.pki;
    await expectRelayed('db.internal:5432', { tls: { cert: pki.clients.valid.certPem, key: pki.clients.valid.keyPem } });
    // clientAuth optional: a connection without a trusted, valid certificate has no workload identity.
    await expectRefused('db.internal:5432', 403);
    await expectRefused('db.internal:5432', 403, { tls: { cert: pki.clients.untrusted.certPem, key: pki.clients.untrusted.keyPem } });
    await expectRefused('db.internal:5432', 403, { tls: { cert: pki.clients.expired.certPem, key: pki.clients.expired.keyPem } });
    await expectRefused('db.internal:5432', 403, { tls: { cert: pki.clients.revoked.certPem, key: pki.clients.revoked.keyPem } });
  });

  it('a policy sees method CONNECT and path /', async () => {
    await expectRefused('nc.internal:7', 403);
    await expectRelayed('path.internal:7');
  });
});

describe('every respelling of a target is refused or finds no route; nothing is relayed', () => {
  // 400: the target is not in the one canonical form (basics/canonical.ts). Each is sent
  // twice: with a Host equal to it, and with a Host naming what a lax parser reads it as
  // (so the target's own grammar refuses it, not only the Host comparison).
  const ip = (p: number): string => `127.0.0.1:${p}`;
  const named = (): string => 'open.internal:7';
  const malformed: [string, (p: number) => string, (p: number) => string, string][] = [
    ['hex IPv4', (p) => `0x7f.1:${p}`, ip, 'connect-target-ipv4-not-dotted-quad'],
    ['short IPv4', (p) => `127.1:${p}`, ip, 'connect-target-ipv4-not-dotted-quad'],
    ['integer IPv4', (p) => `2130706433:${p}`, ip, 'connect-target-ipv4-not-dotted-quad'],
    ['octal IPv4', (p) => `0177.0.0.1:${p}`, ip, 'connect-target-ipv4-not-dotted-quad'],
    ['zero-padded IPv4', (p) => `127.000.000.001:${p}`, ip, 'connect-target-ipv4-not-dotted-quad'],
    ['IPv4-mapped IPv6', (p) => `[::ffff:127.0.0.1]:${p}`, ip, 'connect-target-ipv4-in-ipv6'],
    ['IPv4-mapped IPv6, hex', (p) => `[::ffff:7f00:1]:${p}`, ip, 'connect-target-ipv4-in-ipv6'],
    ['IPv4-compatible IPv6', (p) => `[::127.0.0.1]:${p}`, ip, 'connect-target-ipv4-in-ipv6'],
    ['IPv6 zone id', (p) => `[fe80::1%25lo]:${p}`, (p) => `[fe80::1]:${p}`, 'connect-target-percent-escape'],
    ['userinfo', () => 'user@open.internal:7', named, 'connect-target-userinfo'],
    ['userinfo with a password', () => 'user:pw@open.internal:7', named, 'connect-target-userinfo'],
    ['absolute form', () => 'http://open.internal:7/', named, 'connect-target-not-authority-form'],
    ['a path', () => 'open.internal:7/x', named, 'connect-target-not-authority-form'],
    ['missing port', () => 'open.internal', named, 'connect-target-no-port'],
    ['empty port', () => 'open.internal:', named, 'connect-target-no-port'],
    ['zero-padded port', () => 'open.internal:07', named, 'connect-target-invalid-port'],
    ['port 0', () => 'open.internal:0', named, 'connect-target-invalid-port'],
    ['port out of range', () => 'open.internal:65543', named, 'connect-target-invalid-port'],
    ['percent-escape', () => 'open%2Einternal:7', named, 'connect-target-percent-escape'],
    ['two trailing dots', () => 'open.internal..:7', named, 'connect-target-invalid-host'],
    ['an empty label', () => 'open..internal:7', named, 'connect-target-invalid-host'],
    ['a wildcard', () => '*.wild.internal:9', () => 'a.wild.internal:9', 'connect-target-invalid-host'],
    ['two ports', () => 'open.internal:7:7', named, 'connect-target-invalid-host'],
  ];
  it.each(malformed)('%s → 400', async (_name, target, laxReading, reason) => {
    const t = target(tcp.port);
    await expectRefused(t, 400, {}, stack.proxy);
    await expectRefused(t, 400, { raw: `CONNECT ${t} HTTP/1.1\r\nHost: ${laxReading(tcp.port)}\r\n\r\n` }, stack.proxy, reason);
  });

  // 404: well-formed, but no TCP route names exactly this host and port.
  const unrouted: [string, (p: number) => string][] = [
    ['the upstream by its IP literal', (p) => `127.0.0.1:${p}`],
    ['the upstream by IPv6 loopback', (p) => `[::1]:${p}`],
    ['the upstream by localhost', (p) => `localhost:${p}`],
    ['a route host on another port', () => 'open.internal:8'],
    ['a route host on the upstream port', (p) => `open.internal:${p}`],
    ['a sub-domain of a route host', () => 'x.open.internal:7'],
    ['the parent of a wildcard', () => 'wild.internal:9'],
    ['a wildcard name on another port', () => 'a.wild.internal:10'],
    ['an IDN A-label no route names', () => 'xn--pen-7ha.internal:7'],
    ['an HTTP-only host', () => 'web.test:443'],
  ];
  it.each(unrouted)('%s → 404', async (_name, target) => {
    await expectRefused(target(tcp.port), 404);
  });

  it('an IDN U-label is refused by the parser before any stage (400)', async () => {
    tcp.reset();
    const res = await rawRequest(stack.proxy.port, Buffer.from('CONNECT öpen.internal:7 HTTP/1.1\r\nHost: xn--pen-7ha.internal:7\r\n\r\nSSH-2.0-x\r\n'));
    expect(res.status).toBe(400);
    await settle();
    expect(tcp.connections()).toBe(0);
  });

  it('upper case and one trailing dot are the same target: the route and its policy apply', async () => {
    await expectRelayed('OPEN.Internal.:7');
    await expectRelayed('A.Wild.Internal:9');
    await expectRefused('SSH.INTERNAL.:22', 401);
  });

  const badHeads: [string, string][] = [
    ['a Host naming another host', 'CONNECT open.internal:7 HTTP/1.1\r\nHost: evil.internal:7\r\n\r\n'],
    ['a Host naming another port', 'CONNECT open.internal:7 HTTP/1.1\r\nHost: open.internal:8\r\n\r\n'],
    ['a Host without the port', 'CONNECT open.internal:7 HTTP/1.1\r\nHost: open.internal\r\n\r\n'],
    ['no Host', 'CONNECT open.internal:7 HTTP/1.1\r\n\r\n'],
    ['two Host headers', 'CONNECT open.internal:7 HTTP/1.1\r\nHost: open.internal:7\r\nHost: open.internal:7\r\n\r\n'],
    ['a Host that only agrees after respelling the target', 'CONNECT 127.1:7 HTTP/1.1\r\nHost: 127.0.0.1:7\r\n\r\n'],
    ['a body (Content-Length)', 'CONNECT open.internal:7 HTTP/1.1\r\nHost: open.internal:7\r\nContent-Length: 5\r\n\r\nhello'],
    ['a body (Transfer-Encoding)', 'CONNECT open.internal:7 HTTP/1.1\r\nHost: open.internal:7\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['a Content_Length look-alike', 'CONNECT open.internal:7 HTTP/1.1\r\nHost: open.internal:7\r\nContent_Length: 5\r\n\r\nhello'],
  ];
  it.each(badHeads)('%s → 400', async (_name, raw) => {
    await expectRefused('', 400, { raw });
  });

  it('a second CONNECT pipelined behind a refused one is never processed', async () => {
    await expectRefused('', 400, { raw: 'CONNECT 127.1:7 HTTP/1.1\r\nHost: 127.1:7\r\n\r\nCONNECT open.internal:7 HTTP/1.1\r\nHost: open.internal:7\r\n\r\n' });
  });
});

describe('a TCP route is never reached over HTTP', () => {
  it('a plain GET naming a TCP route host (with or without its port) goes to the HTTP routes', async () => {
    tcp.reset();
    for (const host of ['open.internal', 'open.internal:7', 'ssh.internal:22']) {
      const res = await get(stack.proxy.port, '/x', { host });
      expect(res.status).toBe(200);
    }
    expect(stack.upstream.seen).toHaveLength(3);
    expect(tcp.connections()).toBe(0);
  });

  it('… or to 404 where no HTTP route takes it', async () => {
    tcp.reset();
    for (const host of ['open.internal', 'open.internal:7']) {
      const res = await rawRequest(tcpOnly.port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(res.status).toBe(404);
    }
    expect(tcp.connections()).toBe(0);
  });

  it('a WebSocket upgrade naming a TCP route host goes to the HTTP routes (or 404), never to the TCP upstream', async () => {
    tcp.reset();
    const ws = new WebSocket(`wss://127.0.0.1:${stack.proxy.port}/chat`, { headers: { host: 'open.internal:7' }, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.close();
    expect(stack.upstream.seen.at(-1)?.url).toBe('/chat');
    const refused = await rawRequest(
      tcpOnly.port,
      'GET / HTTP/1.1\r\nHost: open.internal:7\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(refused.status).toBe(404);
    await settle();
    expect(tcp.connections()).toBe(0);
  });

  it('a CONNECT on a proxy with only TCP routes is still judged by its target alone', async () => {
    await expectRefused(`127.0.0.1:${tcp.port}`, 404, {}, tcpOnly);
  });
});
