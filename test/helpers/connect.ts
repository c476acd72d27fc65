// For the `ztproxy connect` tests: the dev PKI of `ztproxy certs init` in a temp dir (CA,
// server and client certificates, the dev token issuer and device-agent keys), tokens and
// posture assertions minted by the CLI's own `token` / `posture` commands into files, and
// the real `ztproxy connect` run as a child process — as ssh's ProxyCommand, with stdin
// piped, or listening on a local port.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { runPosture } from '../../src/cli/posture.ts';
import { DEV_AUDIENCE, DEV_ISSUER, runToken } from '../../src/cli/token.ts';
import { initDevPki } from '../../src/tls/pki.ts';

export const ZTPROXY_BIN = resolve('bin/ztproxy.js');
export const DEVICE_ISSUER = 'device-agent.ztproxy.local';

export interface DevPki {
  readonly dir: string;
  readonly certs: string;
  readonly ca: string;
  /** An empty config dir: no stored login unless a test writes one. */
  readonly configDir: string;
}

export async function makeDevPki(): Promise<DevPki> {
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-connect-'));
  const certs = join(dir, 'certs');
  await initDevPki(certs);
  const configDir = join(dir, 'config');
  return { dir, certs, ca: join(certs, 'ca.crt'), configDir };
}

/** `identity.jwt` and `device` trusting the dev keys, and the listener asking for a client certificate. */
export function devIdentity(pki: DevPki): Record<string, unknown> {
  return {
    listen: {
      tls: { cert: join(pki.certs, 'server.crt'), key: join(pki.certs, 'server.key') },
      clientAuth: { mode: 'optional', ca: pki.ca },
    },
    identity: { jwt: [{ issuer: DEV_ISSUER, audience: DEV_AUDIENCE, jwksFile: join(pki.certs, 'dev-issuer.jwks.json'), algorithms: ['ES256'] }] },
    device: { header: 'X-Device-Posture', issuers: [{ issuer: DEVICE_ISSUER, jwksFile: join(pki.certs, 'device-agent.jwks.json'), algorithms: ['ES256'] }], maxAge: '5m' },
  };
}

async function mint(run: (argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream) => Promise<number>, argv: string[]): Promise<string> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void): Writable => new Writable({ write: (chunk: Buffer, _e, done) => (append(chunk.toString()), done()) });
  const code = await run(argv, sink((s) => (out += s)), sink((s) => (err += s)));
  if (code !== 0) throw new Error(`minting failed (${code}): ${err}`);
  return out.trim();
}

let files = 0;

/** A `ztproxy token` written to a file; returns the path. */
export async function tokenFile(pki: DevPki, args: readonly string[]): Promise<string> {
  const file = join(pki.dir, `token-${++files}`);
  writeFileSync(file, `${await mint(runToken, [...args, '--key', join(pki.certs, 'dev-issuer.key')])}\n`);
  return file;
}

/** A `ztproxy posture` assertion written to a file; returns the path. */
export async function postureFile(pki: DevPki, args: readonly string[]): Promise<string> {
  const file = join(pki.dir, `posture-${++files}`);
  writeFileSync(file, `${await mint(runPosture, [...args, '--dir', pki.certs])}\n`);
  return file;
}

/** The shell command that prints a fresh dev posture assertion (for --posture-command). */
export function postureCommand(pki: DevPki, args: readonly string[]): string {
  return [process.execPath, ZTPROXY_BIN, 'posture', ...args, '--dir', pki.certs].map(shellQuote).join(' ');
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=,@+-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

/** `ztproxy connect` as a shell command line (for ssh's ProxyCommand; `%h:%p` left to ssh). */
export function connectCommand(args: readonly string[]): string {
  return [process.execPath, ZTPROXY_BIN, 'connect', ...args].map((a) => (a === '%h:%p' ? a : shellQuote(a))).join(' ');
}

export interface Ran {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs a command to its end with `input` on stdin; `env` is added to ours. */
export function runToEnd(cmd: string, args: readonly string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 45_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** `ztproxy connect` with stdin = `input`, to its end. */
export function runConnect(pki: DevPki, args: readonly string[], input: string | Buffer = '', env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return runToEnd(process.execPath, [ZTPROXY_BIN, 'connect', ...args], { input, env: { ZTPROXY_CONFIG_DIR: pki.configDir, ...env } });
}

export interface Listening {
  readonly child: ChildProcessWithoutNullStreams;
  readonly port: number;
  stderr(): string;
  /** SIGTERM, and its exit code. */
  stop(): Promise<number | null>;
}

/** `ztproxy connect … --listen 127.0.0.1:0`, once it says which port it listens on. */
export function startListening(pki: DevPki, args: readonly string[], listen = '127.0.0.1:0'): Promise<Listening> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [ZTPROXY_BIN, 'connect', ...args, '--listen', listen], { env: { ...process.env, ZTPROXY_CONFIG_DIR: pki.configDir } });
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ztproxy connect --listen did not start: ${err}`));
    }, 30_000);
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
      const m = /listening on (?:\[[^\]]+\]|[^:\s]+):(\d+)/.exec(err);
      if (m !== null) {
        clearTimeout(timer);
        resolvePromise({
          child,
          port: Number(m[1]),
          stderr: () => err,
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) done(child.exitCode);
              else {
                child.once('exit', (code) => done(code));
                child.kill('SIGTERM');
              }
            }),
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ztproxy connect --listen exited with ${code}: ${err}`));
    });
  });
}
