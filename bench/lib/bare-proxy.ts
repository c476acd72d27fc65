// The reference the benchmark issue names: the least a Node proxy can do — TLS with the same
// certificate, one undici Pool to the upstream, undici's `dispatch()` with a raw handler
// (no stream(), no header objects built per response), the same X-Forwarded-* and
// X-Request-Id headers as nginx and ztproxy, and nothing else (no checks, no metrics). What
// ztproxy costs on top of this is ztproxy's own work; what this costs against nginx is Node's.
// Run as a child: `node bench/lib/bare-proxy.ts CERT KEY UPSTREAM`; reports its port over IPC.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const [cert, key, upstream] = process.argv.slice(2);
if (!cert || !key || !upstream) throw new Error('usage: bare-proxy.ts CERT KEY UPSTREAM');
const pool = new Pool(upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

function proxy(req: IncomingMessage, res: ServerResponse): void {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  let host = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP.has(name) || name.startsWith('x-forwarded-')) continue;
    if (name === 'host') host = raw[i + 1]!;
    headers.push(raw[i]!, raw[i + 1]!);
  }
  const id = randomUUID();
  let resume: (() => void) | undefined;
  let abort: ((err?: Error) => void) | undefined;
  let done = false;
  // A client that leaves mid-response (every load generator does at the end of a run) must
  // abort the upstream exchange: paused on a write that never drains, it would hold one of
  // the pool's connections for good, and after a few runs every request waits for one.
  res.once('close', () => {
    if (!done) abort?.();
  });
  headers.push('x-forwarded-for', req.socket.remoteAddress ?? '', 'x-forwarded-proto', 'https', 'x-forwarded-host', host, 'x-request-id', id);
  pool.dispatch(
    { method: req.method as 'GET', path: req.url ?? '/', headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
    {
      onConnect(abortExchange: (err?: Error) => void) {
        abort = abortExchange;
      },
      onHeaders(status: number, rawHeaders: Buffer[], resumeReading: () => void) {
        resume = resumeReading;
        const out: string[] = [];
        for (let i = 0; i < rawHeaders.length; i += 2) {
          const name = rawHeaders[i]!.toString('latin1');
          if (HOP.has(name.toLowerCase())) continue;
          out.push(name, rawHeaders[i + 1]!.toString('latin1'));
        }
        out.push('x-request-id', id);
        res.writeHead(status, out);
        return true;
      },
      onData(chunk: Buffer) {
        if (res.write(chunk)) return true;
        res.once('drain', () => resume?.());
        return false;
      },
      onComplete() {
        done = true;
        res.end();
      },
      onError(err: Error) {
        done = true;
        if (res.headersSent) res.destroy(err);
        else res.writeHead(502).end();
      },
    },
  );
}

const server = createServer({ cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.2', keepAliveTimeout: 75_000 }, proxy);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  if (process.send) process.send({ type: 'ready', port });
  else process.stdout.write(`${JSON.stringify({ type: 'ready', port })}\n`);
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
