// `ztproxy connect` against a real ztproxy in front of a TCP echo service (standing in
// for a database): stdin/stdout relay with a half-close, --listen serving several
// clients each through its own tunnel, the stored login of `ztproxy login`, and what a
// refusal prints (404, 401, 403, 429, 502, an untrusted proxy certificate) with exit 1
// and nothing on stdout.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { connect as netConnect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeLogin } from '../../src/cli/credentials.ts';
import { generateCa } from '../../src/tls/pki.ts';
import { DEV_AUDIENCE, DEV_ISSUER } from '../../src/cli/token.ts';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { startTcpUpstream, type TcpUpstream } from '../helpers/tcp.ts';
import { ZTPROXY_BIN, devIdentity, makeDevPki, postureFile, runConnect, startListening, tokenFile, type DevPki } from '../helpers/connect.ts';

const OPS = ['--sub', 'alice', '--groups', 'ops'];

let pki: DevPki;
let echo: TcpUpstream;
let proxy: TestProxy;
let via: string;
let closedPort: number;
let motd: Server;

beforeAll(async () => {
  [pki, echo] = await Promise.all([makeDevPki(), startTcpUpstream('echo')]);
  // A service that speaks first and hangs up (RFC 865 quote of the day).
  motd = createServer((socket) => socket.end('bye\n'));
  await new Promise<void>((resolve) => motd.listen(0, '127.0.0.1', resolve));
  // A port nothing listens on: the route to it gets 502.
  const gone = await startTcpUpstream('echo');
  closedPort = gone.port;
  await gone.close();
  proxy = await startTestProxy({
    ...devIdentity(pki),
    routes: [
      { name: 'db', match: { host: 'db.internal', port: 5432 }, upstream: echo.url, policy: { allow: { groups: { has: 'ops' } } } },
      { name: 'down', match: { host: 'down.internal', port: 5432 }, upstream: `tcp://127.0.0.1:${closedPort}`, policy: { allow: { groups: { has: 'ops' } } } },
      { name: 'motd', match: { host: 'motd.internal', port: 17 }, upstream: `tcp://127.0.0.1:${(motd.address() as { port: number }).port}`, policy: { allow: { groups: { has: 'ops' } } } },
    ],
  });
  via = `https://127.0.0.1:${proxy.port}`;
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await echo?.close();
  await new Promise((resolve) => motd?.close(resolve));
});

beforeEach(() => echo.reset());

const base = (): string[] => ['--via', via, '--ca', pki.ca];

describe('stdin/stdout', () => {
  it('relays stdin to the service and its answer to stdout; the end of stdin is passed on, the answer still comes back', async () => {
    const data = randomBytes(256 * 1024);
    const r = await runConnect(pki, ['db.internal:5432', ...base(), '--token-file', await tokenFile(pki, OPS)], data);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.equals(data)).toBe(true);
    expect(echo.connections()).toBe(1);
  }, 60_000);

  it('ends when the service ends, though stdin stays open (ssh holds it open)', async () => {
    const child = spawn(process.execPath, [ZTPROXY_BIN, 'connect', 'motd.internal:17', ...base(), '--token-file', await tokenFile(pki, OPS)], { env: { ...process.env, ZTPROXY_CONFIG_DIR: pki.configDir }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(out).toBe('bye\n');
    expect(err).toBe('');
  }, 60_000);

  it('uses the stored login of ztproxy login when no --token-file is given', async () => {
    const token = readFileSync(await tokenFile(pki, OPS), 'utf8').trim();
    await writeLogin(pki.configDir, {
      version: 1,
      proxy: via,
      issuer: DEV_ISSUER,
      clientId: 'ztproxy-cli',
      scopes: ['openid'],
      resource: DEV_AUDIENCE,
      subject: 'alice',
      accessToken: token,
      refreshToken: undefined,
      idToken: undefined,
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
      obtainedAt: Math.floor(Date.now() / 1000),
    });
    try {
      const r = await runConnect(pki, ['db.internal:5432', ...base()], 'stored login');
      expect(r.stderr).toBe('');
      expect(r.stdout.toString()).toBe('stored login');
      expect(r.code).toBe(0);
    } finally {
      rmSync(pki.configDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("the posture header's name", () => {
  const MANAGED = ['--device', 'alice-laptop', '--managed', 'true'];
  async function proxyWithHeader(cli: boolean): Promise<TestProxy> {
    const identity = devIdentity(pki);
    return startTestProxy({
      ...identity,
      identity: { ...(identity.identity as object), ...(cli ? { cli: { issuer: DEV_ISSUER, clientId: 'ztproxy-cli', resource: DEV_AUDIENCE } } : {}) },
      device: { ...(identity.device as object), header: 'X-Posture-Proof' },
      routes: [{ name: 'db', match: { host: 'db.internal', port: 5432 }, upstream: echo.url, policy: { allow: { and: [{ groups: { has: 'ops' } }, { device: { managed: true } }] } } }],
    });
  }

  it("is the proxy's device.header, read from /.well-known/ztproxy/cli-configuration", async () => {
    const custom = await proxyWithHeader(true);
    try {
      const args = ['db.internal:5432', '--via', `https://127.0.0.1:${custom.port}`, '--ca', pki.ca, '--token-file', await tokenFile(pki, OPS), '--posture', await postureFile(pki, MANAGED)];
      const r = await runConnect(pki, args, 'with posture');
      expect(r.stderr).toBe('');
      expect(r.stdout.toString()).toBe('with posture');
    } finally {
      await custom.close();
    }
  }, 60_000);

  it('is X-Device-Posture when the proxy publishes no CLI configuration, unless --posture-header names it', async () => {
    const custom = await proxyWithHeader(false);
    try {
      const args = ['db.internal:5432', '--via', `https://127.0.0.1:${custom.port}`, '--ca', pki.ca, '--token-file', await tokenFile(pki, OPS), '--posture', await postureFile(pki, MANAGED)];
      const refused = await runConnect(pki, args, 'x');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(': 403');
      const named = await runConnect(pki, [...args, '--posture-header', 'X-Posture-Proof'], 'named');
      expect(named.stderr).toBe('');
      expect(named.stdout.toString()).toBe('named');
    } finally {
      await custom.close();
    }
  }, 60_000);
});

describe('--listen', () => {
  it('gives each local connection a tunnel of its own: several clients, one after another and at once', async () => {
    const listening = await startListening(pki, ['db.internal:5432', ...base(), '--token-file', await tokenFile(pki, OPS)]);
    try {
      const roundTrip = (payload: Buffer): Promise<Buffer> =>
        new Promise((resolve, reject) => {
          const socket = netConnect(listening.port, '127.0.0.1');
          const chunks: Buffer[] = [];
          socket.on('data', (c: Buffer) => chunks.push(c));
          socket.once('end', () => resolve(Buffer.concat(chunks)));
          socket.once('error', reject);
          // A database client's end: the half-close travels, the echo comes back first.
          socket.end(payload);
        });
      for (let i = 0; i < 3; i++) {
        const payload = randomBytes(64 * 1024);
        expect((await roundTrip(payload)).equals(payload)).toBe(true);
      }
      const payloads = [0, 1, 2, 3].map(() => randomBytes(128 * 1024));
      const answers = await Promise.all(payloads.map(roundTrip));
      answers.forEach((a, i) => expect(a.equals(payloads[i]!)).toBe(true));
      expect(echo.connections()).toBe(7);
      expect(listening.stderr()).toMatch(/^ztproxy connect: listening on 127\.0\.0\.1:\d+, each connection tunnelled to db\.internal:5432 via https:\/\/127\.0\.0\.1:\d+\n$/);
    } finally {
      expect(await listening.stop()).toBe(0);
    }
  }, 90_000);

  it('closes a local connection whose tunnel is refused, says why, and keeps listening', async () => {
    const listening = await startListening(pki, ['db.internal:5432', ...base(), '--token-file', await tokenFile(pki, ['--sub', 'bob', '--groups', 'sales'])]);
    try {
      const got = await new Promise<Buffer>((resolve) => {
        const socket = netConnect(listening.port, '127.0.0.1');
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.once('close', () => resolve(Buffer.concat(chunks)));
        socket.once('error', () => undefined);
        socket.write('SELECT secrets');
      });
      expect(got.length).toBe(0);
      expect(echo.connections()).toBe(0);
      expect(listening.stderr()).toContain('db.internal:5432 refused by');
      expect(listening.stderr()).toContain(': 403 ("forbidden"');
      expect(listening.child.exitCode).toBeNull();
    } finally {
      await listening.stop();
    }
  }, 60_000);

  it('warns when told to listen beyond loopback', async () => {
    const listening = await startListening(pki, ['db.internal:5432', ...base(), '--token-file', await tokenFile(pki, OPS)], '0.0.0.0:0');
    try {
      expect(listening.stderr()).toContain('warning: listening on 0.0.0.0:0, not on loopback: whoever can reach it uses the tunnel with your identity');
    } finally {
      await listening.stop();
    }
  }, 60_000);
});

describe('refusals: the reason on stderr, exit 1, nothing on stdout, nothing reaches the service', () => {
  it('404 for a HOST:PORT no route names', async () => {
    const r = await runConnect(pki, ['nowhere.internal:5432', ...base(), '--token-file', await tokenFile(pki, OPS)], 'x');
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^ztproxy connect: nowhere\\.internal:5432 refused by ${via.replaceAll('.', '\\.')}: 404 \\("not found", request id [0-9a-f-]{36}\\)\\nztproxy connect: no route for nowhere\\.internal:5432 at ${via.replaceAll('.', '\\.')}\\n$`));
    expect(echo.connections()).toBe(0);
  }, 60_000);

  it('404 for the right host on another port', async () => {
    const r = await runConnect(pki, ['db.internal:5433', ...base(), '--token-file', await tokenFile(pki, OPS)], 'x');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no route for db.internal:5433');
    expect(echo.connections()).toBe(0);
  }, 60_000);

  it('401 without a login, with the login hint', async () => {
    const r = await runConnect(pki, ['db.internal:5432', ...base()], 'x');
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/: 401 \("unauthorized", request id [0-9a-f-]{36}\)/);
    expect(r.stderr).toContain(`ztproxy connect: log in: ztproxy login --via ${via}`);
    expect(echo.connections()).toBe(0);
  }, 60_000);

  it('403 for a user the policy denies', async () => {
    const r = await runConnect(pki, ['db.internal:5432', ...base(), '--token-file', await tokenFile(pki, ['--sub', 'bob', '--groups', 'sales'])], 'x');
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toContain('ztproxy connect: denied by policy');
    expect(echo.connections()).toBe(0);
  }, 60_000);

  it('502 when the service behind the route is down', async () => {
    const r = await runConnect(pki, ['down.internal:5432', ...base(), '--token-file', await tokenFile(pki, OPS)], 'x');
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/: 502 /);
    expect(r.stderr).toContain("the proxy could not reach down.internal:5432's service");
  }, 60_000);

  it('an untrusted proxy certificate (system CAs, or another --ca): not even the token is sent', async () => {
    // The system CAs do not know the dev CA.
    const requestsBefore = proxy.logs.filter((l) => l.msg === 'request' && l.host === 'db.internal').length;
    const r = await runConnect(pki, ['db.internal:5432', '--via', via, '--token-file', await tokenFile(pki, OPS)], 'x');
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/^ztproxy connect: cannot reach https:\/\/127\.0\.0\.1:\d+: .*\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|DEPTH_ZERO_SELF_SIGNED_CERT)\)\n$/);
    // --ca adds a CA to the system's: another CA does not make the proxy's certificate good.
    const other = await generateCa({ commonName: 'some other private CA' });
    const otherCa = join(pki.dir, 'other-ca.crt');
    writeFileSync(otherCa, other.certPem);
    const wrongCa = await runConnect(pki, ['db.internal:5432', '--via', via, '--ca', otherCa, '--token-file', await tokenFile(pki, OPS)], 'x');
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stderr).toMatch(/^ztproxy connect: cannot reach https:\/\/127\.0\.0\.1:\d+: .*\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)\n$/);
    expect(proxy.logs.filter((l) => l.msg === 'request' && l.host === 'db.internal').length).toBe(requestsBefore);
    expect(echo.connections()).toBe(0);
  }, 60_000);

  it('429 with the seconds to wait once the lockout bans the address', async () => {
    const strict = await startTestProxy({
      ...devIdentity(pki),
      lockout: { maxFailures: 2, window: '1m', banFor: '1m' },
      routes: [{ name: 'db', match: { host: 'db.internal', port: 5432 }, upstream: echo.url, policy: { allow: { groups: { has: 'ops' } } } }],
    });
    try {
      // Refused tokens count per address: a forged one, twice, then the ban.
      const forged = join(pki.dir, 'forged.token');
      writeFileSync(forged, 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.AAAA\n');
      const args = ['db.internal:5432', '--via', `https://127.0.0.1:${strict.port}`, '--ca', pki.ca, '--token-file', forged];
      for (let i = 0; i < 2; i++) expect((await runConnect(pki, args, 'x')).stderr).toContain(': 401');
      const r = await runConnect(pki, args, 'x');
      expect(r.code).toBe(1);
      expect(r.stdout.length).toBe(0);
      expect(r.stderr).toMatch(/: 429 \("too many requests", request id [0-9a-f-]{36}\)/);
      const wait = /ztproxy connect: too many failures: retry after (\d+) s\n$/.exec(r.stderr);
      expect(wait).not.toBeNull();
      expect(Number(wait![1])).toBeGreaterThan(0);
      expect(Number(wait![1])).toBeLessThanOrEqual(60);
      expect(echo.connections()).toBe(0);
    } finally {
      await strict.close();
    }
  }, 90_000);
});
