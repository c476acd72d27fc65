// What every micro-benchmark in this folder shares: the command line (`--quick`, `--json`,
// `--tiny`), pinning itself to the system-under-test core, and one way of timing a hot
// function so their numbers compare.
//
// Timing: one performance.now() costs 30–100 ns, as much as some of the calls measured
// here, so calls are timed in batches: after a warm-up (the JIT has optimized the
// function, caches are filled), a batch size is picked so that one batch lasts about
// BATCH_TARGET_US, and each batch's time divided by its size is one sample. p50 / p99
// are percentiles of those per-call means — a slow single call inside a batch is
// averaged with its neighbours, so p99 here is the tail of batches (GC pauses, the
// neighbours on the core), not of single calls; for calls that take longer than the
// target (a signature check) a batch is one call and the tail is the call's own.
// ops/s is calls over the summed batch time.
import { loadavg } from 'node:os';
import { PINNING, SUT_CPU, pinPid, pinningDescription } from '../lib/pin.ts';
import { emitPart, type Cell, type ChartSpec, type PartResult, type PartTable, type TargetResult } from '../lib/part.ts';

export interface MicroOptions {
  /** `--quick`: short warm-up and measurement (the `npm run bench -- --quick` budget). */
  readonly quick: boolean;
  /** `--tiny`: a few milliseconds per case and the smallest sizes — for tests only; the numbers mean nothing. */
  readonly tiny: boolean;
  /** `--json`: the PartResult as the last stdout line, human text on stderr. */
  readonly json: boolean;
  readonly warmupMs: number;
  readonly measureMs: number;
}

const MODES = {
  full: { warmupMs: 400, measureMs: 1500 },
  quick: { warmupMs: 80, measureMs: 250 },
  tiny: { warmupMs: 3, measureMs: 8 },
} as const;

/** A batch lasts about this long: timer overhead stays well under 1 % of it. */
const BATCH_TARGET_US = 40;

/** The process's CPU time and the wall clock when the options were read: finish() reports the share of the core this part got. */
let started: { cpu: NodeJS.CpuUsage; wallMs: number } | undefined;

/** Reads the shared flags and pins this process to the system-under-test core (it is the system under test). */
export function microOptions(argv: readonly string[] = process.argv.slice(2)): MicroOptions {
  const quick = argv.includes('--quick');
  const tiny = argv.includes('--tiny');
  const json = argv.includes('--json');
  // A tiny run only checks that the part works (its numbers mean nothing): the tests run
  // several at once and should not crowd one core.
  if (!tiny) pinPid(SUT_CPU, process.pid);
  started = { cpu: process.cpuUsage(), wallMs: performance.now() };
  return { quick, tiny, json, ...MODES[tiny ? 'tiny' : quick ? 'quick' : 'full'] };
}

/** Human-readable progress: stderr under --json (stdout carries only the result), stdout otherwise. */
export function say(opts: MicroOptions, line: string): void {
  (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
}

export interface Measured {
  readonly label: string;
  readonly opsPerSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly meanUs: number;
  /** Calls per timed batch. */
  readonly batch: number;
  readonly batches: number;
}

/** Keeps results alive so the JIT cannot drop the calls being measured. */
let sink = 0;
function consume(value: unknown): void {
  if (value === undefined || value === null || value === false) sink ^= 1;
  else sink += 1;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function summarize(label: string, perCallUs: Float64Array, batch: number, totalUs: number): Measured {
  const n = perCallUs.length;
  const sorted = Float64Array.from(perCallUs).sort();
  const calls = n * batch;
  return { label, opsPerSec: (calls * 1e6) / totalUs, p50Us: percentile(sorted, 0.5), p99Us: percentile(sorted, 0.99), meanUs: totalUs / calls, batch, batches: n };
}

function batchSize(perCallUs: number): number {
  return Math.max(1, Math.min(100_000, Math.round(BATCH_TARGET_US / Math.max(perCallUs, 1e-3))));
}

/** Times a synchronous call (see the header for how). */
export function measure(opts: MicroOptions, label: string, call: () => unknown): Measured {
  let calls = 0;
  const warmStart = performance.now();
  const warmEnd = warmStart + opts.warmupMs;
  do {
    for (let i = 0; i < 100; i++) consume(call());
    calls += 100;
  } while (performance.now() < warmEnd || calls < (opts.tiny ? 100 : 1000));
  // Calibrated on the warm function: the warm-up's own average includes the unoptimized start.
  // The least of a few runs: one that another process interrupted would make the batches too small.
  let n = 100;
  let best = Infinity;
  for (let round = 0; round < (opts.tiny ? 1 : 5); ) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) consume(call());
    const us = (performance.now() - t0) * 1000;
    if (us < 200 && n < 1e6) n *= 4;
    else {
      best = Math.min(best, us / n);
      round++;
    }
  }
  const batch = batchSize(best);
  const samples: number[] = [];
  let total = 0;
  const end = performance.now() + opts.measureMs;
  while (samples.length < (opts.tiny ? 5 : 20) || performance.now() < end) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) consume(call());
    const us = (performance.now() - t0) * 1000;
    total += us;
    samples.push(us / batch);
  }
  return report(opts, summarize(label, Float64Array.from(samples), batch, total));
}

/** As measure, for a call that may return a promise (awaited before the next call; a plain value is not awaited). */
export async function measureAsync(opts: MicroOptions, label: string, call: () => unknown): Promise<Measured> {
  let calls = 0;
  const warmStart = performance.now();
  const warmEnd = warmStart + opts.warmupMs;
  do {
    for (let i = 0; i < 10; i++) {
      const r = call();
      consume(r instanceof Promise ? await r : r);
    }
    calls += 10;
  } while (performance.now() < warmEnd || calls < (opts.tiny ? 10 : 200));
  let n = 10;
  let best = Infinity;
  for (let round = 0; round < (opts.tiny ? 1 : 5); ) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const r = call();
      consume(r instanceof Promise ? await r : r);
    }
    const us = (performance.now() - t0) * 1000;
    if (us < 200 && n < 1e6) n *= 4;
    else {
      best = Math.min(best, us / n);
      round++;
    }
  }
  const batch = batchSize(best);
  const samples: number[] = [];
  let total = 0;
  const end = performance.now() + opts.measureMs;
  while (samples.length < (opts.tiny ? 5 : 20) || performance.now() < end) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) {
      // A synchronous answer (a cache hit) is not sent through a microtask it would not take in ztproxy.
      const r = call();
      consume(r instanceof Promise ? await r : r);
    }
    const us = (performance.now() - t0) * 1000;
    total += us;
    samples.push(us / batch);
  }
  return report(opts, summarize(label, Float64Array.from(samples), batch, total));
}

const fmt = (us: number): string => (us < 10 ? us.toFixed(3) : us < 1000 ? us.toFixed(1) : us.toFixed(0));

function report(opts: MicroOptions, m: Measured): Measured {
  say(
    opts,
    `${m.label.padEnd(60)} ${Math.round(m.opsPerSec).toLocaleString('en').padStart(12)} ops/s  p50 ${fmt(m.p50Us).padStart(8)} µs  p99 ${fmt(m.p99Us).padStart(8)} µs  (batch ${m.batch} × ${m.batches})`,
  );
  return m;
}

export const MEASURED_COLUMNS = ['case', 'ops/s', 'p50 µs', 'p99 µs', 'mean µs', 'calls/batch', 'batches'] as const;

/** One row per measured case, in MEASURED_COLUMNS order. */
export function measuredRows(results: readonly Measured[]): Cell[][] {
  return results.map((m) => [m.label, Math.round(m.opsPerSec), round(m.p50Us), round(m.p99Us), round(m.meanUs), m.batch, m.batches]);
}

/** Three significant digits: what a micro-benchmark on a shared machine can claim. */
export function round(v: number): number {
  return Number(v.toPrecision(3));
}

export function measuredTable(title: string, results: readonly Measured[], note?: string): PartTable {
  return { title, columns: [...MEASURED_COLUMNS], rows: measuredRows(results), note: note ?? TIMING_NOTE };
}

export const TIMING_NOTE =
  'Per-call latency from batches of calls (one batch ≈ 40 µs; calls slower than that are timed one by one) after a warm-up: p50/p99 are percentiles of the per-call mean of each batch, so p99 is the tail of batches (GC, other work on the core), not of single calls. ops/s = calls ÷ summed batch time, one core.';

/** The setup line every micro part starts from: where it ran and how long each case was timed. */
export function setupLine(opts: MicroOptions, what: string, timedPerCase = true): string {
  const mode = opts.tiny ? 'tiny (test) mode' : opts.quick ? 'quick mode' : 'full mode';
  const timing = timedPerCase ? `: ${opts.warmupMs} ms warm-up + ${opts.measureMs} ms measured per case` : '';
  const pinning = opts.tiny ? 'not pinned' : PINNING ? `pinned to CPU ${SUT_CPU} (${pinningDescription()})` : `not pinned (${pinningDescription()})`;
  return `${what}. Node ${process.version}, ${mode}${timing}, in one process ${pinning}.`;
}

/** Prints the part's result: with --json the one JSON line `npm run bench` parses. */
export function finish(
  opts: MicroOptions,
  part: { name: string; title: string; setup: string; tables: PartTable[]; charts?: ChartSpec[]; targets?: TargetResult[]; raw?: unknown },
): void {
  // A number taken while other processes shared the core is slower than the function is:
  // how much of the core this part had says how far to trust it.
  let share: number | undefined;
  if (started !== undefined) {
    const cpu = process.cpuUsage(started.cpu);
    share = (cpu.user + cpu.system) / 1000 / (performance.now() - started.wallMs);
  }
  const contention = share === undefined ? '' : ` This process had ${Math.round(100 * share)} % of a core over its run (load average ${loadavg()[0]!.toFixed(1)}); well under 100 %, the core was shared (or the part waited) and the numbers are slower than the code.`;
  const result: PartResult = { ...part, setup: `${part.setup}${contention}`, name: `micro:${part.name}`, raw: { ...(part.raw as object | undefined), cpuShare: share, loadAverage: loadavg()[0] } };
  if (opts.json) emitPart(result);
  if (sink === -1) say(opts, 'unreachable: keeps the sink observable');
}
