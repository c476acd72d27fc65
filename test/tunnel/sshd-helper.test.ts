// The OpenSSH test server of the tunnel tests (test/helpers/sshd.ts) works on its own:
// the real `ssh` client runs a command on it with the throwaway key and gets its output,
// a wrong key is refused, and its connection count sees both. The tunnel tests build on
// this to show that a refused CONNECT never reached sshd.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSHD, sshArgs, startSshd, type TestSshd } from '../helpers/sshd.ts';

const run = promisify(execFile);

describe.skipIf(SSHD === undefined)('the test sshd', () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.close();
  });

  it('runs a command for the throwaway user key, and counts the connection', async () => {
    expect(sshd.connections()).toBe(0);
    const { stdout } = await run('ssh', [...sshArgs(sshd), 'echo', 'tunnel-ok']);
    expect(stdout.trim()).toBe('tunnel-ok');
    expect(sshd.connections()).toBe(1);
  });

  it('refuses another key', async () => {
    const other = `${sshd.userKey}.missing`;
    await expect(run('ssh', [...sshArgs(sshd).map((a) => (a === sshd.userKey ? other : a)), 'true'])).rejects.toThrow();
    expect(sshd.connections()).toBe(2);
  });
});
