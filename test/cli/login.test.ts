// `ztproxy login` / `ztproxy logout` as users run them (the command as a child process)
// against the development OP and ztproxy: the full login, the stored file and its
// permissions, the token accepted by the proxy, and logout with revocation at the OP.
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { get } from '../helpers/proxy.ts';
import { API_RESOURCE, CLI_CLIENT_ID, cli, runCli, signInForCallback, startCliStack, tempConfigDir, visit } from '../helpers/cli-login.ts';
import type { LoginStack } from '../helpers/oidc.ts';
import { CredentialsError, storedAccessToken, writeLogin, type StoredLogin } from '../../src/cli/credentials.ts';

let stack: LoginStack;
beforeAll(async () => {
  stack = await startCliStack();
});
beforeEach(() => stack?.upstream.reset());
afterAll(async () => {
  await stack?.close();
});

function loginArgs(): string[] {
  return ['login', '--via', stack.origin, '--ca', stack.pki.ca.certPath, '--no-browser'];
}

/** Logs alice in through the CLI; returns the config dir and the stored file. */
async function loginAs(username = 'alice', password = `${username}-dev-password`): Promise<{ dir: string; file: string; stdout: string }> {
  const dir = await tempConfigDir();
  const run = runCli(loginArgs(), dir);
  const callback = await signInForCallback(stack, await run.authUrl, username, password);
  const page = await visit(callback);
  expect(page.status).toBe(200);
  expect(page.body).toContain('return to the terminal');
  const result = await run.done;
  expect(result.stderr).not.toContain('eyJ'); // no token is ever printed
  expect(result.code, result.stderr).toBe(0);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
  expect(files).toHaveLength(1);
  return { dir, file: `${dir}/${files[0]}`, stdout: result.stdout };
}

describe('ztproxy login', () => {
  it('logs in through the OP, stores the tokens 0600 in a 0700 dir, and the proxy accepts the token', async () => {
    const { dir, file, stdout } = await loginAs();
    expect(stdout).toContain(`logged in to ${stack.origin} as alice`);
    expect(stdout).not.toContain('eyJ');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(stored).toMatchObject({ proxy: stack.origin, issuer: stack.op.issuer, clientId: CLI_CLIENT_ID, subject: 'alice', resource: API_RESOURCE });
    expect(typeof stored['refreshToken']).toBe('string');
    const claims = decodeJwt(stored['accessToken'] as string);
    expect(claims).toMatchObject({ iss: stack.op.issuer, aud: API_RESOURCE, sub: 'alice', email: 'alice@example.com' });
    expect(claims['groups']).toContain('engineering');

    stack.upstream.reset();
    const res = await get(stack.proxy.port, '/api/hello', { headers: { authorization: `Bearer ${stored['accessToken'] as string}` } });
    expect(res.status).toBe(200);
    expect(stack.upstream.seen.map((r) => r.url)).toEqual(['/api/hello']);
  });
});

describe('opening the browser', () => {
  it('runs $BROWSER with the authorization URL as one argument (no shell)', async () => {
    const dir = await tempConfigDir();
    const seen = join(dir, 'browser-argv');
    const script = join(dir, 'fake-browser');
    writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$#" "$1" > '${seen}'\n`, { mode: 0o755 });
    const run = runCli(['login', '--via', stack.origin, '--ca', stack.pki.ca.certPath], dir, { BROWSER: `/nonexistent/browser:${script}` });
    const printed = await run.authUrl;
    expect(run.stderr()).toContain('Opened a browser to log in');
    let argv: string[] = [];
    for (let i = 0; i < 100 && argv.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      argv = existsSync(seen) ? readFileSync(seen, 'utf8').trim().split('\n') : [];
    }
    expect(argv).toEqual(['1', printed.href]);
    await visit(await signInForCallback(stack, printed));
    expect((await run.done).code).toBe(0);
  });
});

describe('/.well-known/ztproxy/cli-configuration', () => {
  it('answers on every host with the issuer, the public client id, scopes and resource — and no secret', async () => {
    for (const host of ['localhost', 'anything.example.com', '127.0.0.1']) {
      const res = await get(stack.proxy.port, '/.well-known/ztproxy/cli-configuration', { host });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/json');
      expect(res.headers['cache-control']).toBe('public, max-age=60');
      expect(JSON.parse(res.body)).toEqual({
        issuer: stack.op.issuer,
        client_id: CLI_CLIENT_ID,
        scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'api'],
        resource: API_RESOURCE,
      });
      // identity.oidc is a confidential client in this stack: its secret never shows.
      expect(res.body).not.toContain('secret');
    }
    expect(stack.upstream.seen).toEqual([]);
  });

  it('is 405 for other methods, and never reaches a route', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await get(stack.proxy.port, '/.well-known/ztproxy/cli-configuration', { method });
      expect(res.status).toBe(405);
    }
    expect((await get(stack.proxy.port, '/.well-known/ztproxy/cli-configuration', { method: 'HEAD' })).status).toBe(200);
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('storedAccessToken', () => {
  it('is undefined when not logged in', async () => {
    expect(await storedAccessToken(stack.origin, { configDir: await tempConfigDir() })).toBeUndefined();
  });

  it('returns the stored token while it is fresh, without asking the OP', async () => {
    const { dir, file } = await loginAs();
    const stored = JSON.parse(readFileSync(file, 'utf8')) as StoredLogin;
    const refreshes = stack.op.grants['refresh_token'] ?? 0;
    expect(await storedAccessToken(`${stack.origin}/any/path`, { configDir: dir })).toBe(stored.accessToken);
    expect(stack.op.grants['refresh_token'] ?? 0).toBe(refreshes);
  });
});

describe('ztproxy logout', () => {
  it('revokes the refresh token at the OP and deletes the file', async () => {
    const { dir, file } = await loginAs();
    const stored = JSON.parse(readFileSync(file, 'utf8')) as StoredLogin;
    const r = await cli(['logout', '--via', stack.origin], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`logged out of ${stack.origin} (refresh token revoked at ${stack.op.issuer})`);
    expect(existsSync(file)).toBe(false);
    expect(await storedAccessToken(stack.origin, { configDir: dir })).toBeUndefined();
    // The refresh token is dead at the OP: put the old login back, expired, and it cannot be renewed.
    await writeLogin(dir, { ...stored, expiresAt: 0 });
    const err = await storedAccessToken(stack.origin, { configDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialsError);
    expect((err as Error).message).toBe(`the login for ${stack.origin} expired: run ztproxy login --via ${stack.origin}`);
  });

  it('without --via logs out of every proxy; twice is fine', async () => {
    const { dir, file } = await loginAs();
    await writeLogin(dir, { ...(JSON.parse(readFileSync(file, 'utf8')) as StoredLogin), proxy: 'https://other.example:8443', refreshToken: undefined });
    const r = await cli(['logout'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`logged out of ${stack.origin}`);
    expect(r.stdout).toContain('logged out of https://other.example:8443');
    expect((await readdir(dir)).filter((f) => f.endsWith('.json'))).toEqual([]);
    const again = await cli(['logout'], dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('not logged in anywhere');
  });
});

describe('usage and failures', () => {
  it('exits 2 on usage errors and 1 with one line on failures', async () => {
    const dir = await tempConfigDir();
    expect((await cli(['login'], dir)).code).toBe(2);
    expect((await cli(['login', '--via', 'http://127.0.0.1:1'], dir)).code).toBe(2);
    expect((await cli(['login', '--via', stack.origin, '--bogus'], dir)).code).toBe(2);
    expect((await cli(['login', '--via', stack.origin, '--timeout', 'soon'], dir)).code).toBe(2);
    // The proxy's certificate is from a private CA: without --ca the TLS check fails.
    const noCa = await cli(['login', '--via', stack.origin, '--no-browser'], dir);
    expect(noCa.code).toBe(1);
    expect(noCa.stderr.trim().split('\n')).toHaveLength(1);
    expect(noCa.stderr).toMatch(/^ztproxy login: cannot reach https:\/\/127\.0\.0\.1:\d+: \S+ — a private CA\? pass it with --ca FILE/);
  });

  it('says "not saved" on the page and fails when the login cannot be stored (a config dir others can write to)', async () => {
    const dir = await tempConfigDir();
    chmodSync(dir, 0o777);
    const run = runCli(loginArgs(), dir);
    const page = await visit(await signInForCallback(stack, await run.authUrl));
    expect(page.status).toBe(500);
    expect(page.body).toContain('Login not saved');
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ztproxy login: ${dir} is writable by others (mode 777): they could swap the login file; chmod 700 it`);
    expect((await readdir(dir)).filter((f) => f.endsWith('.json'))).toEqual([]);
  });

  it('times out with a clear message when the browser never answers', async () => {
    const r = await cli([...loginArgs(), '--timeout', '2s'], await tempConfigDir());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ztproxy login: login timed out after 2 s without an answer from the browser: run ztproxy login --via ${stack.origin} again`);
  });
});
