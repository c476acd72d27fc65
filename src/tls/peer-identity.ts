// Connection identity: what a verified client certificate proves. Computed once per TLS
// connection and kept on the socket, so a keep-alive connection pays for it once.
//
// The workload identity is the single `spiffe://` URI SAN of a certificate that chains
// to the configured CA, is in its validity period and not revoked (OpenSSL verified it
// during the handshake; `socket.authorized` says so). None or several spiffe URIs → no
// identity (X509-SVID §4: one URI SAN). The subject CN is never read: a CN is free text
// any CA-signed certificate can carry (Istio / Envoy XFCC confusion).
//
// OpenSSL judges the certificate's dates once, at the handshake. A connection kept alive
// (or a TLS session resumed from a ticket, which re-checks nothing) outlives a short-lived
// certificate — SPIFFE SVIDs live an hour — so each request compares the clock with the
// notAfter computed here once; past it the connection's identity becomes `expired`
// (SPEC §5: expired certificates never authenticate). notBefore needs no such check: a
// certificate not yet valid fails the handshake, and time only moves towards notAfter.
import { createHash } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { x509 } from './pki-x509.ts';
import { parseSpiffeId } from './pki-spiffe-id.ts';

/** What the TLS layer proved about the peer; computed once per connection. */
export interface ConnectionIdentity {
  readonly tlsProtocol: string | undefined;
  readonly cipher: string | undefined;
  /**
   * `none`: no certificate; `verified`: chains to the CA, valid, not revoked; `invalid`:
   * presented but not verified; `expired`: verified at the handshake, but its notAfter has
   * passed since (a kept-alive or resumed connection) — it proves nothing any more.
   */
  readonly clientCert: 'none' | 'verified' | 'invalid' | 'expired';
  readonly clientCertError: string | undefined;
  /** The single spiffe:// URI SAN of a verified certificate, else undefined. */
  readonly spiffeId: string | undefined;
  /** SHA-256 of the verified certificate's DER, base64url (RFC 8705 `x5t#S256`). */
  readonly certThumbprint: string | undefined;
  /**
   * Epoch ms from which the verified certificate no longer counts (its notAfter + 1 s);
   * +Infinity when there is none. Compared with the clock on every request.
   */
  readonly certExpiresAt: number;
}

export const NO_TLS_IDENTITY: ConnectionIdentity = Object.freeze({
  tlsProtocol: undefined,
  cipher: undefined,
  clientCert: 'none',
  clientCertError: undefined,
  spiffeId: undefined,
  certThumbprint: undefined,
  certExpiresAt: Infinity,
});

const kIdentity = Symbol('ztproxy.connectionIdentity');

/**
 * RFC 5280 §4.1.2.5: the validity period includes notAfter itself, and OpenSSL compares
 * at one-second resolution; the certificate stops counting one second after notAfter.
 */
const NOT_AFTER_INCLUSIVE_MS = 1000;

/** Deeper chains are not walked further (real ones are 2–4 certificates). */
const MAX_CHAIN_DEPTH = 10;

/**
 * The earliest notAfter (epoch ms) of the certificate path: RFC 5280 §6.1.3 (a)(2) wants
 * every certificate of the path within its validity, so a CA that expires before the leaf
 * it signed ends the leaf's validity too. Read once per connection. Node shows the path
 * on the server side only as far as it finds issuers in the trust store (the configured
 * `clientAuth.ca`, intermediates included); an intermediate the client sent itself, or
 * the path of a resumed session, is not visible: then the leaf's notAfter is what counts.
 */
function pathNotAfter(socket: TLSSocket, leafNotAfter: number): number {
  let notAfter = leafNotAfter;
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  for (let depth = 0; depth < MAX_CHAIN_DEPTH && cert?.issuerCertificate !== undefined && cert.issuerCertificate !== cert; depth++) {
    cert = cert.issuerCertificate;
    const t = Date.parse(cert.valid_to);
    if (t < notAfter) notAfter = t; // (NaN, an unreadable date, changes nothing)
  }
  return notAfter;
}

type WithIdentity = TLSSocket & { [kIdentity]?: ConnectionIdentity };

/** The spiffe ID of a DER certificate, or undefined when it has none, several or a malformed one. */
export function spiffeIdOf(der: Buffer): string | undefined {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch {
    return undefined;
  }
  // X509-SVID §4.1: an SVID is a leaf. A CA certificate (or one allowed to sign
  // certificates) carrying a SPIFFE ID is never a workload identity.
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  if (constraints?.ca) return undefined;
  const usage = cert.getExtension(x509.KeyUsagesExtension);
  if (usage && (usage.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) !== 0) return undefined;
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  if (!san) return undefined;
  const uris = san.names.items.filter((n) => n.type === 'url').map((n) => n.value);
  const spiffe = uris.filter((u) => u.slice(0, 9).toLowerCase() === 'spiffe://');
  if (spiffe.length !== 1 || uris.length !== 1) return undefined;
  try {
    parseSpiffeId(spiffe[0]!);
    return spiffe[0];
  } catch {
    return undefined;
  }
}

/**
 * What the connection's TLS peer proved at the handshake, computed on its first request.
 * Whether that still holds is `certExpiresAt` against the clock (see expireConnection).
 */
export function identifyConnection(socket: TLSSocket): ConnectionIdentity {
  const s = socket as WithIdentity;
  const known = s[kIdentity];
  if (known) return known;
  const peer = socket.getPeerX509Certificate?.();
  let identity: ConnectionIdentity;
  if (!peer) {
    identity = {
      tlsProtocol: socket.getProtocol() ?? undefined,
      cipher: socket.getCipher()?.name,
      clientCert: 'none',
      clientCertError: undefined,
      spiffeId: undefined,
      certThumbprint: undefined,
      certExpiresAt: Infinity,
    };
  } else if (!socket.authorized) {
    const err = socket.authorizationError as unknown;
    identity = {
      tlsProtocol: socket.getProtocol() ?? undefined,
      cipher: socket.getCipher()?.name,
      clientCert: 'invalid',
      clientCertError: err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err),
      spiffeId: undefined,
      certThumbprint: undefined,
      certExpiresAt: Infinity,
    };
  } else {
    identity = {
      tlsProtocol: socket.getProtocol() ?? undefined,
      cipher: socket.getCipher()?.name,
      clientCert: 'verified',
      clientCertError: undefined,
      spiffeId: spiffeIdOf(peer.raw),
      certThumbprint: createHash('sha256').update(peer.raw).digest('base64url'),
      certExpiresAt: pathNotAfter(socket, peer.validToDate.getTime()) + NOT_AFTER_INCLUSIVE_MS,
    };
  }
  s[kIdentity] = Object.freeze(identity);
  return identity;
}

/**
 * Marks the connection's certificate as expired (the caller saw `certExpiresAt` pass) and
 * returns its identity from now on: no SPIFFE ID, and no thumbprint either, so a token
 * bound to that certificate (RFC 8705) stops working with it. Its `certExpiresAt` is
 * +Infinity, so later requests on the connection do not read the clock again.
 */
export function expireConnection(socket: TLSSocket): ConnectionIdentity {
  const s = socket as WithIdentity;
  const identity = s[kIdentity] ?? identifyConnection(socket);
  if (identity.clientCert === 'expired') return identity;
  const expired: ConnectionIdentity = Object.freeze({
    tlsProtocol: identity.tlsProtocol,
    cipher: identity.cipher,
    clientCert: 'expired',
    clientCertError: 'CERT_HAS_EXPIRED',
    spiffeId: undefined,
    certThumbprint: undefined,
    certExpiresAt: Infinity,
  });
  s[kIdentity] = expired;
  return expired;
}
