// The results of one run: every round's measurements summarized as median and spread
// (min–max), the added latency against `direct` at the same rate, the ratios and the
// issue's targets computed from those medians, and the JSON, Markdown and SVG files in
// bench/results/. The JSON is the record; the console table, the Markdown and the
// README's section are views of it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Measurement, Tool } from './load.ts';
import { LATE_MS, LATE_SHARE } from './paced.ts';
import { target, type Cell, type ChartSpec, type PartResult, type PartTable, type TargetResult } from './part.ts';
import type { RatioSpec } from './scenario.ts';
import { renderChart } from './svg.ts';

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median and spread of the finite values, or undefined when there are none. */
export function stat(values: readonly (number | undefined)[]): Stat | undefined {
  const xs = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (xs.length === 0) return undefined;
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** What a point of a scenario is: capacity at N connections, or latency at a fixed rate. */
export interface PointSpec {
  /** `c50` (capacity at 50 connections), `r25`/`r50`/`r75` (% of its own capacity), `r1k`, `nginx50`, `@12500` (direct at that rate). */
  readonly key: string;
  readonly kind: 'capacity' | 'rate';
  readonly tool: Tool;
  readonly connections: number;
  readonly rate?: number;
  readonly label: string;
}

export interface PointResult extends PointSpec {
  readonly rounds: readonly Measurement[];
  readonly requestsPerSec: Stat;
  readonly latencyMs: { readonly p50: Stat; readonly p90: Stat; readonly p99: Stat; readonly p99_9: Stat; readonly max: Stat };
  readonly sutUsPerRequest?: Stat;
  readonly sutCpuPercent?: Stat;
  readonly loadgenCpuPercent?: Stat;
  readonly loadCoreBusyPercent?: Stat;
  readonly sutCoreBusyPercent?: Stat;
  readonly sutCoreOtherPercent?: Stat;
  /** Summed over the rounds. */
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  /** True when any round was load-generator bound: the number is not the target's capacity. */
  readonly loadgenSaturated: boolean;
  readonly saturation?: string;
  /** Fixed-rate runs: false when any round completed < 95 % of the asked rate. */
  readonly rateHeld?: boolean;
  /** Median latency minus `direct`'s median at the same rate (fixed-rate points), in ms. */
  readonly addedMs?: { readonly p50: number; readonly p90: number; readonly p99: number; readonly p99_9: number };
}

export function summarizePoint(spec: PointSpec, rounds: readonly Measurement[]): PointResult | undefined {
  if (rounds.length === 0) return undefined;
  const s = (f: (m: Measurement) => number | undefined) => stat(rounds.map(f));
  const saturated = rounds.find((m) => m.loadgenSaturated);
  const rated = rounds.filter((m) => m.rateHeld !== undefined);
  const opt = <K extends string>(key: K, v: Stat | undefined) => (v ? ({ [key]: v } as Record<K, Stat>) : {});
  return {
    ...spec,
    rounds,
    requestsPerSec: s((m) => m.requestsPerSec)!,
    latencyMs: {
      p50: s((m) => m.latencyMs.p50)!,
      p90: s((m) => m.latencyMs.p90)!,
      p99: s((m) => m.latencyMs.p99)!,
      p99_9: s((m) => m.latencyMs.p99_9)!,
      max: s((m) => m.latencyMs.max)!,
    },
    ...opt('sutUsPerRequest', s((m) => m.sutCpu?.usPerRequest)),
    ...opt('sutCpuPercent', s((m) => m.sutCpu?.percent)),
    ...opt('loadgenCpuPercent', s((m) => m.loadgenCpuPercent)),
    ...opt('loadCoreBusyPercent', s((m) => m.loadCoreBusyPercent)),
    ...opt('sutCoreBusyPercent', s((m) => m.sutCoreBusyPercent)),
    ...opt('sutCoreOtherPercent', s((m) => m.sutCoreOtherPercent)),
    errors: rounds.reduce((a, m) => a + m.errors, 0),
    timeouts: rounds.reduce((a, m) => a + m.timeouts, 0),
    non2xx: rounds.reduce((a, m) => a + m.non2xx, 0),
    loadgenSaturated: saturated !== undefined,
    ...(saturated?.saturation ? { saturation: saturated.saturation } : {}),
    ...(rated.length ? { rateHeld: rated.every((m) => m.rateHeld) } : {}),
  };
}

export interface ScenarioResult {
  readonly name: string;
  readonly description: string;
  readonly tool: Tool;
  readonly url?: string;
  readonly points: readonly PointResult[];
  /** Why it did not run (e.g. haproxy not installed). */
  readonly skipped?: string;
  /** Why it failed (setup, or a measurement). */
  readonly error?: string;
}

/** The key of `direct`'s point at a given rate. */
export const directAt = (rate: number): string => `@${Math.round(rate)}`;

/** Adds `addedMs` to every fixed-rate point of every scenario but direct: its latency minus direct's at the same rate. */
export function withAddedLatency(results: readonly ScenarioResult[]): ScenarioResult[] {
  const direct = results.find((r) => r.name === 'direct');
  return results.map((r) => {
    if (r.name === 'direct' || !direct) return r;
    return {
      ...r,
      points: r.points.map((p) => {
        if (p.kind !== 'rate' || p.rate === undefined) return p;
        const d = direct.points.find((q) => q.key === directAt(p.rate!));
        if (!d) return p;
        const l = p.latencyMs;
        const dl = d.latencyMs;
        return { ...p, addedMs: { p50: l.p50.median - dl.p50.median, p90: l.p90.median - dl.p90.median, p99: l.p99.median - dl.p99.median, p99_9: l.p99_9.median - dl.p99_9.median } };
      }),
    };
  });
}

export function point(results: readonly ScenarioResult[], scenario: string, key: string): PointResult | undefined {
  return results.find((r) => r.name === scenario)?.points.find((p) => p.key === key);
}

export interface Ratio {
  /** "ztproxy/nginx" */
  readonly name: string;
  /** numerator req/s ÷ denominator req/s (medians). */
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  /** numerator CPU µs per request ÷ the denominator's. */
  readonly cpuPerRequest?: number;
  /** One side was load-generator bound. */
  readonly loadgenSaturated: boolean;
}

export function computeRatios(results: readonly ScenarioResult[], specs: readonly RatioSpec[], key: string): Ratio[] {
  const out: Ratio[] = [];
  for (const { numerator, denominator } of specs) {
    const a = point(results, numerator, key);
    const b = point(results, denominator, key);
    if (!a || !b || b.requestsPerSec.median === 0) continue;
    out.push({
      name: `${numerator}/${denominator}`,
      throughput: a.requestsPerSec.median / b.requestsPerSec.median,
      p50: a.latencyMs.p50.median / b.latencyMs.p50.median,
      p99: a.latencyMs.p99.median / b.latencyMs.p99.median,
      ...(a.sutUsPerRequest && b.sutUsPerRequest && b.sutUsPerRequest.median > 0 ? { cpuPerRequest: a.sutUsPerRequest.median / b.sutUsPerRequest.median } : {}),
      loadgenSaturated: a.loadgenSaturated || b.loadgenSaturated,
    });
  }
  return out;
}

/** Other work on the system under test's core at or above this share makes its numbers suspect. */
export const SUT_CORE_SHARED_PERCENT = 20;

/** What qualifies a target computed from these points: saturation, a rate not held, errors. */
function qualifiers(points: readonly (PointResult | undefined)[], names: readonly string[]): string | undefined {
  const notes: string[] = [];
  points.forEach((p, i) => {
    if (!p) return;
    if (p.loadgenSaturated) notes.push(`${names[i]}: load generator saturated (${p.saturation})`);
    if (p.sutCoreOtherPercent && p.sutCoreOtherPercent.median >= SUT_CORE_SHARED_PERCENT) notes.push(`${names[i]}: ${Math.round(p.sutCoreOtherPercent.median)} % of its core was other work`);
    if (p.rateHeld === false) notes.push(`${names[i]}: did not hold ${Math.round(p.rate ?? 0)} req/s (got ${Math.round(p.requestsPerSec.median)})`);
    if (p.errors + p.timeouts + p.non2xx > 0) notes.push(`${names[i]}: ${p.errors} errors, ${p.timeouts} timeouts, ${p.non2xx} non-2xx`);
  });
  return notes.length ? notes.join('; ') : undefined;
}

function missing(results: readonly ScenarioResult[], needed: readonly [string, string][]): string {
  const gone = needed.filter(([s, k]) => !point(results, s, k)).map(([s, k]) => {
    const r = results.find((x) => x.name === s);
    if (!r) return `${s} was not run`;
    if (r.skipped) return `${s} skipped: ${r.skipped}`;
    if (r.error) return `${s} failed: ${firstLine(r.error)}`;
    return `${s} has no ${k} measurement`;
  });
  return gone.join('; ') || 'not measured';
}

/** A throughput ratio target from the medians of two capacity points. */
function throughputTarget(results: readonly ScenarioResult[], name: string, num: string, den: string, key: string, goal: number): TargetResult {
  const a = point(results, num, key);
  const b = point(results, den, key);
  const value = a && b && b.requestsPerSec.median > 0 ? a.requestsPerSec.median / b.requestsPerSec.median : null;
  const note = qualifiers([a, b], [num, den]);
  return target(name, value, '>=', goal, { why: missing(results, [[num, key], [den, key]]), ...(note ? { note } : {}) });
}

/**
 * The rows of the issue's target table that the HTTP harness measures, each computed from
 * this run's medians (`met` by target(): value ≥ goal, or ≤ for latency).
 */
export function httpTargets(results: readonly ScenarioResult[], mainKey: string): TargetResult[] {
  const out = [
    throughputTarget(results, 'forward-only ÷ nginx forward-only (one core each)', 'ztproxy', 'nginx', mainKey, 0.5),
    throughputTarget(results, 'TLS + JWT (cache hit) + embedded policy ÷ forward-only', 'ztproxy-jwt', 'ztproxy', mainKey, 0.9),
    throughputTarget(results, 'every token new: ES256 ÷ forward-only', 'ztproxy-jwt-new-es256', 'ztproxy', mainKey, 0.45),
    throughputTarget(results, 'every token new: RS256 ÷ forward-only', 'ztproxy-jwt-new-rs256', 'ztproxy', mainKey, 0.65),
    throughputTarget(results, 'remote PDP ÷ embedded, with decision cache', 'ztproxy-pdp', 'ztproxy-jwt', mainKey, 0.9),
    throughputTarget(results, 'remote PDP ÷ embedded, without decision cache', 'ztproxy-pdp-nocache', 'ztproxy-jwt', mainKey, 0.6),
  ];
  // Added p99 of ztproxy ÷ nginx's, both at 50 % of nginx's capacity (the same rate for both).
  {
    const z = point(results, 'ztproxy', 'nginx50');
    const n = point(results, 'nginx', 'r50');
    // An added p99 at or below 0 is noise larger than the hop itself: no ratio to read.
    const value = z?.addedMs && n?.addedMs && n.addedMs.p99 > 0 && z.addedMs.p99 > 0 ? z.addedMs.p99 / n.addedMs.p99 : null;
    const why =
      z?.addedMs && n?.addedMs
        ? `an added p99 is not above 0 (ztproxy ${z.addedMs.p99.toFixed(2)} ms, nginx ${n.addedMs.p99.toFixed(2)} ms): the run's noise exceeds the hop`
        : missing(results, [['ztproxy', 'nginx50'], ['nginx', 'r50'], ['direct', n?.rate ? directAt(n.rate) : '@?']]);
    const note = qualifiers([z, n], ['ztproxy', 'nginx']);
    out.push(target("added p99 ÷ nginx's added p99 (at 50 % of nginx's capacity)", value, '<=', 2.0, { why, ...(note ? { note } : {}) }));
  }
  {
    const j = point(results, 'ztproxy-jwt', 'r1k');
    const note = qualifiers([j], ['ztproxy-jwt']);
    // A hop cannot take negative time: below 0 the run's noise exceeds what is measured.
    const added = j?.addedMs?.p50;
    const why = added !== undefined && added < 0 ? `the added p50 came out below 0 (${added.toFixed(2)} ms): the run's noise exceeds the hop` : missing(results, [['ztproxy-jwt', 'r1k'], ['direct', directAt(1000)]]);
    out.push(target('added p50 at 1k req/s (TLS + JWT cache hit)', added !== undefined && added >= 0 ? added : null, '<=', 0.3, { unit: 'ms', why, ...(note ? { note } : {}) }));
  }
  return out;
}

export interface Environment {
  readonly hostname: string;
  readonly platform: string;
  readonly kernel: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly loadAverage: readonly number[];
  readonly node: string;
  readonly opensslNode: string;
  readonly opensslCli: string | undefined;
  readonly nginx: string | undefined;
  readonly haproxy: string | undefined;
  readonly wrk: string | undefined;
  readonly autocannon: string | undefined;
  readonly pinning: string;
  readonly gitCommit: string | undefined;
  readonly gitDirty: boolean | undefined;
}

export interface PartRun {
  readonly name: string;
  readonly command: readonly string[];
  readonly seconds: number;
  readonly result?: PartResult;
  readonly error?: string;
}

export interface BenchReport {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly environment: Environment;
  readonly options: Readonly<Record<string, unknown>>;
  /** Things the reader must know: a tool missing and replaced, a scenario skipped and why. */
  readonly notes: readonly string[];
  readonly mainKey: string;
  readonly scenarios: readonly ScenarioResult[];
  readonly ratios: readonly Ratio[];
  /** Every target: the HTTP harness's and the parts'. */
  readonly targets: readonly TargetResult[];
  /** Per-stage timings of ztproxy's macro runs (bench/lib/stage-timings.ts). */
  readonly stageTimings: readonly PartTable[];
  readonly parts: readonly PartRun[];
  readonly charts: readonly ChartSpec[];
}

// ---- charts of the HTTP scenarios ----

export function httpCharts(results: readonly ScenarioResult[], mainKey: string, sweep: readonly number[]): ChartSpec[] {
  const charts: ChartSpec[] = [];
  const measured = results.filter((r) => point(results, r.name, mainKey));
  if (measured.length) {
    const saturated = measured.some((r) => point(results, r.name, mainKey)!.loadgenSaturated);
    charts.push({
      id: 'throughput',
      title: `Capacity per scenario (${mainKey.slice(1)} connections, median of rounds)${saturated ? ' — * load generator saturated' : ''}`,
      unit: 'req/s',
      kind: 'bar',
      groups: measured.map((r) => `${r.name}${point(results, r.name, mainKey)!.loadgenSaturated ? ' *' : ''}`),
      series: [{ label: 'req/s', values: measured.map((r) => point(results, r.name, mainKey)!.requestsPerSec.median) }],
    });
  }
  const costed = measured.filter((r) => point(results, r.name, mainKey)!.sutUsPerRequest);
  if (costed.length) {
    charts.push({
      id: 'cpu-per-request',
      title: `CPU time of the system under test per request (${mainKey.slice(1)} connections)`,
      unit: 'µs/request',
      kind: 'bar',
      groups: costed.map((r) => r.name),
      series: [{ label: 'CPU µs/request', values: costed.map((r) => point(results, r.name, mainKey)!.sutUsPerRequest!.median) }],
    });
  }
  const swept = results.filter((r) => sweep.filter((c) => point(results, r.name, `c${c}`)).length > 1);
  if (swept.length) {
    charts.push({
      id: 'connections',
      title: 'Capacity by connection count',
      unit: 'req/s',
      kind: 'bar',
      groups: sweep.map((c) => `${c} connections`),
      series: swept.map((r) => ({ label: r.name, values: sweep.map((c) => point(results, r.name, `c${c}`)?.requestsPerSec.median ?? null) })),
    });
  }
  const pct = ['p50', 'p90', 'p99', 'p99_9', 'max'] as const;
  const labels = ['p50', 'p90', 'p99', 'p99.9', 'max'];
  for (const [key, title] of [
    ['r50', 'Latency at 50 % of each system’s own capacity'],
    ['r1k', 'Latency at 1,000 req/s'],
  ] as const) {
    const withKey = results.filter((r) => point(results, r.name, key));
    const direct = key === 'r1k' ? point(results, 'direct', directAt(1000)) : undefined;
    if (!withKey.length) continue;
    charts.push({
      id: `latency-${key}`,
      title,
      unit: 'ms',
      kind: 'line',
      log: true,
      groups: labels,
      series: [
        ...(direct ? [{ label: 'direct', values: pct.map((p) => direct.latencyMs[p].median) }] : []),
        ...withKey.map((r) => {
          const p = point(results, r.name, key)!;
          return { label: r.name, values: pct.map((q) => p.latencyMs[q].median) };
        }),
      ],
    });
  }
  return charts;
}

// ---- formatting ----

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2));
const fmtRatio = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const spread = (s: Stat | undefined, f: (n: number) => string) => (!s ? '-' : s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median));

/** The first line of an error, short enough for a table cell (the JSON keeps all of it). */
export function firstLine(s: string | undefined): string {
  const line = (s ?? 'unknown error').split('\n')[0]!.replace(/^Error: /, '');
  return line.length > 140 ? `${line.slice(0, 139)}…` : line;
}

function errorsCell(p: PointResult): string {
  return `${p.errors + p.timeouts} / ${p.non2xx}`;
}

const satCell = (p: PointResult) => (p.loadgenSaturated ? `**yes**: ${p.saturation}` : 'no');

export const CAPACITY_HEAD = ['scenario', 'tool', 'req/s median (min–max)', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors / non-2xx', 'SUT CPU µs/req', 'SUT CPU %', 'other work on SUT core %', 'load gen CPU %', 'load gen saturated'];

export function capacityRows(results: readonly ScenarioResult[], key: string): string[][] {
  return results.map((r) => {
    const p = r.points.find((q) => q.key === key);
    if (!p) return [r.name, r.skipped ? `skipped: ${r.skipped}` : r.error ? `failed: ${firstLine(r.error)}` : 'not measured', ...Array<string>(CAPACITY_HEAD.length - 2).fill('')];
    return [
      r.name,
      p.tool,
      spread(p.requestsPerSec, fmtInt),
      spread(p.latencyMs.p50, fmtMs),
      spread(p.latencyMs.p99, fmtMs),
      fmtMs(p.latencyMs.p99_9.median),
      errorsCell(p),
      spread(p.sutUsPerRequest, fmtInt),
      p.sutCpuPercent ? fmtInt(p.sutCpuPercent.median) : '-',
      p.sutCoreOtherPercent ? `${fmtInt(p.sutCoreOtherPercent.median)}${p.sutCoreOtherPercent.median >= SUT_CORE_SHARED_PERCENT ? ' (shared)' : ''}` : '-',
      p.loadgenCpuPercent ? fmtInt(p.loadgenCpuPercent.median) : '-',
      satCell(p),
    ];
  });
}

const SWEEP_HEAD = ['scenario', 'connections', 'req/s median (min–max)', 'p50 ms', 'p99 ms', 'SUT CPU µs/req', 'load gen saturated'];

function sweepRows(results: readonly ScenarioResult[]): string[][] {
  return results.flatMap((r) =>
    r.points.filter((p) => p.kind === 'capacity').length > 1
      ? r.points.filter((p) => p.kind === 'capacity').map((p) => [r.name, String(p.connections), spread(p.requestsPerSec, fmtInt), fmtMs(p.latencyMs.p50.median), fmtMs(p.latencyMs.p99.median), p.sutUsPerRequest ? fmtInt(p.sutUsPerRequest.median) : '-', satCell(p)])
      : [],
  );
}

const RATE_HEAD = ['scenario', 'rate', 'tool', 'asked req/s', 'got req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'added p50 / p99 / p99.9 ms', 'SUT CPU µs/req', 'load gen CPU %', 'generator lag p50 / p99 ms', 'notes'];

/** What the fixed-rate table measured and with what (bench/lib/paced.ts; bench/README.md). */
export const FIXED_RATE_NOTE =
  'The paced generator (`bench/lib/paced.ts`, tool `paced`): open loop, request i due at t0 + i/rate, evenly spaced, sent on a free keep-alive connection (the run’s connection count, each opened before the warm-up so no handshake is measured), latency from its **due** time — a stall that makes requests wait for a connection is in their latency (coordinated omission corrected, as wrk2 does). ' +
  'Not autocannon’s `overallRate`: it limits each connection per second (`node_modules/autocannon/lib/httpClient.js`, `reqsMadeThisSecond`, reset by a 1 s `setInterval` at lines 67-72, checked at line 158), so each connection sends its second’s requests back to back — 1k req/s on 50 connections was 50 bursts of 20 at the start of every second, and the latency was the burst’s queue. ' +
  `generator lag: how late the generator itself sent requests (timer resolution 1 ms; it is in every latency of the row and the same for every system, so **added** cancels it); more than ${100 * LATE_SHARE} % of requests over ${LATE_MS} ms late marks the row saturated. ` +
  'added = the median minus `direct`’s median at the same rate (what the hop adds). A rate not held: the system completed < 95 % of the asked rate (it is past its capacity; latency then includes queueing).';

/** The paced generator's own lateness, medians over the rounds (it is inside every latency of the row). */
function lagCell(p: PointResult): string {
  const paced = p.rounds.map((m) => m.pacing).filter((x) => x !== undefined);
  if (!paced.length) return '-';
  const p50 = median(paced.map((x) => x.lagMs.p50));
  const p99 = median(paced.map((x) => x.lagMs.p99));
  return `${fmtMs(p50)} / ${fmtMs(p99)}`;
}

function rateRows(results: readonly ScenarioResult[]): string[][] {
  return results.flatMap((r) =>
    r.points
      .filter((p) => p.kind === 'rate')
      .map((p) => {
        const l = p.latencyMs;
        const notes = [p.rateHeld === false ? 'rate not held' : '', p.loadgenSaturated ? `saturated: ${p.saturation}` : '', p.errors + p.timeouts + p.non2xx > 0 ? `errors ${errorsCell(p)}` : ''].filter(Boolean).join('; ');
        return [
          r.name,
          p.label,
          p.tool,
          fmtInt(p.rate ?? 0),
          spread(p.requestsPerSec, fmtInt),
          spread(l.p50, fmtMs),
          fmtMs(l.p90.median),
          spread(l.p99, fmtMs),
          fmtMs(l.p99_9.median),
          fmtMs(l.max.median),
          p.addedMs ? `${fmtMs(p.addedMs.p50)} / ${fmtMs(p.addedMs.p99)} / ${fmtMs(p.addedMs.p99_9)}` : '-',
          p.sutUsPerRequest ? fmtInt(p.sutUsPerRequest.median) : '-',
          p.loadgenCpuPercent ? fmtInt(p.loadgenCpuPercent.median) : '-',
          lagCell(p),
          notes || '-',
        ];
      }),
  );
}

const RATIO_HEAD = ['ratio', 'req/s', 'p50', 'p99', 'CPU/req', 'load gen saturated'];

function ratioRows(ratios: readonly Ratio[]): string[][] {
  return ratios.map((r) => [r.name, fmtRatio(r.throughput), fmtRatio(r.p50), fmtRatio(r.p99), r.cpuPerRequest === undefined ? '-' : fmtRatio(r.cpuPerRequest), r.loadgenSaturated ? '**yes**' : 'no']);
}

export const TARGET_HEAD = ['target', 'measured', 'goal', 'met', 'notes'];

export function targetRows(targets: readonly TargetResult[]): string[][] {
  return targets.map((t) => [
    t.name,
    t.value === null ? '—' : `${formatNumber(t.value)}${t.unit ? ` ${t.unit}` : ''}`,
    `${t.comparison === '>=' ? '≥' : '≤'} ${t.target}${t.unit ? ` ${t.unit}` : ''}`,
    t.met === undefined ? 'not measured' : t.met ? 'yes' : '**no**',
    [t.why, t.note].filter(Boolean).join('; ') || '',
  ]);
}

function formatNumber(n: number): string {
  return Math.abs(n) >= 1000 ? fmtInt(n) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function formatCell(c: Cell): string {
  if (c === null) return '-';
  if (typeof c === 'number') return formatNumber(c);
  return c;
}

/** A plain-text table: first column left-aligned, the others right-aligned. */
export function textTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A cell that reads as a number (right-aligned): `1,234`, `0.52 (0.50–0.55)`, `≤ 10`, `-`. */
const NUMERIC_CELL = /^([-−—]|[-−≤≥<>]?\s?[\d.,]+.*|\*\*(yes|no)\*\*|yes|no|)$/;

export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (c: string) => c.replaceAll('|', '\\|').replaceAll('\n', ' ');
  // Numbers right-aligned, text left: the first column always, and any column with a word in it.
  const align = head.map((_, i) => (i > 0 && rows.every((r) => NUMERIC_CELL.test((r[i] ?? '').trim())) ? '--:' : ':--'));
  return [head.map(esc), align, ...rows.map((r) => r.map(esc))].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

function partTableMarkdown(t: PartTable): string[] {
  return [`**${t.title}**`, '', markdownTable(t.columns, t.rows.map((r) => r.map(formatCell))), ...(t.note ? ['', `_${t.note}_`] : []), ''];
}

export function formatConsole(report: BenchReport): string {
  return [
    `pinning: ${report.environment.pinning}`,
    '',
    textTable(CAPACITY_HEAD, capacityRows(report.scenarios, report.mainKey)),
    '',
    report.ratios.length ? textTable(RATIO_HEAD, ratioRows(report.ratios)) : 'no ratios (a scenario of each pair is missing)',
    '',
    textTable(TARGET_HEAD, targetRows(report.targets)),
    ...report.notes.map((n) => `note: ${n}`),
  ].join('\n');
}

/** The chart file written beside the report: `<stamp>-<id>.svg`. */
export const chartFile = (stamp: string, id: string): string => `${stamp}-${id}.svg`;

export function formatMarkdown(report: BenchReport, stamp: string): string {
  const e = report.environment;
  const o = report.options;
  const lines = [
    `# ztproxy benchmark, ${report.startedAt}`,
    '',
    `- machine: ${e.hostname}, ${e.platform}, kernel ${e.kernel}, ${e.cpus} × ${e.cpuModel}, ${e.memoryGiB} GiB; load average before the run ${e.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
    `- Node ${e.node}, OpenSSL ${e.opensslNode} (Node) / ${e.opensslCli ?? 'openssl CLI not found'} (CLI)`,
    `- nginx ${e.nginx ?? 'not installed'}, HAProxy ${e.haproxy ?? 'not installed'}, ${e.wrk ?? 'wrk not installed'}, autocannon ${e.autocannon ?? '?'}`,
    `- pinning: ${e.pinning}`,
    `- commit: ${e.gitCommit ?? 'unknown'}${e.gitDirty ? ' (with uncommitted changes)' : ''}; run ${report.startedAt} → ${report.finishedAt}`,
    `- options: ${Object.entries(o)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(',') || 'none' : String(v)}`)
      .join(', ')}`,
    ...report.notes.map((n) => `- **note**: ${n}`),
    '',
    '## Targets',
    '',
    'Each computed from this run’s medians; met = measured ≥ goal (≤ for latency). A note names what qualifies the number (load generator saturated, a rate not held, errors).',
    '',
    markdownTable(TARGET_HEAD, targetRows(report.targets)),
    '',
    `## Capacity (${report.mainKey.slice(1)} connections)`,
    '',
    'req/s: median of the rounds (min–max); latency as the load generator saw it; SUT CPU: the system under test’s CPU time per request and its CPU % (100 = its one core busy); load gen CPU: the load generator’s own (wrk’s process, or the bench process running autocannon). A row marked saturated measured the load generator, not the system.',
    '',
    markdownTable(CAPACITY_HEAD, capacityRows(report.scenarios, report.mainKey)),
    '',
    ...report.scenarios.map((s) => `- **${s.name}**: ${s.description}`),
    '',
  ];
  for (const c of report.charts) lines.push(`![${c.title}](${chartFile(stamp, c.id)})`, '');
  const sweep = sweepRows(report.scenarios);
  if (sweep.length) lines.push('## Capacity by connection count', '', markdownTable(SWEEP_HEAD, sweep), '');
  const rates = rateRows(report.scenarios);
  if (rates.length) {
    lines.push(
      '## Latency at fixed rates',
      '',
      FIXED_RATE_NOTE,
      '',
      markdownTable(RATE_HEAD, rates),
      '',
    );
  }
  lines.push('## Ratios', '', 'Capacity medians: numerator ÷ denominator req/s (higher is better for the numerator); p50/p99 latency and CPU per request ratios (lower is better).', '');
  lines.push(report.ratios.length ? markdownTable(RATIO_HEAD, ratioRows(report.ratios)) : '_no ratios: a scenario of each pair is missing_', '');
  if (report.stageTimings.length) {
    lines.push('## Per-stage timings (ztproxy, in process)', '');
    for (const t of report.stageTimings) lines.push(...partTableMarkdown(t));
  }
  for (const part of report.parts) {
    lines.push(`## ${part.result?.title ?? part.name}`, '');
    if (!part.result) {
      lines.push(`Failed after ${part.seconds.toFixed(0)} s (\`${part.command.join(' ')}\`):`, '', '```', (part.error ?? 'unknown error').trim(), '```', '');
      continue;
    }
    lines.push(`_${part.result.setup}_ (${part.seconds.toFixed(0)} s)`, '');
    for (const t of part.result.tables) lines.push(...partTableMarkdown(t));
    for (const c of part.result.charts ?? []) lines.push(`![${c.title}](${chartFile(stamp, c.id)})`, '');
  }
  const failed = report.scenarios.filter((s) => s.error);
  if (failed.length) {
    lines.push('## Failures', '');
    for (const s of failed) lines.push(`### ${s.name}`, '', '```', s.error!, '```', '');
  }
  return lines.join('\n');
}

/** Every chart of the report: the HTTP scenarios' and the parts'. */
export function allCharts(report: BenchReport): ChartSpec[] {
  return [...report.charts, ...report.parts.flatMap((p) => p.result?.charts ?? [])];
}

/** Writes <dir>/<stamp>.json, .md and one SVG per chart; returns the paths. */
export async function writeReport(dir: string, stamp: string, report: BenchReport): Promise<{ json: string; markdown: string; charts: string[] }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, `${stamp}.json`);
  const markdown = join(dir, `${stamp}.md`);
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(markdown, formatMarkdown(report, stamp));
  const charts: string[] = [];
  for (const c of allCharts(report)) {
    const path = join(dir, chartFile(stamp, c.id));
    await writeFile(path, renderChart(c));
    charts.push(path);
  }
  return { json, markdown, charts };
}

/** A file-name-safe UTC timestamp: 2025-01-31T14-05-09Z. */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replaceAll(':', '-');
}
