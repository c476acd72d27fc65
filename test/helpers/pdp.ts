// Test PDPs on 127.0.0.1 that speak the documented wire shapes — OPA's Data API
// (`POST /v1/data/...` with `{input}` → `{result}`) and OpenID AuthZEN 1.0
// (`POST /access/v1/evaluation` → `{decision}`) — and decide with a function the test
// gives them (a table lookup), never with ztproxy's own engine. Every request is
// recorded (path, headers, parsed body), and the server can be told to misbehave: be
// slow, answer 500, garbage, a wrong shape, a huge body, or go down.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PdpCall {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The request body, parsed (undefined if it was not JSON). */
  readonly body: Record<string, unknown> | undefined;
  readonly raw: string;
}

/** How the PDP answers the next requests (until changed). */
export type PdpBehaviour =
  | { kind: 'decide' }
  | { kind: 'slow'; ms: number }
  | { kind: 'status'; status: number }
  | { kind: 'raw'; body: string; contentType?: string }
  | { kind: 'hang' }
  /** Headers and the start of a JSON body, then nothing: a timeout must cover the body too. */
  | { kind: 'stall-body' }
  /** An allow padded to `bytes`: with Content-Length, or chunked (the size only known while reading). */
  | { kind: 'huge'; bytes: number; chunked?: boolean };

export interface TestPdp {
  /** http://127.0.0.1:PORT */
  readonly origin: string;
  readonly calls: PdpCall[];
  behave(b: PdpBehaviour): void;
  reset(): void;
  close(): Promise<void>;
}

/**
 * `decide` gets the parsed request body and returns the JSON answer to send
 * (e.g. `{decision: true}` or `{result: false}`).
 */
export async function startTestPdp(decide: (body: Record<string, unknown>, path: string) => unknown): Promise<TestPdp> {
  const calls: PdpCall[] = [];
  let behaviour: PdpBehaviour = { kind: 'decide' };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> | undefined;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      const path = req.url ?? '';
      calls.push({ path, headers: req.headers, body, raw });
      const b = behaviour;
      const json = (value: unknown): void => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      };
      switch (b.kind) {
        case 'decide':
          if (req.method !== 'POST' || body === undefined) res.writeHead(400).end();
          else json(decide(body, path));
          return;
        case 'slow':
          setTimeout(() => (body === undefined ? res.writeHead(400).end() : json(decide(body, path))), b.ms);
          return;
        case 'status':
          res.writeHead(b.status, { 'content-type': 'application/json' }).end('{"error":"pdp failure"}');
          return;
        case 'raw':
          res.writeHead(200, { 'content-type': b.contentType ?? 'application/json' }).end(b.body);
          return;
        case 'hang':
          return;
        case 'stall-body':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"decision":');
          return;
        case 'huge': {
          const text = `{"decision":true,"context":{"pad":"${'x'.repeat(b.bytes)}"}}`;
          res.writeHead(200, { 'content-type': 'application/json', ...(b.chunked ? {} : { 'content-length': String(Buffer.byteLength(text)) }) });
          if (b.chunked) {
            for (let i = 0; i < text.length; i += 8192) res.write(text.slice(i, i + 8192));
            res.end();
          } else res.end(text);
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    behave(b) {
      behaviour = b;
    },
    reset() {
      calls.length = 0;
      behaviour = { kind: 'decide' };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on (a PDP that is down). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
