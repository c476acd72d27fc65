// A real HTTPS upstream for tests of upstream TLS and mTLS: records every request that
// reached its handler, with the client certificate the proxy presented (if any), and
// every TLS handshake it refused — so a test can assert both what got through and that
// nothing did.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface SeenTlsRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The SNI the client sent, if any. */
  readonly servername: string | false | null;
  /** The client certificate's subject CN, SANs and fingerprint, or undefined without one. */
  readonly clientCert: { subjectCN: string | undefined; subjectaltname: string | undefined; fingerprint256: string } | undefined;
  /** Whether the presented client certificate chains to `ca`. */
  readonly authorized: boolean;
}

export interface TlsUpstream {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly seen: SeenTlsRequest[];
  /** Handshakes the server refused or that failed (e.g. no client certificate). */
  readonly handshakeErrors: string[];
  reset(): void;
  close(): Promise<void>;
}

export interface TlsUpstreamOptions {
  readonly cert: string;
  readonly key: string;
  /** For mTLS: the CA client certificates must chain to; with it, a certificate is required. */
  readonly clientCa?: string;
}

export async function startTlsUpstream(opts: TlsUpstreamOptions): Promise<TlsUpstream> {
  const seen: SeenTlsRequest[] = [];
  const handshakeErrors: string[] = [];
  const mtls = opts.clientCa !== undefined;
  const server: Server = createServer(
    {
      cert: opts.cert,
      key: opts.key,
      ...(mtls ? { ca: opts.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      const hasCert = peer !== null && Object.keys(peer).length > 0;
      const cn = hasCert ? peer.subject?.CN : undefined;
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        servername: socket.servername,
        clientCert: hasCert
          ? { subjectCN: Array.isArray(cn) ? cn.join(',') : cn, subjectaltname: peer.subjectaltname, fingerprint256: peer.fingerprint256 }
          : undefined,
        authorized: socket.authorized,
      });
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'tls' });
        res.end(JSON.stringify({ url: req.url, tls: socket.getProtocol() }));
      });
    },
  );
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => handshakeErrors.push(err.code ?? err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    seen,
    handshakeErrors,
    reset() {
      seen.length = 0;
      handshakeErrors.length = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
