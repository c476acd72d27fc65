// The in-process stage timings of a macro run (issue #7, point 4: "so a slow tail points
// at its stage"): ztproxy's admin /metrics scraped just before and just after a measured
// run, and the difference of the histogram `ztproxy_stage_duration_seconds{stage}` —
// buckets, sum and count — turned into one row per stage. Only the delta counts: the
// warm-up, the readiness probes and earlier scenarios are in both scrapes.
//
// The histogram may be sampled (only 1 in N requests timed, to keep the clock off the
// hot path), so the count is read from the histogram itself and never taken to be the
// number of requests. Percentiles come from the buckets: a value is only known to lie
// between two bucket bounds, and is interpolated linearly inside its bucket, as
// Prometheus' histogram_quantile() does — except in the lowest bucket (see bucketQuantile).
import { request } from 'undici';
import type { Cell, PartTable } from './part.ts';

export const STAGE_HISTOGRAM = 'ztproxy_stage_duration_seconds';

/** One histogram series: cumulative bucket counts by upper bound (seconds; Infinity for +Inf), sum and count. */
export interface HistogramSeries {
  readonly buckets: Map<number, number>;
  sum: number;
  count: number;
}

/** Prometheus label values are quoted with \\, \" and \n escaped. */
function parseLabels(text: string): Map<string, string> {
  const labels = new Map<string, string>();
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    labels.set(m[1]!, m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)));
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/**
 * The series of histogram `name` in a Prometheus text exposition, by the value of
 * `byLabel` (series that differ in other labels are added together). Empty when the
 * histogram is not in the text.
 */
export function parseHistogram(text: string, name: string, byLabel: string): Map<string, HistogramSeries> {
  const out = new Map<string, HistogramSeries>();
  const series = (key: string): HistogramSeries => {
    let s = out.get(key);
    if (s === undefined) {
      s = { buckets: new Map(), sum: 0, count: 0 };
      out.set(key, s);
    }
    return s;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/.exec(line);
    if (m === null) continue;
    const [, metric, labelText, valueText] = m;
    const suffix = metric!.slice(name.length);
    if (suffix !== '_bucket' && suffix !== '_sum' && suffix !== '_count') continue;
    const labels = parseLabels(labelText ?? '');
    const key = labels.get(byLabel) ?? '';
    const value = parseValue(valueText!);
    if (!Number.isFinite(value)) continue;
    const s = series(key);
    if (suffix === '_sum') s.sum += value;
    else if (suffix === '_count') s.count += value;
    else {
      const le = labels.get('le');
      if (le === undefined) continue;
      const bound = parseValue(le);
      s.buckets.set(bound, (s.buckets.get(bound) ?? 0) + value);
    }
  }
  return out;
}

/**
 * after − before for each series of `after`. A series whose count went down was reset
 * (ztproxy restarted between the scrapes): its `after` alone is the delta.
 */
export function histogramDelta(before: Map<string, HistogramSeries>, after: Map<string, HistogramSeries>): Map<string, HistogramSeries> {
  const out = new Map<string, HistogramSeries>();
  for (const [key, a] of after) {
    const b = before.get(key);
    const reset = b !== undefined && a.count < b.count;
    const base = b === undefined || reset ? undefined : b;
    const buckets = new Map<number, number>();
    for (const [bound, n] of a.buckets) buckets.set(bound, n - (base?.buckets.get(bound) ?? 0));
    out.set(key, { buckets, sum: a.sum - (base?.sum ?? 0), count: a.count - (base?.count ?? 0) });
  }
  return out;
}

/**
 * The q-quantile of a histogram in seconds, interpolated within its bucket. `above` when it
 * falls in the +Inf bucket (the value is then the largest finite bound: a lower limit);
 * `first` when it falls in the lowest bucket, whose lower edge is unknown (histogram_quantile
 * interpolates from 0, which would invent a value — a 1 µs stage would read as 5 µs with a
 * 10 µs first bound), so the value is that bound: an upper limit. undefined when empty.
 */
export function bucketQuantile(series: HistogramSeries, q: number): { value: number; above: boolean; first: boolean } | undefined {
  const bounds = [...series.buckets.keys()].sort((a, b) => a - b);
  const total = series.buckets.get(Infinity) ?? series.count;
  if (total <= 0 || bounds.length === 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [i, bound] of bounds.entries()) {
    const cumulative = series.buckets.get(bound)!;
    if (cumulative >= rank && cumulative > below) {
      if (bound === Infinity) return { value: lower, above: true, first: false };
      if (i === 0) return { value: bound, above: false, first: true };
      return { value: lower + ((bound - lower) * (rank - below)) / (cumulative - below), above: false, first: false };
    }
    lower = bound === Infinity ? lower : bound;
    below = cumulative;
  }
  return { value: lower, above: true, first: false };
}

const us = (seconds: number): number => Number((seconds * 1e6).toPrecision(3));

function quantileCell(series: HistogramSeries, q: number): Cell {
  const r = bucketQuantile(series, q);
  if (r === undefined) return null;
  return r.above ? `> ${us(r.value)}` : r.first ? `≤ ${us(r.value)}` : us(r.value);
}

function boundsText(series: Iterable<HistogramSeries>): string {
  const bounds = new Set<number>();
  for (const s of series) for (const b of s.buckets.keys()) if (Number.isFinite(b)) bounds.add(b);
  return [...bounds]
    .sort((a, b) => a - b)
    .map((b) => (b < 1e-3 ? `${us(b)} µs` : b < 1 ? `${Number((b * 1e3).toPrecision(3))} ms` : `${b} s`))
    .join(', ');
}

export const STAGE_COLUMNS = ['stage', 'timed', 'mean µs', 'p50 µs', 'p99 µs', 'share %'] as const;

/**
 * Per-stage costs of one measured run from two scrapes of ztproxy's /metrics taken just
 * before and just after it: count, mean, p50/p99 (bucket estimates) and share of the
 * time spent in stages. A missing histogram, or a run in which no stage was timed, gives
 * a table with no rows and a note saying so — never a throw.
 */
export function stageTable(before: string, after: string, scenario: string): PartTable {
  const title = `Stage timings: ${scenario}`;
  const columns = [...STAGE_COLUMNS];
  const end = parseHistogram(after, STAGE_HISTOGRAM, 'stage');
  if (end.size === 0) {
    return { title, columns, rows: [], note: `${STAGE_HISTOGRAM} was not in ztproxy's /metrics after the run: no stage timings for this scenario.` };
  }
  const delta = [...histogramDelta(parseHistogram(before, STAGE_HISTOGRAM, 'stage'), end)].filter(([, s]) => s.count > 0);
  if (delta.length === 0) {
    return { title, columns, rows: [], note: `${STAGE_HISTOGRAM} did not change during the run: no request was timed (a sampled histogram can miss a short run).` };
  }
  const totalSeconds = delta.reduce((n, [, s]) => n + s.sum, 0);
  const rows: Cell[][] = delta
    .sort(([, a], [, b]) => b.sum - a.sum)
    .map(([stage, s]) => [stage, s.count, us(s.sum / s.count), quantileCell(s, 0.5), quantileCell(s, 0.99), totalSeconds > 0 ? Number(((100 * s.sum) / totalSeconds).toFixed(1)) : null]);
  return {
    title,
    columns,
    rows,
    note:
      `From ${STAGE_HISTOGRAM} in ztproxy's /metrics, scraped just before and after the measured run (the difference). "timed" is the histogram's own count — ` +
      `the stage timing may be sampled, so it need not equal the requests sent. mean = sum ÷ count; p50/p99 are estimated from the buckets ` +
      `(bounds ${boundsText(delta.map(([, s]) => s))}), interpolated linearly within a bucket as Prometheus' histogram_quantile does — only as fine as the bucket; ` +
      `"≤ x" means within the lowest bucket (no finer estimate: the mean says more), "> x" beyond the last bound. share = the stage's part of the time spent in all stages (the forward stage includes the wait for the upstream).`,
  };
}

/** The Prometheus text of ztproxy's admin endpoint (`http://host:port` or its `/metrics` URL). */
export async function fetchMetrics(adminUrl: string): Promise<string> {
  const url = new URL(adminUrl);
  if (!url.pathname.endsWith('/metrics')) url.pathname = `${url.pathname.replace(/\/$/, '')}/metrics`;
  const res = await request(url, { method: 'GET', headersTimeout: 5000, bodyTimeout: 5000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${url.href}: ${res.statusCode}`);
  return text;
}
