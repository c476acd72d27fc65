// A real OpenSSH server for the tunnel tests (issue #6): Debian's sshd on a free loopback
// port, with a throwaway host key, a throwaway user key and its own config, started per
// test file and stopped after it. Its log (-e, LogLevel VERBOSE) is kept, so a test can
// assert that a refused tunnel never reached it ("sshd saw no connection").
// `.ci/run` installs openssh-server when /usr/sbin/sshd is missing.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SSHD = ['/usr/sbin/sshd', '/usr/bin/sshd'].find((p) => existsSync(p));

export interface TestSshd {
  readonly port: number;
  readonly user: string;
  /** The private key the server accepts for `user`. */
  readonly userKey: string;
  /** A known_hosts file with the server's host key for 127.0.0.1:port. */
  readonly knownHosts: string;
  /** Everything sshd logged so far. */
  log(): string;
  /** `Connection from` lines: TCP connections sshd accepted. */
  connections(): number;
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null) {
        reject(new Error(`sshd exited with ${child.exitCode}`));
        return;
      }
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`sshd did not listen on ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** Starts sshd on 127.0.0.1 (throws if it is not installed: skip with `SSHD === undefined`). */
export async function startSshd(): Promise<TestSshd> {
  if (SSHD === undefined) throw new Error('sshd is not installed (apt-get install openssh-server)');
  const dir = await mkdtemp(join(tmpdir(), 'ztproxy-sshd-'));
  const user = userInfo().username;
  const hostKey = join(dir, 'host_ed25519');
  const userKey = join(dir, 'user_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', userKey]);
  const authorized = join(dir, 'authorized_keys');
  await writeFile(authorized, await readFile(`${userKey}.pub`), { mode: 0o600 });
  const port = await freePort();
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${(await readFile(`${hostKey}.pub`, 'utf8')).trim()}\n`);
  // Privilege separation wants this directory when sshd runs as root.
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorized}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AllowUsers ${user}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The throwaway files live in a world-readable temp directory.
      'StrictModes no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    log += chunk;
  });
  try {
    await waitForPort(port, child, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  // The readiness probe above is a connection too: count from here.
  await new Promise((r) => setTimeout(r, 100));
  const baseline = (log.match(/Connection from /g) ?? []).length;
  return {
    port,
    user,
    userKey,
    knownHosts,
    log: () => log,
    connections: () => (log.match(/Connection from /g) ?? []).length - baseline,
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The `ssh` arguments that reach `sshd` with its throwaway user key and host key pinned, no prompts. */
export function sshArgs(sshd: TestSshd, extra: readonly string[] = []): string[] {
  return [
    '-i', sshd.userKey,
    '-o', `UserKnownHostsFile=${sshd.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'ConnectTimeout=10',
    '-p', String(sshd.port),
    ...extra,
    `${sshd.user}@127.0.0.1`,
  ];
}
