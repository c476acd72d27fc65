// Connection identity: what a verified client certificate proves. Computed once per TLS
// connection and kept on the socket, so a keep-alive connection pays for it once.
//
// The workload identity is the single `spiffe://` URI SAN of a certificate that chains
// to the configured CA, is in its validity period and not revoked (OpenSSL verified it
// during the handshake; `socket.authorized` says so). None or several spiffe URIs → no
// identity (X509-SVID §4: one URI SAN). The subject CN is never read: a CN is free text
// any CA-signed certificate can carry (Istio / Envoy XFCC confusion).
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { x509 } from './pki-x509.ts';
import { parseSpiffeId } from './pki-spiffe-id.ts';

/** What the TLS layer proved about the peer; computed once per connection. */
export interface ConnectionIdentity {
  readonly tlsProtocol: string | undefined;
  readonly cipher: string | undefined;
  /** `none`: no certificate; `verified`: chains to the CA, valid, not revoked; `invalid`: presented but not verified. */
  readonly clientCert: 'none' | 'verified' | 'invalid';
  readonly clientCertError: string | undefined;
  /** The single spiffe:// URI SAN of a verified certificate, else undefined. */
  readonly spiffeId: string | undefined;
  /** SHA-256 of the verified certificate's DER, base64url (RFC 8705 `x5t#S256`). */
  readonly certThumbprint: string | undefined;
}

export const NO_TLS_IDENTITY: ConnectionIdentity = Object.freeze({
  tlsProtocol: undefined,
  cipher: undefined,
  clientCert: 'none',
  clientCertError: undefined,
  spiffeId: undefined,
  certThumbprint: undefined,
});

const kIdentity = Symbol('ztproxy.connectionIdentity');
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
    };
  } else {
    identity = {
      tlsProtocol: socket.getProtocol() ?? undefined,
      cipher: socket.getCipher()?.name,
      clientCert: 'verified',
      clientCertError: undefined,
      spiffeId: spiffeIdOf(peer.raw),
      certThumbprint: createHash('sha256').update(peer.raw).digest('base64url'),
    };
  }
  s[kIdentity] = Object.freeze(identity);
  return identity;
}
