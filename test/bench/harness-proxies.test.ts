// The reference proxies the bench compares ztproxy with do the same work towards the
// upstream: TLS with the bench's certificate, and X-Forwarded-For/-Proto/-Host and
// X-Request-Id added (and X-Request-Id returned), over keep-alive. A request through each
// reaches a recording upstream; nginx and haproxy are skipped where not installed (CI
// installs them: .ci/run).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { request } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAllChildren } from '../../bench/lib/children.ts';
import { findHaproxy, startHaproxy } from '../../bench/lib/haproxy.ts';
import { findNginx, startNginx } from '../../bench/lib/nginx.ts';
import type { BenchContext } from '../../bench/lib/scenario.ts';
import { startUpstream } from '../../bench/lib/upstream.ts';
import { initCerts } from '../../bench/lib/ztproxy.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let upstream: Server;
let seen: IncomingHttpHeaders[] = [];
let ctx: BenchContext;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bench-proxies-'));
  upstream = createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
    if (req.url === '/endless') {
      // A response that only ends when the proxy stops reading it.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (res.write(chunk));
      };
      res.on('drain', pump);
      pump();
      return;
    }
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const certs = await initCerts({ root: ROOT, node: process.execPath }, join(dir, 'certs'), 'ec');
  ctx = {
    options: { connections: 1, durationSec: 1, warmupSec: 0, keyType: 'ec', only: undefined, cpuProfileDir: undefined },
    root: ROOT,
    node: process.execPath,
    workDir: dir,
    certs,
    upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    upstreamPid: process.pid,
  };
});

afterAll(async () => {
  await stopAllChildren();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** One GET through `origin`, the server certificate checked against the dev CA. */
function get(origin: string): Promise<{ status: number; requestId: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(`${origin}/probe`, { ca: ctx.certs.caPem, servername: 'localhost', headers: { host: 'bench.example' }, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, requestId: res.headers['x-request-id'] as string | undefined }));
    });
    req.once('error', reject);
    req.end();
  });
}

async function expectSameWork(origin: string): Promise<void> {
  seen = [];
  const { status, requestId } = await get(origin);
  expect(status).toBe(200);
  const h = seen.at(-1)!;
  expect(h['x-forwarded-for']).toBe('127.0.0.1');
  expect(h['x-forwarded-proto']).toBe('https');
  expect(h['x-forwarded-host']).toBe('bench.example');
  expect(h['x-request-id']).toBeTruthy();
  // The id the upstream saw is the one the client gets back.
  expect(requestId).toBe(h['x-request-id']);
}

describe('the reference proxies', () => {
  it('bare-proxy (undici dispatch) adds the same headers', async () => {
    const proxy = await startUpstream(process.execPath, join(ROOT, 'bench', 'lib', 'bare-proxy.ts'), 'bare-proxy', {
      args: [ctx.certs.serverCert, ctx.certs.serverKey, ctx.upstream],
      scheme: 'https',
      probe: { ca: ctx.certs.caPem },
    });
    await expectSameWork(proxy.url);
    await proxy.child.stop();
  });

  it('bare-proxy gives its upstream connection back when the client leaves mid-response', async () => {
    const proxy = await startUpstream(process.execPath, join(ROOT, 'bench', 'lib', 'bare-proxy.ts'), 'bare-proxy', {
      args: [ctx.certs.serverCert, ctx.certs.serverKey, ctx.upstream],
      scheme: 'https',
      probe: { ca: ctx.certs.caPem },
    });
    // More clients leaving than the proxy's pool has connections (128): a paused exchange
    // that is never aborted holds its connection, and the next request would wait forever.
    for (let i = 0; i < 140; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = request(`${proxy.url}/endless`, { ca: ctx.certs.caPem, servername: 'localhost', agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.once('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(err)));
        req.end();
      });
    }
    await expectSameWork(proxy.url);
    await proxy.child.stop();
  }, 30_000);

  it.skipIf(!findHaproxy())('haproxy adds the same headers', async () => {
    const haproxy = await startHaproxy(ctx, findHaproxy()!);
    await expectSameWork(haproxy.url);
    await haproxy.child.stop();
  });

  it.skipIf(!findNginx())('nginx adds the same headers', async () => {
    const nginx = await startNginx(ctx, findNginx()!);
    await expectSameWork(nginx.url);
    await nginx.child.stop();
  });
});
