// The one typed scope of a request. Each stage fills in its part and never overwrites
// another's (oauth2-proxy's request scope); the class keeps one fixed shape so the
// hot path stays monomorphic.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Decision } from '../policy/index.ts';
import type { Snapshot, CompiledRoute } from '../assembly/snapshot.ts';
import type { Subject } from '../basics/subject.ts';

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

export interface StageTimings {
  auth: number | undefined;
  policy: number | undefined;
  upstream: number | undefined;
}

export interface UpgradeTarget {
  readonly socket: Duplex;
  readonly head: Buffer;
}

export class RequestContext {
  readonly id: string;
  readonly startedAt: number;
  readonly snapshot: Snapshot;
  readonly req: IncomingMessage;
  /** Undefined for an upgrade (WebSocket) request, which answers on `upgrade.socket`. */
  readonly res: ServerResponse | undefined;
  readonly upgrade: UpgradeTarget | undefined;

  conn: ConnectionIdentity = NO_TLS_IDENTITY;
  /** The socket peer address (IPv4-mapped IPv6 unwrapped). */
  peerIp = '';
  /** The client: the peer, or the first untrusted hop of X-Forwarded-For behind trusted proxies. */
  clientIp = '';
  peerTrusted = false;

  // The canonical request (set by sanitation): what policy and upstream both see.
  method = '';
  host = '';
  authority = '';
  path = '';
  /** Raw query without `?`, or '' (forwarded unchanged; never used by policy). */
  query = '';
  encodedSlash = false;
  /** Flat [name, value, ...] list of the client's headers that may be forwarded. */
  forwardHeaders: string[] = [];
  /** The request's Cookie header(s), joined; read by the session stage, never parsed on the hot path otherwise. */
  cookieHeader: string | undefined;
  /** X-Forwarded-* values received from a trusted proxy, if any. */
  forwardedFor: string | undefined;
  forwardedProto: string | undefined;
  forwardedHost: string | undefined;

  route: CompiledRoute | undefined;
  /** Who authentication proved the caller to be (bearer token), if anyone. */
  subject: Subject | undefined;
  decision: Decision | undefined;
  /** Set-Cookie values ztproxy adds to the response (a renewed or cleared session). */
  setCookies: string[] | undefined;
  timings: StageTimings = { auth: undefined, policy: undefined, upstream: undefined };
  /** performance.now() when the upstream request was sent. */
  startedUpstream = 0;

  /** Final status and the access-log reason. */
  status = 0;
  details = '';
  bytesIn = 0;

  constructor(
    id: string,
    snapshot: Snapshot,
    req: IncomingMessage,
    res: ServerResponse | undefined,
    upgrade: UpgradeTarget | undefined,
  ) {
    this.id = id;
    this.startedAt = performance.now();
    this.snapshot = snapshot;
    this.req = req;
    this.res = res;
    this.upgrade = upgrade;
  }

  /** The path and query as sent upstream. */
  get target(): string {
    return this.query === '' ? this.path : `${this.path}?${this.query}`;
  }
}
