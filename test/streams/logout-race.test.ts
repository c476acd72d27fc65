// A logout that lands while a WebSocket's handshake is still in flight (the chain let it
// through, the upstream has not answered yet): the revocation looked for the session's
// open streams and this one was not registered yet. It is judged again as it opens and
// cut at once (session-revoked), not an interval later (an hour here). Against the real
// development OP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HttpBrowser, loginThroughProxy, type LoginStack } from '../helpers/oidc.ts';
import { SESSION_COOKIE } from '../helpers/oidc-attacker.ts';
import { startStreamLoginStack } from '../helpers/stream-login.ts';
import { closedWithin, echo, startHoldingWsUpstream, type HoldingWsUpstream, type OpenWs } from '../helpers/ws-streams.ts';

let stack: LoginStack;
let ws: HoldingWsUpstream;
let close: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ws = await startHoldingWsUpstream();
  ({ stack, close } = await startStreamLoginStack(ws));
});

afterAll(() => close?.());

/** Opens a WebSocket with the browser's session cookie; undefined if it is closed before the 101 reached the client. */
function openWith(b: HttpBrowser): Promise<OpenWs | undefined> {
  const port = Number(new URL(stack.origin).port);
  const socket = new WebSocket(`wss://127.0.0.1:${port}/ws/chat`, {
    rejectUnauthorized: false,
    headers: { host: `127.0.0.1:${port}`, cookie: `${SESSION_COOKIE}=${b.cookies.get(SESSION_COOKIE)!.value}` },
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  return new Promise((resolve) => {
    socket.once('upgrade', (res) => resolve({ ws: socket, closed, requestId: String(res.headers['x-request-id']), streamId: String(res.headers['x-zt-stream']) }));
    socket.once('unexpected-response', () => resolve(undefined));
    void closed.then(() => resolve(undefined));
  });
}

describe('a logout while the WebSocket handshake is in flight', () => {
  it('cuts the stream as it opens (session-revoked); the upstream gets nothing', async () => {
    const b = new HttpBrowser();
    await loginThroughProxy(b, stack, '/app', 'alice', 'alice-dev-password');
    const held = ws.hold();
    const opening = openWith(b);
    try {
      await held;
      const out = await b.request(`${stack.origin}/.ztproxy/logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: stack.origin }, body: '' });
      expect(out.status).toBe(303);
      ws.release();
      const s = await opening;
      if (s !== undefined) {
        expect(await closedWithin(s, 3000)).toBeDefined();
        ws.reset();
        expect(await echo(s.ws, 'after-logout')).toBeUndefined();
      }
      expect(ws.messages).toEqual([]);
      expect(stack.proxy.proxy.streams.size).toBe(0);
      await expect.poll(() => stack.proxy.logs.find((l) => l.msg === 'stream closed')).toMatchObject({ kind: 'websocket', route: 'ws', reason: 'session-revoked' });
    } finally {
      ws.release();
      void opening.then((s) => s?.ws.terminate());
    }
  });
});
