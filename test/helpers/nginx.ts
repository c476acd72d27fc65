// nginx as a reference proxy for tests that compare ztproxy's answers with what a careful,
// widely deployed proxy answers (Debian's nginx-light; CI installs it, see .ci/run). It
// runs as the test's own child in the foreground, with its config, pid, logs and temp
// paths in a directory of its own, terminating TLS with the test PKI's server certificate
// and proxying everything (WebSocket upgrades included) to one upstream.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { findNginx } from '../../bench/lib/nginx.ts';

export { findNginx };

export interface TestNginx {
  readonly port: number;
  /** `nginx version: nginx/1.22.1` as nginx -v printed it. */
  readonly version: string;
  /** What nginx wrote to its error log so far (why it refused a request). */
  errorLog(): Promise<string>;
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read the bound port'))));
    });
  });
}

const q = (path: string): string => `"${path}"`;

function config(dir: string, port: number, upstreamPort: number, cert: string, key: string): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${q(join(dir, 'nginx.pid'))};
error_log ${q(join(dir, 'error.log'))} info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${q(join(dir, 'tmp', 'body'))};
    proxy_temp_path ${q(join(dir, 'tmp', 'proxy'))};
    fastcgi_temp_path ${q(join(dir, 'tmp', 'fastcgi'))};
    uwsgi_temp_path ${q(join(dir, 'tmp', 'uwsgi'))};
    scgi_temp_path ${q(join(dir, 'tmp', 'scgi'))};
    map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
    server {
        listen 127.0.0.1:${port} ssl;
        ssl_certificate ${q(cert)};
        ssl_certificate_key ${q(key)};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass http://127.0.0.1:${upstreamPort};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }
    }
}
`;
}

function tlsReady(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts nginx in front of `upstreamPort`; throws with nginx's own words if it cannot. */
export async function startNginx(bin: string, opts: { upstreamPort: number; cert: string; key: string }): Promise<TestNginx> {
  const dir = await mkdtemp(join(tmpdir(), 'ztproxy-test-nginx-'));
  // Run as root, nginx's worker switches to `nobody`, which must be able to reach its
  // temp paths (mkdtemp makes the directory 0700).
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'tmp'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, config(dir, port, opts.upstreamPort, opts.cert, opts.key));
  const version = await new Promise<string>((resolve) => {
    const v = spawn(bin, ['-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    v.stdout.on('data', (c: Buffer) => (out += c.toString()));
    v.stderr.on('data', (c: Buffer) => (out += c.toString()));
    v.once('close', () => resolve(out.trim()));
    v.once('error', () => resolve(''));
  });
  // -e: the error log before the config is read (the default /var/log/nginx may not be writable).
  const child: ChildProcess = spawn(bin, ['-p', `${dir}/`, '-c', conf, '-e', join(dir, 'error.log')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const errorLog = (): Promise<string> => readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await tlsReady(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = await errorLog();
      await stop();
      throw new Error(`nginx did not start: ${output.trim()}\n${log.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, version, errorLog, close: stop };
}
