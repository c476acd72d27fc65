// The activity write-back ("touch") reused for a client that keeps sending its old session
// cookie (src/identity/session/manager.ts), attacked over real sockets with real dev-OP
// logins: the written-back cookie must only ever go to a request carrying the very cookie
// it was written for — never to another user's, nor to another session of the same user —
// and a logout (with either cookie) must end both at once. Time is moved by re-sealing a
// genuine cookie with an older `seen` (as it would be two minutes later), not by waiting.
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpBrowser, loginThroughProxy, startLoginStack, type LoginStack } from '../helpers/oidc.ts';
import { SESSION_COOKIE, cookieSets, nowS, testCodec } from '../helpers/oidc-attacker.ts';

let stack: LoginStack;

beforeAll(async () => {
  stack = await startLoginStack({});
});
afterAll(async () => {
  await stack?.close();
});
beforeEach(() => stack.upstream.reset());

const api = { accept: 'application/json' };

/** A fresh login's session cookie, re-sealed as if its last activity were two minutes ago. */
async function staleSession(user: 'alice' | 'bob'): Promise<{ value: string; sid: string; sub: string }> {
  const b = new HttpBrowser();
  await loginThroughProxy(b, stack, '/app', user, `${user}-dev-password`);
  const opened = await testCodec().open<Record<string, unknown>>('session', b.cookies.get(SESSION_COOKIE)!.value);
  if (!opened.ok) throw new Error(opened.reason);
  const data: Record<string, unknown> = { ...opened.payload, seen: nowS() - 120 };
  delete data['use'];
  return { value: await testCodec().seal('session', data, data['exp'] as number), sid: data['sid'] as string, sub: data['sub'] as string };
}

/** One request with exactly this cookie (a client without a cookie jar). */
async function send(cookie: string): Promise<{ status: number; written: string | undefined; sub: string | undefined }> {
  stack.upstream.reset();
  const b = new HttpBrowser();
  b.cookies.set(SESSION_COOKIE, { value: cookie, line: '' });
  const res = await b.get(`${stack.origin}/app/data`, api);
  const sets = cookieSets(res, SESSION_COOKIE);
  expect(sets.length).toBeLessThanOrEqual(1);
  const seen = stack.upstream.seen;
  expect(seen.length).toBeLessThanOrEqual(1);
  const assertion = seen[0]?.headers['x-zt-assertion'];
  return {
    status: res.status,
    written: sets[0]?.slice(SESSION_COOKIE.length + 1, sets[0].indexOf(';')),
    sub: typeof assertion === 'string' ? (decodeJwt(assertion).sub) : undefined,
  };
}

async function logout(cookie: string): Promise<void> {
  const b = new HttpBrowser();
  b.cookies.set(SESSION_COOKIE, { value: cookie, line: '' });
  const page = await b.get(`${stack.origin}/.ztproxy/logout`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  expect(csrf).toBeTruthy();
  const res = await b.postForm(`${stack.origin}/.ztproxy/logout`, { csrf: csrf! });
  expect(res.status).toBe(303);
}

describe('session write-back reuse', () => {
  it("the write-back goes only to the cookie it was written for: alice's, bob's and alice's second session each get their own", async () => {
    const alice = await staleSession('alice');
    const aliceAgain = await staleSession('alice');
    const bob = await staleSession('bob');
    expect(alice.sid).not.toBe(aliceAgain.sid);

    const a1 = await send(alice.value);
    expect(a1).toMatchObject({ status: 200, sub: alice.sub });
    expect(a1.written).toBeDefined();
    // The same old cookie again: the same write-back, the same user upstream.
    const a2 = await send(alice.value);
    expect(a2).toEqual(a1);

    const b1 = await send(bob.value);
    expect(b1).toMatchObject({ status: 200, sub: bob.sub });
    expect(b1.written).toBeDefined();
    expect(b1.written).not.toBe(a1.written);
    const again = await send(aliceAgain.value);
    expect(again).toMatchObject({ status: 200, sub: alice.sub });
    expect(again.written).not.toBe(a1.written);

    // Each written-back cookie carries its own session, and is itself current (no new write).
    for (const [written, sid] of [
      [a1.written!, alice.sid],
      [b1.written!, bob.sid],
      [again.written!, aliceAgain.sid],
    ] as const) {
      const opened = await testCodec().open<{ sid: string; seen: number }>('session', written);
      expect(opened.ok && opened.payload.sid).toBe(sid);
      expect(await send(written)).toMatchObject({ status: 200, written: undefined });
    }
  });

  it('a logout with the written-back cookie ends the old cookie too, and only that session', async () => {
    const alice = await staleSession('alice');
    const bob = await staleSession('bob');
    const written = (await send(alice.value)).written!;
    expect(written).toBeDefined();
    expect((await send(bob.value)).status).toBe(200);

    await logout(written);
    for (const cookie of [alice.value, written]) {
      const res = await send(cookie);
      expect(res).toMatchObject({ status: 401, written: undefined, sub: undefined });
    }
    expect(stack.upstream.seen).toEqual([]);
    expect(await send(bob.value)).toMatchObject({ status: 200, sub: bob.sub });
  });

  it('a logout with the old cookie ends the write-back already handed out', async () => {
    const alice = await staleSession('alice');
    const written = (await send(alice.value)).written!;
    expect(written).toBeDefined();
    await logout(alice.value);
    for (const cookie of [written, alice.value]) expect(await send(cookie)).toMatchObject({ status: 401, sub: undefined });
    expect(stack.upstream.seen).toEqual([]);
  });
});
