// A client that floods one connection with pipelined requests behind something the proxy
// refuses or cuts, to show the proxy stops reading instead of parsing and keeping every
// request (a heap flood through one connection). Half-open like an uploader: it keeps
// sending after the proxy's FIN.
import { connect as tcpConnect } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';

/** One pipelined GET padded to ~8 KB, 64 of them per write. */
const QUEUED = Buffer.from(`GET /queued HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${'x'.repeat(8000)}\r\n\r\n`);
const BATCH = Buffer.concat(Array<Buffer>(64).fill(QUEUED));

export interface FloodClient {
  readonly socket: TLSSocket;
  /** Everything the proxy answered, latin1. */
  readonly answer: () => string;
  readonly closed: () => boolean;
  /** Resolves when the connection closes. */
  readonly done: Promise<void>;
  /** Waits until the proxy's first answer head is in (or fails after 5 s). */
  waitForAnswer(): Promise<void>;
  /**
   * Writes pipelined requests until `limit` bytes were taken or the proxy closed; resolves
   * with the bytes the socket took once it closed. Taking all of `limit` means the proxy
   * read on.
   */
  flood(limit: number): Promise<number>;
}

export async function openFloodClient(port: number): Promise<FloodClient> {
  let answer = '';
  let closed = false;
  // allowHalfOpen lives on the TCP socket a TLS socket wraps.
  const tcp = tcpConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
  tcp.on('error', () => {});
  const socket = connect({ socket: tcp, rejectUnauthorized: false, servername: 'localhost' });
  socket.on('error', () => {});
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  const done = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.once('close', () => (closed = true));
  await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
  return {
    socket,
    answer: () => answer,
    closed: () => closed,
    done,
    waitForAnswer: () =>
      new Promise<void>((resolve, reject) => {
        const end = Date.now() + 5000;
        const poll = (): void => (answer.includes('\r\n\r\n') ? resolve() : Date.now() > end ? reject(new Error('no answer')) : void setTimeout(poll, 10));
        poll();
      }),
    async flood(limit: number): Promise<number> {
      let accepted = 0;
      const pump = (): void => {
        while (!closed && accepted < limit) {
          accepted += BATCH.length;
          if (!socket.write(BATCH)) return;
        }
        // All of it was taken: the proxy read on. Nothing more to send.
        if (!closed) socket.end();
      };
      socket.on('drain', pump);
      pump();
      await done;
      return accepted;
    },
  };
}
