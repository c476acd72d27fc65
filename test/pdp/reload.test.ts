// Remote PDPs across config reloads and shutdown: a PDP whose settings a reload keeps
// keeps its decision cache (and pool and breaker); one whose settings change starts
// afresh; an edited OpenAPI document is a reload; shutdown closes the PDP pools.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { get, startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { serverTls } from '../helpers/stack.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TempJwksFile, type TestKey } from '../helpers/jwt.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';

let pki: TestPki;
let upstream: TestUpstream;
let pdp: TestPdp;
let key: TestKey;
let jwks: TempJwksFile;
let dir: string;
let token: string;

beforeAll(async () => {
  pki = await makeTestPki();
  upstream = await startUpstream();
  pdp = await startTestPdp((body) => ({ decision: !(body.resource as { id: string }).id.startsWith('/blocked') }));
  key = await makeKey('ES256');
  jwks = await writeJwksFile(jwksOf(key));
  dir = await mkdtemp(join(tmpdir(), 'ztproxy-pdp-reload-'));
  token = await mint(key, accessClaims(Math.floor(Date.now() / 1000)));
});
afterAll(async () => {
  await upstream.close();
  await pdp.close();
  await jwks.cleanup();
  await rm(dir, { recursive: true, force: true });
  await pki.cleanup();
});

function config(pdpExtra: Record<string, unknown>, route: Record<string, unknown>): Record<string, unknown> {
  return {
    listen: { tls: serverTls(pki) },
    identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
    pdp: { mode: 'authzen', url: pdp.origin, timeout: '3s', cache: { ttl: '10m' }, ...pdpExtra },
    routes: [{ name: 'api', match: { host: 'api.test' }, upstream: upstream.url, ...route }],
  };
}

const call = (p: TestProxy, path: string) => get(p.port, path, { host: 'api.test', headers: { authorization: `Bearer ${token}` } });

describe('remote PDPs across reloads', () => {
  it('unchanged PDP settings: the decision cache survives a reload; changed settings start a new one', async () => {
    const p = await startTestProxy(config({}, { templates: ['/docs/{id}'] }));
    try {
      pdp.reset();
      expect((await call(p, '/docs/1')).status).toBe(200);
      expect(pdp.calls).toHaveLength(1);
      // Another route setting changes; the PDP's do not.
      p.writeConfig(config({}, { templates: ['/docs/{id}'], identityHeaders: true }));
      expect(await p.proxy.reload()).toEqual({ ok: true, errors: [] });
      expect((await call(p, '/docs/1')).status).toBe(200);
      expect(pdp.calls).toHaveLength(1);
      p.writeConfig(config({ timeout: '2s' }, { templates: ['/docs/{id}'] }));
      expect((await p.proxy.reload()).ok).toBe(true);
      expect((await call(p, '/docs/1')).status).toBe(200);
      expect(pdp.calls).toHaveLength(2);
    } finally {
      await p.close();
    }
  });

  it('a reload that keeps the PDP (and its cache) but gives the path a template: the cached allow about "/" does not answer it', async () => {
    // The key holds the resource the route's templates make of the path, not the route's
    // name and the path: the same request after the reload is another question.
    const p = await startTestProxy(config({}, { templates: ['/docs/{id}'] }));
    try {
      pdp.reset();
      expect((await call(p, '/blocked')).status).toBe(200);
      expect((await call(p, '/blocked')).status).toBe(200);
      expect(pdp.calls).toHaveLength(1);
      p.writeConfig(config({}, { templates: ['/docs/{id}', '/blocked'] }));
      expect(await p.proxy.reload()).toEqual({ ok: true, errors: [] });
      upstream.reset();
      expect((await call(p, '/blocked')).status).toBe(403);
      expect(pdp.calls).toHaveLength(2);
      expect(upstream.seen).toEqual([]);
      // The unchanged question is still answered from the same cache.
      expect((await call(p, '/docs/1')).status).toBe(200);
      expect((await call(p, '/docs/1')).status).toBe(200);
      expect(pdp.calls).toHaveLength(3);
    } finally {
      await p.close();
    }
  });

  it('an edited OpenAPI document is picked up by the file watch: its new template names the resource', async () => {
    const openapi = join(dir, 'api.yaml');
    await writeFile(openapi, stringify({ openapi: '3.1.0', paths: { '/docs/{id}': {} } }));
    const p = await startTestProxy(config({ cache: { ttl: '0s' } }, { openapi }), { watch: true, watchIntervalMs: 50 });
    try {
      expect((await call(p, '/blocked/1')).status).toBe(200); // no template: asked about "/", allowed
      await writeFile(openapi, stringify({ openapi: '3.1.0', paths: { '/docs/{id}': {}, '/blocked/{id}': {} } }));
      const deadline = Date.now() + 5000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        upstream.reset();
        status = (await call(p, '/blocked/1')).status;
      }
      expect(status).toBe(403);
      expect(upstream.seen).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('a reload whose OpenAPI document went bad is rejected and the running config keeps deciding', async () => {
    const openapi = join(dir, 'api2.yaml');
    await writeFile(openapi, stringify({ openapi: '3.1.0', paths: { '/docs/{id}': {} } }));
    const p = await startTestProxy(config({ cache: { ttl: '0s' } }, { openapi }));
    try {
      await writeFile(openapi, 'openapi: 3.1.0\npaths:\n  /docs/{id}{x}: {}\n');
      const result = await p.proxy.reload();
      expect(result.ok).toBe(false);
      expect(result.errors[0]).toContain('routes.0.openapi: paths key "/docs/{id}{x}"');
      pdp.reset();
      expect((await call(p, '/docs/2')).status).toBe(200);
      expect((pdp.calls[0]!.body!.resource as { id: string }).id).toBe('/docs/{id}');
    } finally {
      await p.close();
    }
  });
});
