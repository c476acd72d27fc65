// The client-certificate identity cache (src/tls/peer-identity.ts, docs/design.md "Client-
// certificate identity cache"): what a certificate's bytes determine is remembered across
// connections; whether the certificate is trusted, unrevoked and within its dates is not —
// OpenSSL decides it at every handshake, the clock at every request. Each case warms the
// cache with a first connection, checks that a later one was served from it, then changes
// what the cache must not hide (the CRL, the trusted CA, the clock, the key behind the same
// subject and serial) and asserts what the next connection gets and what the upstream saw.
import { createHash, createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCrl, type Issued } from '../../src/tls/pki.ts';
import { x509 } from '../../src/tls/pki-x509.ts';
import { certificateCacheStats, identifyConnection, type ConnectionIdentity } from '../../src/tls/peer-identity.ts';
import { readSecureContextOptions } from '../../src/tls/server-context.ts';
import type { Config } from '../../src/config/schema.ts';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { openTls, startTestProxy, statusOn, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const OTHER_ID = 'spiffe://example.org/ns/prod/sa/impostor';
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

let pki: TestPki;
let upstream: TestUpstream;
const dirs: string[] = [];
let running: TestProxy[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startUpstream();
});

afterEach(async () => {
  await Promise.all(running.map((p) => p.close()));
  running = [];
  upstream.reset();
});

afterAll(async () => {
  await upstream?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await pki?.cleanup();
});

/** A client certificate signed by `issuer` with exactly the serial, subject and dates given (pki.ts picks its own serials). */
async function sign(issuer: Issued, opts: { serial: string; cn: string; uri: string; notAfter?: Date }): Promise<Issued> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const signingKey = createPrivateKey(issuer.keyPem).toCryptoKey(ALG, false, ['sign']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serial,
    subject: `CN=${opts.cn}`,
    issuer: new x509.X509Certificate(issuer.certPem).subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: opts.notAfter ?? new Date(Date.now() + 86_400_000),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: opts.uri }], false),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return {
    certPem: cert.toString('pem'),
    keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`,
    serialHex: cert.serialNumber,
  };
}

/** Copies of the CA and CRL files that a test may rewrite. */
function ownFiles(): { ca: string; crl: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-idcache-'));
  dirs.push(dir);
  const files = { ca: join(dir, 'ca.crt'), crl: join(dir, 'ca.crl') };
  copyFileSync(pki.ca.certPath, files.ca);
  copyFileSync(pki.crl.path, files.crl);
  return files;
}

async function start(mode: 'optional' | 'require', files: { ca: string; crl: string }): Promise<TestProxy> {
  const proxy = await startTestProxy({
    listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath }, clientAuth: { mode, ca: files.ca, crl: files.crl } },
    routes: [{ name: 'workload', upstream: upstream.url, policy: { allow: { spiffe: { id: pki.spiffeId } } } }],
  });
  running.push(proxy);
  return proxy;
}

interface Answer {
  readonly status: number;
  readonly log: LogLine | undefined;
}

/** One request on a new connection (no session reuse), with `cert`; rejects when the handshake fails. */
function send(proxy: TestProxy, path: string, cert: Issued): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: proxy.port, path, agent: false, servername: 'localhost', ca: pki.ca.certPem, cert: cert.certPem, key: cert.keyPem, headers: { host: 'localhost' } },
      (res) => {
        res.resume();
        res.on('end', () => {
          const id = String(res.headers['x-request-id']);
          // The access log line is written when the response ends; give it a tick.
          setTimeout(() => resolve({ status: res.statusCode ?? 0, log: proxy.logs.find((l) => l.msg === 'request' && l.requestId === id) }), 20);
        });
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error(`no answer for ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

async function refused(proxy: TestProxy, path: string, cert: Issued): Promise<boolean> {
  try {
    await send(proxy, path, cert);
    return false;
  } catch {
    return true;
  }
}

/** Two connections with `cert`: the second must be a hit in the certificate cache. */
async function warm(proxy: TestProxy, cert: Issued): Promise<void> {
  expect((await send(proxy, '/warm-1', cert)).status).toBe(200);
  const before = certificateCacheStats();
  expect((await send(proxy, '/warm-2', cert)).status).toBe(200);
  const after = certificateCacheStats();
  expect({ hits: after.hits - before.hits, misses: after.misses - before.misses }).toEqual({ hits: 1, misses: 0 });
}

const seen = (): string[] => upstream.seen.map((s) => s.url);

describe('certificates that share subject and serial but not their key', () => {
  let twinA: Issued;
  let twinB: Issued;

  beforeAll(async () => {
    // A CA that misissued (or two issuance runs that reused a serial): same subject, same
    // serial, different key and different SPIFFE ID. Only the full DER tells them apart.
    [twinA, twinB] = await Promise.all([
      sign(pki.ca, { serial: '7e57c0ffee', cn: 'twin', uri: pki.spiffeId }),
      sign(pki.ca, { serial: '7e57c0ffee', cn: 'twin', uri: OTHER_ID }),
    ]);
    const [a, b] = [new X509Certificate(twinA.certPem), new X509Certificate(twinB.certPem)];
    expect(a.serialNumber).toBe(b.serialNumber);
    expect(a.subject).toBe(b.subject);
  });

  it('never share an entry: each connection gets its own certificate\'s SPIFFE ID and thumbprint', async () => {
    const listen = {
      tls: { cert: pki.server.certPath, key: pki.server.keyPath, minVersion: 'TLSv1.2' },
      clientAuth: { mode: 'optional', ca: pki.ca.certPath },
    } as unknown as Config['listen'];
    const server = createTlsServer({ ...readSecureContextOptions(listen), requestCert: true, rejectUnauthorized: false }, (socket: TLSSocket) => {
      socket.end(JSON.stringify(identifyConnection(socket)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const identify = (cert: Issued): Promise<ConnectionIdentity> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca.certPem, cert: cert.certPem, key: cert.keyPem });
        let text = '';
        s.on('data', (d: Buffer) => (text += d.toString()));
        s.on('end', () => resolve(JSON.parse(text) as ConnectionIdentity));
        s.on('error', reject);
      });
    try {
      const thumb = (c: Issued) => createHash('sha256').update(new X509Certificate(c.certPem).raw).digest('base64url');
      // A, then B, then A and B again (both cached by then).
      const ids = [await identify(twinA), await identify(twinB), await identify(twinA), await identify(twinB)];
      expect(ids.map((i) => [i.clientCert, i.spiffeId, i.certThumbprint])).toEqual([
        ['verified', pki.spiffeId, thumb(twinA)],
        ['verified', OTHER_ID, thumb(twinB)],
        ['verified', pki.spiffeId, thumb(twinA)],
        ['verified', OTHER_ID, thumb(twinB)],
      ]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('through the proxy: the policy for A\'s SPIFFE ID admits A and never B, however warm the cache', async () => {
    const proxy = await start('optional', ownFiles());
    await warm(proxy, twinA);
    const b = await send(proxy, '/twin-b', twinB);
    expect(b.status).toBe(403);
    expect(b.log).toMatchObject({ clientCert: 'verified', spiffeId: OTHER_ID });
    expect((await send(proxy, '/twin-a', twinA)).status).toBe(200);
    expect(seen()).toEqual(['/warm-1', '/warm-2', '/twin-a']);
  });
});

describe('a CRL that changes after the certificate was cached', () => {
  it('optional: the revoked certificate\'s next connection has no identity (403), the upstream sees nothing more', async () => {
    const files = ownFiles();
    const proxy = await start('optional', files);
    await warm(proxy, pki.clients.valid);
    writeFileSync(files.crl, await createCrl(pki.ca, [pki.clients.valid.serialHex]));
    expect(proxy.proxy.reloadTls()).toBe(true);
    const after = await send(proxy, '/after-revocation', pki.clients.valid);
    expect(after.status).toBe(403);
    expect(after.log).toMatchObject({ clientCert: 'invalid' });
    expect(after.log).not.toHaveProperty('spiffeId');
    expect(seen()).toEqual(['/warm-1', '/warm-2']);
  });

  it('require: the revoked certificate\'s next handshake fails', async () => {
    const files = ownFiles();
    const proxy = await start('require', files);
    await warm(proxy, pki.clients.valid);
    writeFileSync(files.crl, await createCrl(pki.ca, [pki.clients.valid.serialHex]));
    expect(proxy.proxy.reloadTls()).toBe(true);
    expect(await refused(proxy, '/after-revocation', pki.clients.valid)).toBe(true);
    expect(seen()).toEqual(['/warm-1', '/warm-2']);
  });
});

describe('a reload that changes the trusted CA', () => {
  it('refuses the cached certificate of the CA no longer trusted, and admits the new CA\'s', async () => {
    const files = ownFiles();
    const proxy = await start('optional', files);
    const fromOther = pki.clients.untrusted;
    await warm(proxy, pki.clients.valid);
    expect((await send(proxy, '/other-before', fromOther)).log).toMatchObject({ clientCert: 'invalid' });

    writeFileSync(files.ca, pki.otherCa.certPem);
    writeFileSync(files.crl, await createCrl(pki.otherCa, []));
    expect(proxy.proxy.reloadTls()).toBe(true);

    const old = await send(proxy, '/old-ca-after', pki.clients.valid);
    expect(old.status).toBe(403);
    expect(old.log).toMatchObject({ clientCert: 'invalid' });
    expect((await send(proxy, '/new-ca-after', fromOther)).status).toBe(200);
    expect(seen()).toEqual(['/warm-1', '/warm-2', '/new-ca-after']);
  });

  it('require: the old CA\'s certificate no longer completes a handshake', async () => {
    const files = ownFiles();
    const proxy = await start('require', files);
    await warm(proxy, pki.clients.valid);
    writeFileSync(files.ca, pki.otherCa.certPem);
    writeFileSync(files.crl, await createCrl(pki.otherCa, []));
    expect(proxy.proxy.reloadTls()).toBe(true);
    expect(await refused(proxy, '/old-ca-after', pki.clients.valid)).toBe(true);
    expect(seen()).toEqual(['/warm-1', '/warm-2']);
  });
});

describe('a certificate that expires after it was cached', () => {
  it('is refused on a new connection, and stops counting on one opened while it was valid', async () => {
    const proxy = await start('optional', ownFiles());
    const cert = await sign(pki.ca, { serial: '7e57e0f1', cn: 'api', uri: pki.spiffeId, notAfter: new Date(Date.now() + 2500) });
    await warm(proxy, cert);
    // Opened (and identified, from the cache) while the certificate is valid, kept alive.
    const kept = await openTls(proxy.port, { cert: cert.certPem, key: cert.keyPem });
    try {
      expect(await statusOn(kept, '/kept-before')).toBe(200);
      // X.509 keeps whole seconds, and notAfter itself is still valid (RFC 5280 §4.1.2.5).
      const expiresAt = new X509Certificate(cert.certPem).validToDate.getTime() + 1000;
      await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 150));
      expect(await statusOn(kept, '/kept-after')).toBe(403);
      const fresh = await send(proxy, '/new-after', cert);
      expect(fresh.status).toBe(403);
      expect(fresh.log).toMatchObject({ clientCert: 'invalid' });
      expect(fresh.log).not.toHaveProperty('spiffeId');
      expect(seen()).toEqual(['/warm-1', '/warm-2', '/kept-before']);
    } finally {
      kept.destroy();
    }
  });
});

describe('the path\'s notAfter belongs to the trust store it was computed with', () => {
  /** A self-signed client CA; the same `keys` and name make a renewal of it. */
  async function clientCa(keys: webcrypto.CryptoKeyPair, serial: string, notAfter: Date): Promise<Issued> {
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial,
      name: 'CN=renewed client CA',
      notBefore: new Date(Date.now() - 60_000),
      notAfter,
      keys,
      signingAlgorithm: ALG,
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
    return { certPem: cert.toString('pem'), keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`, serialHex: cert.serialNumber };
  }

  it('a CA renewed by a reload (same name and key, later notAfter) extends new connections, not the old ones', async () => {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
    const expiring = await clientCa(keys, '7e57ca0003', new Date(Date.now() + 3000));
    const renewed = await clientCa(keys, '7e57ca0004', new Date(Date.now() + 86_400_000));
    const leaf = await sign(expiring, { serial: '7e57e0f2', cn: 'api', uri: pki.spiffeId });
    const files = ownFiles();
    writeFileSync(files.ca, expiring.certPem);
    writeFileSync(files.crl, await createCrl(expiring, []));
    const proxy = await start('optional', files);
    await warm(proxy, leaf);
    const before = await openTls(proxy.port, { cert: leaf.certPem, key: leaf.keyPem });
    expect(await statusOn(before, '/old-context')).toBe(200);

    writeFileSync(files.ca, renewed.certPem);
    writeFileSync(files.crl, await createCrl(renewed, []));
    expect(proxy.proxy.reloadTls()).toBe(true);
    const after = await openTls(proxy.port, { cert: leaf.certPem, key: leaf.keyPem });
    try {
      expect(await statusOn(after, '/new-context')).toBe(200);
      const caExpiresAt = new X509Certificate(expiring.certPem).validToDate.getTime() + 1000;
      await new Promise((r) => setTimeout(r, caExpiresAt - Date.now() + 150));
      // Verified against the renewed CA: its path runs to the renewed notAfter.
      expect(await statusOn(after, '/new-context-later')).toBe(200);
      // Verified against the CA that has now expired: its identity ended with it.
      expect(await statusOn(before, '/old-context-later')).toBe(403);
      expect(seen()).toEqual(['/warm-1', '/warm-2', '/old-context', '/new-context', '/new-context-later']);
    } finally {
      before.destroy();
      after.destroy();
    }
  });
});
