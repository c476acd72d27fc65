// One tunnel of `ztproxy connect`: TLS to the proxy (its certificate verified against
// --ca or the system CAs, SNI = the proxy's name, the client certificate when given), then
// `CONNECT host:port` as the wire contract of issue #6 says (docs/design.md "ztproxy
// connect"). The response head is read by node:http's parser — never by hand: a 200 gives
// the raw socket, anything else is a refusal whose JSON body the caller prints.
import { request, type IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, rootCertificates, type TLSSocket } from 'node:tls';

/** What authenticates the tunnel, besides the client certificate. */
export interface PresentedCredentials {
  readonly token?: string;
  readonly posture?: string;
  /** The posture header's name (the proxy's `device.header`). */
  readonly postureHeader: string;
}

/** How to reach the proxy: its origin and the TLS material of this client. */
export interface ProxyEndpoint {
  /** `https://host[:port]`, parsed. */
  readonly url: URL;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export interface OpenTunnel {
  readonly socket: Duplex;
  /** `X-ZT-Stream`: the id a renewal names (undefined if the proxy gave none). */
  readonly streamId: string | undefined;
  readonly requestId: string | undefined;
}

/** The proxy answered, and not with 200. */
export class TunnelRefused extends Error {
  readonly status: number;
  /** The JSON body's `error`, if it had one. */
  readonly error: string | undefined;
  readonly requestId: string | undefined;
  /** Seconds, from `Retry-After` (429, 503). */
  readonly retryAfter: number | undefined;
  constructor(status: number, error: string | undefined, requestId: string | undefined, retryAfter: number | undefined) {
    super(`refused: ${status}${error === undefined ? '' : ` ${error}`}`);
    this.name = 'TunnelRefused';
    this.status = status;
    this.error = error;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

/** The proxy could not be reached, its certificate failed, or it did not answer. */
export class TunnelUnreachable extends Error {
  /**
   * The proxy ended the connection before any answer, during or right after the TLS
   * handshake (a TLS alert, a reset): how a listener that requires a client certificate
   * refuses a missing, unknown, expired or revoked one.
   */
  readonly handshakeRefused: boolean;
  constructor(message: string, options?: ErrorOptions & { handshakeRefused?: boolean }) {
    super(message, options);
    this.name = 'TunnelUnreachable';
    this.handshakeRefused = options?.handshakeRefused ?? false;
  }
}

/** Errors of a connection the peer closed or refused at the TLS layer (OpenSSL alerts, resets). */
function isHandshakeRefusal(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ECONNRESET' || /^ERR_SSL_.*ALERT/.test(err.code ?? '');
}

/** The refusal body is a short JSON object (SPEC §4); anything longer is not read further. */
const MAX_REFUSAL_BODY = 16 * 1024;
/** A proxy that accepted TLS but sends no answer in this time is given up on. */
export const ANSWER_TIMEOUT_MS = 30_000;
/** A stream id is an unguessable token; anything else is not echoed back to the proxy. */
const STREAM_ID = /^[A-Za-z0-9._~+/=-]{1,256}$/;

/**
 * The system CAs plus `--ca`: the same trust as `ztproxy login --ca` (src/cli/op-client.ts),
 * so one flag means one thing on both commands (a private CA added, never the public ones
 * taken away — node's `ca` option alone would replace them).
 */
export function trustedCas(extra: Buffer): string[] {
  return [...rootCertificates, extra.toString('utf8')];
}

/** The host name for TLS connect and SNI: brackets off an IPv6 literal; no SNI for an IP (RFC 6066 §3). */
export function tlsTarget(url: URL): { host: string; port: number; servername: string | undefined } {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port === '' ? 443 : Number(url.port), servername: isIP(host) === 0 ? host : undefined };
}

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** The body of a refusal: the bytes after the head, up to Content-Length (or the end of the connection). */
function readRefusalBody(res: IncomingMessage, socket: Duplex, head: Buffer): Promise<string> {
  const declared = Number(header(res, 'content-length'));
  // A chunked or otherwise encoded body is not decoded by hand: the status alone is reported.
  if (res.headers['transfer-encoding'] !== undefined) return Promise.resolve('');
  const limit = Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, MAX_REFUSAL_BODY) : MAX_REFUSAL_BODY;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [head];
    let length = head.length;
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).subarray(0, limit).toString('utf8'));
    };
    const timer = setTimeout(done, ANSWER_TIMEOUT_MS);
    if (length >= limit) {
      done();
      return;
    }
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= limit) done();
    });
    socket.once('end', done);
    socket.once('close', done);
    socket.once('error', done);
  });
}

function errorOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { error?: unknown }).error === 'string') return (parsed as { error: string }).error;
  } catch {
    // not JSON: an intermediary's page; the status says enough
  }
  return undefined;
}

function retryAfterOf(res: IncomingMessage): number | undefined {
  const v = header(res, 'retry-after');
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : undefined;
}

/** The TLS socket to the proxy (its identity checked by node:tls against `ca` or the system CAs). */
function connectTls(proxy: ProxyEndpoint): TLSSocket {
  const { host, port, servername } = tlsTarget(proxy.url);
  return tlsConnect({
    host,
    port,
    ...(servername === undefined ? {} : { servername }),
    ...(proxy.ca === undefined ? {} : { ca: trustedCas(proxy.ca) }),
    ...(proxy.cert === undefined ? {} : { cert: proxy.cert }),
    ...(proxy.key === undefined ? {} : { key: proxy.key }),
    ALPNProtocols: ['http/1.1'],
  });
}

/**
 * Opens one tunnel to `authority` (`host:port`, as the user wrote it; the proxy
 * canonicalizes it). Resolves with the relay socket after a 200; rejects with
 * TunnelRefused for any other answer, TunnelUnreachable when there was none.
 */
export function openTunnel(proxy: ProxyEndpoint, authority: string, credentials: PresentedCredentials): Promise<OpenTunnel> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: authority };
    if (credentials.token !== undefined) headers.authorization = `Bearer ${credentials.token}`;
    if (credentials.posture !== undefined) headers[credentials.postureHeader.toLowerCase()] = credentials.posture;
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const req = request({ method: 'CONNECT', path: authority, headers, setHost: false, createConnection: () => connectTls(proxy) });
    const timer = setTimeout(() => fail(new TunnelUnreachable(`no answer from ${proxy.url.origin} within ${ANSWER_TIMEOUT_MS / 1000} s`)), ANSWER_TIMEOUT_MS);
    req.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code === undefined ? '' : ` (${err.code})`;
      fail(new TunnelUnreachable(`cannot reach ${proxy.url.origin}: ${err.message}${code}`, { cause: err, handshakeRefused: isHandshakeRefusal(err) }));
    });
    // node:http emits 'connect' for every answer to a CONNECT, 200 or not (the body of
    // a refusal is then the socket's first bytes).
    req.once('connect', (res: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (settled) {
        socket.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      const requestId = header(res, 'x-request-id');
      if (res.statusCode === 200) {
        // Bytes the upstream sent right behind the 200 (an SSH banner) arrived with the head.
        if (head.length > 0) socket.unshift(head);
        const id = header(res, 'x-zt-stream');
        resolve({ socket, streamId: id !== undefined && STREAM_ID.test(id) ? id : undefined, requestId });
        return;
      }
      const status = res.statusCode ?? 0;
      const retryAfter = retryAfterOf(res);
      void readRefusalBody(res, socket, head).then((body) => reject(new TunnelRefused(status, errorOf(body), requestId ?? requestIdOf(body), retryAfter)));
    });
    req.end();
  });
}

function requestIdOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { requestId?: unknown };
    return typeof parsed.requestId === 'string' ? parsed.requestId : undefined;
  } catch {
    return undefined;
  }
}
