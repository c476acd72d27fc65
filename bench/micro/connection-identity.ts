// Micro-benchmark: the per-request part of the connection-identity stage on a kept-alive
// TLS connection, as the stage does it: the identity cached on the socket, then the
// certificate-expiry check of issue #4 — one number compare on a connection without a
// client certificate; the compare plus one Date.now() on an mTLS connection — beside the
// cached identity alone (what the stage did before) and a bare clock read.
// Run: npx node bench/micro/connection-identity.ts [iterations]
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { generateCa, issueCertificate } from '../../src/tls/pki.ts';
import { expireConnection, identifyConnection } from '../../src/tls/peer-identity.ts';

const ITERATIONS = Number(process.argv[2] ?? 5_000_000);

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

/** The stage's code (src/pipeline/stages/connection-identity.ts). */
function stage(socket: TLSSocket) {
  const conn = identifyConnection(socket);
  return conn.certExpiresAt !== Infinity && Date.now() >= conn.certExpiresAt ? expireConnection(socket) : conn;
}

function measure(label: string, fn: () => unknown): number {
  let sink = 0;
  for (let i = 0; i < 200_000; i++) if (fn()) sink++;
  const start = performance.now();
  for (let i = 0; i < ITERATIONS; i++) if (fn()) sink++;
  const ns = ((performance.now() - start) * 1e6) / ITERATIONS;
  console.log(`${label.padEnd(48)} ${ns.toFixed(1).padStart(7)} ns/request  (sink ${sink % 10})`);
  return ns;
}

console.log(`connection identity per request, ${ITERATIONS} iterations, node ${process.version}`);
measure('Date.now() alone', () => Date.now() > 0);
const plainBefore = measure('no client cert: cached identity (before)', () => identifyConnection(plain).spiffeId);
const plainAfter = measure('no client cert: + expiry compare (now)', () => stage(plain).spiffeId);
const mtlsBefore = measure('mTLS: cached identity (before)', () => identifyConnection(mtls).spiffeId);
const mtlsAfter = measure('mTLS: + Date.now() and compare (now)', () => stage(mtls).spiffeId);
console.log(`expiry check: +${(plainAfter - plainBefore).toFixed(1)} ns without a client certificate, +${(mtlsAfter - mtlsBefore).toFixed(1)} ns with one`);
mtls.destroy();
plain.destroy();
process.exit(0);
