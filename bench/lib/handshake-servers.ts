// The servers of the handshake benchmark, for one dev PKI (P-256 or RSA-2048): ztproxy
// without and with client certificates (two processes: `clientAuth` is per listener, and a
// server that asks every client for a certificate does not do a server-only handshake),
// one nginx worker with a port for each, and a bare Node HTTPS server with a port for
// each (handshake-node-server.ts: what Node itself costs). TLS 1.3 only everywhere, the
// same certificate and key, every server pinned to SUT_CPU.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyType } from '../../src/tls/pki.ts';
import { removeOnExit, spawnChild, type Child } from './children.ts';
import type { NodeServerReady } from './handshake-node-server.ts';
import { freePort, waitFor, waitForOk } from './net.ts';
import { pinned, pinPid, SUT_CPU } from './pin.ts';
import type { BenchContext } from './scenario.ts';
import { initCerts, startZtproxy } from './ztproxy.ts';

export interface ClientCertFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface HandshakeServer {
  readonly name: 'ztproxy' | 'nginx' | 'node';
  /** Port of the server-only listener (full and resumed handshakes). */
  readonly port: number;
  /** Port of the listener that requires a client certificate. */
  readonly mtlsPort: number;
  /** The processes whose CPU is this server's (per port). */
  readonly pid: number;
  readonly mtlsPid: number;
  /** Prometheus text of ztproxy's admin port (per port), to count its handshakes. */
  readonly metricsUrl?: string;
  readonly mtlsMetricsUrl?: string;
}

export interface KeyTypeSetup {
  readonly keyType: KeyType;
  readonly caPem: string;
  readonly clientCert: ClientCertFiles;
  readonly servers: HandshakeServer[];
  /** Why nginx is not among the servers, when it is not. */
  readonly nginxSkipped?: string;
}

export async function startServers(
  base: Omit<BenchContext, 'certs'>,
  keyType: KeyType,
  nginxBin: string | undefined,
  nginxSkip: string | undefined,
): Promise<KeyTypeSetup> {
  const certs = await initCerts(base, join(base.workDir, `pki-${keyType}`), keyType);
  const ctx: BenchContext = { ...base, certs };
  const clientCert = {
    cert: await readFile(join(certs.dir, 'client.crt')),
    key: await readFile(join(certs.dir, 'client.key')),
  };
  const tls13 = { cert: certs.serverCert, key: certs.serverKey, minVersion: 'TLSv1.3' as const };
  const ca = join(certs.dir, 'ca.crt');
  const [plain, mtls, bare] = await Promise.all([
    startZtproxy(ctx, {
      name: `ztproxy-${keyType}`,
      customize: (c) => ({ ...c, listen: { ...c.listen, tls: tls13 } }),
    }),
    startZtproxy(ctx, {
      name: `ztproxy-${keyType}-mtls`,
      customize: (c) => ({ ...c, listen: { ...c.listen, tls: tls13, clientAuth: { mode: 'require', ca } } }),
      readyClientCert: clientCert,
    }),
    startNodeServer(base.node, certs.serverCert, certs.serverKey, ca),
  ]);
  // Started from the bench process (on LOAD_CPU); moved with all their threads.
  pinPid(SUT_CPU, plain.child.proc.pid!);
  pinPid(SUT_CPU, mtls.child.proc.pid!);
  const servers: HandshakeServer[] = [
    {
      name: 'ztproxy',
      port: Number(new URL(plain.url).port),
      mtlsPort: Number(new URL(mtls.url).port),
      pid: plain.child.proc.pid!,
      mtlsPid: mtls.child.proc.pid!,
      metricsUrl: `${plain.adminUrl}/metrics`,
      mtlsMetricsUrl: `${mtls.adminUrl}/metrics`,
    },
  ];
  if (nginxBin && !nginxSkip) {
    const nginx = await startHandshakeNginx(nginxBin, certs.serverCert, certs.serverKey, ca, certs.caPem, clientCert);
    servers.push({ name: 'nginx', port: nginx.port, mtlsPort: nginx.mtlsPort, pid: nginx.child.proc.pid!, mtlsPid: nginx.child.proc.pid! });
  }
  servers.push({ name: 'node', port: bare.port, mtlsPort: bare.mtlsPort, pid: bare.child.proc.pid!, mtlsPid: bare.child.proc.pid! });
  return { keyType, caPem: certs.caPem, clientCert, servers, ...(nginxSkip ? { nginxSkipped: nginxSkip } : {}) };
}

const NODE_SERVER = fileURLToPath(new URL('./handshake-node-server.ts', import.meta.url));

async function startNodeServer(node: string, cert: string, key: string, ca: string): Promise<{ child: Child; port: number; mtlsPort: number }> {
  const [cmd, args] = pinned(SUT_CPU, node, [NODE_SERVER, cert, key, ca]);
  const child = spawnChild('node-tls-server', cmd, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let ready: NodeServerReady | undefined;
  child.proc.on('message', (msg: NodeServerReady) => {
    if (msg.type === 'ready') ready = msg;
  });
  try {
    await waitFor('the bare Node TLS server to report its ports', async () => ready !== undefined, { child, timeoutMs: 10_000 });
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { child, port: ready!.port, mtlsPort: ready!.mtlsPort };
}

const q = (path: string) => `"${path}"`;

/** nginx as the reference TLS 1.3 server: one worker, tickets on, one port verifying client certificates. */
export function handshakeNginxConfig(c: { dir: string; port: number; mtlsPort: number; cert: string; key: string; ca: string }): string {
  const server = (port: number, mtls: boolean) => `
    server {
        listen 127.0.0.1:${port} ssl;
        ssl_certificate ${q(c.cert)};
        ssl_certificate_key ${q(c.key)};
        ssl_protocols TLSv1.3;
        # Stateless tickets (nginx's default, stated): what resumption measures.
        ssl_session_tickets on;${mtls ? `
        ssl_client_certificate ${q(c.ca)};
        ssl_verify_client on;` : ''}
        location / {
            return 200 "ok\\n";
        }
    }`;
  return `# generated by bench/lib/handshake-servers.ts for one bench run
worker_processes 1;
daemon off;
master_process on;
pid ${q(join(c.dir, 'nginx.pid'))};
error_log ${q(join(c.dir, 'error.log'))} warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path ${q(join(c.dir, 'tmp', 'body'))};
    proxy_temp_path ${q(join(c.dir, 'tmp', 'proxy'))};
    fastcgi_temp_path ${q(join(c.dir, 'tmp', 'fastcgi'))};
    uwsgi_temp_path ${q(join(c.dir, 'tmp', 'uwsgi'))};
    scgi_temp_path ${q(join(c.dir, 'tmp', 'scgi'))};
${server(c.port, false)}
${server(c.mtlsPort, true)}
}
`;
}

async function startHandshakeNginx(
  bin: string,
  cert: string,
  key: string,
  ca: string,
  caPem: string,
  clientCert: ClientCertFiles,
): Promise<{ child: Child; port: number; mtlsPort: number }> {
  // A directory of its own, readable by the worker (which runs as nobody under root).
  const dir = await mkdtemp(join(tmpdir(), 'ztproxy-bench-hs-nginx-'));
  removeOnExit(dir);
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'tmp'));
  const [port, mtlsPort] = [await freePort(), await freePort()];
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, handshakeNginxConfig({ dir, port, mtlsPort, cert, key, ca }));
  const [cmd, args] = pinned(SUT_CPU, bin, ['-p', `${dir}/`, '-c', conf, '-e', join(dir, 'error.log')]);
  const child = spawnChild('nginx', cmd, args, { cwd: dir });
  try {
    await waitForOk('nginx to answer', `https://127.0.0.1:${port}/`, { child, ca: caPem });
    await waitForOk('nginx (mTLS) to answer', `https://127.0.0.1:${mtlsPort}/`, { child, ca: caPem, ...clientCert });
  } catch (err) {
    await child.stop();
    const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    throw log ? new Error(`${(err as Error).message}\nnginx error.log:\n${log.trim()}`) : err;
  }
  return { child, port, mtlsPort };
}
