// A renewed stream and the OP's back-channel logout, against the real development OP: a
// CLI that logs in again (a new provider session) renews its tunnel with the new token;
// the logout of that new session must cut the stream at once, as it would have cut it
// when it opened with that token (the interval here is an hour). Found in a review: the
// registry indexed the stream only under the provider session of the token it opened with.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ID, HttpBrowser, loginThroughProxy, type LoginStack } from '../helpers/oidc.ts';
import { SESSION_COOKIE, testCodec } from '../helpers/oidc-attacker.ts';
import { AUDIENCE, makeKey, mint, type TestKey } from '../helpers/jwt.ts';
import { startStreamLoginStack } from '../helpers/stream-login.ts';
import { accessLine, closedWithin, echo, openWs, renew, startWsUpstream, type WsUpstream } from '../helpers/ws-streams.ts';

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

const AT_ONCE_MS = 3000;

async function signedIn(): Promise<{ browser: HttpBrowser; sub: string; osid: string }> {
  const browser = new HttpBrowser();
  await loginThroughProxy(browser, stack, '/app', 'alice', 'alice-dev-password');
  const opened = await testCodec().open<{ osid: string; sub: string }>('session', browser.cookies.get(SESSION_COOKIE)!.value);
  if (!opened.ok) throw new Error(opened.reason);
  return { browser, sub: opened.payload.sub, osid: opened.payload.osid };
}

async function logoutAtOp(b: HttpBrowser): Promise<void> {
  const endSession = new URL(`${stack.op.issuer}/session/end`);
  endSession.searchParams.set('client_id', CLIENT_ID);
  const html = await (await b.clone().get(endSession.href)).text();
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  const action = /action="([^"]+)"/.exec(html)?.[1];
  expect(xsrf && action, html).toBeTruthy();
  const out = await b.clone().postForm(new URL(action!, stack.op.issuer).href, { xsrf: xsrf!, logout: 'yes' });
  expect(out.status).toBe(303);
}

describe('a stream renewed with a token of another provider session', () => {
  it('is cut at once by the back-channel logout of the session it now rides on', async () => {
    const first = await signedIn();
    const second = await signedIn();
    expect(second.osid).not.toBe(first.osid);
    const now = Math.floor(Date.now() / 1000);
    const bearer = (osid: string, jti: string): Promise<string> => mint(apiKey, { iss: stack.op.issuer, aud: AUDIENCE, sub: first.sub, sid: osid, iat: now, exp: now + 600, jti });
    const port = Number(new URL(stack.origin).port);
    const stream = await openWs(port, `127.0.0.1:${port}`, { authorization: `Bearer ${await bearer(first.osid, 'cli-a')}` }, '/ws/chat');
    try {
      const renewed = await renew(port, { host: `127.0.0.1:${port}`, 'x-zt-stream': stream.streamId, authorization: `Bearer ${await bearer(second.osid, 'cli-b')}` });
      expect(renewed.status).toBe(204);
      expect(await echo(stream.ws, 'renewed')).toBe('echo:renewed');
      await logoutAtOp(second.browser);
      expect(await closedWithin(stream, AT_ONCE_MS)).toBeDefined();
      ws.reset();
      expect(await echo(stream.ws, 'after-logout')).toBeUndefined();
      expect(ws.messages).toEqual([]);
      await expect.poll(() => accessLine(stack.proxy, stream.requestId)?.reason).toBe('session-revoked');
    } finally {
      stream.ws.terminate();
    }
  });

  it('a token of a provider session the OP has logged out does not renew a stream (401 token-revoked); the stream keeps its own token', async () => {
    const first = await signedIn();
    const gone = await signedIn();
    const now = Math.floor(Date.now() / 1000);
    const bearer = (osid: string, jti: string): Promise<string> => mint(apiKey, { iss: stack.op.issuer, aud: AUDIENCE, sub: first.sub, sid: osid, iat: now, exp: now + 600, jti });
    const port = Number(new URL(stack.origin).port);
    const stale = await bearer(gone.osid, 'cli-gone');
    await logoutAtOp(gone.browser);
    const stream = await openWs(port, `127.0.0.1:${port}`, { authorization: `Bearer ${await bearer(first.osid, 'cli-first')}` }, '/ws/chat');
    try {
      await expect.poll(async () => (await renew(port, { host: `127.0.0.1:${port}`, 'x-zt-stream': stream.streamId, authorization: `Bearer ${stale}` })).status).toBe(401);
      expect(await echo(stream.ws, 'kept')).toBe('echo:kept');
    } finally {
      stream.ws.terminate();
    }
  });
});
