// Workload identity (SPEC §5) against certificates and TLS tricks the existing TLS tests
// do not send through a running proxy.
//
// Finding: a CA certificate is a workload. spiffeIdOf (src/tls/peer-identity.ts) reads the
// URI SAN of any certificate OpenSSL verified, and OpenSSL happily verifies a CA
// certificate presented as a client leaf. X509-SVID §5.2: a validator MUST check that
// a leaf SVID has cA=false and neither keyCertSign nor cRLSign. An intermediate CA that
// carries a workload's SPIFFE ID (nested SPIRE, a per-cluster issuing CA named after its
// workload) then authenticates as that workload — and whoever holds that CA key can do
// so without any leaf certificate. Fix: in spiffeIdOf, return undefined when
// BasicConstraints.cA is true or KeyUsage has keyCertSign/cRLSign.
//
// Regressions (safe today, no other test sends them through ztproxy):
// - TLS session resumption after a CRL reload: setSecureContext gives the listener fresh
//   ticket keys, so a ticket issued to a now-revoked certificate resumes nothing;
// - a certificate whose EKU is serverAuth only is no client identity (OpenSSL's purpose
//   check), in `optional` and in `require`;
// - SPIFFE URI SANs that only look right (percent-encoding, trailing slash, port,
//   userinfo, empty segment, fragment, bare trust domain) give no identity;
// - SNI grants nothing: routing and policy follow the Host header, and a route that
//   needs a SPIFFE ID needs the certificate whatever name the handshake carried.
import { createPrivateKey, webcrypto } from 'node:crypto';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCrl, issueCertificate, type Issued } from '../../src/tls/pki.ts';
import { x509 } from '../../src/tls/pki-x509.ts';
import { get, openRoute, openTls, startTestProxy, statusOn, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A CA certificate (cA=true, keyCertSign) issued by `issuer`, carrying `uri` as its SAN. */
async function issueCaWithUri(issuer: Issued, uri: string): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']));
  const signingKey = createPrivateKey(issuer.keyPem).toCryptoKey(ALG, false, ['sign']);
  const issuerCert = new x509.X509Certificate(issuer.certPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '7e57ca0001',
    subject: 'CN=workload issuing CA',
    issuer: issuerCert.subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }], false),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return {
    certPem: cert.toString('pem'),
    keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`,
    serialHex: cert.serialNumber,
  };
}

let required: TestProxy;
let caCert: Issued;
let serverEku: Issued;

/** stack.proxy: clientAuth optional; `required`: clientAuth require. Same routes. */
const stack = useProxyStack(async ({ pki, upstream, startProxy }) => {
  [caCert, serverEku] = await Promise.all([
    issueCaWithUri(pki.ca, pki.spiffeId),
    issueCertificate(pki.ca, { usage: 'server', commonName: 'api', uris: [pki.spiffeId] }),
  ]);
  const routes = [
    openRoute(upstream.url, { name: 'workload', match: { host: 'app.test' }, policy: { allow: { spiffe: { id: pki.spiffeId } } } }),
    openRoute(upstream.url, { name: 'open', match: { host: 'open.test' } }),
  ];
  required = await startProxy({ listen: { clientAuth: { mode: 'require', ca: pki.ca.certPath } }, routes });
  return { listen: { clientAuth: { mode: 'optional', ca: pki.ca.certPath } }, routes };
});

function lastRequestLog(proxy: TestProxy): LogLine | undefined {
  return proxy.logs.filter((l) => l.msg === 'request').at(-1);
}

describe('a CA certificate is not a workload identity (X509-SVID §5.2)', () => {
  it.each([
    ['optional', () => stack.proxy],
    ['require', () => required],
  ])('clientAuth %s: a CA certificate carrying the workload\'s SPIFFE ID is denied', async (_mode, proxy) => {
    const res = await get(proxy().port, '/ca-as-leaf', { host: 'app.test', tls: { cert: caCert.certPem, key: caCert.keyPem } }).catch(
      (err: Error) => ({ status: 0, body: err.message, headers: {} }),
    );
    // `require` may refuse the handshake (status 0); `optional` must give no identity.
    expect([0, 403]).toContain(res.status);
    expect(stack.upstream.seen).toEqual([]);
    if (res.status === 403) expect(lastRequestLog(proxy())?.spiffeId).toBeUndefined();
  });

  it('control: the workload\'s leaf certificate is admitted', async () => {
    const res = await get(stack.proxy.port, '/leaf', { host: 'app.test', tls: { cert: stack.pki.clients.valid.certPem, key: stack.pki.clients.valid.keyPem } });
    expect(res.status).toBe(200);
    expect(lastRequestLog(stack.proxy)?.spiffeId).toBe(stack.pki.spiffeId);
  });
});

describe('regressions: certificates that must not authenticate', () => {
  it('a serverAuth-only certificate with the workload\'s SPIFFE ID: no identity (optional), no handshake (require)', async () => {
    const tls = { cert: serverEku.certPem, key: serverEku.keyPem };
    const res = await get(stack.proxy.port, '/server-eku', { host: 'app.test', tls });
    expect(res.status).toBe(403);
    expect(lastRequestLog(stack.proxy)?.clientCert).toBe('invalid');
    await expect(get(required.port, '/server-eku', { host: 'app.test', tls })).rejects.toThrow();
    expect(stack.upstream.seen).toEqual([]);
  });

  const lookalikes: [string, string][] = [
    ['percent-encoded path', 'spiffe://example.org/ns/prod/sa/%61pi'],
    ['percent-encoded slash', 'spiffe://example.org/ns/prod%2Fsa/api'],
    ['trailing slash', 'spiffe://example.org/ns/prod/sa/api/'],
    ['empty segment', 'spiffe://example.org/ns//prod/sa/api'],
    ['a port', 'spiffe://example.org:443/ns/prod/sa/api'],
    ['userinfo', 'spiffe://admin@example.org/ns/prod/sa/api'],
    ['a fragment', 'spiffe://example.org/ns/prod/sa/api#x'],
    ['bare trust domain', 'spiffe://example.org'],
    ['mixed-case scheme', 'Spiffe://example.org/ns/prod/sa/api'],
  ];
  it.each(lookalikes)('URI SAN with %s (%s): no identity, denied', async (_why, uri) => {
    const cert = await issueCertificate(stack.pki.ca, { usage: 'client', commonName: 'lookalike', uris: [uri] });
    const res = await get(stack.proxy.port, '/lookalike', { host: 'app.test', tls: { cert: cert.certPem, key: cert.keyPem } });
    expect(res.status).toBe(403);
    expect(lastRequestLog(stack.proxy)?.clientCert).toBe('verified');
    expect(lastRequestLog(stack.proxy)?.spiffeId).toBeUndefined();
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('regressions: SNI grants nothing', () => {
  it('SNI open.test, Host app.test, no certificate → the app.test policy applies (403)', async () => {
    const res = await get(stack.proxy.port, '/sni', { host: 'app.test', tls: { servername: 'open.test' } });
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('SNI app.test, Host open.test → the open route (Host decides; the connection has no identity to borrow)', async () => {
    const res = await get(stack.proxy.port, '/sni', { host: 'open.test', tls: { servername: 'app.test' } });
    expect(res.status).toBe(200);
    expect(stack.upstream.seen.map((s) => s.headers.host)).toEqual(['open.test']);
  });
});

describe('regressions: session resumption after a CRL reload', () => {
  let proxy: TestProxy;
  let crlPath: string;

  beforeAll(async () => {
    crlPath = join(mkdtempSync(join(tmpdir(), 'ztproxy-resume-')), 'ca.crl');
    copyFileSync(stack.pki.crl.path, crlPath);
    proxy = await startTestProxy({
      listen: { tls: serverTls(stack.pki), clientAuth: { mode: 'optional', ca: stack.pki.ca.certPath, crl: crlPath } },
      routes: [openRoute(stack.upstream.url, { name: 'workload', policy: { allow: { spiffe: { id: stack.pki.spiffeId } } } })],
    });
  });

  afterAll(async () => {
    await proxy?.close();
  });

  it.each(['TLSv1.3', 'TLSv1.2'] as const)('%s: a ticket issued to a certificate revoked since resumes no identity', async (version) => {
    const pin = { minVersion: version, maxVersion: version };
    const first = await openTls(proxy.port, { ...pin, cert: stack.pki.clients.valid.certPem, key: stack.pki.clients.valid.keyPem });
    let ticket: Buffer | undefined;
    first.on('session', (s: Buffer) => {
      ticket = s;
    });
    expect(await statusOn(first, '/before')).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    ticket ??= first.getSession();
    first.destroy();
    expect(ticket).toBeDefined();

    // Control: before the reload the ticket resumes, identity included.
    const again = await openTls(proxy.port, { ...pin, session: ticket });
    expect(again.isSessionReused()).toBe(true);
    expect(await statusOn(again, '/resumed-before')).toBe(200);
    again.destroy();

    writeFileSync(crlPath, await createCrl(stack.pki.ca, [stack.pki.clients.revoked.serialHex, stack.pki.clients.valid.serialHex]));
    try {
      expect(proxy.proxy.reloadTls()).toBe(true);
      // The ticket, without presenting the certificate again.
      const resumed = await openTls(proxy.port, { ...pin, session: ticket });
      const status = await statusOn(resumed, '/resumed-after');
      resumed.destroy();
      expect(status).toBe(403);
      expect(stack.upstream.seen.map((s) => s.url)).toEqual(['/before', '/resumed-before']);
    } finally {
      writeFileSync(crlPath, stack.pki.crl.pem);
      proxy.proxy.reloadTls();
    }
  });
});
