// Continuous re-authorization of open CONNECT tunnels (issue #6 points 1 and 4) over real
// sockets: a reload that changes a tunnel's answer cuts it within the interval and one
// that does not keeps it; a token's exp ends the tunnel unless the client renews it with
// the 200's X-ZT-Stream; a back-channel logout from the real OP cuts a tunnel opened with
// a token of that provider session at once (the interval there is an hour).
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TempJwksFile, type TestKey } from '../helpers/jwt.ts';
import { CLIENT_ID, HttpBrowser, loginThroughProxy, startLoginStack, type LoginStack } from '../helpers/oidc.ts';
import { SESSION_COOKIE, testCodec } from '../helpers/oidc-attacker.ts';
import { startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { makeTestPki, type TestPki } from '../helpers/pki.ts';
import { openTunnel, readBytes, startTcpUpstream, type TcpUpstream } from '../helpers/tcp.ts';
import { accessLine, closeLine, closesCounted, renew } from '../helpers/ws-streams.ts';

const INTERVAL_MS = 1000;
const SLACK_MS = 1500;

let pki: TestPki;
let tcp: TcpUpstream;
let key: TestKey;
let jwks: TempJwksFile;
let proxy: TestProxy;
let config: Record<string, unknown>;

const nowS = (): number => Math.floor(Date.now() / 1000);
const token = (sub: string, extra: Record<string, unknown> = {}): Promise<string> => mint(key, accessClaims(nowS(), { sub, ...extra }));

function routes(sshUsers: string[]): Record<string, unknown>[] {
  return [
    { name: 'ssh', match: { host: 'ssh.internal', port: 22 }, upstream: tcp.url, policy: { allow: { user: sshUsers } } },
    { name: 'db', match: { host: 'db.internal', port: 5432 }, upstream: tcp.url, policy: { allow: { authenticated: true } } },
  ];
}

beforeAll(async () => {
  pki = await makeTestPki();
  tcp = await startTcpUpstream('echo');
  key = await makeKey('ES256');
  jwks = await writeJwksFile(jwksOf(key));
  config = {
    listen: { tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
    identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
    streams: { reauthorizeInterval: `${INTERVAL_MS}ms` },
    routes: routes(['alice', 'bob']),
  };
  proxy = await startTestProxy(config);
});

afterAll(async () => {
  await proxy?.close();
  await tcp?.close();
  await jwks?.cleanup();
});

interface Tunnel {
  readonly socket: TLSSocket;
  readonly requestId: string;
  readonly streamId: string;
  readonly closed: Promise<number>;
}

async function tunnel(port: number, target: string, bearer: string): Promise<Tunnel> {
  const answer = await openTunnel(port, target, { headers: { authorization: `Bearer ${bearer}` } });
  expect(answer.status).toBe(200);
  const socket = answer.socket;
  const closed = new Promise<number>((resolve) => (socket.destroyed ? resolve(Date.now()) : socket.once('close', () => resolve(Date.now()))));
  return { socket, requestId: answer.headers['x-request-id']!, streamId: answer.headers['x-zt-stream']!, closed };
}

/** Writes `text` and reads its echo, or undefined when the tunnel gives nothing back within 500 ms. */
async function echoed(t: Tunnel, text: string): Promise<string | undefined> {
  if (t.socket.destroyed) return undefined;
  t.socket.write(text);
  const got = await Promise.race([readBytes(t.socket, text.length), new Promise<undefined>((r) => setTimeout(() => r(undefined), 500))]);
  return got === undefined || got.length === 0 ? undefined : got.toString();
}

function closedWithin(t: Tunnel, ms: number): Promise<number | undefined> {
  return Promise.race([t.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);
}

async function reload(next: Record<string, unknown>): Promise<void> {
  proxy.writeConfig(next);
  expect(await proxy.proxy.reload('file')).toEqual({ ok: true, errors: [] });
}

describe('an open tunnel and a reload', () => {
  it('is kept by a reload that does not change its answer and cut within the interval by one that does (policy-denied); other tunnels stay', async () => {
    const ssh = await tunnel(proxy.port, 'ssh.internal:22', await token('alice'));
    const db = await tunnel(proxy.port, 'db.internal:5432', await token('alice'));
    try {
      expect(ssh.streamId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(await echoed(ssh, 'uname -a\n')).toBe('uname -a\n');
      await reload({ ...config, routes: [...routes(['alice', 'bob']), { name: 'web', match: { host: 'web.internal' }, upstream: 'http://127.0.0.1:9', policy: { allow: { accept: true } } }] });
      expect(await closedWithin(ssh, INTERVAL_MS + SLACK_MS)).toBeUndefined();
      expect(await echoed(ssh, 'still\n')).toBe('still\n');
      const reloadedAt = Date.now();
      await reload({ ...config, routes: routes(['bob']) });
      const closedAt = await closedWithin(ssh, INTERVAL_MS + SLACK_MS);
      expect(closedAt).toBeDefined();
      expect(closedAt! - reloadedAt).toBeLessThan(INTERVAL_MS + SLACK_MS);
      expect(await echoed(db, 'db-kept\n')).toBe('db-kept\n');
      await expect.poll(() => accessLine(proxy, ssh.requestId)).toMatchObject({ status: 200, route: 'ssh', subject: 'alice', reason: 'policy-denied' });
      expect(closeLine(proxy, ssh.requestId)).toMatchObject({ kind: 'tunnel', route: 'ssh', subject: 'alice', reason: 'policy-denied' });
      expect(await closesCounted(proxy, 'tunnel', 'policy-denied')).toBe(1);
    } finally {
      ssh.socket.destroy();
      db.socket.destroy();
      await reload(config);
    }
  });
});

describe('an open tunnel and its token', () => {
  it('is cut at the token exp (token-expired) unless the client renews it with X-ZT-Stream (204)', async () => {
    const exp = nowS() + 2;
    const ending = await tunnel(proxy.port, 'db.internal:5432', await token('alice', { exp }));
    const renewed = await tunnel(proxy.port, 'db.internal:5432', await token('alice', { exp }));
    try {
      const res = await renew(proxy.port, { 'x-zt-stream': renewed.streamId, authorization: `Bearer ${await token('alice', { exp: nowS() + 120 })}` });
      expect(res.status).toBe(204);
      const theirs = await renew(proxy.port, { 'x-zt-stream': ending.streamId, authorization: `Bearer ${await token('bob', { exp: nowS() + 120 })}` });
      expect(theirs.status).toBe(404);
      const closedAt = await closedWithin(ending, 4000);
      expect(closedAt).toBeDefined();
      expect(closedAt!).toBeGreaterThanOrEqual(exp * 1000);
      await expect.poll(() => accessLine(proxy, ending.requestId)?.reason).toBe('token-expired');
      expect(await echoed(renewed, 'renewed\n')).toBe('renewed\n');
    } finally {
      ending.socket.destroy();
      renewed.socket.destroy();
    }
  });
});

describe('an open tunnel and a back-channel logout', () => {
  let stack: LoginStack;
  let opKey: TestKey;
  let opJwks: TempJwksFile;

  beforeAll(async () => {
    opKey = await makeKey('ES256');
    opJwks = await writeJwksFile(jwksOf(opKey));
    stack = await startLoginStack({
      identity: (opIssuer) => ({ jwt: [{ issuer: opIssuer, audience: AUDIENCE, jwksFile: opJwks.path, algorithms: ['ES256'] }] }),
      routes: [
        { name: 'ssh', match: { host: 'ssh.internal', port: 22 }, upstream: tcp.url, policy: { allow: { authenticated: true } } },
        { name: 'app', policy: { allow: { authenticated: true } } },
      ],
      config: { streams: { reauthorizeInterval: '1h' } },
    });
  });

  afterAll(async () => {
    await stack?.close();
    await opJwks?.cleanup();
  });

  it('is cut at once when the OP logs out the provider session its token belongs to; the token opens no new tunnel', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app', 'alice', 'alice-dev-password');
    const opened = await testCodec().open<{ osid: string; sub: string }>('session', b.cookies.get(SESSION_COOKIE)!.value);
    if (!opened.ok) throw new Error(opened.reason);
    const now = nowS();
    // The access token a CLI logged in through this browser holds: the OP's issuer, alice's sub, the OP session's sid.
    const bearer = await mint(opKey, { iss: stack.op.issuer, aud: AUDIENCE, sub: opened.payload.sub, sid: opened.payload.osid, iat: now, exp: now + 300, jti: 'cli-tunnel' });
    const port = Number(new URL(stack.origin).port);
    const ssh = await tunnel(port, 'ssh.internal:22', bearer);
    try {
      expect(await echoed(ssh, 'id\n')).toBe('id\n');
      const endSession = new URL(`${stack.op.issuer}/session/end`);
      endSession.searchParams.set('client_id', CLIENT_ID);
      const html = await (await b.get(endSession.href)).text();
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
      const action = /action="([^"]+)"/.exec(html)?.[1];
      expect(xsrf && action, html).toBeTruthy();
      const loggedOutAt = Date.now();
      expect((await b.postForm(new URL(action!, stack.op.issuer).href, { xsrf: xsrf!, logout: 'yes' })).status).toBe(303);
      const closedAt = await closedWithin(ssh, 3000);
      expect(closedAt).toBeDefined();
      expect(closedAt! - loggedOutAt).toBeLessThan(3000);
      await expect.poll(() => accessLine(stack.proxy, ssh.requestId)?.reason).toBe('session-revoked');
      tcp.reset();
      const again = await openTunnel(port, 'ssh.internal:22', { headers: { authorization: `Bearer ${bearer}` } });
      expect(again.status).toBe(401);
      again.socket.destroy();
      expect(tcp.connections()).toBe(0);
    } finally {
      ssh.socket.destroy();
    }
  });
});
