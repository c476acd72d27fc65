// The stored login file as an attacker on the same machine sees it: a symlink planted at
// its path, a file another user put there, one others can read, one copied from another
// proxy's login, a config dir others can write to. None of them is ever used; writes
// never follow a symlink and never leave the file readable by others, even for a moment.
import { chmodSync, chownSync, lstatSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CredentialsError, loginFileName, loginFilePath, originOfFileName, storedAccessToken, writeLogin, type StoredLogin } from '../../src/cli/credentials.ts';
import { tempConfigDir } from '../helpers/cli-login.ts';

const ORIGIN = 'https://proxy.example:8443';

function login(overrides: Partial<StoredLogin> = {}): StoredLogin {
  return {
    version: 1,
    proxy: ORIGIN,
    issuer: 'https://op.example',
    clientId: 'cli',
    scopes: ['openid'],
    resource: undefined,
    subject: 'alice',
    accessToken: 'access-token-of-alice',
    refreshToken: 'refresh-token-of-alice',
    idToken: undefined,
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
    obtainedAt: Math.floor(Date.now() / 1000),
    ...overrides,
  };
}

async function refusal(dir: string, origin = ORIGIN): Promise<string> {
  const err = await storedAccessToken(origin, { configDir: dir }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CredentialsError);
  return (err as Error).message;
}

describe('the stored login file', () => {
  it('is written 0600 in a 0700 dir, whatever the umask, and read back', async () => {
    const dir = join(await tempConfigDir(), 'nested', 'ztproxy');
    const old = process.umask(0);
    try {
      await writeLogin(dir, login());
    } finally {
      process.umask(old);
    }
    expect(statSync(loginFilePath(dir, ORIGIN)).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(await storedAccessToken(`${ORIGIN}/some/path`, { configDir: dir })).toBe('access-token-of-alice');
    // No temp file is left behind.
    expect(readdirSync(dir)).toEqual([loginFileName(ORIGIN)]);
  });

  it('refuses a symlink planted at its path, and a write replaces the link instead of writing through it', async () => {
    const dir = await tempConfigDir();
    const target = join(await tempConfigDir(), 'victim');
    writeFileSync(target, JSON.stringify(login({ accessToken: 'attacker-token' })), { mode: 0o600 });
    symlinkSync(target, loginFilePath(dir, ORIGIN));
    expect(await refusal(dir)).toMatch(/is a symbolic link: refusing it/);
    await writeLogin(dir, login());
    expect(lstatSync(loginFilePath(dir, ORIGIN)).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, 'utf8')).toContain('attacker-token');
    expect(await storedAccessToken(ORIGIN, { configDir: dir })).toBe('access-token-of-alice');
  });

  it('refuses a file others can read (and says so), and one that belongs to another user', async () => {
    const dir = await tempConfigDir();
    await writeLogin(dir, login());
    chmodSync(loginFilePath(dir, ORIGIN), 0o644);
    expect(await refusal(dir)).toMatch(/has mode 0644: others could read or change the tokens \(it must be 0600\)/);
    chmodSync(loginFilePath(dir, ORIGIN), 0o600);
    if (process.getuid?.() === 0) {
      chownSync(loginFilePath(dir, ORIGIN), 12345, 12345);
      expect(await refusal(dir)).toMatch(/belongs to uid 12345, not to you/);
    }
  });

  it("refuses a login copied from another proxy's file, and a file that is not a login", async () => {
    const dir = await tempConfigDir();
    await writeLogin(dir, login({ proxy: 'https://other.example' }));
    writeFileSync(loginFilePath(dir, ORIGIN), readFileSync(loginFilePath(dir, 'https://other.example')), { mode: 0o600 });
    expect(await refusal(dir)).toMatch(/holds the login for https:\/\/other\.example, not https:\/\/proxy\.example:8443/);
    writeFileSync(loginFilePath(dir, ORIGIN), '{"version":1}', { mode: 0o600 });
    expect(await refusal(dir)).toMatch(/is not a ztproxy login file/);
  });

  it('will not write into a dir others can write to', async () => {
    const dir = await tempConfigDir();
    chmodSync(dir, 0o777);
    await expect(writeLogin(dir, login())).rejects.toThrow(/writable by others/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a login whose access token expired and has no refresh token', async () => {
    const dir = await tempConfigDir();
    await writeLogin(dir, login({ expiresAt: 1, refreshToken: undefined }));
    expect(await refusal(dir)).toBe(`the login for ${ORIGIN} expired: run ztproxy login --via ${ORIGIN}`);
  });

  it('says when the OP cannot be reached for a refresh', async () => {
    const dir = await tempConfigDir();
    await writeLogin(dir, login({ expiresAt: 1, issuer: 'http://127.0.0.1:1' }));
    expect(await refusal(dir)).toMatch(/^cannot refresh the login for https:\/\/proxy\.example:8443: the OpenID Provider http:\/\/127\.0\.0\.1:1 did not answer/);
  });

  it('names one file per origin, reversibly, and only for https', async () => {
    for (const origin of ['https://a.example', 'https://a.example:8443', 'https://[::1]:8443', 'https://xn--bcher-kva.example']) {
      expect(originOfFileName(loginFileName(origin))).toBe(origin);
    }
    expect(loginFileName('https://a_b.example')).not.toBe(loginFileName('https://a.b.example'));
    await expect(storedAccessToken('http://proxy.example')).rejects.toThrow(/must be an https:\/\/ URL/);
  });
});
