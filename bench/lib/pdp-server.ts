// The benchmark's remote PDP, run as its own process (`node bench/lib/pdp-server.ts`) so
// that neither the load generator nor the upstream shares its event loop: an OpenID
// AuthZEN 1.0 evaluation endpoint (`POST /access/v1/evaluation`) on loopback that reads
// the request and allows it — the cost measured is ztproxy's (document, hash, cache,
// HTTP exchange), not a policy's. Port 0, reported over IPC; exits with its parent.
import { createServer } from 'node:http';
import { listenAsChild } from './child-server.ts';

const ALLOW = Buffer.from('{"decision":true}');
const HEADERS = { 'content-type': 'application/json', 'content-length': String(ALLOW.length) };

const server = createServer({ keepAliveTimeout: 75_000, headersTimeout: 80_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'GET') {
      // The readiness probe of startUpstream.
      res.writeHead(200, HEADERS).end(ALLOW);
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { subject?: { id?: unknown } };
    if (req.url !== '/access/v1/evaluation' || typeof body.subject?.id !== 'string') {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(200, HEADERS).end(ALLOW);
  });
});

listenAsChild(server);
