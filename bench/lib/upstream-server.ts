// The benchmark's upstream, run as its own process (`node bench/lib/upstream-server.ts`)
// so that its event loop is not the load generator's: a keep-alive HTTP/1.1 server that
// answers every request with the same small JSON body. It binds port 0 on loopback and
// tells the parent the port over IPC, and exits when the parent goes away.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamReady {
  readonly type: 'ready';
  readonly port: number;
}

const BODY = Buffer.from(`${JSON.stringify({ ok: true, service: 'bench-upstream', items: [1, 2, 3] })}\n`);
const HEADERS = { 'content-type': 'application/json', 'content-length': String(BODY.length) };

const server = createServer(
  {
    // Longer than any proxy's idle upstream connection (nginx: keepalive_timeout 60s),
    // so the proxy, not the upstream, closes idle connections and no request races a close.
    keepAliveTimeout: 75_000,
    headersTimeout: 80_000,
  },
  (req, res) => {
    req.resume();
    res.writeHead(200, HEADERS);
    res.end(BODY);
  },
);

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  const ready: UpstreamReady = { type: 'ready', port };
  if (process.send) process.send(ready);
  else process.stdout.write(`${JSON.stringify(ready)}\n`);
});

process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
