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
//
// A new connection with a client certificate costs the first request ~2 ms of JavaScript
// without a cache: the ASN.1 parse of the certificate for its SPIFFE ID (@peculiar/x509)
// and Node's detailed peer-certificate objects for the path's notAfter — more than the
// handshake itself. Workloads reconnect with the same certificate many times, so both
// results are kept (docs/design.md, "Client-certificate identity cache"), and neither
// cache ever holds a verdict:
// - what the certificate's bytes alone determine (its SPIFFE ID, thumbprint, notAfter),
//   keyed by the SHA-256 of its full DER — never by subject or serial, which two
//   certificates can share — and true of those bytes forever, whatever the config;
// - the path's earliest notAfter, keyed by the same fingerprint (and any issuers Node links
//   to the certificate), in a cache that belongs to the SecureContext the connection was
//   verified with: a reload builds a new context (new CA bundle, new CRL), which starts
//   with an empty cache.
// Whether the certificate is trusted, unrevoked and within its dates is decided by
// OpenSSL at each handshake (`socket.authorized`), and expiry by the clock on each
// request, as without the cache.
import { createHash, type X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { LRUCache } from 'lru-cache';
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

/** What a certificate's DER alone determines: true of those bytes at any time, under any config. */
interface CertificateFacts {
  readonly spiffeId: string | undefined;
  /** base64url SHA-256 of the DER (RFC 8705 `x5t#S256`). */
  readonly thumbprint: string;
  /** The certificate's own notAfter, epoch ms. */
  readonly notAfter: number;
}

/**
 * Certificates remembered (LRU): a fleet of workloads, each reconnecting; an entry is a
 * few hundred bytes. A certificate evicted is parsed again, nothing more.
 */
export const CERTIFICATE_CACHE_MAX = 10_000;

const factsByFingerprint = new LRUCache<string, CertificateFacts>({ max: CERTIFICATE_CACHE_MAX });

/**
 * Path notAfter per presented chain, one cache per SecureContext (the trust store the
 * chain was built against): a context no connection uses any more takes its cache with it.
 */
let pathNotAfterByContext = new WeakMap<object, LRUCache<string, number>>();

const stats = { hits: 0, misses: 0 };

/** Lookups of certificate facts since the process started (for tests and the bench). */
export function certificateCacheStats(): { readonly hits: number; readonly misses: number; readonly size: number } {
  return { hits: stats.hits, misses: stats.misses, size: factsByFingerprint.size };
}

/**
 * Forgets every certificate seen. Nothing in the proxy needs it (the caches hold no
 * verdict); the micro-benchmark uses it to time a certificate's first connection.
 */
export function clearCertificateCaches(): void {
  factsByFingerprint.clear();
  pathNotAfterByContext = new WeakMap();
}

function factsOf(peer: X509Certificate, fingerprint: string): CertificateFacts {
  const known = factsByFingerprint.get(fingerprint);
  if (known !== undefined) {
    stats.hits++;
    return known;
  }
  stats.misses++;
  const der = peer.raw;
  const facts: CertificateFacts = Object.freeze({
    spiffeId: spiffeIdOf(der),
    thumbprint: createHash('sha256').update(der).digest('base64url'),
    notAfter: peer.validToDate.getTime(),
  });
  factsByFingerprint.set(fingerprint, facts);
  return facts;
}

/**
 * The SecureContext this server socket was built with — the trust store OpenSSL verified
 * its chain against and Node completes the path from. Node keeps it in the socket's TLS
 * options (`tlsConnectionListener` passes the server's current context); read for its
 * identity only. Undefined when Node stops keeping it there: then nothing is cached.
 */
function contextOf(socket: TLSSocket): object | undefined {
  const context = (socket as { _tlsOptions?: { secureContext?: unknown } })._tlsOptions?.secureContext;
  return typeof context === 'object' && context !== null ? context : undefined;
}

/**
 * pathNotAfter, remembered per SecureContext and certificate. Node builds the path it
 * shows from the peer certificate, any issuers it links to it (on the server side Node 24
 * links none, even when the client sent its intermediate), then the context's trust
 * store: with the store fixed (one cache per context), the fingerprints of the
 * certificate and of its linked issuers determine the result.
 */
function cachedPathNotAfter(socket: TLSSocket, peer: X509Certificate, fingerprint: string, leafNotAfter: number): number {
  const context = contextOf(socket);
  if (context === undefined) return pathNotAfter(socket, leafNotAfter);
  let key = fingerprint;
  let cert = peer.issuerCertificate;
  for (let depth = 0; cert !== undefined && depth < MAX_CHAIN_DEPTH; depth++) {
    key += ` ${cert.fingerprint256}`;
    const next = cert.issuerCertificate;
    if (next !== undefined && next.fingerprint256 === cert.fingerprint256) break;
    cert = next;
  }
  let paths = pathNotAfterByContext.get(context);
  if (paths === undefined) {
    paths = new LRUCache<string, number>({ max: CERTIFICATE_CACHE_MAX });
    pathNotAfterByContext.set(context, paths);
  }
  let notAfter = paths.get(key);
  if (notAfter === undefined) {
    notAfter = pathNotAfter(socket, leafNotAfter);
    paths.set(key, notAfter);
  }
  return notAfter;
}

/**
 * What the connection's TLS peer proved at the handshake, computed on its first request.
 * Whether that still holds is `certExpiresAt` against the clock (see expireConnection).
 */
export function identifyConnection(socket: TLSSocket): ConnectionIdentity {
  const s = socket as WithIdentity;
  const known = s[kIdentity];
  if (known) return known;
  const identity = computeConnectionIdentity(socket);
  s[kIdentity] = identity;
  return identity;
}

/**
 * The identity of a connection's peer, computed now: the certificate caches apply, the
 * socket's own memo (identifyConnection) does not. Exported for the micro-benchmark.
 */
export function computeConnectionIdentity(socket: TLSSocket): ConnectionIdentity {
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
    // Only for a certificate OpenSSL verified on this very connection: the caches never
    // decide whether it is trusted.
    const fingerprint = peer.fingerprint256;
    const facts = factsOf(peer, fingerprint);
    identity = {
      tlsProtocol: socket.getProtocol() ?? undefined,
      cipher: socket.getCipher()?.name,
      clientCert: 'verified',
      clientCertError: undefined,
      spiffeId: facts.spiffeId,
      certThumbprint: facts.thumbprint,
      certExpiresAt: cachedPathNotAfter(socket, peer, fingerprint, facts.notAfter) + NOT_AFTER_INCLUSIVE_MS,
    };
  }
  return Object.freeze(identity);
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
