// Per-hop handshake costs (issue #7, point 3): new TLS 1.3 connections per second and
// handshake latency of ztproxy beside nginx, on the same certificates, for
// {P-256, RSA-2048} × {full, resumed from a session ticket, mTLS full}; and
// `openssl speed` of the machine as the ceiling.
//
// The servers run on SUT_CPU, the client (this process, bench/lib/handshake-client.ts) on
// LOAD_CPU. Per case: capacity (a closed loop of concurrent new connections, each closed
// once its handshake is done), the client's own CPU (a client at its core's limit sets the
// pace, and the run says so), and the server's CPU per handshake from /proc — the number
// a saturated client distorts least, which is why the targets use it (see `ratios`).
// Then the latency of connect → secureConnect at a modest fixed rate. The cases run
// interleaved over rounds (every case of round 1, then round 2 …), medians reported.
//
// Run: node bench/handshake.ts [--quick | --tiny] [--json]
//   --quick  ≤ 45 s; --tiny: the smallest sizes, for the test (numbers meaningless)
//   --json   the PartResult as the last line of stdout (bench/lib/part.ts), text on stderr
// HANDSHAKE_CPU_PROF=DIR: write CPU profiles of the ztproxy children into DIR.
// HANDSHAKE_KEY_TYPES=ec,rsa: a subset of the key types.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { KeyType } from '../src/tls/pki.ts';
import { installChildCleanup, removeOnExit, stopAllChildren } from './lib/children.ts';
import { meterCpu } from './lib/cpu.ts';
import { capacity, checkServer, CLIENT_GROUPS, clientContext, collectSessions, latency, type CapacityResult, type ClientCase, type LatencyResult } from './lib/handshake-client.ts';
import { startServers, type HandshakeServer, type KeyTypeSetup } from './lib/handshake-servers.ts';
import { findNginx, nginxVersion } from './lib/nginx.ts';
import {
  computeRatios, handshakeTargets, KEY_LABEL, KIND_LABEL, KINDS, parseOpensslSpeed, SATURATED_PERCENT,
  type CaseId, type CaseSummary, type CheckRow, type Ratio, type SpeedRow,
} from './lib/handshake-report.ts';
import { emitPart, type ChartSpec, type PartResult, type PartTable } from './lib/part.ts';
import { LOAD_CPU, pinned, pinningDescription, pinPid, SUT_CPU } from './lib/pin.ts';
import { startUpstream } from './lib/upstream.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const JSON_OUT = process.argv.includes('--json');
const SIZE = process.argv.includes('--tiny') ? 'tiny' : process.argv.includes('--quick') ? 'quick' : 'full';

interface Sizes {
  readonly rounds: number;
  /** Measured seconds of one capacity run. */
  readonly capacitySec: number;
  /** Unmeasured seconds before each (new connections warm the server's caches and JIT). */
  readonly warmupSec: number;
  /** Connections in flight: enough to keep a one-core server busy while the client works. */
  readonly concurrency: number;
  readonly latencyCount: number;
  /** Handshakes per second for the latency runs, at most: see LATENCY_LOAD. */
  readonly latencyRate: number;
  /** A latency run lasts about this long at most (fewer handshakes when the rate had to be low). */
  readonly latencySec: number;
  readonly speedAlgorithms: readonly string[];
  /** Seconds every server is metered while nothing connects: its background CPU. */
  readonly idleSec: number;
}

const SIZES: Record<typeof SIZE, Sizes> = {
  full: { rounds: 3, capacitySec: 1.75, warmupSec: 0.35, concurrency: 32, latencyCount: 200, latencyRate: 200, latencySec: 1.5, speedAlgorithms: ['ecdsap256', 'rsa2048', 'ecdhp256', 'ecdhx25519'], idleSec: 2 },
  quick: { rounds: 1, capacitySec: 0.8, warmupSec: 0.2, concurrency: 32, latencyCount: 40, latencyRate: 200, latencySec: 0.5, speedAlgorithms: ['ecdsap256', 'rsa2048', 'ecdhx25519'], idleSec: 1 },
  tiny: { rounds: 1, capacitySec: 0.3, warmupSec: 0.1, concurrency: 4, latencyCount: 10, latencyRate: 100, latencySec: 0.2, speedAlgorithms: ['ecdsap256'], idleSec: 0.2 },
};
const sizes = SIZES[SIZE];

/**
 * The latency runs start handshakes at this share of the capacity measured for the case
 * (the lowest of the servers, so all run at the same rate), capped at `latencyRate`: a
 * fixed rate above what a server does on a busy machine would measure its queue.
 */
const LATENCY_LOAD = 0.25;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
/** Nearest-rank percentile. */
const percentile = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const round = (n: number, digits = 2): number => (Number.isFinite(n) ? Number(n.toFixed(digits)) : NaN);
const orNull = (n: number): number | null => (Number.isFinite(n) ? n : null);

// ---------------------------------------------------------------- openssl speed

/** `openssl speed` on the servers' core: the ceiling of the signature and key exchange a handshake needs. */
async function opensslSpeed(): Promise<{ rows: SpeedRow[]; version: string } | { error: string }> {
  try {
    const [cmd, args] = pinned(SUT_CPU, 'openssl', ['speed', '-seconds', '1', ...sizes.speedAlgorithms]);
    const { stdout } = await promisify(execFile)(cmd, args, { maxBuffer: 1 << 20 });
    const version = /^version: (.+)$/m.exec(stdout)?.[1] ?? '';
    const rows = parseOpensslSpeed(stdout);
    return rows.length ? { rows, version } : { error: 'openssl speed printed no result line this bench understands' };
  } catch (err) {
    return { error: `openssl speed failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

// ---------------------------------------------------------------- measurement

const caseKey = (c: CaseId): string => `${c.keyType}/${c.server}/${c.kind}`;

interface RoundResult extends CapacityResult {
  /** CPU seconds of the server's process tree during the measured run. */
  readonly sutCpuSec: number | null;
  /** ztproxy only: handshakes its own counter saw succeed / fail during the run. */
  readonly serverOk: number | null;
  readonly serverErrors: number | null;
}

interface CaseRun extends CaseId {
  readonly endpoint: HandshakeServer;
  readonly client: ClientCase;
  readonly rounds: RoundResult[];
  latency?: LatencyResult;
  latencyRate?: number;
  idlePercent?: number | null;
}

/** `ztproxy_tls_handshakes_total` by result, from ztproxy's admin port. */
async function handshakeCounter(url: string | undefined): Promise<{ ok: number; error: number } | undefined> {
  if (!url) return undefined;
  try {
    const text = await (await fetch(url)).text();
    const read = (result: string) => Number(new RegExp(`^ztproxy_tls_handshakes_total\\{result="${result}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    return { ok: read('ok'), error: read('error') };
  } catch {
    return undefined;
  }
}

async function measureRound(run: CaseRun): Promise<RoundResult> {
  await capacity(run.client, sizes.concurrency, sizes.warmupSec);
  const mtls = run.kind === 'mtls';
  const metricsUrl = mtls ? run.endpoint.mtlsMetricsUrl : run.endpoint.metricsUrl;
  const before = await handshakeCounter(metricsUrl);
  const stop = meterCpu([mtls ? run.endpoint.mtlsPid : run.endpoint.pid]);
  const result = await capacity(run.client, sizes.concurrency, sizes.capacitySec);
  const sut = stop();
  const after = await handshakeCounter(metricsUrl);
  return {
    ...result,
    sutCpuSec: sut?.cpuSec ?? null,
    serverOk: before && after ? after.ok - before.ok : null,
    serverErrors: before && after ? after.error - before.error : null,
  };
}

function summarize(run: CaseRun): CaseSummary {
  const rs = run.rounds;
  const perRound = (f: (r: RoundResult) => number) => median(rs.map(f));
  const sutUs = perRound((r) => (r.sutCpuSec === null || r.handshakes === 0 ? NaN : (r.sutCpuSec * 1e6) / r.handshakes));
  const clientPercent = perRound((r) => (100 * r.clientCpuSec) / r.wallSec);
  const handshakes = rs.reduce((a, r) => a + r.handshakes, 0);
  const sum = (f: (r: RoundResult) => number | null) => (rs.every((r) => f(r) !== null) ? rs.reduce((a, r) => a + f(r)!, 0) : null);
  const lat = run.latency;
  return {
    keyType: run.keyType,
    server: run.server,
    kind: run.kind,
    rate: perRound((r) => r.handshakes / r.wallSec),
    sutPercent: perRound((r) => (r.sutCpuSec === null ? NaN : (100 * r.sutCpuSec) / r.wallSec)),
    sutIdlePercent: run.idlePercent ?? null,
    sutUsPerHandshake: sutUs,
    perSutCpuSecond: 1e6 / sutUs,
    clientPercent,
    clientSaturated: clientPercent >= SATURATED_PERCENT,
    resumedShare: handshakes ? rs.reduce((a, r) => a + r.reused, 0) / handshakes : 0,
    errors: rs.reduce((a, r) => a + r.errors, 0),
    firstError: rs.find((r) => r.firstError)?.firstError,
    handshakes,
    serverOk: sum((r) => r.serverOk),
    serverErrors: sum((r) => r.serverErrors),
    latency: lat && lat.ms.length
      ? {
          p50: percentile(lat.ms, 50),
          p90: percentile(lat.ms, 90),
          p99: percentile(lat.ms, 99),
          max: Math.max(...lat.ms),
          n: lat.ms.length,
          reusedShare: lat.reused / lat.ms.length,
          rate: run.latencyRate ?? NaN,
          errors: lat.errors,
        }
      : undefined,
  };
}

// ---------------------------------------------------------------- checks

async function checkServers(setup: KeyTypeSetup): Promise<CheckRow[]> {
  const rows: CheckRow[] = [];
  for (const s of setup.servers) {
    const serverOnly = await checkServer(s.port, setup.caPem);
    const mtlsWithCert = await checkServer(s.mtlsPort, setup.caPem, setup.clientCert);
    const mtlsWithoutCert = await checkServer(s.mtlsPort, setup.caPem);
    rows.push({
      keyType: setup.keyType,
      server: s.name,
      serverOnly,
      mtlsWithCert,
      mtlsWithoutCert,
      mtlsVerified: mtlsWithCert.status === 200 && mtlsWithCert.chainValid && mtlsWithoutCert.status !== 200,
    });
  }
  return rows;
}

// ---------------------------------------------------------------- main

async function main(): Promise<PartResult> {
  installChildCleanup();
  const keyTypes = (process.env.HANDSHAKE_KEY_TYPES ?? 'ec,rsa').split(',').map((s) => s.trim()).filter((s): s is KeyType => s === 'ec' || s === 'rsa');
  if (keyTypes.length === 0) throw new Error('HANDSHAKE_KEY_TYPES names no key type (ec, rsa)');
  const nginxBin = findNginx();
  const nginxSkip = nginxBin ? undefined : 'nginx is not installed (apt-get install nginx-light)';
  const workDir = await mkdtemp(join(tmpdir(), 'ztproxy-bench-hs-'));
  removeOnExit(workDir);
  const started = Date.now();
  const loadBefore = loadavg()[0]!.toFixed(1);
  try {
    const node = process.execPath;
    log(`handshake bench (${SIZE}): ${pinningDescription()}`);
    const speedPromise = opensslSpeed();
    const upstream = await startUpstream(node);
    const profDir = process.env.HANDSHAKE_CPU_PROF ? resolve(process.env.HANDSHAKE_CPU_PROF) : undefined;
    const base = {
      options: { connections: sizes.concurrency, durationSec: sizes.capacitySec, warmupSec: sizes.warmupSec, keyType: 'ec' as const, only: undefined, cpuProfileDir: profDir },
      root: ROOT,
      node,
      workDir,
      upstream: upstream.url,
      upstreamPid: upstream.child.proc.pid!,
    };
    const setups = await Promise.all(keyTypes.map((k) => startServers(base, k, nginxBin, nginxSkip)));
    // The bench process is the client, and the upstream only answers readiness probes: both
    // on the load core. Pinned only now so that the children start on both cores (a busy
    // load core would make their start crawl); the servers moved themselves to SUT_CPU.
    pinPid(LOAD_CPU, process.pid);
    pinPid(LOAD_CPU, upstream.child.proc.pid!);
    const speed = await speedPromise;
    log(`servers up after ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const checks = new Map<string, CheckRow>();
    for (const setup of setups) for (const row of await checkServers(setup)) checks.set(`${row.keyType}/${row.server}`, row);

    const runs: CaseRun[] = [];
    for (const setup of setups) {
      const plain = clientContext();
      const withCert = clientContext(setup.clientCert);
      for (const kind of KINDS) {
        for (const s of setup.servers) {
          const port = kind === 'mtls' ? s.mtlsPort : s.port;
          const context = kind === 'mtls' ? withCert : plain;
          const sessions = kind === 'resumed' ? await collectSessions({ port, context }, 4) : undefined;
          runs.push({ keyType: setup.keyType, server: s.name, kind, endpoint: s, client: { port, context, ...(sessions ? { sessions } : {}) }, rounds: [] });
        }
      }
    }
    // Background CPU (timers, file polling, metrics) is in every µs-per-handshake figure;
    // at a low rate it is a large part of it. Measured for all servers in one quiet window.
    const idle = new Map<number, number | null>();
    const pids = [...new Set(setups.flatMap((setup) => setup.servers.flatMap((x) => [x.pid, x.mtlsPid])))];
    const stops = pids.map((pid) => [pid, meterCpu([pid])] as const);
    await new Promise((r) => setTimeout(r, sizes.idleSec * 1000));
    for (const [pid, stop] of stops) idle.set(pid, stop()?.percent ?? null);
    for (const run of runs) run.idlePercent = idle.get(run.kind === 'mtls' ? run.endpoint.mtlsPid : run.endpoint.pid) ?? null;

    // Interleaved: a burst of load from elsewhere lands on every case, not on one.
    for (let r = 0; r < sizes.rounds; r++) {
      for (const run of runs) {
        run.rounds.push(await measureRound(run));
        const last = run.rounds.at(-1)!;
        log(`round ${r + 1} ${caseKey(run).padEnd(22)} ${(last.handshakes / last.wallSec).toFixed(0).padStart(6)} handshakes/s` +
          `  server ${last.sutCpuSec === null ? '?' : ((last.sutCpuSec * 1e6) / Math.max(1, last.handshakes)).toFixed(0)} µs each` +
          `  client CPU ${((100 * last.clientCpuSec) / last.wallSec).toFixed(0)} %${last.errors ? `  ${last.errors} errors` : ''}`);
      }
    }
    for (const run of runs) {
      const capacities = runs.filter((r) => r.keyType === run.keyType && r.kind === run.kind).map((r) => median(r.rounds.map((x) => x.handshakes / x.wallSec)));
      run.latencyRate = Math.max(5, Math.round(Math.min(sizes.latencyRate, LATENCY_LOAD * Math.min(...capacities))));
      const count = Math.max(5, Math.min(sizes.latencyCount, Math.round(run.latencyRate * sizes.latencySec)));
      run.latency = await latency(run.client, count, run.latencyRate);
    }

    const summaries = runs.map(summarize);
    const ratios = computeRatios(summaries, checks, keyTypes);
    const result = buildResult({ summaries, ratios, checks, speed, nginxSkip, keyTypes, loadBefore });
    log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return result;
  } finally {
    await stopAllChildren();
    await rm(workDir, { recursive: true, force: true });
  }
}

function buildResult(m: {
  summaries: CaseSummary[];
  ratios: Ratio[];
  checks: Map<string, CheckRow>;
  speed: Awaited<ReturnType<typeof opensslSpeed>>;
  nginxSkip: string | undefined;
  keyTypes: readonly KeyType[];
  loadBefore: string;
}): PartResult {
  const label = (s: CaseId) => `${KEY_LABEL[s.keyType]} ${KIND_LABEL[s.kind]}`;
  const bound = (s: CaseSummary) =>
    s.clientSaturated ? 'client-bound' : s.sutPercent >= SATURATED_PERCENT ? 'server-bound' : 'neither saturated';
  const tables: PartTable[] = [];
  tables.push({
    title: 'New TLS connections per second (capacity)',
    columns: ['case', 'server', 'handshakes/s', 'server CPU %', 'idle CPU %', 'server µs/handshake', 'handshakes per server CPU-s', 'client CPU %', 'bound by', 'resumed %', 'errors', 'server ok / failed'],
    rows: m.summaries.map((s) => [
      label(s),
      s.server,
      round(s.rate, 0),
      round(s.sutPercent, 0),
      s.sutIdlePercent === null ? null : round(s.sutIdlePercent, 1),
      round(s.sutUsPerHandshake, 0),
      round(s.perSutCpuSecond, 0),
      round(s.clientPercent, 0),
      bound(s),
      round(100 * s.resumedShare, 1),
      s.errors,
      s.serverOk === null ? '—' : `${s.serverOk} / ${s.serverErrors}`,
    ]),
    note: `${sizes.concurrency} connections in flight, each closed after its handshake; median of ${sizes.rounds} interleaved round(s) of ${sizes.capacitySec} s. ` +
      `Server CPU from /proc (nginx: master and worker); client CPU is this process's. A client at ≥ ${SATURATED_PERCENT} % of its core set the pace: ` +
      'then handshakes/s measures the client and "handshakes per server CPU-s" is the figure to compare. "idle CPU %": the same server with no client ' +
      '(its timers), included in µs/handshake, not subtracted. "server ok / failed": ztproxy\'s own counter.',
  });
  tables.push({
    title: 'Handshake latency (connect → secureConnect)',
    columns: ['case', 'server', 'rate/s', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'resumed %', 'errors'],
    rows: m.summaries.map((s) => [
      label(s),
      s.server,
      s.latency?.rate ?? null,
      s.latency?.n ?? 0,
      round(s.latency?.p50 ?? NaN, 3),
      round(s.latency?.p90 ?? NaN, 3),
      round(s.latency?.p99 ?? NaN, 3),
      round(s.latency?.max ?? NaN, 3),
      round(100 * (s.latency?.reusedShare ?? 0), 1),
      s.latency?.errors ?? 0,
    ]),
    note: `Started at a fixed rate (open loop; ${100 * LATENCY_LOAD} % of the lowest capacity measured for the case, at most ${sizes.latencyRate}/s, the same for every server), timed from connect() to secureConnect in the client: TCP connect, both key exchanges, the signature and its check.`,
  });
  tables.push({
    title: 'Handshake ratios',
    columns: ['ratio', 'key', 'by handshakes/s', 'by server CPU per handshake', 'note'],
    rows: m.ratios.map((r) => [r.name, KEY_LABEL[r.keyType], r.byRate === null ? null : round(r.byRate), r.byCpu === null ? null : round(r.byCpu), r.invalid ?? '']),
    note: 'The targets use the server-CPU column (handshakes one busy server core completes): the rate column is bounded by the client wherever the capacity table says "client-bound".',
  });
  const checkRows = [...m.checks.values()];
  tables.push({
    title: 'What each server negotiated (checked once, chain validated against the dev CA)',
    columns: ['server', 'key', 'protocol', 'cipher', 'group', 'certificate key', 'chain valid', 'GET / status', 'mTLS with cert', 'mTLS without cert'],
    rows: checkRows.map((c) => [
      c.server,
      KEY_LABEL[c.keyType],
      c.serverOnly.protocol ?? '—',
      c.serverOnly.cipher,
      c.serverOnly.group ?? '—',
      c.serverOnly.serverKey,
      c.serverOnly.chainValid ? 'yes' : 'NO',
      c.serverOnly.status ?? c.serverOnly.error ?? '—',
      c.mtlsWithCert.status ?? c.mtlsWithCert.error ?? '—',
      c.mtlsWithoutCert.status ?? `refused (${shortError(c.mtlsWithoutCert.error)})`,
    ]),
    note: 'mTLS counts as verified when the listener answers 200 with the dev client certificate and refuses the same request without one.',
  });
  if ('rows' in m.speed) {
    tables.push({
      title: `openssl speed (OpenSSL ${m.speed.version}, on the servers' core)`,
      columns: ['algorithm', 'sign/s', 'verify/s', 'key agreements/s'],
      rows: m.speed.rows.map((r) => [r.algorithm, r.signPerSec, r.verifyPerSec, r.opsPerSec]),
      note: 'The ceiling: a full handshake costs the server one signature and one key agreement (X25519 here), plus for mTLS two verifications; a resumed one only the key agreement and the ticket.',
    });
  }
  const groups = m.keyTypes.flatMap((k) => KINDS.map((kind) => `${KEY_LABEL[k]} ${KIND_LABEL[kind]}`));
  const seriesOf = (server: string, f: (s: CaseSummary) => number) => ({
    label: server,
    values: m.keyTypes.flatMap((k) => KINDS.map((kind) => {
      const s = m.summaries.find((x) => x.keyType === k && x.kind === kind && x.server === server);
      return s ? orNull(round(f(s), 0)) : null;
    })),
  });
  const servers = [...new Set(m.summaries.map((s) => s.server))];
  const charts: ChartSpec[] = [
    { id: 'handshakes-rate', title: 'New TLS connections per second, as measured', unit: 'handshakes/s', kind: 'bar', groups, series: servers.map((s) => seriesOf(s, (x) => x.rate)) },
    { id: 'handshakes-per-cpu', title: 'Handshakes per second of server CPU', unit: 'handshakes/s', kind: 'bar', groups, series: servers.map((s) => seriesOf(s, (x) => x.perSutCpuSecond)) },
  ];
  const targets = handshakeTargets(m.ratios, m.nginxSkip);
  const setup =
    `${pinningDescription()}. Node ${process.versions.node} (OpenSSL ${process.versions.openssl}) for ztproxy, the bare Node server and the client; ` +
    `${m.nginxSkip ?? `${nginxVersion() ?? 'nginx'}, one worker`}. TLS 1.3 only, the same dev PKI certificate and key on every server; ` +
    `the client (this process) offers ${CLIENT_GROUPS} and validates each server's chain once, not during the measurement. ` +
    `Load average ${m.loadBefore} at the start, ${loadavg()[0]!.toFixed(1)} at the end (other work on the machine). ` +
    `Size ${SIZE}: ${sizes.rounds} round(s) × ${sizes.capacitySec} s per case, ${sizes.concurrency} in flight; latency: up to ${sizes.latencyCount} handshakes at ${100 * LATENCY_LOAD} % of the case's lowest capacity, at most ${sizes.latencyRate}/s.` +
    ('error' in m.speed ? ` openssl speed: ${m.speed.error}.` : '');
  return {
    name: 'handshake',
    title: 'Per-hop TLS handshake costs',
    setup,
    tables,
    charts,
    targets,
    raw: { sizes, summaries: m.summaries, ratios: m.ratios, checks: checkRows, speed: m.speed },
  };
}

/** An OpenSSL error line cut to its reason: `tlsv13 alert certificate required`. */
function shortError(message: string | undefined): string {
  if (!message) return '?';
  return /:(tlsv1\d? alert [^:]+|[a-z ]+alert[^:]*):/.exec(message)?.[1] ?? message.split('\n')[0]!.slice(0, 80);
}

function printTables(result: PartResult, write: (s: string) => void): void {
  write(`\n${result.title}\n${result.setup}\n`);
  for (const t of result.tables) {
    const cells = [t.columns, ...t.rows.map((r) => r.map((c) => (c === null || (typeof c === 'number' && Number.isNaN(c)) ? '—' : String(c))))];
    const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
    write(`\n${t.title}\n`);
    for (const r of cells) write(`  ${r.map((c, i) => String(c ?? '').padEnd(widths[i]!)).join('  ')}\n`);
    if (t.note) write(`  (${t.note})\n`);
  }
  write('\nTargets\n');
  for (const t of result.targets ?? []) {
    write(`  ${t.name.padEnd(42)} ${t.value === null ? '—' : t.value.toFixed(2)} ${t.comparison} ${t.target}  ${t.met === undefined ? `not measured: ${t.why}` : t.met ? 'met' : 'NOT met'}\n`);
  }
}

main().then(
  (result) => {
    printTables(result, JSON_OUT ? (s) => process.stderr.write(s) : (s) => process.stdout.write(s));
    if (JSON_OUT) emitPart(result);
  },
  (err: unknown) => {
    process.stderr.write(`handshake bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
