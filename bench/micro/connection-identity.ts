// Micro-benchmark: the per-request part of the connection-identity stage on a kept-alive
// TLS connection (src/pipeline/stages/connection-identity.ts): the identity cached on the
// socket, then the certificate-expiry check — one number compare on a connection without
// a client certificate; the compare plus one Date.now() on an mTLS connection. And what the
// first request of a new mTLS connection pays once (src/tls/peer-identity.ts): the identity
// of a certificate seen before (the certificate caches: one fingerprint, two lookups) and of
// one never seen (the ASN.1 parse for its SPIFFE ID, its SHA-256, Node's detailed peer chain).
// Run: npx node bench/micro/connection-identity.ts [--quick] [--json]
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { generateCa, issueCertificate } from '../../src/tls/pki.ts';
import { clearCertificateCaches, computeConnectionIdentity, expireConnection, identifyConnection } from '../../src/tls/peer-identity.ts';
import { finish, measure, measuredTable, microOptions, setupLine } from './measure.ts';

const opts = microOptions();

const ca = await generateCa({ commonName: 'bench CA' });
const [server, client] = await Promise.all([
  issueCertificate(ca, { usage: 'server', commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }),
  issueCertificate(ca, { usage: 'client', commonName: 'api', uris: ['spiffe://bench.test/api'] }),
]);
function serverSocket(withCert: boolean): Promise<TLSSocket> {
  return new Promise<TLSSocket>((resolve) => {
    const srv = createServer({ cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false }, (s) => {
      resolve(s);
      srv.close();
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      const cert = withCert ? { cert: client.certPem, key: client.keyPem } : {};
      connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost', ...cert }).on('error', () => {});
    });
  });
}
const mtls = await serverSocket(true);
const plain = await serverSocket(false);
if (identifyConnection(mtls).clientCert !== 'verified') throw new Error('expected a verified certificate');
if (identifyConnection(plain).clientCert !== 'none') throw new Error('expected no certificate');

/** The stage's per-request code (src/pipeline/stages/connection-identity.ts). */
function stage(socket: TLSSocket) {
  const conn = identifyConnection(socket);
  return conn.certExpiresAt !== Infinity && Date.now() >= conn.certExpiresAt ? expireConnection(socket) : conn;
}

const results = [
  measure(opts, 'no client certificate', () => stage(plain).spiffeId),
  measure(opts, 'mTLS (SPIFFE ID), expiry checked', () => stage(mtls).spiffeId),
  measure(opts, 'new mTLS connection, certificate seen before', () => computeConnectionIdentity(mtls).spiffeId),
  measure(opts, 'new mTLS connection, certificate never seen', () => {
    clearCertificateCaches();
    return computeConnectionIdentity(mtls).spiffeId;
  }),
];
mtls.destroy();
plain.destroy();

finish(opts, {
  name: 'connection-identity',
  title: 'Connection identity per request',
  setup: setupLine(opts, 'The connection-identity check on a kept-alive TLS server socket, with and without a client certificate; and the identity a new mTLS connection computes on its first request (P-256 client certificate with a SPIFFE ID, one CA), from the certificate caches and without them'),
  tables: [measuredTable('Connection identity per request, and once per new connection', results)],
  raw: { results },
});
process.exit(0);
