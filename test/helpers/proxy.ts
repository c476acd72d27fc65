// Starts a real ztproxy on loopback (ephemeral ports) from a config object, capturing its
// log lines, and offers clients that speak to it over real TLS sockets.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { stringify } from 'yaml';
import { startProxy, type ZtProxy } from '../../src/main.ts';

export interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

export interface TestProxy {
  readonly proxy: ZtProxy;
  readonly port: number;
  readonly configFile: string;
  readonly logs: LogLine[];
  /** Rewrite the config file (for reload tests). */
  writeConfig(config: unknown): void;
  close(): Promise<void>;
}

export async function startTestProxy(
  config: Record<string, unknown>,
  opts: { watch?: boolean; watchIntervalMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<TestProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-test-'));
  const configFile = join(dir, 'ztproxy.yaml');
  const full = withDefaults(config);
  writeFileSync(configFile, stringify(full));
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const proxy = await startProxy({
    configFile,
    logDestination: sink,
    watch: opts.watch ?? false,
    watchIntervalMs: opts.watchIntervalMs ?? 100,
    env: opts.env ?? process.env,
  });
  return {
    proxy,
    port: proxy.addresses.https.port,
    configFile,
    logs,
    writeConfig(next) {
      writeFileSync(configFile, stringify(withDefaults(next as Record<string, unknown>)));
    },
    close: () => proxy.shutdown(),
  };
}

/** Fills in ephemeral listen/admin addresses unless the test set them. */
function withDefaults(config: Record<string, unknown>): Record<string, unknown> {
  const listen = { address: '127.0.0.1:0', ...(config.listen as object) };
  const admin = { address: '127.0.0.1:0', ...(config.admin as object | undefined) };
  const log = { level: 'info', ...(config.log as object | undefined) };
  return { ...config, listen, admin, log };
}

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An HTTPS request through node:https (which builds well-formed requests). */
export function get(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer; tls?: ConnectionOptions; host?: string } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: { host: opts.host ?? 'localhost', ...opts.headers },
        rejectUnauthorized: false,
        agent: false,
        ...(opts.tls as RequestOptions),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Sends bytes exactly as given over TLS (for requests node:https refuses to build:
 * smuggling, bad targets, duplicate headers) and returns what came back until the
 * server closed or `timeoutMs` passed.
 */
export function rawRequest(port: number, bytes: string | Buffer, opts: { tls?: ConnectionOptions; timeoutMs?: number } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost', ...opts.tls }, () => {
      socket.write(bytes);
    });
    const chunks: Buffer[] = [];
    const finish = (): void => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text });
      socket.destroy();
    };
    const timer = setTimeout(finish, opts.timeoutMs ?? 2000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', (err) => {
      if (chunks.length > 0) finish();
      else {
        clearTimeout(timer);
        reject(err as Error);
      }
    });
  });
}

/** `GET target` with this Host, written byte for byte by rawRequest; `Connection: close`. */
export function rawGet(port: number, host: string, target: string): Promise<{ status: number; text: string }> {
  return rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
}

/**
 * A TLS connection to the proxy, kept open for statusOn(); `opts` adds what a test varies
 * (a client certificate, a session ticket to resume, version pins).
 */
export function openTls(port: number, opts: ConnectionOptions = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ...opts }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * One `GET path` on a connection from openTls (kept alive, so the next request reuses the
 * same TLS session and peer identity); resolves with the status, or 0 if the server
 * closed the connection first.
 */
export function statusOn(socket: TLSSocket, path: string, host = 'localhost'): Promise<number> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m && text.includes('\r\n\r\n')) resolve(Number(m[1]));
    });
    socket.once('close', () => resolve(0));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  });
}

/** A route config with an allow-all policy for the given upstream. */
export function openRoute(upstream: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'app', upstream, policy: { allow: { accept: true } }, ...extra };
}
