// The HTTPS listener over real sockets: which TLS versions and cipher suites it accepts,
// which certificate it serves, what each client-certificate mode does with valid,
// untrusted, expired, revoked and missing client certificates, and graceful shutdown.
// Every refusal is also checked from the upstream's side: nothing reached it.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeTestPki, type TestCert, type TestPki } from '../helpers/pki.ts';
import { openRoute, startTestProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const OPENSSL = '/usr/bin/openssl';
const hasOpenssl = existsSync(OPENSSL);

const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_256_GCM_SHA384'];
const ECDSA_AEAD = ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-AES256-GCM-SHA384'];
const RSA_AEAD = ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-RSA-AES256-GCM-SHA384'];

let pki: TestPki;
let upstream: TestUpstream;
const proxies: TestProxy[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startUpstream();
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await upstream?.close();
  await pki?.cleanup();
});

beforeEach(() => {
  upstream.reset();
});

async function proxyWith(listen: Record<string, unknown>, routes?: unknown[]): Promise<TestProxy> {
  const p = await startTestProxy({ listen, routes: routes ?? [openRoute(upstream.url)] });
  proxies.push(p);
  return p;
}

function serverTls(cert: TestCert = pki.server, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cert: cert.certPath, key: cert.keyPath, ...extra };
}

type Outcome =
  | { ok: true; status: number; body: string; protocol: string | null; cipher: string; peer: X509Certificate | undefined; socket: TLSSocket }
  | { ok: false; code: string; message: string };

/**
 * One GET over a fresh TLS connection that verifies the server against the test CA as
 * `localhost`. Resolves with the response or with the error that ended the attempt
 * (never hangs: bounded by `timeoutMs`).
 */
function fetchOver(port: number, path: string, tls: ConnectionOptions = {}, timeoutMs = 5000): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'GET',
        headers: { host: 'localhost' },
        agent: false,
        servername: 'localhost',
        ca: pki.ca.certPem,
        ...tls,
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const info = { protocol: socket.getProtocol(), cipher: socket.getCipher().name, peer, socket };
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), ...info }));
        res.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, code: err.code ?? 'ERR', message: err.message }));
      },
    );
    // Read at the handshake: Node's TLS client forgets the peer certificate once a session ticket arrives.
    let peer: X509Certificate | undefined;
    req.on('socket', (s) => s.once('secureConnect', () => (peer = (s as TLSSocket).getPeerX509Certificate())));
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, code: err.code ?? 'ERR', message: err.message }));
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('no answer in time'), { code: 'TEST_TIMEOUT' })), timeoutMs);
    req.end();
  });
}

function withCert(cert: TestCert | undefined): ConnectionOptions {
  return cert ? { cert: cert.certPem, key: cert.keyPem } : {};
}

/** Polls until `find` returns something, or fails after `ms`. */
async function waitFor<T>(what: string, find: () => T | undefined, ms = 3000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function requestLog(p: TestProxy, path: string): Promise<LogLine> {
  return waitFor(`access log line for ${path}`, () => p.logs.find((l) => l.msg === 'request' && l.path === path));
}

function seenPaths(): string[] {
  return upstream.seen.map((s) => s.url);
}

/** Runs openssl with stdin closed; resolves with its exit code and all output. */
function openssl(args: string[], timeoutMs = 10_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(OPENSSL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
    child.stdin.end();
  });
}

describe('TLS versions and cipher suites (default: TLS 1.2 minimum, ECDSA P-256 certificate)', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await proxyWith({ tls: serverTls() });
  });

  it('completes a TLS 1.3 handshake with an AEAD suite and forwards the request', async () => {
    const res = await fetchOver(proxy.port, '/v13', { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    expect(res).toMatchObject({ ok: true, status: 200, protocol: 'TLSv1.3' });
    if (!res.ok) return;
    expect(TLS13_SUITES).toContain(res.cipher);
    expect(seenPaths()).toEqual(['/v13']);
  });

  it('completes a TLS 1.2 handshake on an ECDHE-ECDSA AEAD suite with an ephemeral X25519 key', async () => {
    const res = await fetchOver(proxy.port, '/v12', { maxVersion: 'TLSv1.2' });
    expect(res).toMatchObject({ ok: true, status: 200, protocol: 'TLSv1.2' });
    if (!res.ok) return;
    expect(ECDSA_AEAD).toContain(res.cipher);
    expect(seenPaths()).toEqual(['/v12']);
    // Forward secrecy: the key exchange is ephemeral ECDH, and X25519 is preferred.
    const s = await new Promise<TLSSocket>((resolve, reject) => {
      const sock = tlsConnect({ host: '127.0.0.1', port: proxy.port, servername: 'localhost', ca: pki.ca.certPem, maxVersion: 'TLSv1.2' }, () => resolve(sock));
      sock.on('error', reject);
    });
    expect(s.getEphemeralKeyInfo()).toMatchObject({ type: 'ECDH', name: 'X25519' });
    s.destroy();
  });

  it.each(ECDSA_AEAD)('accepts a TLS 1.2 client that offers only %s', async (suite) => {
    const path = `/suite/${suite}`;
    const res = await fetchOver(proxy.port, path, { maxVersion: 'TLSv1.2', ciphers: suite });
    expect(res).toMatchObject({ ok: true, status: 200, protocol: 'TLSv1.2', cipher: suite });
    expect(seenPaths()).toEqual([path]);
  });

  // CBC (Lucky13-style padding oracles), SHA-1 MACs and static RSA key transport (no
  // forward secrecy, ROBOT) must never be negotiated.
  it.each([
    'ECDHE-ECDSA-AES128-SHA',
    'ECDHE-ECDSA-AES256-SHA',
    'ECDHE-ECDSA-AES128-SHA256',
    'ECDHE-ECDSA-AES256-SHA384',
    'AES128-SHA',
    'ECDHE-RSA-AES128-SHA',
    'AES128-GCM-SHA256',
  ])('refuses a TLS 1.2 client that offers only %s', async (suite) => {
    const path = `/weak/${suite}`;
    const res = await fetchOver(proxy.port, path, { maxVersion: 'TLSv1.2', ciphers: suite });
    expect(res.ok).toBe(false);
    expect(seenPaths()).toEqual([]);
  });

  it('refuses TLS 1.0 and TLS 1.1 (Node client; the refusal may also come from the local OpenSSL)', async () => {
    for (const maxVersion of ['TLSv1', 'TLSv1.1'] as const) {
      const path = `/legacy/${maxVersion}`;
      // SECLEVEL=0 lets the local OpenSSL offer the old protocols, so the server is the one that says no.
      const res = await fetchOver(proxy.port, path, { minVersion: 'TLSv1', maxVersion, ciphers: 'DEFAULT:@SECLEVEL=0' });
      expect(res.ok, `${maxVersion} handshake must fail`).toBe(false);
      if (!res.ok) expect(res.message).toMatch(/alert protocol version|no protocols available|unsupported protocol/);
    }
    expect(seenPaths()).toEqual([]);
  });

  it.skipIf(!hasOpenssl)('refuses TLS 1.0 and 1.1 from openssl s_client with a protocol_version alert; TLS 1.2 from the same client works', async () => {
    const target = ['s_client', '-connect', `127.0.0.1:${proxy.port}`, '-servername', 'localhost'];
    for (const flag of ['-tls1', '-tls1_1']) {
      const r = await openssl([...target, flag, '-cipher', 'DEFAULT:@SECLEVEL=0']);
      expect(r.code, `${flag}: ${r.out}`).not.toBe(0);
      expect(r.out).not.toMatch(/Cipher is (?!\(NONE\))/);
      if (!/no protocols available/.test(r.out)) expect(r.out).toMatch(/alert protocol version/);
    }
    const control = await openssl([...target, '-tls1_2']);
    expect(control.code, control.out).toBe(0);
    expect(control.out).toMatch(/Cipher is ECDHE-ECDSA-/);
  });

  it('serves the configured ECDSA P-256 certificate, valid for localhost under the test CA', async () => {
    const res = await fetchOver(proxy.port, '/cert');
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    const peer = res.peer!;
    expect(peer.fingerprint256).toBe(new X509Certificate(pki.server.certPem).fingerprint256);
    expect(peer.publicKey.asymmetricKeyType).toBe('ec');
    expect(peer.publicKey.asymmetricKeyDetails).toMatchObject({ namedCurve: 'prime256v1' });
  });
});

describe('minVersion TLSv1.3', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await proxyWith({ tls: serverTls(pki.server, { minVersion: 'TLSv1.3' }) });
  });

  it('refuses a TLS 1.2 client and forwards nothing', async () => {
    const res = await fetchOver(proxy.port, '/only12', { maxVersion: 'TLSv1.2' });
    expect(res.ok).toBe(false);
    // The server's protocol_version alert, not a local refusal.
    if (!res.ok) expect(res.message).toMatch(/alert protocol version/);
    expect(seenPaths()).toEqual([]);
  });

  it('accepts a TLS 1.3 client', async () => {
    const res = await fetchOver(proxy.port, '/only13', { minVersion: 'TLSv1.3' });
    expect(res).toMatchObject({ ok: true, status: 200, protocol: 'TLSv1.3' });
    expect(seenPaths()).toEqual(['/only13']);
  });
});

describe('TLS 1.2 suites with an RSA server certificate', () => {
  // With an ECDSA certificate the RSA suites fail for want of an RSA key, whatever the
  // cipher list says; an RSA certificate shows that the list itself refuses them.
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await proxyWith({ tls: serverTls(pki.serverRsa) });
  });

  it.each(RSA_AEAD)('accepts %s', async (suite) => {
    const path = `/rsa/${suite}`;
    const res = await fetchOver(proxy.port, path, { maxVersion: 'TLSv1.2', ciphers: suite });
    expect(res).toMatchObject({ ok: true, status: 200, protocol: 'TLSv1.2', cipher: suite });
    expect(res.ok && res.peer?.publicKey.asymmetricKeyType).toBe('rsa');
    expect(seenPaths()).toEqual([path]);
  });

  it.each([
    'AES128-SHA', // RSA key transport, CBC, SHA-1
    'AES256-SHA256', // RSA key transport, CBC
    'AES128-GCM-SHA256', // RSA key transport, AEAD: still no forward secrecy
    'AES256-GCM-SHA384',
    'ECDHE-RSA-AES128-SHA', // CBC, SHA-1
    'ECDHE-RSA-AES256-SHA384', // CBC
    'DHE-RSA-AES128-GCM-SHA256', // finite-field DHE: not in the list
  ])('refuses a client that offers only %s', async (suite) => {
    const path = `/rsa-weak/${suite}`;
    const res = await fetchOver(proxy.port, path, { maxVersion: 'TLSv1.2', ciphers: suite });
    expect(res.ok).toBe(false);
    expect(seenPaths()).toEqual([]);
  });

  it('a default TLS 1.2 client gets an ECDHE-RSA AEAD suite', async () => {
    const res = await fetchOver(proxy.port, '/rsa-default', { maxVersion: 'TLSv1.2' });
    expect(res).toMatchObject({ ok: true, status: 200, protocol: 'TLSv1.2' });
    if (res.ok) expect(RSA_AEAD).toContain(res.cipher);
  });
});

type ClientKind = 'valid' | 'untrusted' | 'expired' | 'revoked' | 'none';
const BAD_KINDS: ClientKind[] = ['untrusted', 'expired', 'revoked', 'none'];
const ALL_KINDS: ClientKind[] = ['valid', ...BAD_KINDS];
const VERSIONS = ['TLSv1.3', 'TLSv1.2'] as const;

function clientCert(kind: ClientKind): TestCert | undefined {
  return kind === 'none' ? undefined : pki.clients[kind];
}

describe('client certificates (listen.clientAuth.mode)', () => {
  // Two routes: /open lets anyone through (so a 200 there proves the handshake
  // completed), /workload only the valid certificate's SPIFFE ID.
  const routes = (): unknown[] => [
    openRoute(upstream.url, { name: 'open', match: { pathPrefix: '/open' } }),
    { name: 'workload', upstream: upstream.url, match: { pathPrefix: '/workload' }, policy: { allow: { spiffe: { id: pki.spiffeId } } } },
  ];
  const clientAuth = (mode: string): Record<string, unknown> => ({ mode, ca: pki.ca.certPath, crl: pki.crl.path });

  describe('require', () => {
    let proxy: TestProxy;
    beforeAll(async () => {
      proxy = await proxyWith({ tls: serverTls(), clientAuth: clientAuth('require') }, routes());
    });

    it.each(VERSIONS)('a valid certificate over %s: handshake, identity and policy pass', async (version) => {
      const path = `/workload/require-valid-${version}`;
      const res = await fetchOver(proxy.port, path, { ...withCert(pki.clients.valid), maxVersion: version, minVersion: version });
      expect(res).toMatchObject({ ok: true, status: 200, protocol: version });
      expect(seenPaths()).toEqual([path]);
      expect(await requestLog(proxy, path)).toMatchObject({ status: 200, spiffeId: pki.spiffeId, clientCert: 'verified', decision: 'allow' });
    });

    it.each(BAD_KINDS.flatMap((kind) => VERSIONS.map((version) => [kind, version] as const)))(
      'a %s client certificate over %s fails the handshake; nothing reaches the upstream',
      async (kind, version) => {
        const path = `/open/require-${kind}-${version}`;
        const res = await fetchOver(proxy.port, path, { ...withCert(clientCert(kind)), maxVersion: version, minVersion: version });
        expect(res.ok).toBe(false);
        if (!res.ok) expect(res.code).not.toBe('TEST_TIMEOUT');
        expect(seenPaths()).toEqual([]);
        // No request was parsed on that connection at all.
        await new Promise((r) => setTimeout(r, 50));
        expect(proxy.logs.filter((l) => l.msg === 'request' && l.path === path)).toEqual([]);
      },
    );
  });

  describe('optional', () => {
    let proxy: TestProxy;
    beforeAll(async () => {
      proxy = await proxyWith({ tls: serverTls(), clientAuth: clientAuth('optional') }, routes());
    });

    it.each(ALL_KINDS)('the handshake completes with a %s client certificate; only a valid one is a verified identity', async (kind) => {
      const path = `/open/optional-${kind}`;
      const res = await fetchOver(proxy.port, path, withCert(clientCert(kind)));
      expect(res).toMatchObject({ ok: true, status: 200 });
      expect(seenPaths()).toEqual([path]);
      const line = await requestLog(proxy, path);
      const expected = { valid: 'verified', untrusted: 'invalid', expired: 'invalid', revoked: 'invalid', none: undefined }[kind];
      expect(line.clientCert).toBe(expected);
      expect(line.spiffeId).toBe(kind === 'valid' ? pki.spiffeId : undefined);
    });

    it('a route that needs the SPIFFE ID admits the valid certificate', async () => {
      const path = '/workload/optional-valid';
      const res = await fetchOver(proxy.port, path, withCert(pki.clients.valid));
      expect(res).toMatchObject({ ok: true, status: 200 });
      expect(seenPaths()).toEqual([path]);
    });

    it.each(BAD_KINDS)('a route that needs the SPIFFE ID answers 403 to a %s certificate and forwards nothing', async (kind) => {
      const path = `/workload/optional-${kind}`;
      const res = await fetchOver(proxy.port, path, withCert(clientCert(kind)));
      expect(res).toMatchObject({ ok: true, status: 403 });
      expect(seenPaths()).toEqual([]);
      const line = await requestLog(proxy, path);
      expect(line).toMatchObject({ status: 403, decision: 'deny' });
      expect(line).not.toHaveProperty('spiffeId');
    });
  });

  describe('off', () => {
    let proxy: TestProxy;
    let optional: TestProxy;
    beforeAll(async () => {
      // A CA and CRL are configured, but mode off must ignore them.
      proxy = await proxyWith({ tls: serverTls(), clientAuth: clientAuth('off') }, routes());
      optional = await proxyWith({ tls: serverTls(), clientAuth: clientAuth('optional') }, routes());
    });

    it('does not see a certificate the client holds: no identity in the log', async () => {
      const path = '/open/off-valid';
      const res = await fetchOver(proxy.port, path, withCert(pki.clients.valid));
      expect(res).toMatchObject({ ok: true, status: 200 });
      expect(seenPaths()).toEqual([path]);
      const line = await requestLog(proxy, path);
      expect(line.clientCert).toBeUndefined();
      expect(line.spiffeId).toBeUndefined();
    });

    it('denies a route that needs a SPIFFE ID even to a client holding a valid certificate', async () => {
      const path = '/workload/off-valid';
      const res = await fetchOver(proxy.port, path, withCert(pki.clients.valid));
      expect(res).toMatchObject({ ok: true, status: 403 });
      expect(seenPaths()).toEqual([]);
    });

    it.skipIf(!hasOpenssl)('sends no CertificateRequest (openssl s_client), where optional does', async () => {
      for (const version of ['-tls1_3', '-tls1_2']) {
        const off = await openssl(['s_client', '-connect', `127.0.0.1:${proxy.port}`, '-servername', 'localhost', version]);
        expect(off.code, off.out).toBe(0);
        expect(off.out).not.toMatch(/Acceptable client certificate CA names/);
        expect(off.out).not.toMatch(/Requested Signature Algorithms/);
        const opt = await openssl(['s_client', '-connect', `127.0.0.1:${optional.port}`, '-servername', 'localhost', version]);
        expect(opt.code, opt.out).toBe(0);
        expect(opt.out).toMatch(/Acceptable client certificate CA names\n\/?CN ?= ?ztproxy test CA/);
        expect(opt.out).toMatch(/Requested Signature Algorithms/);
      }
    });
  });
});

describe('graceful shutdown', () => {
  it('lets a request in flight finish with 200 and refuses new connections', async () => {
    const proxy = await proxyWith({ tls: serverTls() });
    const port = proxy.port;
    const slow = fetchOver(port, '/slow?ms=500', {}, 10_000);
    await waitFor('the slow request at the upstream', () => upstream.last('/slow'));
    const stopping = proxy.proxy.shutdown();
    // While the slow request is still running, the listener no longer accepts.
    const refused = await new Promise<string>((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port });
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'ERR'));
    });
    expect(refused).toBe('ECONNREFUSED');
    const res = await slow;
    expect(res).toMatchObject({ ok: true, status: 200, body: '{"slow":true}' });
    await stopping;
    const after = await fetchOver(port, '/after-shutdown');
    expect(after).toMatchObject({ ok: false, code: 'ECONNREFUSED' });
    expect(seenPaths()).toEqual(['/slow?ms=500']);
  });

  it('shutdown waits for the slow request rather than cutting it', async () => {
    const proxy = await proxyWith({ tls: serverTls() });
    const slow = fetchOver(proxy.port, '/slow?ms=400', {}, 10_000);
    await waitFor('the slow request at the upstream', () => upstream.last('/slow'));
    const started = Date.now();
    await proxy.proxy.shutdown();
    // Returned only after the response (≈400 ms after it reached the upstream).
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await slow).toMatchObject({ ok: true, status: 200 });
  });
});
