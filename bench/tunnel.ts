// Tunnel benchmark (issue #9, Performance): MiB echoed each way through a CONNECT tunnel
// of a real ztproxy process vs a direct TCP connection to the same echo server on
// loopback, as a ratio (target ≥ 0.8×); and the time to first byte of a new tunnel —
// TCP + TLS handshake + CONNECT through the chain (policy `accept`) + upstream connect +
// one byte echoed — beside a bare TLS handshake with ztproxy and with nginx (when
// installed), so the part authorization and the upstream connect add is visible.
// Run: node bench/tunnel.ts [MiB per transfer, default 100] [new tunnels for the time to first byte, default 40]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { installChildCleanup, spawnChild, stopAllChildren, type Child } from './lib/children.ts';
import { freePort, waitForOk } from './lib/net.ts';
import { findNginx, nginxVersion } from './lib/nginx.ts';
import { initCerts } from './lib/ztproxy.ts';

const MIB = 1024 * 1024;
const CHUNK = 64 * 1024;
const SIZE_MIB = Number(process.argv[2] ?? 100);
const ROUNDS_TTFB = Number(process.argv[3] ?? 40);
const ROUNDS_TRANSFER = 3;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TARGET = 'echo.bench:7';

installChildCleanup();

const ms = (n: number): string => `${n.toFixed(2)} ms`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))]!;

function once<T>(emitter: { once(event: string, fn: (v: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, resolve));
}

/** Opens a tunnel through ztproxy; resolves with the socket once the 200 is read. */
async function openTunnel(port: number, ca: string): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  await once(socket, 'secureConnect');
  socket.write(`CONNECT ${TARGET} HTTP/1.1\r\nHost: ${TARGET}\r\n\r\n`);
  let head = '';
  while (!head.includes('\r\n\r\n')) {
    const chunk = (await once<Buffer>(socket, 'data')).toString('latin1');
    head += chunk;
  }
  if (!head.startsWith('HTTP/1.1 200 ')) throw new Error(`CONNECT refused: ${head.split('\r\n')[0]}`);
  return socket;
}

/** Writes `bytes` with backpressure while reading the echo; resolves with the seconds until all came back. */
async function echoTransfer(socket: Socket, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(CHUNK, 97);
  const started = performance.now();
  const back = new Promise<void>((resolve, reject) => {
    let got = 0;
    socket.on('data', (c: Buffer) => {
      got += c.length;
      if (got >= bytes) resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed after ${got} of ${bytes} bytes`)));
  });
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  await back;
  const seconds = (performance.now() - started) / 1000;
  socket.removeAllListeners('close');
  socket.destroy();
  return seconds;
}

async function firstByte(open: () => Promise<Socket>): Promise<number> {
  const started = performance.now();
  const socket = await open();
  socket.write('x');
  await once(socket, 'data');
  const took = performance.now() - started;
  socket.destroy();
  return took;
}

async function handshake(port: number, ca: string): Promise<number> {
  const started = performance.now();
  const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const took = performance.now() - started;
  socket.destroy();
  return took;
}

const ECHO_SERVER = `
const server = require('node:net').createServer({ allowHalfOpen: true, noDelay: true }, (s) => { s.on('error', () => s.destroy()); s.pipe(s); });
server.listen(Number(process.argv[1]), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

// The yardstick for what TLS alone costs: a bare Node TLS server that pipes each
// connection to the echo server (no HTTP, no checks), in its own process like ztproxy.
const TLS_PIPE = `
const { readFileSync } = require('node:fs');
const net = require('node:net');
const [port, echoPort, cert, key] = process.argv.slice(1);
const server = require('node:tls').createServer({ cert: readFileSync(cert), key: readFileSync(key), allowHalfOpen: true }, (s) => {
  const up = net.connect({ host: '127.0.0.1', port: Number(echoPort), noDelay: true });
  s.on('error', () => up.destroy()); up.on('error', () => s.destroy());
  s.pipe(up); up.pipe(s);
});
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

function direct0(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function startNginx(bin: string, cert: string, key: string, ca: string): Promise<{ child: Child; port: number; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ztproxy-bench-tunnel-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `worker_processes 1;\ndaemon off;\npid "${join(dir, 'nginx.pid')}";\nerror_log "${join(dir, 'error.log')}" warn;\nevents { worker_connections 1024; }\n` +
      `http {\n  access_log off;\n  client_body_temp_path "${dir}/body"; proxy_temp_path "${dir}/proxy"; fastcgi_temp_path "${dir}/fcgi"; uwsgi_temp_path "${dir}/uwsgi"; scgi_temp_path "${dir}/scgi";\n` +
      `  server { listen 127.0.0.1:${port} ssl; ssl_certificate "${cert}"; ssl_certificate_key "${key}"; ssl_protocols TLSv1.2 TLSv1.3; location / { return 204; } }\n}\n`,
  );
  const child = spawnChild('nginx', bin, ['-p', `${dir}/`, '-c', conf, '-e', join(dir, 'error.log')], { cwd: dir });
  for (let i = 0; ; i++) {
    try {
      await handshake(port, ca);
      return { child, port, dir };
    } catch (err) {
      if (i > 100) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function main(): Promise<void> {
  const node = process.execPath;
  const workDir = await mkdtemp(join(tmpdir(), 'ztproxy-bench-tunnel-'));
  const nginxDirs: string[] = [];
  try {
    const certs = await initCerts({ root: ROOT, node }, join(workDir, 'certs'), 'ec');
    // The echo server in a process of its own, as the upstream is in the HTTP scenarios:
    // the client process then does only the client's work on both paths.
    const echoPort = await freePort();
    const echo = spawnChild('echo', node, ['-e', ECHO_SERVER, String(echoPort)], { cwd: ROOT });
    for (let i = 0; ; i++) {
      try {
        (await direct0(echoPort)).destroy();
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const [port, adminPort] = [await freePort(), await freePort()];
    const configFile = join(workDir, 'ztproxy.yaml');
    await writeFile(
      configFile,
      stringify({
        listen: { address: `127.0.0.1:${port}`, tls: { cert: certs.serverCert, key: certs.serverKey } },
        admin: { address: `127.0.0.1:${adminPort}` },
        log: { level: 'warn' },
        shutdown: { timeout: '1s' },
        routes: [{ name: 'echo', match: { host: 'echo.bench', port: 7 }, upstream: `tcp://127.0.0.1:${echoPort}`, policy: { allow: { accept: true } } }],
      }),
    );
    const proxy = spawnChild('ztproxy', node, ['src/cli/main.ts', 'start', '-c', configFile], { cwd: ROOT });
    await waitForOk('ztproxy /readyz', `http://127.0.0.1:${adminPort}/readyz`, { child: proxy });
    const direct = (): Promise<Socket> => direct0(echoPort);
    const tunnel = (): Promise<Socket> => openTunnel(port, certs.caPem);

    const bytes = SIZE_MIB * MIB;
    // Warm-up: JIT both paths before measuring.
    await echoTransfer(await direct(), 8 * MIB);
    await echoTransfer(await tunnel(), 8 * MIB);
    const rate = async (open: () => Promise<Socket>): Promise<number> => {
      let best = 0;
      for (let r = 0; r < ROUNDS_TRANSFER; r++) best = Math.max(best, SIZE_MIB / (await echoTransfer(await open(), bytes)));
      return best;
    };
    const directRate = await rate(direct);
    const tunnelRate = await rate(tunnel);
    const pipePort = await freePort();
    const pipe = spawnChild('tls-pipe', node, ['-e', TLS_PIPE, String(pipePort), String(echoPort), certs.serverCert, certs.serverKey], { cwd: ROOT });
    const viaPipe = async (): Promise<Socket> => {
      const socket = tlsConnect({ host: '127.0.0.1', port: pipePort, ca: certs.caPem, servername: 'localhost' });
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      return socket;
    };
    for (let i = 0; ; i++) {
      try {
        await echoTransfer(await viaPipe(), 8 * MIB);
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const pipeRate = await rate(viaPipe);
    await pipe.stop();

    const times = async (fn: () => Promise<number>): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < 5; i++) await fn();
      for (let i = 0; i < ROUNDS_TTFB; i++) out.push(await fn());
      return out;
    };
    const directFirst = await times(() => firstByte(direct));
    const tunnelFirst = await times(() => firstByte(tunnel));
    const proxyTls = await times(() => handshake(port, certs.caPem));
    let nginxTls: number[] | undefined;
    const bin = findNginx();
    if (bin) {
      const nginx = await startNginx(bin, certs.serverCert, certs.serverKey, certs.caPem);
      nginxDirs.push(nginx.dir);
      nginxTls = await times(() => handshake(nginx.port, certs.caPem));
      await nginx.child.stop();
    }
    await proxy.stop();
    await echo.stop();

    const ratio = tunnelRate / directRate;
    const lines = [
      `tunnel: ${SIZE_MIB} MiB echoed each way per transfer (best of ${ROUNDS_TRANSFER}), node ${process.version}; client, echo server and ztproxy on one machine`,
      `  direct TCP connection              ${directRate.toFixed(1)} MiB/s each way`,
      `  through a ztproxy tunnel (TLS)     ${tunnelRate.toFixed(1)} MiB/s each way`,
      `  ratio tunnel / direct              ${ratio.toFixed(2)}× (target ≥ 0.8×)${ratio >= 0.8 ? '' : ' — below target'}`,
      `  a bare Node TLS-to-TCP pipe        ${pipeRate.toFixed(1)} MiB/s each way (what TLS termination alone allows here)`,
      `  ratio tunnel / bare TLS pipe       ${(tunnelRate / pipeRate).toFixed(2)}× (the relay's own cost)`,
      `time to first byte of a new connection, median / p90 of ${ROUNDS_TTFB}:`,
      `  direct TCP connect + 1 byte echoed                        ${ms(median(directFirst))} / ${ms(p90(directFirst))}`,
      `  ztproxy TLS handshake alone                               ${ms(median(proxyTls))} / ${ms(p90(proxyTls))}`,
      `  ztproxy tunnel: TLS + CONNECT + chain + upstream + 1 byte ${ms(median(tunnelFirst))} / ${ms(p90(tunnelFirst))}`,
      `  added by the CONNECT (chain, upstream connect, relay)     ${ms(median(tunnelFirst) - median(proxyTls))} (median difference)`,
      nginxTls
        ? `  nginx TLS handshake (${nginxVersion(bin) ?? 'nginx'})                    ${ms(median(nginxTls))} / ${ms(p90(nginxTls))}`
        : '  nginx TLS handshake                                       skipped (nginx not installed)',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await stopAllChildren();
    await rm(workDir, { recursive: true, force: true });
    for (const dir of nginxDirs) await rm(dir, { recursive: true, force: true });
  }
}

await main();
