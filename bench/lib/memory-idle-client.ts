// The idle keep-alive TLS clients of bench/memory.ts, as their own process (pinned to the
// load core): each connection does a full TLS handshake, sends one GET, reads its 200 and
// then stays open without a word — what a browser or an SDK does between requests. The
// parent drives it over IPC:
//   → {type: 'open', url, count, ca}   ← {type: 'opened', open, failed, error?}
//   → {type: 'status'}                 ← {type: 'status', open, lost}
//   → {type: 'close'}                  ← {type: 'closed'}
// Connections come from many loopback source addresses (127.1.x.y), each carrying fewer
// than ztproxy's default maxConnectionsPerIp (256), so the proxy runs on its default
// limits instead of a raised one.
import type { TcpNetConnectOpts } from 'node:net';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';

export interface OpenCommand {
  readonly type: 'open';
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly count: number;
  /** PEM of the CA that signed the server's certificate: the handshake is verified. */
  readonly ca: string;
}
export type ClientCommand = OpenCommand | { readonly type: 'status' } | { readonly type: 'close' };
export type ClientReport =
  | { readonly type: 'opened'; readonly open: number; readonly failed: number; readonly error?: string }
  | { readonly type: 'status'; readonly open: number; readonly lost: number }
  | { readonly type: 'closed' };

/** Connections per source address: below ztproxy's default per-address cap of 256. */
export const PER_SOURCE_ADDRESS = 200;
/** Handshakes in flight at once: enough to keep the proxy busy, well under its maxHandshakes (512). */
const IN_FLIGHT = 32;
const REQUEST = 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n';

/** The loopback source address of the i-th connection. */
export function sourceAddress(i: number): string {
  const n = Math.floor(i / PER_SOURCE_ADDRESS);
  return `127.1.${Math.floor(n / 250)}.${(n % 250) + 1}`;
}

const sockets = new Set<TLSSocket>();
let lost = 0;
let closing = false;

function openOne(target: URL, ca: string, i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // tls.connect hands localAddress on to net.connect; its type does not say so.
    const options: ConnectionOptions & TcpNetConnectOpts = { host: target.hostname, port: Number(target.port), servername: 'localhost', ca, localAddress: sourceAddress(i) };
    const socket = connect(options);
    let head = '';
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(30_000, () => fail(new Error('no answer within 30 s')));
    socket.once('error', fail);
    socket.once('close', () => {
      if (!settled) fail(new Error('closed before the response'));
      else if (sockets.delete(socket) && !closing) lost++;
    });
    socket.once('secureConnect', () => socket.write(REQUEST));
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      if (!head.startsWith('HTTP/1.1 200')) return fail(new Error(`answered ${head.slice(0, head.indexOf('\r\n'))}`));
      settled = true;
      socket.setTimeout(0);
      // Errors after this point (a reset) show up as a lost connection, not a crash.
      socket.on('error', () => {});
      sockets.add(socket);
      resolve();
    });
  });
}

async function openAll(cmd: OpenCommand): Promise<ClientReport> {
  const target = new URL(cmd.url);
  let next = 0;
  let failed = 0;
  let error: string | undefined;
  const worker = async () => {
    while (next < cmd.count) {
      const i = next++;
      try {
        await openOne(target, cmd.ca, i);
      } catch (err) {
        failed++;
        error ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, cmd.count) }, worker));
  return { type: 'opened', open: sockets.size, failed, ...(error ? { error } : {}) };
}

function closeAll(): Promise<void> {
  closing = true;
  const all = [...sockets];
  sockets.clear();
  return Promise.all(
    all.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.once('close', () => resolve());
          s.destroy();
        }),
    ),
  ).then(() => undefined);
}

const send = (report: ClientReport) => process.send?.(report);

process.on('message', (cmd: ClientCommand) => {
  if (cmd.type === 'open') void openAll(cmd).then(send);
  else if (cmd.type === 'status') send({ type: 'status', open: sockets.size, lost });
  else if (cmd.type === 'close') void closeAll().then(() => send({ type: 'closed' }));
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
