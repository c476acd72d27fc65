// The reserved /.ztproxy/ tree over real sockets: whatever is under it is answered by
// ztproxy itself — the login endpoints, or 404 — and never forwarded, however the path
// is spelled (escapes, dot segments, repeated slashes), with whatever method, even on a
// route that lets everyone in or that names the prefix itself; without OIDC configured
// the login endpoints do not exist (404).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeTestPki } from '../helpers/pki.ts';
import { HttpBrowser } from '../helpers/oidc.ts';
import { issuesSession, reasonOf, startFakeOpStack, type FakeOpStack } from '../helpers/oidc-attacker.ts';
import { get, rawRequest, startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const OUR_PATHS = ['/.ztproxy/login', '/.ztproxy/callback?code=x&state=AAAAAAAAAAA.y', '/.ztproxy/logout', '/.ztproxy/backchannel-logout'];

describe('without identity.oidc', () => {
  let upstream: TestUpstream;
  let proxy: TestProxy;

  beforeAll(async () => {
    const pki = await makeTestPki();
    upstream = await startUpstream();
    proxy = await startTestProxy({
      listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
      routes: [{ name: 'open', upstream: upstream.url, policy: { allow: { accept: true } } }],
    });
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  beforeEach(() => upstream.reset());

  it.each([...OUR_PATHS, '/.ztproxy/anything-else', '/.ztproxy/'])('GET %s → 404, not forwarded, no cookie', async (path) => {
    const res = await get(proxy.port, path, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(404);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(upstream.seen).toEqual([]);
  });

  it('POST to the logout endpoints → 404, not forwarded', async () => {
    for (const path of ['/.ztproxy/logout', '/.ztproxy/backchannel-logout']) {
      const res = await get(proxy.port, path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'logout_token=x' });
      expect(res.status, path).toBe(404);
    }
    expect(upstream.seen).toEqual([]);
  });

  it('baseline: the open route does forward other paths', async () => {
    expect((await get(proxy.port, '/anything')).status).toBe(200);
    expect(upstream.seen).toHaveLength(1);
  });
});

describe('with identity.oidc, on a route open to everyone', () => {
  let stack: FakeOpStack;

  beforeAll(async () => {
    stack = await startFakeOpStack({ routes: (u) => [{ name: 'open', upstream: u, policy: { allow: { accept: true } } }] });
  });

  afterAll(async () => {
    await stack?.close();
  });

  beforeEach(() => stack.upstream.reset());

  it.each([
    ['/.ztproxy/anything-else', 404],
    ['/.ztproxy/', 404],
    ['/.ztproxy/login/', 404],
    ['/.ztproxy/login/extra', 404],
    ['/.ztproxy/LOGIN', 404],
    ['/.ztproxy/callback/', 404],
    ['/.ztproxy/.env', 404],
    ['/%2Eztproxy/anything', 404],
    ['/%2eztproxy/anything', 404],
    ['/.%7Atproxy/anything', 404],
    ['//.ztproxy/anything', 404],
    ['/app/../.ztproxy/anything', 404],
    ['/.ztproxy/./anything', 404],
    ['/.ztproxy//anything', 404],
    ['/.ztproxy/anything?rd=//evil.com', 404],
  ])('GET %s → %i, never forwarded', async (path, status) => {
    const b = new HttpBrowser();
    const res = await b.get(`${stack.origin}${path}`);
    expect(res.status).toBe(status);
    expect(issuesSession(res)).toBe(false);
    expect(stack.upstream.seen).toEqual([]);
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('%s /.ztproxy/anything-else → 404, never forwarded', async (method) => {
    const res = await new HttpBrowser().request(`${stack.origin}/.ztproxy/anything-else`, { method, body: method === 'POST' || method === 'PUT' || method === 'PATCH' ? 'x=1' : undefined });
    expect(res.status).toBe(404);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('the login endpoints under other spellings are still ztproxy\'s own (never forwarded)', async () => {
    for (const path of ['/%2Eztproxy/login', '//.ztproxy/login', '/x/../.ztproxy/login', '/.ztproxy/./login']) {
      const res = await new HttpBrowser().get(`${stack.origin}${path}`);
      expect(res.status, path).toBe(302);
      expect(new URL(res.headers.get('location')!).origin, path).toBe(stack.op.issuer);
      expect(await reasonOf(stack.proxy, res)).toBe('login-redirect');
    }
    const logout = await new HttpBrowser().get(`${stack.origin}/%2Eztproxy/logout`);
    expect(logout.status).toBe(200);
    expect(await reasonOf(stack.proxy, logout)).toBe('logout-page');
    expect(stack.upstream.seen).toEqual([]);
  });

  it.each([
    ['POST', '/.ztproxy/login', 405],
    ['PUT', '/.ztproxy/login', 405],
    ['DELETE', '/.ztproxy/callback', 405],
    ['PUT', '/.ztproxy/logout', 405],
    ['GET', '/.ztproxy/backchannel-logout', 405],
  ])('%s %s → %i, never forwarded', async (method, path, status) => {
    const res = await new HttpBrowser().request(`${stack.origin}${path}`, { method, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: method === 'GET' || method === 'DELETE' ? undefined : 'x=1' });
    expect(res.status).toBe(status);
    expect(issuesSession(res)).toBe(false);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a WebSocket upgrade to /.ztproxy/anything-else → 404, never forwarded', async () => {
    const port = stack.proxy.port;
    const res = await rawRequest(
      port,
      `GET /.ztproxy/anything-else HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(res.status).toBe(404);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('baseline: the open route forwards everything else', async () => {
    expect((await new HttpBrowser().get(`${stack.origin}/app/x`)).status).toBe(200);
    expect(stack.upstream.seen).toHaveLength(1);
  });
});

describe('a route that names the reserved prefix itself', () => {
  let upstream: TestUpstream;
  let proxy: TestProxy | undefined;
  let refused: unknown;

  beforeAll(async () => {
    const pki = await makeTestPki();
    upstream = await startUpstream();
    try {
      proxy = await startTestProxy({
        listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
        routes: [
          { name: 'shadow', match: { pathPrefix: '/.ztproxy/' }, upstream: upstream.url, policy: { allow: { accept: true } } },
          { name: 'open', upstream: upstream.url, policy: { allow: { accept: true } } },
        ],
      });
    } catch (err) {
      refused = err;
    }
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('is refused by the config, or cannot shadow /.ztproxy/ (404, never forwarded)', async () => {
    if (proxy === undefined) {
      expect(String((refused as Error).message)).toMatch(/ztproxy|reserved/i);
      return;
    }
    for (const path of ['/.ztproxy/login', '/.ztproxy/anything']) {
      const res = await get(proxy.port, path);
      expect(res.status, path).toBe(404);
    }
    expect(upstream.seen).toEqual([]);
  });
});
