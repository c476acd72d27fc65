// A misbehaving upstream for attack tests: a plain TCP server on 127.0.0.1 that records
// every byte each connection sent and answers with whatever the test's responder writes
// (fake 101s, two responses for one request, split headers, or nothing at all). The
// well-behaved recording upstream is ../helpers/upstream.ts.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface RawConnection {
  /** Everything the proxy sent on this connection, latin1. */
  data: string;
  readonly socket: Socket;
  /** Free slot for the responder's per-connection state. */
  state: number;
  /** performance.now() when the proxy closed (or reset) the connection, if it did. */
  closedAt: number | undefined;
}

export type Responder = (conn: RawConnection) => void;

export interface RawUpstream {
  readonly url: string;
  readonly connections: RawConnection[];
  /** Called after every chunk received, with the connection's bytes so far. */
  respond: Responder;
  /** Everything every connection received, joined. */
  allBytes(): string;
  reset(): void;
  close(): Promise<void>;
}

export async function startRawUpstream(respond: Responder = () => {}): Promise<RawUpstream> {
  const connections: RawConnection[] = [];
  const sockets = new Set<Socket>();
  const upstream: RawUpstream = {
    url: '',
    connections,
    respond,
    allBytes: () => connections.map((c) => c.data).join('\n--\n'),
    reset() {
      connections.length = 0;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const conn: RawConnection = { data: '', socket, state: 0, closedAt: undefined };
    connections.push(conn);
    socket.once('close', () => {
      conn.closedAt = performance.now();
    });
    socket.on('data', (chunk: Buffer) => {
      conn.data += chunk.toString('latin1');
      upstream.respond(conn);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (upstream as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return upstream;
}

/** How many complete request heads (`\r\n\r\n`-terminated) a connection has sent. */
export function requestHeads(data: string): number {
  return data.split('\r\n\r\n').length - 1;
}
