// The demo application behind ztproxy: a plain HTTP app that knows nothing of identity
// and shows what reached it — method, path and the headers ztproxy forwarded.
import { createServer, type Server } from 'node:http';

export function startDemoUpstream(port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ app: 'ztproxy demo upstream', method: req.method, url: req.url, headers: req.headers }, null, 2);
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
