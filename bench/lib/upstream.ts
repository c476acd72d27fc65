// Starts bench/lib/upstream-server.ts (or another server of the same IPC shape, e.g. the
// test PDP bench/lib/pdp-server.ts) as a child process and waits for it to answer.
import { fileURLToPath } from 'node:url';
import { spawnChild, type Child } from './children.ts';
import { waitFor, waitForOk } from './net.ts';
import type { UpstreamReady } from './child-server.ts';

const SERVER = fileURLToPath(new URL('./upstream-server.ts', import.meta.url));

export interface RunningUpstream {
  readonly child: Child;
  /** Origin, e.g. http://127.0.0.1:41234. */
  readonly url: string;
}

export async function startUpstream(node: string, server = SERVER, name = 'upstream'): Promise<RunningUpstream> {
  const child = spawnChild(name, node, [server], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let port: number | undefined;
  child.proc.on('message', (msg: UpstreamReady) => {
    if (msg.type === 'ready') port = msg.port;
  });
  try {
    await waitFor(`the ${name} to report its port`, async () => port !== undefined, { child, timeoutMs: 10_000 });
    const url = `http://127.0.0.1:${port}`;
    await waitForOk(`the ${name} to answer`, `${url}/`, { child, timeoutMs: 10_000 });
    return { child, url };
  } catch (err) {
    await child.stop();
    throw err;
  }
}
