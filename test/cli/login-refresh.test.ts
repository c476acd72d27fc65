// storedAccessToken against the real OP with a 4-second access token (refresh is due
// after half its lifetime): refreshed through the refresh grant, written
// back (still 0600), accepted by the proxy; several callers at once refresh once (the OP
// rotates refresh tokens of public clients and would revoke the grant on a reuse); a
// refresh the OP refuses ends in the one-line "expired: run ztproxy login" message.
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialsError, loginFilePath, storedAccessToken, writeLogin, type StoredLogin } from '../../src/cli/credentials.ts';
import { runCli, signInForCallback, startCliStack, tempConfigDir, visit } from '../helpers/cli-login.ts';
import type { LoginStack } from '../helpers/oidc.ts';
import { get } from '../helpers/proxy.ts';

let stack: LoginStack;
beforeAll(async () => {
  stack = await startCliStack({ accessTokenTtl: 4 });
});
afterAll(async () => {
  await stack?.close();
});

async function loggedIn(): Promise<{ dir: string; stored: StoredLogin }> {
  const dir = await tempConfigDir();
  const run = runCli(['login', '--via', stack.origin, '--ca', stack.pki.ca.certPath, '--no-browser'], dir);
  await visit(await signInForCallback(stack, await run.authUrl));
  const r = await run.done;
  expect(r.code, r.stderr).toBe(0);
  return { dir, stored: JSON.parse(readFileSync(loginFilePath(dir, stack.origin), 'utf8')) as StoredLogin };
}

describe('storedAccessToken refresh', () => {
  it('refreshes an expiring token once for concurrent callers, writes it back 0600, and the proxy accepts it', async () => {
    const { dir, stored } = await loggedIn();
    const before = stack.op.grants['refresh_token'] ?? 0;
    // Fresh for half its 4 s lifetime (used as it is), then due for a refresh.
    expect(await storedAccessToken(stack.origin, { configDir: dir })).toBe(stored.accessToken);
    await sleep(2100);
    const tokens = await Promise.all([1, 2, 3, 4].map(() => storedAccessToken(stack.origin, { configDir: dir })));
    expect(stack.op.grants['refresh_token'] ?? 0).toBe(before + 1);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(stored.accessToken);
    const file = loginFilePath(dir, stack.origin);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const renewed = JSON.parse(readFileSync(file, 'utf8')) as StoredLogin;
    expect(renewed.accessToken).toBe(tokens[0]);
    // A public client's refresh token is rotated: the new one is stored.
    expect(renewed.refreshToken).not.toBe(stored.refreshToken);
    expect(renewed.subject).toBe('alice');
    const res = await get(stack.proxy.port, '/api/x', { headers: { authorization: `Bearer ${tokens[0]!}` } });
    expect(res.status).toBe(200);
    // And again: the rotated refresh token works for the next refresh.
    await sleep(2100);
    expect(await storedAccessToken(stack.origin, { configDir: dir })).not.toBe(tokens[0]);
    expect(stack.op.grants['refresh_token'] ?? 0).toBe(before + 2);
  });

  it('ends with "expired: run ztproxy login" when the OP refuses the refresh token', async () => {
    const { dir, stored } = await loggedIn();
    await writeLogin(dir, { ...stored, refreshToken: 'not-a-refresh-token-the-op-issued', expiresAt: stored.obtainedAt });
    const err = await storedAccessToken(stack.origin, { configDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialsError);
    expect((err as Error).message).toBe(`the login for ${stack.origin} expired: run ztproxy login --via ${stack.origin}`);
  });
});
