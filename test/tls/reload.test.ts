// Reloads without a restart (SPEC §5, §3): a rotated server certificate is served to
// new connections while open ones keep theirs; a broken file keeps the running
// context; a new CRL revokes at once; a config reload swaps routes atomically, keeps the
// old snapshot when the new one is invalid, and lets requests in flight finish on the
// snapshot they started with. Over real sockets, with the upstream's view checked.
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCrl } from '../../src/tls/pki.ts';
import { makeTestPki, type TestCert, type TestPki } from '../helpers/pki.ts';
import { openRoute, startTestProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let pki: TestPki;
let upstreamA: TestUpstream;
let upstreamB: TestUpstream;
let oldFp: string;
let nextFp: string;
const dirs: string[] = [];
let running: TestProxy[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  upstreamA = await startUpstream();
  upstreamB = await startUpstream();
  oldFp = new X509Certificate(pki.server.certPem).fingerprint256;
  nextFp = new X509Certificate(pki.serverNext.certPem).fingerprint256;
});

afterEach(async () => {
  await Promise.all(running.map((p) => p.close()));
  running = [];
  upstreamA.reset();
  upstreamB.reset();
});

afterAll(async () => {
  await Promise.all([upstreamA?.close(), upstreamB?.close()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await pki?.cleanup();
});

/** The shared PKI is read-only: each test rewrites its own copies of the files. */
function ownFiles(): { dir: string; cert: string; key: string; ca: string; crl: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-reload-'));
  dirs.push(dir);
  const files = { dir, cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt'), crl: join(dir, 'ca.crl') };
  copyFileSync(pki.server.certPath, files.cert);
  copyFileSync(pki.server.keyPath, files.key);
  copyFileSync(pki.ca.certPath, files.ca);
  copyFileSync(pki.crl.path, files.crl);
  return files;
}

async function start(config: Record<string, unknown>, watch = false): Promise<TestProxy> {
  const p = await startTestProxy(config, { watch, watchIntervalMs: 100 });
  running.push(p);
  return p;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns true; fails with `what` after `ms`. */
async function eventually(what: string, probe: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

/** SHA-256 fingerprint of the certificate a new TLS connection is shown (verified against the test CA). */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca.certPem }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.destroy();
      resolve(fp);
    });
    s.setTimeout(5000, () => s.destroy(new Error('handshake timed out')));
    s.on('error', reject);
  });
}

interface Answer {
  status: number;
  body: string;
  socket: TLSSocket;
  /** Fingerprint of the certificate the server showed when this socket's handshake completed. */
  shownCert: string | undefined;
}

// Node's TLS client forgets the peer certificate once a session ticket arrives, so it is
// read at 'secureConnect', once per socket.
const shownAtHandshake = new WeakMap<TLSSocket, string | undefined>();

/** GET over `agent` (keep-alive when the agent is) or a fresh connection; rejects on a failed handshake. */
function send(port: number, path: string, opts: { agent?: Agent; tls?: ConnectionOptions } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1', port, path, headers: { host: 'localhost' }, servername: 'localhost', ca: pki.ca.certPem,
        agent: opts.agent ?? false,
        ...opts.tls,
      },
      (res) => {
        // Taken now: a keep-alive agent detaches the socket from the response at its end.
        const socket = res.socket as TLSSocket;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), socket, shownCert: shownAtHandshake.get(socket) }));
        res.on('error', reject);
      },
    );
    req.on('socket', (s) => {
      const tls = s as TLSSocket;
      if (!shownAtHandshake.has(tls)) tls.once('secureConnect', () => shownAtHandshake.set(tls, tls.getPeerX509Certificate()?.fingerprint256));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`no answer for ${path} in time`)));
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the error code when the request fails, or 'answered <status>' when it does not. */
async function failure(port: number, path: string, tls: ConnectionOptions): Promise<string> {
  try {
    const res = await send(port, path, { tls });
    return `answered ${res.status}`;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

const logged = (p: TestProxy, msg: string): LogLine | undefined => p.logs.find((l) => l.msg === msg);
const withCert = (c: TestCert): ConnectionOptions => ({ cert: c.certPem, key: c.keyPem });

describe('server certificate rotation (file watch)', () => {
  it('new connections get the new certificate; an open keep-alive connection keeps working', async () => {
    const f = ownFiles();
    const proxy = await start(
      { listen: { tls: { cert: f.cert, key: f.key }, limits: { keepAliveTimeout: '60s' } }, routes: [openRoute(upstreamA.url)] },
      true,
    );
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await send(proxy.port, '/before', { agent });
      expect(first.status).toBe(200);
      expect(first.shownCert).toBe(oldFp);

      writeFileSync(f.cert, pki.serverNext.certPem);
      writeFileSync(f.key, pki.serverNext.keyPem);
      await eventually('a new connection is shown the rotated certificate', async () => (await servedFingerprint(proxy.port)) === nextFp);

      const second = await send(proxy.port, '/after', { agent });
      expect(second.status).toBe(200);
      // Same TLS connection (not a silent reconnect by the agent, which would have been
      // shown the new certificate), still on the old certificate.
      expect(second.socket).toBe(first.socket);
      expect(second.shownCert).toBe(oldFp);
      expect(upstreamA.seen.map((s) => s.url)).toEqual(['/before', '/after']);
      expect(logged(proxy, 'tls certificates reloaded')).toBeDefined();
    } finally {
      agent.destroy();
    }
  });

  it('follows an atomic rename over the watched files (Kubernetes secret volumes, cert-manager)', async () => {
    const f = ownFiles();
    const proxy = await start({ listen: { tls: { cert: f.cert, key: f.key } }, routes: [openRoute(upstreamA.url)] }, true);
    expect(await servedFingerprint(proxy.port)).toBe(oldFp);
    writeFileSync(`${f.cert}.tmp`, pki.serverNext.certPem);
    writeFileSync(`${f.key}.tmp`, pki.serverNext.keyPem);
    renameSync(`${f.key}.tmp`, f.key);
    renameSync(`${f.cert}.tmp`, f.cert);
    await eventually('a new connection is shown the renamed-in certificate', async () => (await servedFingerprint(proxy.port)) === nextFp);
    expect((await send(proxy.port, '/renamed')).status).toBe(200);
  });

  it('a garbage certificate file keeps the old certificate serving, and a fixed file is picked up', async () => {
    const f = ownFiles();
    const proxy = await start({ listen: { tls: { cert: f.cert, key: f.key } }, routes: [openRoute(upstreamA.url)] }, true);
    writeFileSync(f.cert, 'this is not a certificate\n');
    await eventually('the failed reload is logged', () => logged(proxy, 'tls reload failed; keeping the current certificates') !== undefined);
    expect(await servedFingerprint(proxy.port)).toBe(oldFp);
    expect((await send(proxy.port, '/still-up')).status).toBe(200);
    expect(upstreamA.last('/still-up')).toBeDefined();
    // Asked directly, the reload says it failed.
    expect(proxy.proxy.reloadTls()).toBe(false);

    writeFileSync(f.key, pki.serverNext.keyPem);
    writeFileSync(f.cert, pki.serverNext.certPem);
    await eventually('the repaired files are served', async () => (await servedFingerprint(proxy.port)) === nextFp);
  });

  it('a certificate that does not match its key keeps the old pair (reloadTls → false)', async () => {
    const f = ownFiles();
    const proxy = await start({ listen: { tls: { cert: f.cert, key: f.key } }, routes: [openRoute(upstreamA.url)] });
    writeFileSync(f.cert, pki.serverNext.certPem); // key left as the old one
    expect(proxy.proxy.reloadTls()).toBe(false);
    expect(await servedFingerprint(proxy.port)).toBe(oldFp);
    expect((await send(proxy.port, '/mismatch')).status).toBe(200);
    writeFileSync(f.key, pki.serverNext.keyPem);
    expect(proxy.proxy.reloadTls()).toBe(true);
    expect(await servedFingerprint(proxy.port)).toBe(nextFp);
  });
});

describe('CRL and CA reload', () => {
  const spiffeRoute = (): Record<string, unknown> => ({
    name: 'workload', upstream: upstreamA.url, policy: { allow: { spiffe: { id: pki.spiffeId } } },
  });

  it('require: a CRL that newly lists the valid certificate refuses its new connections', async () => {
    const f = ownFiles();
    const proxy = await start({
      listen: { tls: { cert: f.cert, key: f.key }, clientAuth: { mode: 'require', ca: f.ca, crl: f.crl } },
      routes: [spiffeRoute()],
    });
    expect((await send(proxy.port, '/before-revocation', { tls: withCert(pki.clients.valid) })).status).toBe(200);
    expect(await failure(proxy.port, '/revoked-before', withCert(pki.clients.revoked))).not.toMatch(/^answered/);

    writeFileSync(f.crl, await createCrl(pki.ca, [pki.clients.revoked.serialHex, pki.clients.valid.serialHex]));
    expect(proxy.proxy.reloadTls()).toBe(true);

    expect(await failure(proxy.port, '/after-revocation', withCert(pki.clients.valid))).not.toMatch(/^answered/);
    expect(upstreamA.seen.map((s) => s.url)).toEqual(['/before-revocation']);
  });

  it('optional: after the CRL reload the revoked certificate is no identity and the policy denies it', async () => {
    const f = ownFiles();
    const proxy = await start({
      listen: { tls: { cert: f.cert, key: f.key }, clientAuth: { mode: 'optional', ca: f.ca, crl: f.crl } },
      routes: [spiffeRoute()],
    });
    expect((await send(proxy.port, '/ok', { tls: withCert(pki.clients.valid) })).status).toBe(200);
    writeFileSync(f.crl, await createCrl(pki.ca, [pki.clients.valid.serialHex]));
    expect(proxy.proxy.reloadTls()).toBe(true);
    expect((await send(proxy.port, '/denied', { tls: withCert(pki.clients.valid) })).status).toBe(403);
    expect(upstreamA.seen.map((s) => s.url)).toEqual(['/ok']);
    const line = proxy.logs.find((l) => l.msg === 'request' && l.path === '/denied');
    expect(line).toMatchObject({ status: 403, clientCert: 'invalid' });
    expect(line).not.toHaveProperty('spiffeId');
    // The new CRL replaced the old one: the formerly revoked certificate is no longer revoked.
    expect((await send(proxy.port, '/unrevoked', { tls: withCert(pki.clients.revoked) })).status).toBe(200);
    expect(upstreamA.seen.map((s) => s.url)).toEqual(['/ok', '/unrevoked']);
  });

  it('the CRL file is watched: writing a new one revokes without an explicit reload', async () => {
    const f = ownFiles();
    const proxy = await start(
      { listen: { tls: { cert: f.cert, key: f.key }, clientAuth: { mode: 'require', ca: f.ca, crl: f.crl } }, routes: [spiffeRoute()] },
      true,
    );
    expect((await send(proxy.port, '/watched-before', { tls: withCert(pki.clients.valid) })).status).toBe(200);
    writeFileSync(f.crl, await createCrl(pki.ca, [pki.clients.valid.serialHex]));
    await eventually(
      'the valid certificate is refused',
      async () => !(await failure(proxy.port, '/watched-probe', withCert(pki.clients.valid))).startsWith('answered'),
    );
    expect(upstreamA.seen.map((s) => s.url).filter((u) => u !== '/watched-probe')).toEqual(['/watched-before']);
  });

  it.each([
    ['garbage', '-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n'],
    ['empty (truncated mid-write)', ''],
  ])('a %s CRL file is refused and the old CRL stays in force', async (_kind, content) => {
    const f = ownFiles();
    const proxy = await start({
      listen: { tls: { cert: f.cert, key: f.key }, clientAuth: { mode: 'require', ca: f.ca, crl: f.crl } },
      routes: [spiffeRoute()],
    });
    writeFileSync(f.crl, content);
    expect(proxy.proxy.reloadTls()).toBe(false);
    expect(await failure(proxy.port, '/revoked-still', withCert(pki.clients.revoked))).not.toMatch(/^answered/);
    expect((await send(proxy.port, '/valid-still', { tls: withCert(pki.clients.valid) })).status).toBe(200);
  });

  // server-context.ts: "A half-written or mismatched file fails to build and the old
  // context stays." That must hold for the CA bundle too: a CA file caught mid-write
  // (empty or truncated) must not replace the trusted CA with nothing.
  it.each([
    ['garbage', () => 'not a certificate\n'],
    ['empty (truncated mid-write)', () => ''],
    ['cut in half', () => pki.ca.certPem.slice(0, Math.floor(pki.ca.certPem.length / 2))],
  ])('a %s CA file is refused (reloadTls → false) and valid clients keep authenticating', async (_kind, content) => {
    const f = ownFiles();
    const proxy = await start({
      listen: { tls: { cert: f.cert, key: f.key }, clientAuth: { mode: 'require', ca: f.ca, crl: f.crl } },
      routes: [spiffeRoute()],
    });
    expect((await send(proxy.port, '/ca-before', { tls: withCert(pki.clients.valid) })).status).toBe(200);
    writeFileSync(f.ca, content());
    const reloaded = proxy.proxy.reloadTls();
    const after = await failure(proxy.port, '/ca-after', withCert(pki.clients.valid));
    expect({ reloaded, after }).toEqual({ reloaded: false, after: 'answered 200' });
  });
});

describe('config reload', () => {
  function config(f: { cert: string; key: string }, routes: unknown[]): Record<string, unknown> {
    return { listen: { tls: { cert: f.cert, key: f.key } }, routes };
  }

  it('an invalid config is refused with every problem listed, and the old routes keep serving', async () => {
    const f = ownFiles();
    const proxy = await start(config(f, [openRoute(upstreamA.url, { name: 'old' })]));
    proxy.writeConfig({
      listen: { tls: { cert: f.cert, key: f.key, minVersion: 'TLSv1.0' } },
      routes: [openRoute('ftp://127.0.0.1:21', { name: 'bad-scheme' }), { ...openRoute(upstreamB.url, { name: 'typo' }), clientAuht: true }],
    });
    const result = await proxy.proxy.reload();
    expect(result.ok).toBe(false);
    // Every problem at once, each at its path.
    expect(result.errors).toEqual(expect.arrayContaining([
      expect.stringMatching(/^listen\.tls\.minVersion: /),
      expect.stringMatching(/^routes\.0\.upstream: /),
      expect.stringMatching(/^routes\.1\.clientAuht: unknown key/),
    ]));
    expect(proxy.proxy.snapshot.version).toBe(1);
    expect((await send(proxy.port, '/still-old')).status).toBe(200);
    expect(upstreamA.last('/still-old')).toBeDefined();
    expect(upstreamB.seen).toEqual([]);
    expect(proxy.logs.find((l) => l.msg === 'request' && l.path === '/still-old')).toMatchObject({ route: 'old' });
  });

  it('a file that is not YAML, or has no routes, is refused too', async () => {
    const f = ownFiles();
    const proxy = await start(config(f, [openRoute(upstreamA.url, { name: 'old' })]));
    writeFileSync(proxy.configFile, 'listen: [unclosed\n  routes: {');
    expect((await proxy.proxy.reload()).ok).toBe(false);
    proxy.writeConfig(config(f, []));
    const noRoutes = await proxy.proxy.reload();
    expect(noRoutes.ok).toBe(false);
    expect(noRoutes.errors.join('\n')).toMatch(/^routes: /m);
    expect((await send(proxy.port, '/after-bad-files')).status).toBe(200);
    expect(upstreamA.last('/after-bad-files')).toBeDefined();
  });

  it('a listen.tls change naming a missing file is refused whole: neither certificate nor routes change', async () => {
    const f = ownFiles();
    const proxy = await start(config(f, [openRoute(upstreamA.url, { name: 'old' })]));
    proxy.writeConfig(config({ cert: join(f.dir, 'missing.crt'), key: f.key }, [openRoute(upstreamB.url, { name: 'new' })]));
    const result = await proxy.proxy.reload();
    expect(result.ok).toBe(false);
    expect(result.errors.join('\n')).toMatch(/listen\.tls/);
    expect(await servedFingerprint(proxy.port)).toBe(oldFp);
    expect((await send(proxy.port, '/tls-refused')).status).toBe(200);
    expect(upstreamA.last('/tls-refused')).toBeDefined();
    expect(upstreamB.seen).toEqual([]);
  });

  it('a valid config swaps the routes (and a new listen.tls certificate) at once', async () => {
    const f = ownFiles();
    const proxy = await start(config(f, [openRoute(upstreamA.url, { name: 'old' })]));
    expect((await send(proxy.port, '/x')).status).toBe(200);
    proxy.writeConfig(config({ cert: pki.serverNext.certPath, key: pki.serverNext.keyPath }, [
      openRoute(upstreamB.url, { name: 'new', match: { pathPrefix: '/v2' } }),
    ]));
    expect(await proxy.proxy.reload()).toEqual({ ok: true, errors: [] });
    expect(proxy.proxy.snapshot.version).toBe(2);
    // The old catch-all route is gone: nothing matches /x any more.
    expect((await send(proxy.port, '/x')).status).toBe(404);
    expect((await send(proxy.port, '/v2/y')).status).toBe(200);
    expect(upstreamA.seen.map((s) => s.url)).toEqual(['/x']);
    expect(upstreamB.seen.map((s) => s.url)).toEqual(['/v2/y']);
    expect(await servedFingerprint(proxy.port)).toBe(nextFp);
  });

  it('after a reload that names other certificate files, those files are the ones watched', async () => {
    const f1 = ownFiles();
    const f2 = ownFiles();
    writeFileSync(f2.cert, pki.serverNext.certPem);
    writeFileSync(f2.key, pki.serverNext.keyPem);
    const proxy = await start(config(f1, [openRoute(upstreamA.url, { name: 'old' })]), true);
    proxy.writeConfig(config(f2, [openRoute(upstreamA.url, { name: 'old' })]));
    expect(await proxy.proxy.reload()).toEqual({ ok: true, errors: [] });
    expect(await servedFingerprint(proxy.port)).toBe(nextFp);
    // Rotating the newly named files is picked up.
    writeFileSync(f2.cert, pki.server.certPem);
    writeFileSync(f2.key, pki.server.keyPem);
    await eventually('the rotated certificate in the new files is served', async () => (await servedFingerprint(proxy.port)) === oldFp);
  });

  it('the config file is watched: writing it swaps the routes without an explicit reload', async () => {
    const f = ownFiles();
    const proxy = await start(config(f, [openRoute(upstreamA.url, { name: 'old' })]), true);
    // The watcher compares mtime, size and inode; this rewrite has the same size, so it
    // must land on a later timestamp tick than the first write (the file system's clock is
    // coarser than a millisecond: a same-size rewrite within one tick is invisible to stat).
    await new Promise((r) => setTimeout(r, 50));
    proxy.writeConfig(config(f, [openRoute(upstreamB.url, { name: 'new' })]));
    await eventually('the new snapshot is in place', () => proxy.proxy.snapshot.version === 2);
    expect((await send(proxy.port, '/watched')).status).toBe(200);
    expect(upstreamB.last('/watched')).toBeDefined();
    expect(upstreamA.seen).toEqual([]);
  });

  it('a request in flight during a reload completes on the snapshot it started with', async () => {
    const f = ownFiles();
    const proxy = await start(config(f, [openRoute(upstreamA.url, { name: 'old' })]));
    const slow = send(proxy.port, '/slow?ms=500');
    await eventually('the slow request reached upstream A', () => upstreamA.last('/slow') !== undefined);

    // The new config no longer uses upstream A at all: its pool is retired, gracefully.
    proxy.writeConfig(config(f, [openRoute(upstreamB.url, { name: 'new' })]));
    expect(await proxy.proxy.reload()).toEqual({ ok: true, errors: [] });
    const fresh = await send(proxy.port, '/fresh');
    expect(fresh.status).toBe(200);
    expect(upstreamB.last('/fresh')).toBeDefined();

    const res = await slow;
    expect(res.status).toBe(200);
    expect(res.body).toBe('{"slow":true}');
    expect(upstreamB.last('/slow')).toBeUndefined();
    await eventually('the slow request is logged', () => proxy.logs.some((l) => l.msg === 'request' && l.path === '/slow'));
    expect(proxy.logs.find((l) => l.msg === 'request' && l.path === '/slow')).toMatchObject({ route: 'old', status: 200 });
    expect(proxy.logs.find((l) => l.msg === 'request' && l.path === '/fresh')).toMatchObject({ route: 'new', status: 200 });
  });
});
