// Workload identity from a client certificate (SPEC §5): the single spiffe:// URI SAN of
// a verified certificate, nothing else — not a second URI, not the subject CN, not a
// header. Checked three ways: spiffeIdOf on certificates, identifyConnection on real
// server-side TLS sockets, and a real ztproxy's access log and policy decisions.
import { createHash, X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type ConnectionOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { identifyConnection, spiffeIdOf } from '../../src/tls/peer-identity.ts';
import { readSecureContextOptions } from '../../src/tls/server-context.ts';
import { issueCertificate, type Issued } from '../../src/tls/pki.ts';
import type { ConnectionIdentity } from '../../src/tls/peer-identity.ts';
import type { Config } from '../../src/config/schema.ts';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { openRoute, startTestProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

let pki: TestPki;
/** Extra certificates for URI SAN shapes the shared PKI does not have. */
let crafted: {
  spiffePlusHttps: Issued;
  uppercaseScheme: Issued;
  dotSegment: Issued;
  withQuery: Issued;
  uppercaseTrustDomain: Issued;
  otherWorkload: Issued;
};

const OTHER_ID = 'spiffe://example.org/ns/prod/sa/worker';

beforeAll(async () => {
  pki = await makeTestPki();
  const client = (uris: string[]): Promise<Issued> => issueCertificate(pki.ca, { usage: 'client', commonName: 'crafted', uris });
  const [spiffePlusHttps, uppercaseScheme, dotSegment, withQuery, uppercaseTrustDomain, otherWorkload] = await Promise.all([
    client([pki.spiffeId, 'https://example.org/api']),
    client(['SPIFFE://example.org/ns/prod/sa/api']),
    client(['spiffe://example.org/ns/prod/../sa/api']),
    client(['spiffe://example.org/ns/prod/sa/api?x=1']),
    client(['spiffe://Example.org/ns/prod/sa/api']),
    client([OTHER_ID]),
  ]);
  crafted = { spiffePlusHttps, uppercaseScheme, dotSegment, withQuery, uppercaseTrustDomain, otherWorkload };
});

afterAll(async () => {
  await pki?.cleanup();
});

const der = (pem: string): Buffer => new X509Certificate(pem).raw;

describe('spiffeIdOf', () => {
  it('returns the one spiffe:// URI SAN', () => {
    expect(spiffeIdOf(der(pki.clients.valid.certPem))).toBe(pki.spiffeId);
    expect(spiffeIdOf(der(crafted.otherWorkload.certPem))).toBe(OTHER_ID);
  });

  it.each([
    ['two spiffe URI SANs', () => pki.clients.twoSpiffe.certPem],
    ['a spiffe URI next to another URI SAN (X509-SVID: exactly one URI SAN)', () => crafted.spiffePlusHttps.certPem],
    ['the ID only in the subject CN, no SAN', () => pki.clients.cnOnly.certPem],
    ['no SAN at all', () => pki.clients.noSan.certPem],
    ['only a DNS SAN', () => pki.clients.dnsOnly.certPem],
    ['an upper-case scheme', () => crafted.uppercaseScheme.certPem],
    ['a dot-dot path segment', () => crafted.dotSegment.certPem],
    ['a query', () => crafted.withQuery.certPem],
    ['an upper-case trust domain', () => crafted.uppercaseTrustDomain.certPem],
    ['a CA certificate (no SAN)', () => pki.ca.certPem],
  ])('returns nothing for %s', (_name, pem) => {
    expect(spiffeIdOf(der(pem()))).toBeUndefined();
  });

  it('returns nothing for bytes that are not a certificate', () => {
    expect(spiffeIdOf(Buffer.from('not a certificate'))).toBeUndefined();
    expect(spiffeIdOf(Buffer.alloc(0))).toBeUndefined();
    const truncated = der(pki.clients.valid.certPem);
    expect(spiffeIdOf(truncated.subarray(0, truncated.length - 20))).toBeUndefined();
  });
});

describe('identifyConnection on server-side TLS sockets', () => {
  // A TLS server with the proxy's own context options in `optional` mode: the handshake
  // completes whatever the client sends, and identifyConnection says what it proved.
  let server: TlsServer;
  let port: number;
  const identities: { identity: ConnectionIdentity; again: ConnectionIdentity }[] = [];

  beforeAll(async () => {
    const listen = {
      tls: { cert: pki.server.certPath, key: pki.server.keyPath, minVersion: 'TLSv1.2' },
      clientAuth: { mode: 'optional', ca: pki.ca.certPath, crl: pki.crl.path },
    } as unknown as Config['listen'];
    server = createTlsServer({ ...readSecureContextOptions(listen), requestCert: true, rejectUnauthorized: false }, (socket: TLSSocket) => {
      const identity = identifyConnection(socket);
      identities.push({ identity, again: identifyConnection(socket) });
      socket.end(JSON.stringify(identity));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function identify(client: { certPem: string; keyPem: string } | undefined, extra: ConnectionOptions = {}): Promise<ConnectionIdentity> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca.certPem,
        ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
        ...extra,
      });
      let text = '';
      const timer = setTimeout(() => socket.destroy(new Error('no identity in time')), 5000);
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('end', () => {
        clearTimeout(timer);
        resolve(JSON.parse(text) as ConnectionIdentity);
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(err as Error);
      });
    });
  }

  it('a valid certificate: verified, its SPIFFE ID and the RFC 8705 thumbprint of its DER', async () => {
    const id = await identify(pki.clients.valid);
    const thumb = createHash('sha256').update(der(pki.clients.valid.certPem)).digest('base64url');
    expect(id).toEqual({
      tlsProtocol: 'TLSv1.3',
      cipher: 'TLS_AES_128_GCM_SHA256',
      clientCert: 'verified',
      spiffeId: pki.spiffeId,
      certThumbprint: thumb,
      // notAfter + 1 s (RFC 5280: notAfter itself is valid); sent as JSON here.
      certExpiresAt: new X509Certificate(pki.clients.valid.certPem).validToDate.getTime() + 1000,
    });
  });

  it('without a verified certificate nothing can expire: certExpiresAt is +Infinity (JSON null)', async () => {
    expect((await identify(undefined)).certExpiresAt).toBeNull();
    expect((await identify(pki.clients.expired)).certExpiresAt).toBeNull();
  });

  it('is computed once per connection and frozen', async () => {
    identities.length = 0;
    await identify(pki.clients.valid);
    const { identity, again } = identities[0]!;
    expect(again).toBe(identity);
    expect(Object.isFrozen(identity)).toBe(true);
  });

  it('records the TLS 1.2 protocol and suite', async () => {
    const id = await identify(pki.clients.valid, { maxVersion: 'TLSv1.2' });
    expect(id).toMatchObject({ tlsProtocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256', clientCert: 'verified' });
  });

  it.each([
    ['untrusted', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['expired', 'CERT_HAS_EXPIRED'],
    ['revoked', 'CERT_REVOKED'],
  ] as const)('a %s certificate is invalid (%s) and carries no identity, although it names the same SPIFFE ID', async (kind, code) => {
    const id = await identify(pki.clients[kind]);
    expect(id).toMatchObject({ clientCert: 'invalid', clientCertError: code });
    expect(id.spiffeId).toBeUndefined();
    expect(id.certThumbprint).toBeUndefined();
  });

  it('no certificate: none', async () => {
    const id = await identify(undefined);
    expect(id).toMatchObject({ clientCert: 'none' });
    expect(id.spiffeId).toBeUndefined();
    expect(id.certThumbprint).toBeUndefined();
  });

  it.each([
    ['twoSpiffe', () => pki.clients.twoSpiffe],
    ['cnOnly', () => pki.clients.cnOnly],
    ['noSan', () => pki.clients.noSan],
    ['dnsOnly', () => pki.clients.dnsOnly],
  ] as const)('a verified %s certificate has no SPIFFE ID, but keeps its thumbprint', async (_kind, cert) => {
    const c = cert();
    const id = await identify(c);
    expect(id.clientCert).toBe('verified');
    expect(id.spiffeId).toBeUndefined();
    expect(id.certThumbprint).toBe(createHash('sha256').update(der(c.certPem)).digest('base64url'));
  });
});

describe('SPIFFE identity through a running ztproxy (clientAuth optional)', () => {
  let upstream: TestUpstream;
  let proxy: TestProxy;

  beforeAll(async () => {
    upstream = await startUpstream();
    proxy = await startTestProxy({
      listen: {
        tls: { cert: pki.server.certPath, key: pki.server.keyPath },
        clientAuth: { mode: 'optional', ca: pki.ca.certPath, crl: pki.crl.path },
      },
      routes: [
        openRoute(upstream.url, { name: 'open', match: { pathPrefix: '/open' } }),
        { name: 'by-id', upstream: upstream.url, match: { pathPrefix: '/by-id' }, policy: { allow: { spiffe: { id: pki.spiffeId } } } },
        {
          name: 'by-domain',
          upstream: upstream.url,
          match: { pathPrefix: '/by-domain' },
          policy: { allow: { spiffe: { trustDomain: 'example.org', pathPrefix: '/ns/prod/' } } },
        },
        {
          name: 'admin',
          upstream: upstream.url,
          match: { pathPrefix: '/admin' },
          policy: { allow: { spiffe: { id: 'spiffe://example.org/ns/prod/sa/admin' } } },
        },
      ],
    });
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  beforeEach(() => {
    upstream.reset();
  });

  function call(path: string, client: { certPem: string; keyPem: string } | undefined, headers: Record<string, string> = {}): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1', port: proxy.port, path, agent: false, servername: 'localhost', ca: pki.ca.certPem,
          headers: { host: 'localhost', ...headers },
          ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
          timeout: 5000,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer in time')));
      req.on('error', reject);
      req.end();
    });
  }

  async function logFor(path: string): Promise<LogLine> {
    const until = Date.now() + 3000;
    for (;;) {
      const line = proxy.logs.find((l) => l.msg === 'request' && l.path === path);
      if (line) return line;
      if (Date.now() > until) throw new Error(`no access log line for ${path}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const seen = (): string[] => upstream.seen.map((s) => s.url);

  it('one spiffe URI SAN: the access log carries the ID and both spiffe policies admit it', async () => {
    expect(await call('/open/valid', pki.clients.valid)).toBe(200);
    expect(await logFor('/open/valid')).toMatchObject({ spiffeId: pki.spiffeId, clientCert: 'verified' });
    expect(await call('/by-id/valid', pki.clients.valid)).toBe(200);
    expect(await call('/by-domain/valid', pki.clients.valid)).toBe(200);
    expect(seen()).toEqual(['/open/valid', '/by-id/valid', '/by-domain/valid']);
    expect(await logFor('/by-id/valid')).toMatchObject({ status: 200, decision: 'allow', spiffeId: pki.spiffeId });
  });

  it('a different workload ID is logged as itself and denied by an id policy for another ID', async () => {
    expect(await call('/open/other', crafted.otherWorkload)).toBe(200);
    expect(await logFor('/open/other')).toMatchObject({ spiffeId: OTHER_ID, clientCert: 'verified' });
    expect(await call('/by-id/other', crafted.otherWorkload)).toBe(403);
    // The trust-domain policy admits any workload under /ns/prod/.
    expect(await call('/by-domain/other', crafted.otherWorkload)).toBe(200);
    expect(seen()).toEqual(['/open/other', '/by-domain/other']);
  });

  it.each([
    ['twoSpiffe', () => pki.clients.twoSpiffe],
    ['cnOnly', () => pki.clients.cnOnly],
    ['noSan', () => pki.clients.noSan],
    ['dnsOnly', () => pki.clients.dnsOnly],
    ['spiffePlusHttps', () => crafted.spiffePlusHttps],
    ['uppercaseTrustDomain', () => crafted.uppercaseTrustDomain],
  ] as const)('%s: a verified certificate without a usable ID has no identity and every spiffe policy denies it', async (kind, cert) => {
    const c = cert();
    expect(await call(`/open/${kind}`, c)).toBe(200);
    const line = await logFor(`/open/${kind}`);
    expect(line.clientCert).toBe('verified');
    expect(line.spiffeId).toBeUndefined();
    for (const route of ['by-id', 'by-domain', 'admin']) {
      const path = `/${route}/${kind}`;
      expect({ path, status: await call(path, c) }).toEqual({ path, status: 403 });
      const denied = await logFor(path);
      expect(denied).toMatchObject({ status: 403, decision: 'deny', clientCert: 'verified' });
      expect(denied).not.toHaveProperty('spiffeId');
    }
    // Only the open route was reached; in particular twoSpiffe's second ID (admin) got nowhere.
    expect(seen()).toEqual([`/open/${kind}`]);
  });

  it('an identity claimed in headers without a certificate is not an identity', async () => {
    const forged = {
      'x-forwarded-client-cert': `By=spiffe://example.org/proxy;URI=${pki.spiffeId}`,
      'x-spiffe-id': pki.spiffeId,
      'x-zt-spiffe-id': pki.spiffeId,
    };
    expect(await call('/by-id/forged', undefined, forged)).toBe(403);
    expect(await call('/by-id/forged-untrusted', pki.clients.untrusted, forged)).toBe(403);
    expect(seen()).toEqual([]);
    const forgedLine = await logFor('/by-id/forged');
    expect(forgedLine).toMatchObject({ status: 403, decision: 'deny' });
    expect(forgedLine).not.toHaveProperty('spiffeId');
  });
});
