// A real upstream for tests: records every request it receives (so a test can assert
// what reached it — or that nothing did) and answers with a JSON echo. Special paths:
//   /slow?ms=N      waits N ms before the response headers
//   /stall-body     sends headers, then nothing
//   /bytes?n=N      streams N bytes
//   /status?code=N  answers with that status
//   any request with a body: the body is counted (not kept) and its size echoed
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface SeenRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  headers: IncomingMessage['headers'];
  bodyBytes: number;
  /** performance.now() when the first body byte arrived (streaming checks). */
  firstBodyAt: number | undefined;
}

export interface TestUpstream {
  readonly url: string;
  readonly port: number;
  readonly seen: SeenRequest[];
  /** Last request that reached the upstream with this path prefix. */
  last(pathPrefix?: string): SeenRequest | undefined;
  reset(): void;
  close(): Promise<void>;
}

export async function startUpstream(opts: { websocket?: boolean; rejectUpgrade?: boolean } = {}): Promise<TestUpstream> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const entry: SeenRequest = { method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, headers: req.headers, bodyBytes: 0, firstBodyAt: undefined };
    seen.push(entry);
    req.on('data', (chunk: Buffer) => {
      entry.firstBodyAt ??= performance.now();
      entry.bodyBytes += chunk.length;
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://upstream');
      if (url.pathname === '/slow') {
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"slow":true}'), Number(url.searchParams.get('ms') ?? 1000));
        return;
      }
      if (url.pathname === '/stall-body') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
        return;
      }
      if (url.pathname === '/bytes') {
        let left = Number(url.searchParams.get('n') ?? 0);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
        const chunk = Buffer.alloc(64 * 1024, 120);
        const pump = (): void => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      const status = url.pathname === '/status' ? Number(url.searchParams.get('code') ?? 200) : 200;
      const body = JSON.stringify({ method: entry.method, url: entry.url, headers: req.headers, bodyBytes: entry.bodyBytes });
      res.writeHead(status, {
        'content-type': 'application/json',
        'x-upstream': 'yes',
        // Hop-by-hop headers the proxy must not pass back to the client.
        connection: 'keep-alive, x-upstream-secret',
        'x-upstream-secret': 'do-not-forward',
        'keep-alive': 'timeout=5',
      });
      res.end(body);
    });
  });
  if (opts.websocket) {
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, headers: req.headers, bodyBytes: 0, firstBodyAt: undefined });
      if (opts.rejectUpgrade) {
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data) => ws.send(`echo:${(data as Buffer).toString()}`));
      });
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    last(prefix = '/') {
      for (let i = seen.length - 1; i >= 0; i--) if (seen[i]!.url.startsWith(prefix)) return seen[i];
      return undefined;
    },
    reset() {
      seen.length = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
