// Revocation of live connections. A TLS reload only affects new handshakes, but a
// client certificate revoked by a new CRL must stop authenticating at once (SPEC §5:
// revoked certificates never authenticate), so after a reload every open connection that
// authenticated with a now-revoked certificate — or one whose CA is no longer trusted —
// is closed. Connections without a client certificate are untouched.
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { x509 } from './pki-x509.ts';
import { parseCaBundle } from './server-context.ts';

/** Serial numbers (upper-case hex, no leading zeros) a PEM or DER CRL revokes. */
export function revokedSerials(crl: Buffer | undefined): Set<string> {
  const out = new Set<string>();
  if (!crl) return out;
  const text = crl.toString();
  const blocks = text.includes('-----BEGIN') ? (text.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? []) : [crl];
  for (const block of blocks) {
    const parsed = new x509.X509Crl(block);
    for (const entry of parsed.entries) out.add(normalizeSerial(entry.serialNumber));
  }
  return out;
}

export function normalizeSerial(hex: string): string {
  return hex.toUpperCase().replace(/^0+(?=.)/, '');
}

/**
 * Sockets that must go after a reload: their verified client certificate is revoked by
 * `crl` or no longer issued by a CA in `ca`.
 */
export function socketsToDrop(sockets: Iterable<TLSSocket>, ca: Buffer | undefined, crl: Buffer | undefined): TLSSocket[] {
  const revoked = revokedSerials(crl);
  const cas = ca ? parseCaBundle(ca) : [];
  const drop: TLSSocket[] = [];
  for (const socket of sockets) {
    if (!socket.authorized) continue;
    const peer: X509Certificate | undefined = socket.getPeerX509Certificate();
    if (!peer) continue;
    if (revoked.has(normalizeSerial(peer.serialNumber)) || !chainStillTrusted(socket, cas)) drop.push(socket);
  }
  return drop;
}

/**
 * Whether the verified chain of a connection (leaf, the intermediates the client sent,
 * the anchor) still reaches a CA of the new bundle: a client behind an intermediate
 * keeps its connection across reloads as long as its root stays trusted.
 */
function chainStillTrusted(socket: TLSSocket, cas: readonly X509Certificate[]): boolean {
  let cert = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    const x = new X509Certificate(cert.raw);
    if (cas.some((ca) => ca.fingerprint256 === x.fingerprint256 || (x.checkIssued(ca) && x.verify(ca.publicKey)))) return true;
    cert = cert.issuerCertificate;
  }
  return false;
}
