// Runs ztproxy the way an operator does — `node src/cli/main.ts start -c FILE` in its own
// process — with a config generated into the run's temp directory.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { z } from 'zod';
import type { configSchema } from '../../src/config/schema.ts';
import type { KeyType } from '../../src/tls/pki.ts';
import { spawnChild, type Child } from './children.ts';
import { freePort, waitForOk } from './net.ts';
import { pinned } from './pin.ts';
import type { BenchContext, DevCerts } from './scenario.ts';

/** The config file as written (before defaults and transforms), checked against the real schema. */
export type ZtproxyConfigInput = z.input<typeof configSchema>;
export type ZtproxyRouteInput = ZtproxyConfigInput['routes'][number];

const CLI = 'src/cli/main.ts';

/** `ztproxy certs init` into `dir`: the same dev PKI `npm start` uses. */
export async function initCerts(ctx: { root: string; node: string }, dir: string, keyType: KeyType): Promise<DevCerts> {
  await promisify(execFile)(ctx.node, [CLI, 'certs', 'init', '--dir', dir, '--key-type', keyType], { cwd: ctx.root });
  return {
    dir,
    caPem: await readFile(join(dir, 'ca.crt'), 'utf8'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
  };
}

export interface ZtproxyOptions {
  /** A name for the process and its config file (one per scenario). */
  readonly name: string;
  /** The routes; default: one public route (`allow: {accept: true}`) to the shared upstream. */
  readonly routes?: ZtproxyRouteInput[];
  /** Anything else to set in the config (identity, pdp, clientAuth ...); applied last. */
  readonly customize?: (config: ZtproxyConfigInput) => ZtproxyConfigInput;
  /** Path (with query) the readiness probe requests through the proxy; must answer 200. */
  readonly readyPath?: string;
  /** Client certificate and key (PEM) for that probe, when the config requires mTLS. */
  readonly readyClientCert?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Run it on this CPU (bench/lib/pin.ts), e.g. SUT_CPU. */
  readonly cpu?: number;
  /** Extra node flags (before the script), e.g. `--heapsnapshot-signal=SIGUSR2`. */
  readonly nodeArgs?: readonly string[];
  /** Extra environment for the process (e.g. glibc's MALLOC_* tunables, read only at exec). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface RunningZtproxy {
  readonly child: Child;
  /** https://127.0.0.1:PORT (origin). */
  readonly url: string;
  readonly adminUrl: string;
  readonly configFile: string;
}

export async function startZtproxy(ctx: BenchContext, opts: ZtproxyOptions): Promise<RunningZtproxy> {
  const [port, adminPort] = [await freePort(), await freePort()];
  let config: ZtproxyConfigInput = {
    listen: {
      address: `127.0.0.1:${port}`,
      tls: { cert: ctx.certs.serverCert, key: ctx.certs.serverKey, minVersion: 'TLSv1.2' },
    },
    admin: { address: `127.0.0.1:${adminPort}` },
    // warn: a JSON access-log line per request would measure pino, not the proxy.
    log: { level: 'warn' },
    shutdown: { timeout: '1s' },
    routes: opts.routes ?? [
      { name: 'bench', match: { pathPrefix: '/' }, upstream: ctx.upstream, policy: { allow: { accept: true } } },
    ],
  };
  if (opts.customize) config = opts.customize(config);
  const dir = join(ctx.workDir, opts.name);
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, 'ztproxy.yaml');
  await writeFile(configFile, stringify(config));

  const nodeArgs: string[] = [...(opts.nodeArgs ?? [])];
  if (ctx.options.cpuProfileDir) {
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', ctx.options.cpuProfileDir, '--cpu-prof-name', `${opts.name}.${process.pid}.cpuprofile`);
  }
  const args = [...nodeArgs, CLI, 'start', '-c', configFile];
  const [command, argv] = opts.cpu === undefined ? [ctx.node, args] : pinned(opts.cpu, ctx.node, args);
  const child = spawnChild(opts.name, command, argv, { cwd: ctx.root, ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) });
  const url = `https://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    await waitForOk(`${opts.name} /readyz`, `${adminUrl}/readyz`, { child });
    await waitForOk(`${opts.name} to forward`, `${url}${opts.readyPath ?? '/'}`, { child, ca: ctx.certs.caPem, ...opts.readyClientCert });
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { child, url, adminUrl, configFile };
}
