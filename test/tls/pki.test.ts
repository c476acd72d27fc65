// The dev PKI is what every mTLS test and the demo trust, so these tests check its output
// with independent verifiers — Node's X509Certificate, OpenSSL's CLI and a real TLS
// handshake — rather than with the library that produced it.
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCerts } from '../../src/cli/certs.ts';
import { PkiError } from '../../src/tls/pki-error.ts';
import { parseSpiffeId } from '../../src/tls/pki-spiffe-id.ts';
import { x509 } from '../../src/tls/pki-x509.ts';
import { createCrl, generateCa, issueCertificate } from '../../src/tls/pki.ts';
import { makeTestPki, type TestCert, type TestPki } from '../helpers/pki.ts';

const OPENSSL = '/usr/bin/openssl';
const hasOpenssl = existsSync(OPENSSL);
const INIT_FILES = [
  'ca.crt', 'ca.key', 'ca.crl', 'server.crt', 'server.key', 'client.crt', 'client.key',
  'client-other.crt', 'client-other.key', 'device-agent.key', 'device-agent.jwks.json',
  'dev-issuer.key', 'dev-issuer.jwks.json',
];

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ztproxy-certs-test-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function certs(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCerts(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

function openssl(...args: string[]): string {
  return execFileSync(OPENSSL, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('ztproxy certs init', () => {
  let dir: string;
  let first: Awaited<ReturnType<typeof certs>>;

  beforeAll(async () => {
    dir = join(await freshDir(), 'nested', 'certs'); // also: creates missing directories
    // A restrictive umask must not leave certificates unreadable to the proxy's users,
    // and a permissive one must not expose keys.
    const previous = process.umask(0o077);
    try {
      first = await certs('init', '--dir', dir);
    } finally {
      process.umask(previous);
    }
  });

  it('writes every file, prints their paths, keys 0600 and public files 0644', async () => {
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout.trim().split('\n')).toEqual(INIT_FILES.map((file) => join(dir, file)));
    for (const file of INIT_FILES) {
      const expected = file.endsWith('.key') ? 0o600 : 0o644;
      expect({ file, mode: (await modeOf(join(dir, file))).toString(8) }).toEqual({ file, mode: expected.toString(8) });
    }
  });

  it('writes a CA that may sign certificates and CRLs only', async () => {
    const ca = new x509.X509Certificate(await readFile(join(dir, 'ca.crt'), 'utf8'));
    const basic = ca.getExtension(x509.BasicConstraintsExtension);
    const usage = ca.getExtension(x509.KeyUsagesExtension);
    expect(basic).toMatchObject({ ca: true, critical: true });
    expect(usage).toMatchObject({ usages: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, critical: true });
    expect(ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(new X509Certificate(Buffer.from(ca.rawData)).ca).toBe(true);
  });

  it('writes a server certificate for localhost, 127.0.0.1 and ::1 that chains to the CA', async () => {
    const ca = new X509Certificate(await readFile(join(dir, 'ca.crt')));
    const server = new X509Certificate(await readFile(join(dir, 'server.crt')));
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.subject).toBe('CN=localhost');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkIP('::1')).toBe('::1');
    expect(server.checkHost('example.com')).toBeUndefined();
    expect(server.subjectAltName?.split(', ')).toHaveLength(3);
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth only
    const days = (Date.parse(server.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(364);
    expect(days).toBeLessThan(366);
  });

  it.skipIf(!hasOpenssl)('produces certificates that openssl verify accepts for their purpose', () => {
    const ca = join(dir, 'ca.crt');
    expect(openssl('verify', '-CAfile', ca, '-purpose', 'sslserver', join(dir, 'server.crt'))).toContain(': OK');
    for (const client of ['client.crt', 'client-other.crt']) {
      expect(openssl('verify', '-CAfile', ca, '-purpose', 'sslclient', join(dir, client))).toContain(': OK');
    }
    // The EKU is enforced: a client certificate cannot act as a server.
    expect(() => openssl('verify', '-CAfile', ca, '-purpose', 'sslserver', join(dir, 'client.crt'))).toThrow();
  });

  it('gives the client certificates their SPIFFE IDs as the only SAN', async () => {
    const uri = async (file: string) => new X509Certificate(await readFile(join(dir, file))).subjectAltName;
    expect(await uri('client.crt')).toBe('URI:spiffe://ztproxy.local/ns/demo/sa/client');
    expect(await uri('client-other.crt')).toBe('URI:spiffe://ztproxy.local/ns/demo/sa/other');
  });

  it('uses ECDSA P-256 with SHA-256 by default, and keys that match their certificates', async () => {
    for (const name of ['ca', 'server', 'client', 'client-other']) {
      const pem = await readFile(join(dir, `${name}.crt`), 'utf8');
      const cert = new X509Certificate(pem);
      expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(new x509.X509Certificate(pem).signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
      const key = createPrivateKey(await readFile(join(dir, `${name}.key`), 'utf8'));
      expect(createPublicKey(key).export({ type: 'spki', format: 'der' })).toEqual(cert.publicKey.export({ type: 'spki', format: 'der' }));
    }
  });

  it('writes an empty CRL from the CA, valid for a year', async () => {
    const crl = new x509.X509Crl(await readFile(join(dir, 'ca.crl'), 'utf8'));
    const ca = new x509.X509Certificate(await readFile(join(dir, 'ca.crt'), 'utf8'));
    expect(crl.entries).toHaveLength(0);
    expect(await crl.verify({ publicKey: ca.publicKey })).toBe(true);
    expect((crl.nextUpdate!.getTime() - Date.now()) / 86_400_000).toBeGreaterThan(364);
  });

  it('writes the device-agent key as a private ES256 JWK and its public JWKS with the same kid', async () => {
    const privateJwk = JSON.parse(await readFile(join(dir, 'device-agent.key'), 'utf8'));
    const jwks = JSON.parse(await readFile(join(dir, 'device-agent.jwks.json'), 'utf8'));
    expect(privateJwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: expect.any(String) });
    expect(privateJwk.d).toEqual(expect.any(String));
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toEqual({
      kty: 'EC', crv: 'P-256', x: privateJwk.x, y: privateJwk.y, kid: privateJwk.kid, alg: 'ES256', use: 'sig',
    });
  });

  it('refuses to overwrite without --force (exit 1) and leaves the files as they were', async () => {
    const before = await readFile(join(dir, 'ca.key'), 'utf8');
    const again = await certs('init', '--dir', dir);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain(join(dir, 'ca.crt'));
    expect(again.stderr).toContain('--force');
    expect(await readFile(join(dir, 'ca.key'), 'utf8')).toBe(before);
  });

  it('refuses when only one target exists, before writing anything', async () => {
    const other = await freshDir();
    await writeFile(join(other, 'device-agent.key'), 'mine');
    const result = await certs('init', '--dir', other);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('device-agent.key');
    expect(existsSync(join(other, 'ca.crt'))).toBe(false);
    expect(await readFile(join(other, 'device-agent.key'), 'utf8')).toBe('mine');
  });

  it('replaces everything with --force, keeping the modes', async () => {
    const before = await readFile(join(dir, 'ca.key'), 'utf8');
    const forced = await certs('init', '--dir', dir, '--force');
    expect(forced.code).toBe(0);
    expect(await readFile(join(dir, 'ca.key'), 'utf8')).not.toBe(before);
    expect(await modeOf(join(dir, 'ca.key'))).toBe(0o600);
    expect(await modeOf(join(dir, 'ca.crt'))).toBe(0o644);
    const ca = new X509Certificate(await readFile(join(dir, 'ca.crt')));
    expect(new X509Certificate(await readFile(join(dir, 'server.crt'))).verify(ca.publicKey)).toBe(true);
  });

  it('makes RSA-2048 keys with --key-type rsa', async () => {
    const rsaDir = await freshDir();
    expect((await certs('init', '--dir', rsaDir, '--key-type', 'rsa')).code).toBe(0);
    for (const name of ['ca', 'server', 'client']) {
      const pem = await readFile(join(rsaDir, `${name}.crt`), 'utf8');
      const key = new X509Certificate(pem).publicKey;
      expect(key.asymmetricKeyType).toBe('rsa');
      expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(new x509.X509Certificate(pem).signatureAlgorithm).toMatchObject({ name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } });
    }
    const usage = new x509.X509Certificate(await readFile(join(rsaDir, 'server.crt'), 'utf8')).getExtension(x509.KeyUsagesExtension);
    expect(usage?.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    // Workload certificates follow the CA's key type.
    expect((await certs('issue', '--dir', rsaDir, '--spiffe-id', 'spiffe://ztproxy.local/w')).code).toBe(0);
    expect(new X509Certificate(await readFile(join(rsaDir, 'w.crt'))).publicKey.asymmetricKeyType).toBe('rsa');
  });

  it.each([
    [['init', '--bogus']],
    [['init', '--key-type', 'dsa']],
    [['init', 'extra']],
    [['frobnicate']],
    [[]],
  ])('is a usage error (exit 2) for %j', async (argv) => {
    const result = await certs(...argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage: ztproxy certs init');
  });
});

describe('ztproxy certs issue', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await freshDir();
    expect((await certs('init', '--dir', dir)).code).toBe(0);
  });

  it('issues a client certificate with exactly that URI SAN and the --ttl lifetime', async () => {
    const id = 'spiffe://ztproxy.local/ns/batch/sa/Report.Worker';
    const started = Date.now();
    const result = await certs('issue', '--spiffe-id', id, '--ttl', '2h', '--dir', dir);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const certPath = join(dir, 'report-worker.crt');
    const keyPath = join(dir, 'report-worker.key');
    expect(result.stdout).toBe(`${certPath}\n${keyPath}\n`);

    const cert = new X509Certificate(await readFile(certPath));
    const ca = new X509Certificate(await readFile(join(dir, 'ca.crt')));
    expect(cert.subjectAltName).toBe(`URI:${id}`);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // clientAuth only
    expect(cert.verify(ca.publicKey)).toBe(true);
    // X.509 times have one-second resolution.
    const ttl = Date.parse(cert.validTo) - started;
    expect(Math.abs(ttl - 2 * 3_600_000)).toBeLessThan(5_000);
    expect(await modeOf(keyPath)).toBe(0o600);
    expect(await modeOf(certPath)).toBe(0o644);
  });

  it('defaults to a 24h certificate and honours --name, refusing to overwrite it', async () => {
    const args = ['issue', '--spiffe-id', 'spiffe://ztproxy.local/ns/a/sa/b', '--dir', dir, '--name', 'job-1'];
    expect((await certs(...args)).code).toBe(0);
    const cert = new X509Certificate(await readFile(join(dir, 'job-1.crt')));
    expect(Math.abs(Date.parse(cert.validTo) - Date.now() - 86_400_000)).toBeLessThan(5_000);

    const again = await certs(...args);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('job-1.crt');
    expect((await certs(...args, '--force')).code).toBe(0);
    expect(new X509Certificate(await readFile(join(dir, 'job-1.crt'))).serialNumber).not.toBe(cert.serialNumber);
  });

  it.each([
    ['http://ztproxy.local/ns/a', 'must start with "spiffe://"'],
    ['SPIFFE://ztproxy.local/ns/a', 'must start with "spiffe://"'],
    ['spiffe://ZTProxy.local/ns/a', 'trust domain may contain only'],
    ['spiffe://ztproxy.local:8443/ns/a', 'a port is not allowed'],
    ['spiffe://user@ztproxy.local/ns/a', 'userinfo is not allowed'],
    ['spiffe:///ns/a', 'trust domain is empty'],
    ['spiffe://ztproxy.local', 'needs a path'],
    ['spiffe://ztproxy.local/', 'must not be empty'],
    ['spiffe://ztproxy.local/ns//a', 'must not be empty'],
    ['spiffe://ztproxy.local/ns/a/', 'must not be empty'],
    ['spiffe://ztproxy.local/ns/./a', '"." and ".." are not allowed'],
    ['spiffe://ztproxy.local/ns/../a', '"." and ".." are not allowed'],
    ['spiffe://ztproxy.local/ns/a?x=1', 'a query is not allowed'],
    ['spiffe://ztproxy.local/ns/a#x', 'a fragment is not allowed'],
    ['spiffe://ztproxy.local/ns/a%2Fb', 'path segments may contain only'],
    ['spiffe://ztproxy.local/ns/caf\u00e9', 'path segments may contain only'],
  ])('refuses the SPIFFE ID %s with exit 2 and says why', async (id, why) => {
    const result = await certs('issue', '--spiffe-id', id, '--dir', dir, '--name', 'refused');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid SPIFFE ID');
    expect(result.stderr).toContain(why);
    expect(existsSync(join(dir, 'refused.crt'))).toBe(false);
  });

  it('refuses a SPIFFE ID longer than 2048 bytes', async () => {
    const id = `spiffe://ztproxy.local/${'a'.repeat(2048 - 'spiffe://ztproxy.local/'.length)}`;
    expect(() => parseSpiffeId(id)).not.toThrow();
    const result = await certs('issue', '--spiffe-id', `${id}b`, '--dir', dir, '--name', 'refused');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('longer than 2048 bytes');
  });

  it.each([
    [['issue', '--dir', 'x'], '--spiffe-id is required'],
    [['issue', '--spiffe-id', 'spiffe://td/a', '--ttl', '5'], 'is not a duration'],
    [['issue', '--spiffe-id', 'spiffe://td/a', '--ttl', '0s'], 'longer than zero'],
    [['issue', '--spiffe-id', 'spiffe://td/a', '--key-type', 'rsa'], "Unknown option '--key-type'"],
    [['issue', '--spiffe-id', 'spiffe://td/a', '--name', '../escape'], 'invalid name'],
    [['issue', '--spiffe-id', 'spiffe://td/a', '--name', 'ca'], 'must not be "ca"'],
  ])('is a usage error (exit 2) for %j', async (argv, why) => {
    const result = await certs(...argv, ...(argv.includes('--dir') ? [] : ['--dir', dir]));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(why);
    expect(result.stderr).toContain('usage: ztproxy certs');
  });

  it('fails (exit 1) when the directory has no CA', async () => {
    const empty = await freshDir();
    const result = await certs('issue', '--spiffe-id', 'spiffe://td/a', '--dir', empty);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('certs init');
  });
});

describe('parseSpiffeId', () => {
  it.each([
    ['spiffe://example.org/ns/prod/sa/api', 'example.org', '/ns/prod/sa/api'],
    ['spiffe://td_1-x.y/A.b_c-D', 'td_1-x.y', '/A.b_c-D'],
    ['spiffe://td/...', 'td', '/...'],
  ])('accepts %s', (id, trustDomain, path) => {
    expect(parseSpiffeId(id)).toEqual({ trustDomain, path });
  });

  it('throws a PkiError with a stable code', () => {
    expect(() => parseSpiffeId('spiffe://td/a/../b')).toThrow(expect.objectContaining({ code: 'pki-invalid-spiffe-id' }));
  });
});

describe('pki library checks', () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await makeTestPki();
  });

  it('refuses a certificate that would outlive its CA', async () => {
    const ca = await generateCa({ validityDays: 1 });
    await expect(issueCertificate(ca, { usage: 'server', dnsNames: ['x'], ttlMs: 2 * 86_400_000 }))
      .rejects.toThrow(/outlive its CA/);
  });

  it('refuses a CA key that does not belong to the CA certificate', async () => {
    const mismatched = { ...pki.ca, keyPem: pki.otherCa.keyPem };
    await expect(issueCertificate(mismatched, { usage: 'client' })).rejects.toMatchObject({ code: 'pki-invalid-ca' });
  });

  it('refuses a leaf certificate as a CA', async () => {
    await expect(createCrl(pki.clients.valid, [])).rejects.toBeInstanceOf(PkiError);
  });

  it('gives every certificate a distinct positive 16-byte serial', () => {
    const serials = [pki.ca, pki.server, pki.serverNext, ...Object.values(pki.clients)].map((c) => c.serialHex);
    expect(new Set(serials).size).toBe(serials.length);
    for (const serial of serials) expect(serial).toMatch(/^[1-7][0-9a-f]{31}$|^0[1-9a-f][0-9a-f]{30}$/);
  });
});

describe('test PKI fixtures', () => {
  let pki: TestPki;
  let ca: X509Certificate;
  beforeAll(async () => {
    pki = await makeTestPki();
    ca = new X509Certificate(pki.ca.certPem);
  });
  const cert = (c: TestCert) => new X509Certificate(c.certPem);

  it('is memoized per process', async () => {
    expect(await makeTestPki()).toBe(pki);
  });

  it('has the shapes the mTLS tests rely on', async () => {
    const { clients } = pki;
    expect(cert(clients.valid).subjectAltName).toBe(`URI:${pki.spiffeId}`);
    expect(cert(clients.twoSpiffe).subjectAltName).toBe(`URI:${pki.spiffeId}, URI:spiffe://example.org/ns/prod/sa/admin`);
    expect(cert(clients.cnOnly).subjectAltName).toBeUndefined();
    expect(cert(clients.cnOnly).subject).toBe(`CN=${pki.spiffeId}`);
    expect(cert(clients.noSan).subjectAltName).toBeUndefined();
    expect(cert(clients.dnsOnly).subjectAltName).toBe('DNS:client.example.org');
    expect(cert(clients.untrusted).subjectAltName).toBe(`URI:${pki.spiffeId}`);
    expect(cert(clients.untrusted).checkIssued(ca)).toBe(false);
    expect(Date.parse(cert(clients.expired).validTo)).toBeLessThan(Date.now());
    for (const c of [clients.valid, clients.expired, clients.revoked, clients.twoSpiffe, clients.cnOnly, clients.noSan, clients.dnsOnly]) {
      expect(cert(c).verify(ca.publicKey)).toBe(true);
    }
    expect(cert(pki.serverRsa).publicKey.asymmetricKeyType).toBe('rsa');
    expect(cert(pki.serverNext).serialNumber).not.toBe(cert(pki.server).serialNumber);
    expect(cert(pki.serverNext).subjectAltName).toBe(cert(pki.server).subjectAltName);
    expect(await readFile(pki.clients.valid.keyPath, 'utf8')).toBe(pki.clients.valid.keyPem);
    expect(await readFile(pki.ca.certPath, 'utf8')).toBe(pki.ca.certPem);
  });

  it('has a CRL that lists the revoked serial and no other', () => {
    const crl = new x509.X509Crl(pki.crl.pem);
    expect(crl.entries.map((e) => e.serialNumber)).toEqual([pki.clients.revoked.serialHex]);
  });

  it.skipIf(!hasOpenssl)('has a CRL that openssl reads, listing the revoked serial', () => {
    const text = openssl('crl', '-in', pki.crl.path, '-noout', '-text');
    expect(text).toContain(`Serial Number: ${pki.clients.revoked.serialHex.toUpperCase()}`);
    expect(text).not.toContain(pki.clients.valid.serialHex.toUpperCase());
    expect(openssl('crl', '-in', pki.crl.path, '-noout', '-CAfile', pki.ca.certPath)).toBe('');
  });

  it.skipIf(!hasOpenssl)('has certificates that openssl verify judges as intended', () => {
    const verify = (c: TestCert, ...extra: string[]) => {
      try {
        return openssl('verify', '-CAfile', pki.ca.certPath, ...extra, c.certPath);
      } catch (err) {
        const { stdout, stderr } = err as { stdout?: string | Buffer; stderr?: string | Buffer };
        return `${stderr?.toString() ?? ''}${stdout?.toString() ?? ''}`;
      }
    };
    expect(verify(pki.clients.valid)).toContain(': OK');
    expect(verify(pki.server, '-purpose', 'sslserver')).toContain(': OK');
    expect(verify(pki.serverRsa, '-purpose', 'sslserver')).toContain(': OK');
    expect(verify(pki.clients.expired)).toContain('certificate has expired');
    expect(verify(pki.clients.untrusted)).toContain('unable to get local issuer certificate');
    expect(verify(pki.clients.revoked, '-crl_check', '-CRLfile', pki.crl.path)).toContain('certificate revoked');
    expect(verify(pki.clients.valid, '-crl_check', '-CRLfile', pki.crl.path)).toContain(': OK');
  });
});

describe('TLS handshakes with the test PKI', () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await makeTestPki();
  });
  afterAll(async () => {
    await pki.cleanup();
  });

  interface Seen {
    serverSide: { authorized: boolean; error: string | undefined; peerSan: string | undefined };
    clientAuthorized: boolean;
  }

  // The server accepts every handshake (rejectUnauthorized: false) and reports what it
  // concluded about the client certificate — how ztproxy's listener with
  // clientAuth "optional" sees a peer.
  async function handshake(opts: { client?: TestCert; server?: TestCert; crl?: string; host?: string }): Promise<Seen> {
    const serverCert = opts.server ?? pki.server;
    const server = tls.createServer({
      cert: serverCert.certPem,
      key: serverCert.keyPem,
      ca: pki.ca.certPem,
      requestCert: true,
      rejectUnauthorized: false,
      ...(opts.crl === undefined ? {} : { crl: opts.crl }),
    });
    const serverSide = new Promise<Seen['serverSide']>((resolve) => {
      server.once('secureConnection', (socket) => {
        const peer = socket.getPeerX509Certificate();
        resolve({
          authorized: socket.authorized,
          error: socket.authorizationError === null ? undefined : String(socket.authorizationError),
          peerSan: peer?.subjectAltName,
        });
        socket.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const host = opts.host ?? 'localhost';
    const socket = tls.connect({
      port,
      host: '127.0.0.1',
      ...(host === '127.0.0.1' ? {} : { servername: host }),
      ca: pki.ca.certPem,
      rejectUnauthorized: false,
      ...(opts.client === undefined ? {} : { cert: opts.client.certPem, key: opts.client.keyPem }),
    });
    try {
      const clientAuthorized = await new Promise<boolean>((resolve, reject) => {
        socket.once('secureConnect', () => {
          // Node checks the server name only when rejectUnauthorized is on; do it here.
          const nameError = tls.checkServerIdentity(host, socket.getPeerCertificate());
          resolve(socket.authorized && nameError === undefined);
        });
        socket.once('error', reject);
      });
      return { serverSide: await serverSide, clientAuthorized };
    } finally {
      socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it('authorizes the valid client certificate and sees its SPIFFE ID', async () => {
    const seen = await handshake({ client: pki.clients.valid });
    expect(seen.clientAuthorized).toBe(true);
    expect(seen.serverSide).toEqual({ authorized: true, error: undefined, peerSan: `URI:${pki.spiffeId}` });
  });

  it('serves ECDSA, RSA and the rotated server certificate for localhost and 127.0.0.1', async () => {
    for (const server of [pki.server, pki.serverRsa, pki.serverNext]) {
      for (const host of ['localhost', '127.0.0.1']) {
        const seen = await handshake({ client: pki.clients.valid, server, host });
        expect({ serial: server.serialHex, host, ok: seen.clientAuthorized }).toEqual({ serial: server.serialHex, host, ok: true });
      }
    }
  });

  it('does not authorize an expired client certificate', async () => {
    const { serverSide } = await handshake({ client: pki.clients.expired });
    expect(serverSide).toMatchObject({ authorized: false, error: 'CERT_HAS_EXPIRED' });
  });

  it('does not authorize a certificate from another CA, even with the same SPIFFE ID', async () => {
    const { serverSide } = await handshake({ client: pki.clients.untrusted });
    expect(serverSide.authorized).toBe(false);
    expect(serverSide.error).toMatch(/UNABLE_TO_(GET_ISSUER_CERT_LOCALLY|VERIFY_LEAF_SIGNATURE)/);
  });

  it('rejects the revoked certificate with CERT_REVOKED once the CRL is configured', async () => {
    const withoutCrl = await handshake({ client: pki.clients.revoked });
    expect(withoutCrl.serverSide.authorized).toBe(true);
    const withCrl = await handshake({ client: pki.clients.revoked, crl: pki.crl.pem });
    expect(withCrl.serverSide).toMatchObject({ authorized: false, error: 'CERT_REVOKED' });
  });

  it('still authorizes an unrevoked certificate when the CRL is configured', async () => {
    const { serverSide } = await handshake({ client: pki.clients.valid, crl: pki.crl.pem });
    expect(serverSide).toMatchObject({ authorized: true, error: undefined });
  });
});
