// The TLS client of the handshake benchmark (bench/handshake.ts): new TLS 1.3 connections
// from the bench process (pinned to LOAD_CPU), closed as soon as the handshake is done.
// One client for every server, so ztproxy and nginx are measured by the same yardstick.
//
// Why a Node client and not `openssl s_time`: s_time resumes a TLS 1.3 session only when
// it also sends an HTTP request on every connection (`-www`; without it the ticket, which
// TLS 1.3 sends after the handshake, is never read, and every "reused" connection is a
// full handshake — checked with OpenSSL 3.0). The request would then be part of every
// resumed measurement and of the server's CPU. This client closes right after the
// handshake in every case, resumes from tickets it really received, and counts
// `isSessionReused()` so that "resumed" is verified, not assumed.
//
// To keep the client's own cost per connection low (it shares nothing with the server but
// must keep up with it): the SecureContext, client certificate included, is built once per
// case, and the server's chain is not validated during the measurement (no CA given, so
// OpenSSL stops at the unknown issuer without a signature check). TLS 1.3 still makes the
// client check the server's CertificateVerify signature, as any client must. The chain is
// validated against the dev CA once per server, before measuring (`checkServer`).
import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';

export interface ClientCase {
  readonly port: number;
  readonly context: SecureContext;
  /** Session tickets to resume from (used round-robin); undefined: full handshakes. */
  readonly sessions?: readonly Buffer[];
}

/**
 * The groups the client offers: those every server here takes (ztproxy's list; nginx on
 * OpenSSL 3.0 has no post-quantum hybrid). Node 24's default would also generate an
 * X25519MLKEM768 key share on every connection, client CPU that no server here uses.
 */
export const CLIENT_GROUPS = 'X25519:P-256:P-384';

/** A TLS 1.3-only client context, with a client certificate for mTLS. */
export function clientContext(clientCert?: { readonly cert: Buffer; readonly key: Buffer }): SecureContext {
  return createSecureContext({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ecdhCurve: CLIENT_GROUPS, ...(clientCert ?? {}) });
}

interface Handshake {
  readonly ns: bigint;
  readonly reused: boolean;
  readonly socket: TLSSocket;
}

function ignore(): void {}

/** One new connection to the handshake's end; the socket is left open for the caller. */
function handshake(c: ClientCase, session: Buffer | undefined, timeoutMs = 10_000): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const socket = connect({
      host: '127.0.0.1',
      port: c.port,
      servername: 'localhost',
      secureContext: c.context,
      rejectUnauthorized: false,
      ...(session ? { session } : {}),
    });
    // A reset or alert after the caller closed must not become an uncaught 'error'.
    socket.on('error', ignore);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('handshake timed out'));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve({ ns: process.hrtime.bigint() - started, reused: socket.isSessionReused(), socket });
    });
    socket.once('error', (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/**
 * `count` session tickets from full handshakes. TLS 1.3 sends tickets after the handshake,
 * so each connection stays open until its first ticket arrives.
 */
export async function collectSessions(c: ClientCase, count: number): Promise<Buffer[]> {
  const sessions: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const h = await handshake(c, undefined);
    const ticket = await new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 2000);
      h.socket.once('session', (s: Buffer) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
    h.socket.end();
    if (ticket) sessions.push(ticket);
  }
  if (sessions.length === 0) throw new Error('the server issued no session ticket: TLS 1.3 resumption is not possible');
  return sessions;
}

export interface CapacityResult {
  readonly handshakes: number;
  readonly reused: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly wallSec: number;
  /** CPU seconds of the bench process (the client) during the run. */
  readonly clientCpuSec: number;
}

/**
 * As many handshakes as the server completes: `concurrency` connections in flight, each
 * replaced by a new one as soon as its handshake is done (closed loop).
 */
export async function capacity(c: ClientCase, concurrency: number, seconds: number): Promise<CapacityResult> {
  let handshakes = 0;
  let reused = 0;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  const worker = async (): Promise<void> => {
    while (process.hrtime.bigint() < deadline) {
      const session = c.sessions ? c.sessions[next++ % c.sessions.length] : undefined;
      try {
        const h = await handshake(c, session);
        h.socket.end();
        handshakes++;
        if (h.reused) reused++;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        // A refusing server would otherwise be hammered in a tight loop.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { handshakes, reused, errors, firstError, wallSec, clientCpuSec: (cpu.user + cpu.system) / 1e6 };
}

export interface LatencyResult {
  /** connect() → secureConnect, ms, in the order taken. */
  readonly ms: readonly number[];
  readonly reused: number;
  readonly errors: number;
}

/**
 * `count` handshakes started at a fixed `rate` per second (open loop: a slow handshake does
 * not delay the next start), each timed from connect() to secureConnect.
 */
export async function latency(c: ClientCase, count: number, rate: number): Promise<LatencyResult> {
  const ms: number[] = [];
  let reused = 0;
  let errors = 0;
  const interval = 1000 / rate;
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = t0 + i * interval - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const session = c.sessions ? c.sessions[i % c.sessions.length] : undefined;
    pending.push(
      handshake(c, session).then(
        (h) => {
          h.socket.end();
          ms.push(Number(h.ns) / 1e6);
          if (h.reused) reused++;
        },
        () => {
          errors++;
        },
      ),
    );
  }
  await Promise.all(pending);
  return { ms, reused, errors };
}

export interface ServerCheck {
  /** The chain validated against the dev CA for `localhost`. */
  readonly chainValid: boolean;
  readonly protocol: string | null;
  readonly cipher: string;
  /** The key exchange group (e.g. X25519). */
  readonly group: string | undefined;
  /** The server certificate's key: `EC P-256` or `RSA 2048`. */
  readonly serverKey: string;
  /** HTTP status of `GET /` over the connection (null: the connection failed). */
  readonly status: number | null;
  readonly error?: string;
}

/**
 * One full handshake that validates the chain against the CA, then `GET /` over it: the
 * status proves the server accepted the connection (for mTLS: the client certificate,
 * which TLS 1.3 servers judge after the client's Finished, so a handshake that "completed"
 * on the client side proves nothing by itself).
 */
export function checkServer(port: number, ca: string, clientCert?: { readonly cert: Buffer; readonly key: Buffer }): Promise<ServerCheck> {
  return new Promise((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ecdhCurve: CLIENT_GROUPS,
      rejectUnauthorized: false,
      ...(clientCert ?? {}),
    });
    let info: Omit<ServerCheck, 'status' | 'error'> | undefined;
    let response = '';
    const timer = setTimeout(() => finish(null, 'no answer within 5 s'), 5000);
    const finish = (status: number | null, error?: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({
        ...(info ?? { chainValid: false, protocol: null, cipher: '', group: undefined, serverKey: '' }),
        status,
        ...(error ? { error } : {}),
      });
    };
    socket.once('secureConnect', () => {
      const peer = socket.getPeerX509Certificate();
      const key = peer?.publicKey;
      const details = key?.asymmetricKeyDetails;
      const ephemeral = socket.getEphemeralKeyInfo();
      info = {
        chainValid: socket.authorized,
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
        group: ephemeral && 'name' in ephemeral ? ephemeral.name : undefined,
        serverKey: key?.asymmetricKeyType === 'ec' ? `EC ${details?.namedCurve === 'prime256v1' ? 'P-256' : details?.namedCurve}` : `RSA ${details?.modulusLength}`,
      };
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (chunk: Buffer) => {
      response += chunk.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(response);
      if (m) finish(Number(m[1]));
    });
    socket.once('error', (err) => finish(null, err.message));
    socket.once('close', () => finish(null, 'closed without an answer'));
  });
}
