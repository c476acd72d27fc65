// The admin listener (SPEC §8) over real sockets: liveness, readiness that turns 503 as
// soon as shutdown begins (while a slow request is still being drained), and Prometheus
// metrics that count what the data plane actually did — requests by route, status and
// decision, time per stage, TLS handshakes, open connections, config reloads.
import { request as httpRequest } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { get, openRoute, startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';

interface AdminResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Plain HTTP to the admin listener on 127.0.0.1, a new connection each time. */
function admin(port: number, path: string, method = 'GET'): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition into samples (comments skipped). */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

function sample(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

async function scrape(p: TestProxy): Promise<Sample[]> {
  const res = await admin(p.proxy.addresses.admin.port, '/metrics');
  expect(res.status).toBe(200);
  return parseMetrics(res.body);
}

async function eventually(what: string, probe: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let config: Record<string, unknown>;

const stack = useProxyStack(({ pki, upstream }) => {
  config = {
    listen: { tls: serverTls(pki) },
    routes: [
      openRoute(upstream.url, { name: 'app', match: { host: 'localhost' } }),
      {
        name: 'guarded',
        match: { host: 'guarded.test' },
        upstream: upstream.url,
        policy: { allow: { accept: true }, deny: { path: { prefix: '/admin' } } },
      },
    ],
  };
  return config;
});

describe('admin listener', () => {
  it('listens on loopback, apart from the data-plane port', () => {
    const { admin: a, https } = stack.proxy.proxy.addresses;
    expect(a.address).toBe('127.0.0.1');
    expect(a.port).not.toBe(https.port);
  });

  it('GET /healthz → 200 JSON', async () => {
    const res = await admin(stack.proxy.proxy.addresses.admin.port, '/healthz');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
  });

  it('GET /readyz → 200 JSON while running', async () => {
    const res = await admin(stack.proxy.proxy.addresses.admin.port, '/readyz');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(res.body)).toEqual({ status: 'ready' });
  });

  it('POST /metrics → 405 with Allow; other methods on health paths too', async () => {
    const port = stack.proxy.proxy.addresses.admin.port;
    for (const [method, path] of [['POST', '/metrics'], ['PUT', '/healthz'], ['DELETE', '/readyz']] as const) {
      const res = await admin(port, path, method);
      expect([method, path, res.status]).toEqual([method, path, 405]);
      expect(res.headers.allow).toBe('GET, HEAD');
    }
  });

  it('unknown paths → 404 (including data-plane paths and look-alikes)', async () => {
    const port = stack.proxy.proxy.addresses.admin.port;
    for (const path of ['/', '/nope', '/metrics/x', '/healthz/', '/.ztproxy/login']) {
      const res = await admin(port, path);
      expect([path, res.status]).toEqual([path, 404]);
    }
  });

  it('a query string does not change the answer', async () => {
    const res = await admin(stack.proxy.proxy.addresses.admin.port, '/healthz?verbose=1');
    expect(res.status).toBe(200);
  });
});

describe('/metrics', () => {
  it('is Prometheus text', async () => {
    const res = await admin(stack.proxy.proxy.addresses.admin.port, '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toContain('# TYPE ztproxy_requests_total counter');
    expect(res.body).toContain('# TYPE ztproxy_stage_duration_seconds histogram');
    expect(res.body).toContain('# TYPE ztproxy_open_connections gauge');
  });

  it('counts requests by route, status and decision: a forward, a 404 and a policy deny', async () => {
    const before = await scrape(stack.proxy);
    const at = (s: Sample[], labels: Record<string, string>) => sample(s, 'ztproxy_requests_total', labels) ?? 0;
    expect((await get(stack.proxy.port, '/forwarded')).status).toBe(200);
    expect((await get(stack.proxy.port, '/x', { host: 'nowhere.test' })).status).toBe(404);
    expect((await get(stack.proxy.port, '/admin/x', { host: 'guarded.test' })).status).toBe(403);
    const after = await scrape(stack.proxy);
    expect(at(after, { route: 'app', status: '200', decision: 'allow' }) - at(before, { route: 'app', status: '200', decision: 'allow' })).toBe(1);
    expect(at(after, { route: '', status: '404', decision: 'none' }) - at(before, { route: '', status: '404', decision: 'none' })).toBe(1);
    expect(at(after, { route: 'guarded', status: '403', decision: 'deny' }) - at(before, { route: 'guarded', status: '403', decision: 'deny' })).toBe(1);
  });

  it('times every stage of the chain, only the stages a request reached', async () => {
    const before = await scrape(stack.proxy);
    const count = (s: Sample[], stage: string) => sample(s, 'ztproxy_stage_duration_seconds_count', { stage }) ?? 0;
    expect((await get(stack.proxy.port, '/timed')).status).toBe(200);
    let after = await scrape(stack.proxy);
    for (const stage of ['connection-identity', 'sanitize', 'route-match', 'authorize', 'forward']) {
      expect([stage, count(after, stage) - count(before, stage)]).toEqual([stage, 1]);
      // A histogram: buckets up to +Inf, and a sum.
      expect(sample(after, 'ztproxy_stage_duration_seconds_bucket', { stage, le: '+Inf' })).toBe(count(after, stage));
      expect(sample(after, 'ztproxy_stage_duration_seconds_sum', { stage })).toBeGreaterThan(0);
    }
    // A request that ends at route match never reaches authorize or forward.
    const mid = after;
    expect((await get(stack.proxy.port, '/x', { host: 'nowhere.test' })).status).toBe(404);
    after = await scrape(stack.proxy);
    expect(count(after, 'route-match') - count(mid, 'route-match')).toBe(1);
    expect(count(after, 'authorize') - count(mid, 'authorize')).toBe(0);
    expect(count(after, 'forward') - count(mid, 'forward')).toBe(0);
  });

  it('counts TLS handshakes by result: ok, and error for a failed handshake', async () => {
    const before = await scrape(stack.proxy);
    const at = (s: Sample[], result: string) => sample(s, 'ztproxy_tls_handshakes_total', { result }) ?? 0;
    await get(stack.proxy.port, '/a');
    await get(stack.proxy.port, '/b');
    // A client that offers only TLS 1.1 cannot complete a handshake with minVersion TLSv1.2.
    await new Promise<void>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: stack.proxy.port, servername: 'localhost', rejectUnauthorized: false, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
      s.on('error', () => resolve());
      s.on('secureConnect', () => {
        s.destroy();
        resolve();
      });
    });
    await eventually('the failed handshake is counted', async () => at(await scrape(stack.proxy), 'error') - at(before, 'error') === 1);
    const after = await scrape(stack.proxy);
    expect(at(after, 'ok') - at(before, 'ok')).toBe(2);
  });

  it('ztproxy_open_connections follows connections opened and closed', async () => {
    const open = async () => sample(await scrape(stack.proxy), 'ztproxy_open_connections');
    await eventually('no connection left open', async () => (await open()) === 0);
    const sockets: TLSSocket[] = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<TLSSocket>((resolve, reject) => {
            const s = tlsConnect({ host: '127.0.0.1', port: stack.proxy.port, servername: 'localhost', rejectUnauthorized: false }, () => resolve(s));
            s.on('error', reject);
          }),
      ),
    );
    expect(await open()).toBe(3);
    sockets[0]!.destroy();
    await eventually('one closed', async () => (await open()) === 2);
    for (const s of sockets) s.destroy();
    await eventually('all closed', async () => (await open()) === 0);
  });

  it('ztproxy_config_reloads_total counts an accepted and a rejected reload', async () => {
    const at = (s: Sample[], result: string) => sample(s, 'ztproxy_config_reloads_total', { kind: 'config', result }) ?? 0;
    const before = await scrape(stack.proxy);
    stack.proxy.writeConfig({ ...config, routes: [...(config.routes as unknown[]), openRoute(stack.upstream.url, { name: 'added', match: { host: 'added.test' } })] });
    expect((await stack.proxy.proxy.reload()).ok).toBe(true);
    let after = await scrape(stack.proxy);
    expect(at(after, 'ok') - at(before, 'ok')).toBe(1);
    expect(at(after, 'error') - at(before, 'error')).toBe(0);
    expect((await get(stack.proxy.port, '/', { host: 'added.test' })).status).toBe(200);

    stack.proxy.writeConfig({ ...config, routes: [{ name: 'broken', upstream: 'ftp://nowhere' }] });
    expect((await stack.proxy.proxy.reload()).ok).toBe(false);
    after = await scrape(stack.proxy);
    expect(at(after, 'ok') - at(before, 'ok')).toBe(1);
    expect(at(after, 'error') - at(before, 'error')).toBe(1);
    // The rejected file changed nothing.
    expect((await get(stack.proxy.port, '/', { host: 'added.test' })).status).toBe(200);
    stack.proxy.writeConfig(config);
    expect((await stack.proxy.proxy.reload()).ok).toBe(true);
  });
});

describe('readiness during shutdown', () => {
  it('/readyz turns 503 as soon as shutdown() begins, while a slow request drains to 200', async () => {
    const own = await startTestProxy({ ...config, shutdown: { timeout: '5s' } });
    const adminPort = own.proxy.addresses.admin.port;
    let stopped = false;
    try {
      expect((await admin(adminPort, '/readyz')).status).toBe(200);
      stack.upstream.reset();
      const slow = get(own.port, '/slow?ms=800');
      await eventually('the slow request reached the upstream', () => stack.upstream.last('/slow') !== undefined);
      const startedAt = performance.now();
      const shutdown = own.close().then(() => {
        stopped = true;
      });
      // Polled while the slow request is still in flight.
      let readyz: AdminResponse | undefined;
      await eventually('/readyz answers 503', async () => {
        readyz = await admin(adminPort, '/readyz');
        return readyz.status === 503;
      }, 700);
      expect(performance.now() - startedAt).toBeLessThan(700);
      expect(stopped).toBe(false);
      expect(JSON.parse(readyz!.body)).toEqual({ status: 'not ready', reason: 'shutting down' });
      expect(readyz!.headers['content-type']).toMatch(/^application\/json/);
      // Liveness is not readiness: the process is still alive and draining.
      expect((await admin(adminPort, '/healthz')).status).toBe(200);
      // The request in flight finishes normally.
      const res = await slow;
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ slow: true });
      await shutdown;
      // Once stopped, the admin listener is gone too.
      await expect(admin(adminPort, '/readyz')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      if (!stopped) await own.close();
    }
  });
});
