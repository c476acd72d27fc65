// The benchmark's upstream, run as its own process (`node bench/lib/upstream-server.ts`)
// so that its event loop is not the load generator's: a keep-alive HTTP/1.1 server that
// answers every request with the same small JSON body. It binds port 0 on loopback and
// tells the parent the port over IPC, and exits when the parent goes away.
import { createServer } from 'node:http';
import { listenAsChild } from './child-server.ts';


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

listenAsChild(server);
