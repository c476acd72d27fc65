// A WebSocket handshake through a logged-in session: the upstream's 101 may not set
// ztproxy's cookies (session fixation by an app), and a session renewed by that request
// reaches the browser on the 101 (else a rotating refresh token would be lost).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { HttpBrowser, loginThroughProxy, startLoginStack, type LoginStack } from '../helpers/oidc.ts';
import { SESSION_COOKIE, nowS, testCodec } from '../helpers/oidc-attacker.ts';

let stack: LoginStack;
let wsUpstream: Server;
let wss: WebSocketServer;

beforeAll(async () => {
  wsUpstream = createServer((_req, res) => res.writeHead(404).end());
  wss = new WebSocketServer({ server: wsUpstream });
  wss.on('headers', (headers) => {
    headers.push('Set-Cookie: __Host-ztproxy=planted-by-upstream; Path=/; Secure; HttpOnly', 'Set-Cookie: =__Host-ztproxy=nameless', 'Set-Cookie: app=1; Path=/');
  });
  wss.on('connection', (socket) => socket.on('message', (m) => socket.send(m)));
  await new Promise<void>((resolve) => wsUpstream.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(wsUpstream.address() as AddressInfo).port}`;
  stack = await startLoginStack({ routes: [{ name: 'ws', match: { pathPrefix: '/ws' }, upstream: url, websocket: true, policy: { allow: { authenticated: true } } }, { name: 'app', policy: { allow: { authenticated: true } } }] });
});

afterAll(async () => {
  await stack?.close();
  wss?.close();
  wsUpstream?.closeAllConnections();
  await new Promise<void>((resolve) => (wsUpstream ? wsUpstream.close(() => resolve()) : resolve()));
});

function handshake(cookie: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${new URL(stack.origin).port}/ws/chat`, { headers: { cookie, host: `127.0.0.1:${new URL(stack.origin).port}` }, rejectUnauthorized: false });
    ws.once('upgrade', (res) => {
      resolve(res);
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => resolve(res));
    ws.once('error', reject);
  });
}

describe('WebSocket handshake and ztproxy cookies', () => {
  it('drops the upstream\'s Set-Cookie for ztproxy\'s names (and nameless ones), keeps the app\'s, and adds a renewed session cookie', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app');
    const codec = testCodec();
    const opened = await codec.open<Record<string, unknown>>('session', b.cookies.get(SESSION_COOKIE)!.value);
    if (!opened.ok) throw new Error(opened.reason);
    // Last seen a minute ago: this request writes the activity back (a new cookie).
    const stale = await codec.seal('session', { ...opened.payload, seen: nowS() - 60 }, opened.payload['exp'] as number);
    const res = await handshake(`${SESSION_COOKIE}=${stale}`);
    expect(res.statusCode).toBe(101);
    const cookies = res.headers['set-cookie'] ?? [];
    expect(cookies).toContain('app=1; Path=/');
    expect(cookies.some((c) => c.includes('planted-by-upstream') || c.includes('nameless'))).toBe(false);
    const renewed = cookies.filter((c) => c.startsWith(`${SESSION_COOKIE}=`));
    expect(renewed).toHaveLength(1);
    expect(renewed[0]).toMatch(/HttpOnly/i);
  });

  it('a handshake without a session is refused before the upstream (401)', async () => {
    const res = await handshake('theme=dark');
    expect(res.statusCode).toBe(401);
  });
});
