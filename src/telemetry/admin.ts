// The admin listener (loopback by default): liveness, readiness, Prometheus metrics.
// Nothing here takes input beyond the path, and it is never on the data-plane port.
import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics.ts';

/** `notReady` answers why the proxy should get no traffic now (starting, shutting down, a PDP's circuit open), or undefined. */
export function createAdminServer(metrics: Metrics, notReady: () => string | undefined): Server {
  return createServer({ headersTimeout: 5000, requestTimeout: 10000 }, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === '/readyz') {
      const reason = notReady();
      res
        .writeHead(reason === undefined ? 200 : 503, { 'content-type': 'application/json' })
        .end(reason === undefined ? '{"status":"ready"}' : JSON.stringify({ status: 'not ready', reason }));
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    }
  });
}
