// Starts bench/lib/upstream-server.ts (or another server of the same IPC shape, e.g. the
// test PDP bench/lib/pdp-server.ts) as a child process and waits for it to answer.
import { fileURLToPath } from 'node:url';
import { spawnChild, type Child } from './children.ts';
import { waitFor, waitForOk, type ProbeOptions } from './net.ts';
import { LOAD_CPU, pinned } from './pin.ts';
import type { UpstreamReady } from './child-server.ts';

const SERVER = fileURLToPath(new URL('./upstream-server.ts', import.meta.url));

export interface RunningUpstream {
  readonly child: Child;
  /** Origin, e.g. http://127.0.0.1:41234. */
  readonly url: string;
}

export interface StartOptions {
  /** Arguments after the script. */
  readonly args?: readonly string[];
  /** The core it runs on: the load core by default (upstream, PDP); SUT_CPU for a proxy under test. */
  readonly cpu?: number;
  /** The origin's scheme (https for a TLS proxy) and the CA its certificate is checked against. */
  readonly scheme?: 'http' | 'https';
  readonly probe?: ProbeOptions;
}

export async function startUpstream(node: string, server = SERVER, name = 'upstream', opts: StartOptions = {}): Promise<RunningUpstream> {
  const [cmd, args] = pinned(opts.cpu ?? LOAD_CPU, node, [server, ...(opts.args ?? [])]);
  const child = spawnChild(name, cmd, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let port: number | undefined;
  child.proc.on('message', (msg: UpstreamReady) => {
    if (msg.type === 'ready') port = msg.port;
  });
  try {
    await waitFor(`the ${name} to report its port`, async () => port !== undefined, { child, timeoutMs: 30_000 });
    const url = `${opts.scheme ?? 'http'}://127.0.0.1:${port}`;
    await waitForOk(`the ${name} to answer`, `${url}/`, { child, timeoutMs: 30_000, ...opts.probe });
    return { child, url };
  } catch (err) {
    await child.stop();
    throw err;
  }
}
