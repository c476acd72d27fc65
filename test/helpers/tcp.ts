// TCP upstreams and a CONNECT client for the tunnel tests: an echo server (or a sink) on
// loopback that counts every connection it accepted and every byte it received — so a
// test can assert a refused tunnel never reached it — and a client that opens a TLS
// connection to ztproxy, writes a CONNECT head byte for byte, and hands back the answer's
// status and headers and the socket (raw bytes both ways once it is 200).
import { createServer, type Server, type Socket } from 'node:net';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { LogLine, TestProxy } from './proxy.ts';

export interface TcpUpstream {
  readonly port: number;
  /** tcp://127.0.0.1:port */
  readonly url: string;
  /** Connections accepted since the last reset. */
  connections(): number;
  /** Bytes received since the last reset. */
  received(): Buffer;
  /** The sockets open now (to end or destroy one from the upstream side). */
  readonly sockets: Set<Socket>;
  reset(): void;
  close(): Promise<void>;
}

/**
 * `echo`: writes back what it reads (with backpressure: pipe); `sink`: reads and drops;
 * `silent`: reads and keeps (for small amounts, to assert content).
 */
export async function startTcpUpstream(mode: 'echo' | 'sink' | 'silent' = 'echo'): Promise<TcpUpstream> {
  let accepted = 0;
  let chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (mode === 'echo') socket.pipe(socket);
    else if (mode === 'sink') {
      socket.resume();
      socket.on('end', () => socket.end());
    } else {
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('end', () => socket.end());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `tcp://127.0.0.1:${port}`,
    connections: () => accepted,
    received: () => Buffer.concat(chunks),
    sockets,
    reset() {
      accepted = 0;
      chunks = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface TunnelAnswer {
  readonly status: number;
  /** Lower-case header names. */
  readonly headers: Record<string, string>;
  /** The answer's body (a refusal's JSON), or bytes that came after a 200's head. */
  readonly rest: Buffer;
  readonly socket: TLSSocket;
}

/**
 * Writes `head` (a full request head, or just the target: then `CONNECT target HTTP/1.1`
 * with `Host: target` and `headers`) and reads the answer's head. `after`: bytes written
 * right behind the head, before any answer (pipelined).
 */
export function openTunnel(
  port: number,
  target: string,
  opts: { headers?: Record<string, string>; raw?: string; after?: Buffer | string; tls?: ConnectionOptions; timeoutMs?: number } = {},
): Promise<TunnelAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ...opts.tls }, () => {
      let head = opts.raw;
      if (head === undefined) {
        head = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n`;
        for (const [k, v] of Object.entries(opts.headers ?? {})) head += `${k}: ${v}\r\n`;
        head += '\r\n';
      }
      socket.write(head);
      if (opts.after !== undefined) socket.write(opts.after);
    });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => finish(), opts.timeoutMs ?? 5000);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      const end = buf.indexOf('\r\n\r\n');
      const headText = (end < 0 ? buf : buf.subarray(0, end)).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(headText);
      const headers: Record<string, string> = {};
      for (const line of headText.split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: m ? Number(m[1]) : 0, headers, rest: end < 0 ? Buffer.alloc(0) : buf.subarray(end + 4), socket });
    };
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      // A 200 hands the socket over at once; a refusal is read to its end (Connection: close).
      if (/^HTTP\/1\.[01] 200 /.test(buf.toString('latin1', 0, 16))) {
        socket.pause();
        finish();
      }
    };
    socket.on('data', onData);
    socket.once('end', finish);
    socket.once('close', finish);
    socket.once('error', (err) => {
      if (buf.length > 0) finish();
      else if (!done) {
        done = true;
        clearTimeout(timer);
        reject(err as Error);
      }
    });
  });
}

/** Reads from a socket until `n` bytes have come (or it ends), resolving with them. */
export function readBytes(socket: TLSSocket, n: number, initial: Buffer = Buffer.alloc(0)): Promise<Buffer> {
  return new Promise((resolve) => {
    let buf = initial;
    if (buf.length >= n) {
      resolve(buf);
      return;
    }
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= n) {
        cleanup();
        resolve(buf);
      }
    };
    const onEnd = (): void => {
      cleanup();
      resolve(buf);
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}

/** Resolves once `socket` has closed (at once if it already has). */
export function closed(socket: { once(e: 'close', f: () => void): unknown; destroyed: boolean }): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', resolve)));
}

/** The access-log line of `requestId`: a tunnel's is written when it closes, so this waits for it (up to ~5 s). */
export async function tunnelLogLine(proxy: TestProxy, requestId: string): Promise<LogLine> {
  for (let i = 0; i < 200; i++) {
    const found = proxy.logs.find((l) => l.msg === 'request' && l.requestId === requestId);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no access-log line for ${requestId}`);
}
