// A WebSocket opened with a browser session is cut at once when the session is revoked —
// by the OP's back-channel logout or by the user's logout at ztproxy — not at the next
// sweep: the interval here is an hour, so only the revocation itself can close it within
// the test. Another user's stream lives on. Against the real development OP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ID, HttpBrowser, loginThroughProxy, type LoginStack } from '../helpers/oidc.ts';
import { SESSION_COOKIE, testCodec } from '../helpers/oidc-attacker.ts';
import { AUDIENCE, makeKey, mint, type TestKey } from '../helpers/jwt.ts';
import { startStreamLoginStack } from '../helpers/stream-login.ts';
import { accessLine, closeLine, closedWithin, closesCounted, echo, openWs, startWsUpstream, type OpenWs, type WsUpstream } from '../helpers/ws-streams.ts';

let stack: LoginStack;
let ws: WsUpstream;
/** Signs bearer tokens in the OP's name (as a CLI's access token from the OP would be): `identity.jwt` trusts it for the OP's issuer. */
let apiKey: TestKey;
let close: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ws = await startWsUpstream();
  apiKey = await makeKey('ES256');
  ({ stack, close } = await startStreamLoginStack(ws, apiKey));
});

afterAll(() => close?.());

/** Cut "at once": well inside the hour-long interval (socket and event-loop slack only). */
const AT_ONCE_MS = 3000;

async function signedIn(user: string, password: string): Promise<HttpBrowser> {
  const b = new HttpBrowser();
  await loginThroughProxy(b, stack, '/app', user, password);
  expect(b.cookies.has(SESSION_COOKIE)).toBe(true);
  return b;
}

/** RP-initiated logout at the OP: the OP then posts a logout token to ztproxy's back-channel endpoint. Returns when it was sent. */
async function logoutAtOp(b: HttpBrowser): Promise<number> {
  const endSession = new URL(`${stack.op.issuer}/session/end`);
  endSession.searchParams.set('client_id', CLIENT_ID);
  const confirm = await b.clone().get(endSession.href);
  const html = await confirm.text();
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  const action = /action="([^"]+)"/.exec(html)?.[1];
  expect(xsrf && action, html).toBeTruthy();
  const at = Date.now();
  const out = await b.clone().postForm(new URL(action!, stack.op.issuer).href, { xsrf: xsrf!, logout: 'yes' });
  expect(out.status).toBe(303);
  return at;
}

function openWith(b: HttpBrowser): Promise<OpenWs> {
  const port = Number(new URL(stack.origin).port);
  return openWs(port, `127.0.0.1:${port}`, { cookie: `${SESSION_COOKIE}=${b.cookies.get(SESSION_COOKIE)!.value}` }, '/ws/chat');
}

describe('a session revoked while its WebSocket is open', () => {
  it('back-channel logout from the OP cuts the stream at once (session-revoked); another user keeps theirs', async () => {
    const alice = await signedIn('alice', 'alice-dev-password');
    const bob = await signedIn('bob', 'bob-dev-password');
    const aliceWs = await openWith(alice);
    const bobWs = await openWith(bob);
    try {
      expect(await echo(aliceWs.ws, 'hello')).toBe('echo:hello');
      const loggedOutAt = await logoutAtOp(alice);
      const closedAt = await closedWithin(aliceWs, AT_ONCE_MS);
      expect(closedAt).toBeDefined();
      expect(closedAt! - loggedOutAt).toBeLessThan(AT_ONCE_MS);
      ws.reset();
      expect(await echo(aliceWs.ws, 'after-logout')).toBeUndefined();
      expect(ws.messages).toEqual([]);
      await expect.poll(() => accessLine(stack.proxy, aliceWs.requestId)?.reason).toBe('session-revoked');
      expect(closeLine(stack.proxy, aliceWs.requestId)).toMatchObject({ kind: 'websocket', route: 'ws', subject: expect.any(String), reason: 'session-revoked' });
      expect(await closesCounted(stack.proxy, 'websocket', 'session-revoked')).toBeGreaterThanOrEqual(1);
      expect(await echo(bobWs.ws, 'bob-still')).toBe('echo:bob-still');
    } finally {
      aliceWs.ws.terminate();
      bobWs.ws.terminate();
    }
  });

  it('logout at ztproxy (POST /.ztproxy/logout) cuts the stream at once', async () => {
    const carol = await signedIn('alice', 'alice-dev-password');
    const stream = await openWith(carol);
    try {
      expect(await echo(stream.ws, 'hi')).toBe('echo:hi');
      const loggedOutAt = Date.now();
      const out = await carol.request(`${stack.origin}/.ztproxy/logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: stack.origin }, body: '' });
      expect(out.status).toBe(303);
      const closedAt = await closedWithin(stream, AT_ONCE_MS);
      expect(closedAt).toBeDefined();
      expect(closedAt! - loggedOutAt).toBeLessThan(AT_ONCE_MS);
      await expect.poll(() => accessLine(stack.proxy, stream.requestId)?.reason).toBe('session-revoked');
    } finally {
      stream.ws.terminate();
    }
  });

  it("back-channel logout also cuts a bearer token's stream of that provider session, and the token opens no new one", async () => {
    const dave = await signedIn('alice', 'alice-dev-password');
    const opened = await testCodec().open<{ osid: string; sub: string }>('session', dave.cookies.get(SESSION_COOKIE)!.value);
    if (!opened.ok) throw new Error(opened.reason);
    const now = Math.floor(Date.now() / 1000);
    // An access token of the same provider session (the OP's `sid` in it), as a CLI that logged in through this browser holds.
    const bearer = await mint(apiKey, { iss: stack.op.issuer, aud: AUDIENCE, sub: opened.payload.sub, sid: opened.payload.osid, iat: now, exp: now + 300, jti: 'cli-1' });
    const port = Number(new URL(stack.origin).port);
    const stream = await openWs(port, `127.0.0.1:${port}`, { authorization: `Bearer ${bearer}` }, '/ws/chat');
    try {
      expect(await echo(stream.ws, 'cli')).toBe('echo:cli');
      const loggedOutAt = await logoutAtOp(dave);
      const closedAt = await closedWithin(stream, AT_ONCE_MS);
      expect(closedAt).toBeDefined();
      expect(closedAt! - loggedOutAt).toBeLessThan(AT_ONCE_MS);
      await expect.poll(() => accessLine(stack.proxy, stream.requestId)?.reason).toBe('session-revoked');
      await expect(openWs(port, `127.0.0.1:${port}`, { authorization: `Bearer ${bearer}` }, '/ws/chat')).rejects.toThrow(/401/);
    } finally {
      stream.ws.terminate();
    }
  });
});
