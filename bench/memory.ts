// Memory of ztproxy (issue #7, point 6): RSS with 10,000 idle keep-alive TLS connections,
// what is given back once they close, and RSS growth over a soak at 50 % of capacity.
//
//   ./node_modules/.bin/node bench/memory.ts [--quick | --tiny] [--json] [--connections=N] [--soak=SECONDS] [--compare] [--allocators=glibc[,jemalloc]] [--nginx | --no-nginx]
//
// full: 10,000 connections, 5-minute soak (~7 min); --quick: 2,000 and 30 s (~1 min);
// --tiny (the tests): 200 and 5 s. --compare adds the idle phase under jemalloc and on
// nginx (+~3 min at 10,000). ztproxy runs on SUT_CPU on its default limits (only
// keepAliveTimeout is raised, so idle connections stay open while they are counted); the
// idle clients, the upstream, the load generator and this process on LOAD_CPU. RSS from
// /proc/PID/status, V8's heap from ztproxy's admin /metrics. See bench/README.md, "Memory".
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { installChildCleanup, removeOnExit, spawnChild, stopAllChildren, type Child } from './lib/children.ts';
import { JEMALLOC_CONF, jemallocOrInstall } from './lib/memory-allocator.ts';
import { soakGrowth, WARMUP_FRACTION, type Sample } from './lib/memory-growth.ts';
import type { ClientCommand, ClientReport } from './lib/memory-idle-client.ts';
import { startIdleNginx } from './lib/memory-nginx.ts';
import { readHeapView, readRss, type HeapView, type Rss } from './lib/memory-probe.ts';
import { findNginx, nginxVersion } from './lib/nginx.ts';
import { waitFor } from './lib/net.ts';
import { emitPart, target, type Cell, type PartResult } from './lib/part.ts';
import { LOAD_CPU, pinned, pinningDescription, pinPid, SUT_CPU } from './lib/pin.ts';
import type { BenchContext } from './lib/scenario.ts';
import { startUpstream } from './lib/upstream.ts';
import { initCerts, startZtproxy } from './lib/ztproxy.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const IDLE_CLIENT = fileURLToPath(new URL('./lib/memory-idle-client.ts', import.meta.url));

/** The issue's targets. */
const TARGET_IDLE_CONNECTIONS = 10_000;
const TARGET_RSS_MB = 200;
const TARGET_GROWTH_PERCENT = 5;
/** What `ztproxy start` runs on unless the operator preloads another malloc. */
const DEFAULT_ALLOCATOR = 'glibc';

interface Sizes {
  readonly mode: 'full' | 'quick' | 'tiny';
  /** Idle keep-alive TLS connections held at once. */
  readonly connections: number;
  readonly soakSec: number;
  /** RSS sampling interval, throughout the run. */
  readonly sampleSec: number;
  /** Length of the quick capacity run that sets the soak's rate. */
  readonly capacitySec: number;
  /** Wait after opening and after closing before reading memory (GC, allocator trims). */
  readonly settleSec: number;
  /** Wait after the last connection closed: long enough for V8 to collect the closed sockets and for jemalloc's decay. */
  readonly closedSettleSec: number;
  /** autocannon connections of the capacity run and of the soak. */
  readonly loadConnections: number;
  /** `glibc` always; `jemalloc` adds a second idle phase under jemalloc. */
  readonly allocators: readonly string[];
  /** Also hold the idle connections on nginx (when installed), as the yardstick. */
  readonly nginx: boolean;
}

function readSizes(argv: readonly string[]): Sizes {
  const flag = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const base: Sizes = argv.includes('--tiny')
    ? { mode: 'tiny', connections: 200, soakSec: 5, sampleSec: 0.5, capacitySec: 1, settleSec: 1, closedSettleSec: 2, loadConnections: 10, allocators: ['glibc'], nginx: false }
    : argv.includes('--quick')
      ? { mode: 'quick', connections: 2000, soakSec: 30, sampleSec: 1, capacitySec: 3, settleSec: 2, closedSettleSec: 5, loadConnections: 50, allocators: ['glibc'], nginx: false }
      : { mode: 'full', connections: TARGET_IDLE_CONNECTIONS, soakSec: 300, sampleSec: 3, capacitySec: 5, settleSec: 5, closedSettleSec: 15, loadConnections: 50, allocators: ['glibc'], nginx: false };
  const positive = (name: string, fallback: number) => {
    const raw = flag(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, not "${raw}"`);
    return n;
  };
  // --compare: the same idle phase under jemalloc and on nginx (each ~1.5 min at 10,000
  // connections, past the full run's 7-minute budget, so not by default).
  const compare = argv.includes('--compare');
  const allocators = flag('allocators')?.split(',') ?? (compare ? ['glibc', 'jemalloc'] : base.allocators);
  if (!allocators.includes(DEFAULT_ALLOCATOR) || allocators.some((a) => a !== 'glibc' && a !== 'jemalloc')) {
    throw new Error(`--allocators must be glibc or glibc,jemalloc, not "${allocators.join(',')}"`);
  }
  const nginx = argv.includes('--nginx') || compare ? true : argv.includes('--no-nginx') ? false : base.nginx;
  return { ...base, connections: Math.round(positive('connections', base.connections)), soakSec: positive('soak', base.soakSec), allocators, nginx };
}

const say = (line: string) => process.stderr.write(`memory: ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A reading of both views at one point of the run. */
interface Point {
  readonly phase: string;
  readonly t: number;
  readonly rss: Rss | undefined;
  readonly heap: HeapView | undefined;
}

class IdleClients {
  readonly #child: Child;
  #waiters: ((r: ClientReport) => void)[] = [];

  constructor(node: string) {
    const [cmd, args] = pinned(LOAD_CPU, node, [IDLE_CLIENT]);
    this.#child = spawnChild('idle-clients', cmd, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.#child.proc.on('message', (r: ClientReport) => this.#waiters.shift()?.(r));
  }

  async ask<T extends ClientReport['type']>(cmd: ClientCommand, answer: T): Promise<Extract<ClientReport, { type: T }>> {
    const reply = new Promise<ClientReport>((resolve) => this.#waiters.push(resolve));
    this.#child.proc.send(cmd);
    const exited = this.#child.exited.then((code) => {
      throw new Error(`the idle clients exited (${code}):\n${this.#child.output}`);
    });
    const r = await Promise.race([reply, exited]);
    if (r.type !== answer) throw new Error(`the idle clients answered ${r.type}, expected ${answer}`);
    return r as Extract<ClientReport, { type: T }>;
  }

  stop(): Promise<void> {
    return this.#child.stop();
  }
}

/** One server (ztproxy under one allocator, or nginx) through the idle-connection phase. */
interface IdleRun {
  readonly subject: string;
  readonly atStart: Point;
  readonly held: Point;
  readonly closed: Point;
  readonly opened: Extract<ClientReport, { type: 'opened' }>;
  readonly lost: number;
}

/** What the idle phase needs of a server: where to connect, whose memory to read. */
interface IdleSubject {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** V8's view (ztproxy only). */
  readonly heap?: () => Promise<HeapView | undefined>;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const json = argv.includes('--json');
  const sizes = readSizes(argv);
  installChildCleanup();
  // This process runs the load generator and reads /proc: it belongs on the load core.
  pinPid(LOAD_CPU, process.pid);

  const workDir = await mkdtemp(join(tmpdir(), 'ztproxy-memory-'));
  removeOnExit(workDir);
  const node = process.execPath;
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const timeline: { t: number; phase: string; rss: number }[] = [];
  const points: Point[] = [];
  let phase = 'start';
  let sampler: NodeJS.Timeout | undefined;
  const sample = (pid: number) => {
    clearInterval(sampler);
    sampler = setInterval(() => {
      const rss = readRss(pid);
      if (rss) timeline.push({ t: elapsed(), phase, rss: rss.rss });
    }, sizes.sampleSec * 1000);
  };
  try {
    const certs = await initCerts({ root: ROOT, node }, join(workDir, 'certs'), 'ec');
    const upstream = await startUpstream(node);
    pinPid(LOAD_CPU, upstream.child.proc.pid!);
    const ctx: BenchContext = {
      options: { connections: sizes.loadConnections, durationSec: sizes.soakSec, warmupSec: 0, keyType: 'ec', only: undefined, cpuProfileDir: undefined },
      root: ROOT,
      node,
      workDir,
      certs,
      upstream: upstream.url,
      upstreamPid: upstream.child.proc.pid!,
    };

    const start = async (name: string, env?: Record<string, string>) => {
      const proxy = await startZtproxy(ctx, {
        name,
        cpu: SUT_CPU,
        ...(env ? { env } : {}),
        // Default limits throughout, except the idle cut: at its default (5 s) the idle
        // connections would be closed by the proxy while they are being opened and counted.
        customize: (config) => ({ ...config, listen: { ...config.listen, limits: { ...config.listen.limits, keepAliveTimeout: '1h' } } }),
      });
      const subject: IdleSubject = { name: '', url: proxy.url, pid: proxy.child.proc.pid!, heap: () => readHeapView(proxy.adminUrl) };
      return { proxy, subject };
    };

    /** Start → N idle connections → all closed. */
    const idlePhase = async (subject: IdleSubject): Promise<IdleRun> => {
      const label = (p: string) => (subject.name === DEFAULT_ALLOCATOR ? p : `${p} (${subject.name})`);
      sample(subject.pid);
      const mark = async (name: string): Promise<Point> => {
        const point: Point = { phase: label(name), t: elapsed(), rss: readRss(subject.pid), heap: await subject.heap?.() };
        points.push(point);
        say(`${point.phase}: RSS ${point.rss?.rss.toFixed(1)} MB (anon ${point.rss?.anon.toFixed(1)}, malloc [heap] ${point.rss?.brk.toFixed(1)}), heap used ${point.heap?.heapUsed.toFixed(1) ?? '-'} MB`);
        return point;
      };
      phase = label('started');
      await sleep(sizes.settleSec * 1000);
      const atStart = await mark('after start');

      phase = label('opening');
      const clients = new IdleClients(node);
      say(`opening ${sizes.connections} idle keep-alive TLS connections (${subject.name})`);
      const opened = await clients.ask({ type: 'open', url: subject.url, count: sizes.connections, ca: certs.caPem }, 'opened');
      if (opened.failed > 0) say(`${opened.failed} connection(s) failed, first: ${opened.error}`);
      phase = label('held');
      await sleep(sizes.settleSec * 1000);
      const held = await mark(`${opened.open} idle connections`);
      const status = await clients.ask({ type: 'status' }, 'status');

      phase = label('closing');
      await clients.ask({ type: 'close' }, 'closed');
      const heap = subject.heap;
      if (heap) await waitFor('ztproxy to see every connection closed', async () => (await heap())?.openConnections === 0, { timeoutMs: 30_000, intervalMs: 200 });
      phase = label('closed');
      await sleep(sizes.closedSettleSec * 1000);
      const closed = await mark('after all closed');
      await clients.stop();
      clearInterval(sampler);
      sampler = undefined;
      return { subject: subject.name, atStart, held, closed, opened, lost: status.lost };
    };

    // ztproxy as `ztproxy start` runs on a host (glibc's malloc) carries the targets.
    const runs: IdleRun[] = [];
    {
      const { proxy, subject } = await start('memory');
      runs.push(await idlePhase({ ...subject, name: DEFAULT_ALLOCATOR }));
      await proxy.child.stop();
    }
    // The same under jemalloc: what a different allocator gives back.
    let jemallocSkip: string | undefined;
    if (sizes.allocators.includes('jemalloc')) {
      const lib = jemallocOrInstall();
      if ('skip' in lib) {
        jemallocSkip = lib.skip;
        say(`jemalloc: skipped (${lib.skip})`);
      } else {
        const { proxy, subject } = await start('memory-jemalloc', { LD_PRELOAD: lib.path, MALLOC_CONF: JEMALLOC_CONF });
        runs.push(await idlePhase({ ...subject, name: 'jemalloc' }));
        await proxy.child.stop();
      }
    }
    // nginx, one worker, on the same certificate: the cost of an idle TLS connection in C.
    let nginxSkip: string | undefined;
    if (sizes.nginx) {
      const bin = findNginx();
      if (!bin) nginxSkip = 'nginx is not installed (apt-get install nginx-light)';
      else {
        const nginx = await startIdleNginx(bin, certs.serverCert, certs.serverKey, certs.caPem, SUT_CPU);
        runs.push(await idlePhase({ name: `nginx ${nginxVersion(bin)?.replace(/^nginx\//, '') ?? ''} worker`.replace('  ', ' '), url: nginx.url, pid: nginx.workerPid }));
        await nginx.child.stop();
      }
    }

    // The soak on a fresh ztproxy: after a wave of idle connections RSS sits at that
    // peak, which would hide any growth below it.
    const { proxy, subject } = await start('memory-soak');
    phase = 'capacity';
    const load = { url: `${proxy.url}/`, connections: sizes.loadConnections, timeout: 10 };
    const capacity = await autocannon({ ...load, duration: sizes.capacitySec });
    const capacityRps = capacity.requests.total / capacity.duration;
    const rate = Math.max(1, Math.round(capacityRps / 2));
    say(`capacity ${capacityRps.toFixed(0)} req/s; soak at ${rate} req/s for ${sizes.soakSec} s`);
    phase = 'soak';
    const soakStart = elapsed();
    sample(subject.pid);
    const markSoak = async (name: string) => {
      points.push({ phase: name, t: elapsed(), rss: readRss(subject.pid), heap: await subject.heap!() });
    };
    await markSoak('soak start');
    const soak = await autocannon({ ...load, duration: sizes.soakSec, overallRate: rate });
    await markSoak('soak end');
    clearInterval(sampler);
    sampler = undefined;
    await proxy.child.stop();
    const soakSamples: Sample[] = timeline.filter((s) => s.phase === 'soak').map((s) => ({ t: s.t - soakStart, rss: s.rss }));
    const growth = soakGrowth(soakSamples, sizes.soakSec);
    say(`growth over the soak: ${growth ? `${growth.percent.toFixed(2)} %` : 'not enough samples'}`);

    const result = report({ sizes, runs, jemallocSkip, nginxSkip, capacityRps, rate, soak, growth, timeline, points });
    if (json) emitPart(result);
    else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    await upstream.child.stop();
  } finally {
    if (sampler) clearInterval(sampler);
    await stopAllChildren();
    await rm(workDir, { recursive: true, force: true });
  }
}

interface Measured {
  readonly sizes: Sizes;
  /** The default allocator's run first (it carries the targets), then the others. */
  readonly runs: readonly IdleRun[];
  readonly jemallocSkip: string | undefined;
  readonly nginxSkip: string | undefined;
  readonly capacityRps: number;
  readonly rate: number;
  readonly soak: autocannon.Result;
  readonly growth: ReturnType<typeof soakGrowth>;
  readonly timeline: readonly { t: number; phase: string; rss: number }[];
  readonly points: readonly Point[];
}

const round = (n: number | undefined, digits = 1): number | null => (n === undefined || !Number.isFinite(n) ? null : Number(n.toFixed(digits)));

/** At most `max` evenly spaced entries, first and last kept: the chart stays readable. */
function thin<T>(xs: readonly T[], max: number): T[] {
  if (xs.length <= max) return [...xs];
  return Array.from({ length: max }, (_, i) => xs[Math.round((i * (xs.length - 1)) / (max - 1))]!);
}

/** Per-connection and give-back figures of one idle run. */
function idleRow(run: IdleRun): Cell[] {
  const n = run.opened.open;
  const per = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || n === 0 ? null : round(((a - b) * 1024) / n));
  const grown = (run.held.rss?.rss ?? NaN) - (run.atStart.rss?.rss ?? NaN);
  const givenBack = (run.held.rss?.rss ?? NaN) - (run.closed.rss?.rss ?? NaN);
  return [
    run.subject,
    n,
    per(run.held.rss?.rss, run.atStart.rss?.rss),
    per(run.held.rss?.brk, run.atStart.rss?.brk),
    per(run.held.heap?.heapUsed, run.atStart.heap?.heapUsed),
    round(run.held.rss?.rss),
    grown > 0 ? round((100 * givenBack) / grown) : null,
    round((run.closed.rss?.rss ?? NaN) - (run.atStart.rss?.rss ?? NaN)),
    run.lost,
  ];
}

function report(m: Measured): PartResult {
  const { sizes } = m;
  const main = m.runs[0]!;
  const n = main.opened.open;
  const phaseRows: Cell[][] = m.points.map((p) => [
    p.phase,
    round(p.rss?.rss),
    round(p.rss?.anon),
    round(p.rss?.brk),
    round(p.rss?.file),
    round(p.heap?.heapUsed),
    round(p.heap?.heapTotal),
    round(p.heap?.external),
    p.heap ? p.heap.openConnections : null,
  ]);
  const soakRps = m.soak.requests.total / m.soak.duration;
  const fullSize = n >= TARGET_IDLE_CONNECTIONS && main.opened.failed === 0;
  const samples = thin(m.timeline, 120);
  return {
    name: 'memory',
    title: 'Memory: idle keep-alive TLS connections and a soak',
    setup:
      `${sizes.mode} run: ${n} idle keep-alive TLS connections (${main.opened.failed} failed), then a ${sizes.soakSec} s soak at 50 % of a ${sizes.capacitySec} s capacity run ` +
      `(${sizes.loadConnections} connections, autocannon); ztproxy on default limits (keepAliveTimeout raised to 1 h); ${pinningDescription()}; ` +
      `RSS from /proc/PID/status every ${sizes.sampleSec} s, heap from ztproxy's /metrics; ` +
      `idle phase repeated on a fresh ztproxy with jemalloc preloaded (${JEMALLOC_CONF}): ${m.jemallocSkip ? `skipped, ${m.jemallocSkip}` : sizes.allocators.includes('jemalloc') ? 'done' : 'not in this run'}; ` +
      `and on nginx (one worker, same certificate): ${m.nginxSkip ? `skipped, ${m.nginxSkip}` : sizes.nginx ? 'done' : 'not in this run'}; the soak on a fresh ztproxy.`,
    tables: [
      {
        title: 'Memory by phase (MB)',
        columns: ['phase', 'RSS', 'RssAnon', 'malloc [heap]', 'RssFile', 'heap used', 'heap total', 'external', 'open connections'],
        rows: phaseRows,
        note:
          `Readings ${sizes.settleSec} s after a phase settled (${sizes.closedSettleSec} s after the last close). RSS is what the machine pays; heap used is what JavaScript keeps alive; ` +
          'malloc [heap] is glibc\'s main arena, where OpenSSL and Node\'s C++ side allocate (0 under jemalloc, which maps its own).',
      },
      {
        title: 'Per idle connection, and what is given back',
        columns: ['server', 'connections', 'RSS KB/conn', 'malloc [heap] KB/conn', 'JS heap KB/conn', 'RSS held MB', 'given back after close %', 'still above start MB', 'lost while idle'],
        rows: m.runs.map(idleRow),
        note: 'glibc and jemalloc: ztproxy under that malloc; nginx: its worker process. given back = (RSS held − RSS after close) ÷ (RSS held − RSS at start); lost = connections the server closed while they were idle (should be 0).',
      },
      {
        title: 'Soak',
        columns: ['capacity req/s', 'soak rate req/s', 'achieved req/s', 'errors', 'non-2xx', 'samples after warm-up', 'first half peak MB', 'second half peak MB', 'growth %'],
        rows: [
          [
            round(m.capacityRps, 0),
            m.rate,
            round(soakRps, 0),
            m.soak.errors + m.soak.timeouts,
            m.soak.non2xx,
            m.growth?.samples ?? null,
            round(m.growth?.firstHalfPeakMb),
            round(m.growth?.secondHalfPeakMb),
            round(m.growth?.percent, 2),
          ],
        ],
        note: `On a fresh ztproxy (glibc). Growth = (highest RSS of the second half − highest of the first) ÷ the first, over the samples after the first ${WARMUP_FRACTION * 100} % of the soak: RSS is a sawtooth of V8 collections, and a leak raises its tops (bench/lib/memory-growth.ts). A soak shorter than two collection cycles gives an upper bound.`,
      },
    ],
    charts: [
      {
        id: 'memory-rss',
        title: 'ztproxy RSS over the run (MB): start, idle connections, closed, soak',
        unit: 'MB',
        kind: 'line',
        groups: samples.map((s) => `${s.t.toFixed(0)}s ${s.phase}`),
        series: [{ label: 'RSS', values: samples.map((s) => round(s.rss)) }],
      },
    ],
    targets: [
      target('RSS at 10k idle connections', fullSize ? main.held.rss?.rss : null, '<=', TARGET_RSS_MB, {
        unit: 'MB',
        why: fullSize ? 'RSS could not be read' : `${sizes.mode} run held ${n} connections (${main.opened.failed} failed), not 10,000; RSS there ${round(main.held.rss?.rss)} MB`,
      }),
      target('RSS growth over the soak', m.growth?.percent, '<=', TARGET_GROWTH_PERCENT, {
        unit: '%',
        why: 'fewer than 4 RSS samples after the warm-up',
      }),
    ],
    raw: { sizes, runs: m.runs, capacityRps: m.capacityRps, rate: m.rate, growth: m.growth, points: m.points, timeline: m.timeline },
  };
}

main().catch(async (err: unknown) => {
  say((err as Error).stack ?? String(err));
  await stopAllChildren();
  process.exitCode = 1;
});
