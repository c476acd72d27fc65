// Loopback helpers: free ports, one-shot probes, and readiness by polling (never a fixed
// sleep — a slow start would then measure a half-started process, a fast one wastes time).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import type { Child } from './children.ts';

/**
 * A port that was free a moment ago: bind port 0 on loopback, read it, close. For
 * children that cannot report the port they bound themselves (nginx, ztproxy with a
 * fixed listen address in its config).
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read the bound port'))));
    });
  });
}

export interface ProbeOptions {
  /** CA bundle (PEM) that must have signed an https server's certificate. */
  readonly ca?: string | Buffer;
  /** A client certificate and key (PEM) to present: a listener that requires mTLS. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly timeoutMs?: number;
}

/** One GET on a fresh connection; resolves to the status code, rejects on any failure. */
export function probe(url: string, opts: ProbeOptions = {}): Promise<number> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      { method: 'GET', agent: false, ca: opts.ca, cert: opts.cert, key: opts.key, servername: 'localhost', timeout: opts.timeoutMs ?? 2000 },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', reject);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`no answer from ${url} within ${opts.timeoutMs ?? 2000} ms`)));
    req.once('error', reject);
    req.end();
  });
}

export interface WaitOptions {
  /** Give up after this long (default 20 s). */
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** Fail at once, with its output, if this child exits while we wait. */
  readonly child?: Child;
}

/**
 * Poll `check` until it resolves to true. Rejections count as "not yet"; the last one is
 * reported on timeout.
 */
export async function waitFor(what: string, check: () => Promise<boolean>, opts: WaitOptions = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  const interval = opts.intervalMs ?? 50;
  let last: unknown;
  for (;;) {
    if (opts.child?.exitStatus !== undefined) {
      throw new Error(`${opts.child.name} exited (${opts.child.exitStatus}) while waiting for ${what}:\n${opts.child.output}`);
    }
    try {
      if (await check()) return;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      const output = opts.child ? `\n${opts.child.name} output:\n${opts.child.output}` : '';
      throw new Error(`timed out waiting for ${what}${why}${output}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Wait until a GET on `url` answers 200. */
export function waitForOk(what: string, url: string, opts: WaitOptions & ProbeOptions = {}): Promise<void> {
  return waitFor(what, async () => (await probe(url, opts)) === 200, opts);
}
