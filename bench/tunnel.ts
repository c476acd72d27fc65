// Tunnel benchmark (issue #9, Performance): MiB echoed each way through a CONNECT tunnel
// of a real ztproxy process vs a direct TCP connection to the same echo server on
// loopback, as a ratio (target ≥ 0.8×), beside the yardsticks that say what the ratio
// means on this machine:
//   - direct TLS to a TLS echo server: what encryption alone costs (one TLS hop, no relay);
//   - a bare Node TLS server piping to the echo server: TLS termination plus a relay in
//     Node, with no HTTP, no checks and no metrics;
//   - nginx's `stream` module doing the same TLS-terminating TCP proxying (when the
//     installed nginx has it: built in, or Debian's libnginx-mod-stream).
// Every path echoes through the same echo server. The paths run interleaved (round 1 of
// each, then round 2 of each, …) and each reports its median, so a burst of load from
// elsewhere on a shared machine hits all of them rather than one. Each transfer also
// meters the CPU seconds of the hop in the middle (ztproxy, the pipe, nginx's worker, the
// TLS echo server) from /proc: CPU per GiB relayed does not depend on what else runs, and
// it excludes the client's own TLS work, which shares the same cores.
// Then the time to first byte of a new tunnel — TCP + TLS handshake + CONNECT through the
// chain (policy `accept`) + upstream connect + one byte echoed — beside a bare TLS
// handshake with ztproxy and with nginx (when installed).
// Run: node bench/tunnel.ts [--json] [--quick] [MiB per transfer, default 100] [rounds, default 5] [new tunnels for the time to first byte, default 40]
// --json: the text goes to stderr and one PartResult (bench/lib/part.ts) is the last stdout
// line, for `npm run bench`; --quick: 10 MiB, 2 rounds, 10 new tunnels (unless given).
// ZTPROXY_BENCH_PROXY_ARGS: extra node options for the ztproxy child (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
// ZTPROXY_BENCH_PATHS: a comma-separated subset of tls,pipe,nginx,ztproxy-v8-heap,ztproxy (direct TCP always runs: it is the reference).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { installChildCleanup, spawnChild, stopAllChildren, type Child } from './lib/children.ts';
import { meterCpu } from './lib/cpu.ts';
import { freePort, waitForOk } from './lib/net.ts';
import { findNginx, nginxVersion } from './lib/nginx.ts';
import { emitPart, target, type PartResult } from './lib/part.ts';
import { initCerts } from './lib/ztproxy.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const CHUNK = 64 * 1024;
const FLAGS = new Set(process.argv.slice(2).filter((a) => a.startsWith('--')));
const POSITIONAL = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const JSON_OUT = FLAGS.has('--json');
const QUICK = FLAGS.has('--quick');
const SIZE_MIB = Number(POSITIONAL[0] ?? (QUICK ? 10 : 100));
const ROUNDS_TRANSFER = Number(POSITIONAL[1] ?? (QUICK ? 2 : 5));
const ROUNDS_TTFB = Number(POSITIONAL[2] ?? (QUICK ? 10 : 40));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TARGET = 'echo.bench:7';
const PROXY_ARGS = (process.env.ZTPROXY_BENCH_PROXY_ARGS ?? '').split(' ').filter(Boolean);
const ONLY = process.env.ZTPROXY_BENCH_PATHS?.split(',').map((s) => s.trim());
const wanted = (path: string): boolean => ONLY === undefined || ONLY.includes(path);

installChildCleanup();

const ms = (n: number): string => `${n.toFixed(2)} ms`;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const p90 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))]!;

function once<T>(emitter: { once(event: string, fn: (v: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, resolve));
}

function tlsTo(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Opens a tunnel through ztproxy; resolves with the socket once the 200 is read. */
async function openTunnel(port: number, ca: string): Promise<TLSSocket> {
  const socket = await tlsTo(port, ca);
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
  const socket = await tlsTo(port, ca);
  const took = performance.now() - started;
  socket.destroy();
  return took;
}

const ECHO_SERVER = `
const server = require('node:net').createServer({ allowHalfOpen: true, noDelay: true }, (s) => { s.on('error', () => s.destroy()); s.pipe(s); });
server.listen(Number(process.argv[1]), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

// What encryption alone costs: the client's TLS connection ends at a TLS server that
// echoes itself (one TLS hop as in the tunnel, but no second socket and no relay).
const TLS_ECHO = `
const { readFileSync } = require('node:fs');
const [port, cert, key] = process.argv.slice(1);
const server = require('node:tls').createServer({ cert: readFileSync(cert), key: readFileSync(key), allowHalfOpen: true }, (s) => { s.on('error', () => s.destroy()); s.pipe(s); });
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

// TLS termination and a relay in Node and nothing else: a bare TLS server that pipes
// each connection to the echo server (no HTTP, no checks), in its own process like ztproxy.
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
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Retries `probe` until it succeeds (a child that is still starting), for up to ~5 s. */
async function ready(name: string, probe: () => Promise<unknown>, child?: Child): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await probe();
      return;
    } catch (err) {
      if (i > 100 || child?.exitStatus !== undefined) throw new Error(`${name} did not start: ${(err as Error).message}${child ? `\n${child.output}` : ''}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * How this nginx gets its `stream` module: '' when built in, a `load_module` line when it
 * is a dynamic module that is installed (Debian: libnginx-mod-stream), undefined when it
 * has none.
 */
function streamModule(bin: string): string | undefined {
  const { stderr } = spawnSync(bin, ['-V'], { encoding: 'utf8', timeout: 5000 });
  const flags = (stderr ?? '').split(/\s+/);
  if (flags.includes('--with-stream')) return '';
  if (!flags.includes('--with-stream=dynamic')) return undefined;
  const modules = flags.find((f) => f.startsWith('--modules-path='))?.slice('--modules-path='.length) ?? '/usr/lib/nginx/modules';
  const so = join(modules, 'ngx_stream_module.so');
  return existsSync(so) ? `load_module "${so}";\n` : undefined;
}

interface Nginx {
  readonly child: Child;
  readonly port: number;
  readonly dir: string;
}

/** nginx, one worker; `stream`: a TLS-terminating TCP proxy to the echo server, else an HTTPS server (for the handshake). */
async function startNginx(bin: string, cert: string, key: string, ca: string, stream?: { module: string; echoPort: number }): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'ztproxy-bench-tunnel-nginx-'));
  // The worker runs as nobody when the bench runs as root; mkdtemp's 0700 would hide the config's paths from it.
  await chmod(dir, 0o755);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const tls = `ssl_certificate "${cert}"; ssl_certificate_key "${key}"; ssl_protocols TLSv1.2 TLSv1.3;`;
  const main =
    `worker_processes 1;\ndaemon off;\nmaster_process on;\npid "${join(dir, 'nginx.pid')}";\nerror_log "${join(dir, 'error.log')}" warn;\n` + 'events { worker_connections 1024; }\n';
  await writeFile(
    conf,
    stream
      ? `${stream.module}${main}stream {\n  server { listen 127.0.0.1:${port} ssl; ${tls} proxy_pass 127.0.0.1:${stream.echoPort}; }\n}\n`
      : `${main}http {\n  access_log off;\n  client_body_temp_path "${dir}/body"; proxy_temp_path "${dir}/proxy"; fastcgi_temp_path "${dir}/fcgi"; uwsgi_temp_path "${dir}/uwsgi"; scgi_temp_path "${dir}/scgi";\n` +
          `  server { listen 127.0.0.1:${port} ssl; ${tls} location / { return 204; } }\n}\n`,
  );
  const child = spawnChild('nginx', bin, ['-p', `${dir}/`, '-c', conf, '-e', join(dir, 'error.log')], { cwd: dir });
  try {
    await ready('nginx', () => handshake(port, ca), child);
  } catch (err) {
    await child.stop();
    const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    throw log ? new Error(`${(err as Error).message}\nnginx error.log:\n${log.trim()}`) : err;
  }
  return { child, port, dir };
}

interface Path {
  readonly key: string;
  readonly label: string;
  readonly open: () => Promise<Socket>;
  /** The process in the middle whose CPU is metered (for direct TCP: the echo server). */
  readonly pid: number | undefined;
  readonly rates: number[];
  /** CPU seconds of the middle process per GiB it relayed (both directions added). */
  readonly cpuPerGiB: number[];
  /** The client's own CPU seconds per GiB (its TLS, its writes and reads). */
  readonly clientCpuPerGiB: number[];
  cipher?: string;
}

async function main(): Promise<void> {
  const node = process.execPath;
  const workDir = await mkdtemp(join(tmpdir(), 'ztproxy-bench-tunnel-'));
  const nginxDirs: string[] = [];
  const notes: string[] = [];
  try {
    const certs = await initCerts({ root: ROOT, node }, join(workDir, 'certs'), 'ec');
    // The echo server in a process of its own, as the upstream is in the HTTP scenarios:
    // the client process then does only the client's work on every path.
    const echoPort = await freePort();
    const echo = spawnChild('echo', node, ['-e', ECHO_SERVER, String(echoPort)], { cwd: ROOT });
    await ready('echo server', async () => (await direct0(echoPort)).destroy(), echo);
    // ztproxy as an operator runs it; and once more with V8's own heap growth
    // (`--heap-growing-percent=0`: src/cli/heap.ts then leaves V8's choice alone), the
    // setting `ztproxy start` replaces, measured in the same rounds.
    const startProxy = async (name: string, nodeArgs: string[]): Promise<{ child: Child; port: number }> => {
      const [port, adminPort] = [await freePort(), await freePort()];
      const configFile = join(workDir, `${name}.yaml`);
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
      const child = spawnChild(name, node, [...nodeArgs, 'src/cli/main.ts', 'start', '-c', configFile], { cwd: ROOT });
      await waitForOk(`${name} /readyz`, `http://127.0.0.1:${adminPort}/readyz`, { child });
      return { child, port };
    };
    const { child: proxy, port } = await startProxy('ztproxy', PROXY_ARGS);
    const direct = (): Promise<Socket> => direct0(echoPort);
    const tunnel = (): Promise<Socket> => openTunnel(port, certs.caPem);

    const path = (key: string, label: string, open: () => Promise<Socket>, pid: number | undefined): Path => ({
      key,
      label,
      open,
      pid,
      rates: [],
      cpuPerGiB: [],
      clientCpuPerGiB: [],
    });
    const paths: Path[] = [path('tcp', 'direct TCP connection', direct, echo.proc.pid)];
    if (wanted('tls')) {
      const tlsPort = await freePort();
      const tlsEcho = spawnChild('tls-echo', node, ['-e', TLS_ECHO, String(tlsPort), certs.serverCert, certs.serverKey], { cwd: ROOT });
      await ready('TLS echo server', () => handshake(tlsPort, certs.caPem), tlsEcho);
      paths.push(path('tls', 'direct TLS to a Node TLS echo', () => tlsTo(tlsPort, certs.caPem), tlsEcho.proc.pid));
    }
    if (wanted('pipe')) {
      const pipePort = await freePort();
      const pipe = spawnChild('tls-pipe', node, ['-e', TLS_PIPE, String(pipePort), String(echoPort), certs.serverCert, certs.serverKey], { cwd: ROOT });
      await ready('TLS pipe', () => handshake(pipePort, certs.caPem), pipe);
      paths.push(path('pipe', 'bare Node TLS-to-TCP pipe', () => tlsTo(pipePort, certs.caPem), pipe.proc.pid));
    }
    const bin = findNginx();
    if (wanted('nginx')) {
      const module = bin ? streamModule(bin) : undefined;
      if (bin && module !== undefined) {
        const nginx = await startNginx(bin, certs.serverCert, certs.serverKey, certs.caPem, { module, echoPort });
        nginxDirs.push(nginx.dir);
        paths.push(path('nginx', `nginx stream TLS proxy (${nginxVersion(bin) ?? 'nginx'})`, () => tlsTo(nginx.port, certs.caPem), nginx.child.proc.pid));
      } else {
        notes.push(
          bin
            ? '  nginx stream TLS proxy             skipped (this nginx has no stream module; Debian: apt-get install libnginx-mod-stream)'
            : '  nginx stream TLS proxy             skipped (nginx not installed)',
        );
      }
    }
    if (wanted('ztproxy-v8-heap')) {
      const other = await startProxy('ztproxy-v8-heap', [...PROXY_ARGS, '--heap-growing-percent=0']);
      paths.push(path('ztproxy-v8-heap', "ztproxy tunnel, V8's default heap growth", () => openTunnel(other.port, certs.caPem), other.child.proc.pid));
    }
    if (wanted('ztproxy')) paths.push(path('ztproxy', 'through a ztproxy tunnel', tunnel, proxy.proc.pid));

    const bytes = SIZE_MIB * MIB;
    // Warm-up: JIT every path (and the client) before measuring.
    for (const p of paths) {
      const s = await p.open();
      p.cipher = (s as Partial<TLSSocket>).getCipher?.().standardName;
      await echoTransfer(s, 8 * MIB);
    }
    for (let r = 0; r < ROUNDS_TRANSFER; r++) {
      for (const p of paths) {
        const socket = await p.open();
        const stop = meterCpu(p.pid === undefined ? [] : [p.pid]);
        const client = process.cpuUsage();
        const seconds = await echoTransfer(socket, bytes);
        const used = stop();
        const clientUsed = process.cpuUsage(client);
        p.rates.push(SIZE_MIB / seconds);
        // The middle hop relays every byte twice (in, then back out): `bytes` each way.
        if (used) p.cpuPerGiB.push(used.cpuSec / ((2 * bytes) / GIB));
        p.clientCpuPerGiB.push((clientUsed.user + clientUsed.system) / 1e6 / ((2 * bytes) / GIB));
      }
    }

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
    if (bin) {
      const nginx = await startNginx(bin, certs.serverCert, certs.serverKey, certs.caPem);
      nginxDirs.push(nginx.dir);
      nginxTls = await times(() => handshake(nginx.port, certs.caPem));
      await nginx.child.stop();
    }
    await stopAllChildren();

    const directRate = median(paths[0]!.rates);
    const tunnelPath = paths.find((p) => p.key === 'ztproxy');
    const row = (p: Path): string => {
      const rate = median(p.rates);
      const cpu = p.cpuPerGiB.length ? `${median(p.cpuPerGiB).toFixed(2)} s` : '  n/a';
      const ratio = `${(rate / directRate).toFixed(2)}×`;
      return `  ${p.label.padEnd(46)} ${rate.toFixed(1).padStart(7)} MiB/s  ${ratio.padStart(6)}  ${cpu.padStart(7)}  ${median(p.clientCpuPerGiB).toFixed(2).padStart(6)} s  ${p.cipher ?? 'plaintext'}`;
    };
    const lines = [
      `tunnel: ${SIZE_MIB} MiB echoed each way per transfer, median of ${ROUNDS_TRANSFER} interleaved rounds, node ${process.version}; client, echo server and every hop on one machine (${process.env.ZTPROXY_BENCH_PROXY_ARGS ? `ztproxy node options: ${process.env.ZTPROXY_BENCH_PROXY_ARGS}` : 'default node options'})`,
      `  ${'path'.padEnd(46)} ${'each way'.padStart(13)}  ${'× TCP'.padStart(6)}  ${'hop CPU'.padStart(7)}  ${'client'.padStart(8)}  cipher`,
      ...paths.map(row),
      ...notes,
      '  (× TCP: ratio to the direct TCP connection, target for the tunnel ≥ 0.8×; hop CPU: CPU seconds per GiB relayed',
      '   (both directions added) of the process in the middle — the echo server for direct TCP; client: the client',
      '   process\'s CPU seconds per GiB, its own TLS included, which shares the same cores)',
    ];
    if (tunnelPath) {
      const ratio = median(tunnelPath.rates) / directRate;
      lines.push(`  ratio tunnel / direct TCP: ${ratio.toFixed(2)}× (target ≥ 0.8×)${ratio >= 0.8 ? '' : ' — below target'}`);
      for (const key of ['tls', 'pipe', 'nginx']) {
        const other = paths.find((p) => p.key === key);
        if (other) lines.push(`  ratio tunnel / ${other.label}: ${(median(tunnelPath.rates) / median(other.rates)).toFixed(2)}×`);
      }
    }
    lines.push(
      `time to first byte of a new connection, median / p90 of ${ROUNDS_TTFB}:`,
      `  direct TCP connect + 1 byte echoed                        ${ms(median(directFirst))} / ${ms(p90(directFirst))}`,
      `  ztproxy TLS handshake alone                               ${ms(median(proxyTls))} / ${ms(p90(proxyTls))}`,
      `  ztproxy tunnel: TLS + CONNECT + chain + upstream + 1 byte ${ms(median(tunnelFirst))} / ${ms(p90(tunnelFirst))}`,
      `  added by the CONNECT (chain, upstream connect, relay)     ${ms(median(tunnelFirst) - median(proxyTls))} (median difference)`,
      nginxTls
        ? `  nginx TLS handshake (${nginxVersion(bin) ?? 'nginx'})                    ${ms(median(nginxTls))} / ${ms(p90(nginxTls))}`
        : '  nginx TLS handshake                                       skipped (nginx not installed)',
    );
    if (!JSON_OUT) {
      process.stdout.write(`${lines.join('\n')}\n`);
      return;
    }
    process.stderr.write(`${lines.join('\n')}\n`);
    const mibs = (p: Path) => median(p.rates);
    const stats = (xs: number[]) => [median(xs), p90(xs)];
    const result: PartResult = {
      name: 'tunnel',
      title: 'Tunnel throughput (CONNECT) and time to first byte',
      setup: `${SIZE_MIB} MiB echoed each way per transfer, median of ${ROUNDS_TRANSFER} interleaved rounds; ${ROUNDS_TTFB} new connections for the time to first byte; client, echo server and every hop on this machine (not pinned: the client's TLS shares the cores)`,
      tables: [
        {
          title: 'Throughput per path',
          columns: ['path', 'MiB/s each way', '× direct TCP', 'hop CPU s/GiB', 'client CPU s/GiB', 'cipher'],
          rows: paths.map((p) => [p.label, mibs(p), mibs(p) / directRate, p.cpuPerGiB.length ? median(p.cpuPerGiB) : null, median(p.clientCpuPerGiB), p.cipher ?? 'plaintext']),
          note: 'hop CPU: CPU seconds per GiB relayed (both directions) of the process in the middle — the echo server for direct TCP; client: the client process, its own TLS included',
        },
        {
          title: 'Time to first byte of a new connection',
          columns: ['what', 'median ms', 'p90 ms'],
          rows: [
            ['direct TCP connect + 1 byte echoed', ...stats(directFirst)],
            ['ztproxy TLS handshake alone', ...stats(proxyTls)],
            ['ztproxy tunnel: TLS + CONNECT + chain + upstream + 1 byte', ...stats(tunnelFirst)],
            ...(nginxTls ? [[`nginx TLS handshake (${nginxVersion(bin) ?? 'nginx'})`, ...stats(nginxTls)]] : []),
          ],
        },
      ],
      charts: [{ id: 'tunnel-throughput', title: 'Tunnel throughput per path (MiB/s each way)', unit: 'MiB/s', kind: 'bar', groups: paths.map((p) => p.key), series: [{ label: 'MiB/s', values: paths.map(mibs) }] }],
      targets: [
        target('tunnel throughput ÷ direct TCP', tunnelPath ? mibs(tunnelPath) / directRate : null, '>=', 0.8, { why: 'the ztproxy path was not run (ZTPROXY_BENCH_PATHS)' }),
      ],
      raw: { paths: paths.map((p) => ({ key: p.key, label: p.label, rates: p.rates, cpuPerGiB: p.cpuPerGiB, clientCpuPerGiB: p.clientCpuPerGiB, cipher: p.cipher })), directFirst, tunnelFirst, proxyTls, nginxTls },
    };
    emitPart(result);
  } finally {
    await stopAllChildren();
    await rm(workDir, { recursive: true, force: true });
    for (const dir of nginxDirs) await rm(dir, { recursive: true, force: true });
  }
}

await main();
