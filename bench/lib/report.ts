// The results of one run: a console table, the ratios between scenarios, and the JSON
// and Markdown files in bench/results/. The JSON is the record (charts and comparisons
// across runs are built from it); the table and Markdown are views of it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Measurement } from './load.ts';
import type { BenchOptions, RatioSpec } from './scenario.ts';

export interface ScenarioResult {
  readonly name: string;
  readonly description: string;
  readonly url?: string;
  /** 1-minute load average just before the scenario started: other work on the machine shows here. */
  readonly loadBefore?: number;
  readonly measurement?: Measurement;
  /** Why it did not run (e.g. nginx not installed). */
  readonly skipped?: string;
  /** Why it failed. */
  readonly error?: string;
}

export interface Ratio {
  /** "ztproxy/direct" */
  readonly name: string;
  /** numerator req/s ÷ denominator req/s: 1 = as fast, 0.5 = half the throughput. */
  readonly throughput: number;
  /** numerator p99 ÷ denominator p99: 1 = same tail, 2 = twice the tail latency. */
  readonly p99: number;
  readonly p50: number;
  /** numerator CPU µs per request ÷ denominator's: the cost per request, least moved by other load. */
  readonly cpuPerRequest?: number;
}

export interface Environment {
  readonly node: string;
  readonly platform: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly loadAverage: readonly number[];
  readonly nginx: string | undefined;
  readonly gitCommit: string | undefined;
  readonly gitDirty: boolean | undefined;
}

export interface BenchReport {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly environment: Environment;
  readonly options: Omit<BenchOptions, 'cpuProfileDir' | 'only'> & { readonly cpuProfileDir?: string };
  readonly scenarios: readonly ScenarioResult[];
  readonly ratios: readonly Ratio[];
  /** The micro-benchmarks' output (bench/micro/*.ts, one process each), in run order. */
  readonly micro?: readonly MicroResult[];
}

export interface MicroResult {
  readonly name: string;
  readonly args: readonly string[];
  /** What the script printed (its own table), or why it failed. */
  readonly output: string;
  readonly ok: boolean;
}

export function computeRatios(results: readonly ScenarioResult[], specs: readonly RatioSpec[]): Ratio[] {
  const byName = new Map(results.filter((r) => r.measurement).map((r) => [r.name, r.measurement!]));
  const ratios: Ratio[] = [];
  for (const { numerator, denominator } of specs) {
    const a = byName.get(numerator);
    const b = byName.get(denominator);
    if (!a || !b || b.requestsPerSec === 0) continue;
    ratios.push({
      name: `${numerator}/${denominator}`,
      throughput: a.requestsPerSec / b.requestsPerSec,
      p99: a.latencyMs.p99 / b.latencyMs.p99,
      p50: a.latencyMs.p50 / b.latencyMs.p50,
      ...(a.cpu && b.cpu && b.cpu.usPerRequest > 0 ? { cpuPerRequest: a.cpu.usPerRequest / b.cpu.usPerRequest } : {}),
    });
  }
  return ratios;
}

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const fmtRatio = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

function errorsCell(m: Measurement): string {
  const timeouts = m.timeouts > 0 ? ` (${m.timeouts} timeouts)` : '';
  return `${m.errors}${timeouts} / ${m.non2xx}`;
}

const HEAD = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors / non-2xx', 'CPU %', 'CPU µs/req'];

function scenarioRows(results: readonly ScenarioResult[]): string[][] {
  return results.map((r) => {
    const m = r.measurement;
    if (m) {
      return [
        r.name,
        fmtInt(m.requestsPerSec),
        fmtMs(m.latencyMs.p50),
        fmtMs(m.latencyMs.p99),
        fmtMs(m.latencyMs.p99_9),
        errorsCell(m),
        m.cpu ? fmtInt(m.cpu.percent) : '-',
        m.cpu ? fmtInt(m.cpu.usPerRequest) : '-',
      ];
    }
    return [r.name, r.skipped ? `skipped: ${r.skipped}` : `failed: ${firstLine(r.error)}`, '', '', '', '', '', ''];
  });
}

const RATIO_HEAD = ['ratio', 'req/s', 'p50', 'p99', 'CPU/req'];

function ratioRows(ratios: readonly Ratio[]): string[][] {
  return ratios.map((r) => [r.name, fmtRatio(r.throughput), fmtRatio(r.p50), fmtRatio(r.p99), r.cpuPerRequest === undefined ? '-' : fmtRatio(r.cpuPerRequest)]);
}

function firstLine(s: string | undefined): string {
  return (s ?? 'unknown error').split('\n')[0]!;
}

/** A plain-text table: first column left-aligned, the others right-aligned. */
function textTable(head: string[], rows: string[][]): string {
  const full = rows.filter((r) => r[2] !== '');
  const widths = head.map((h, i) => Math.max(h.length, ...full.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const row of rows) {
    // A skipped/failed scenario: its message runs across the table.
    out.push(row[2] === '' ? `${row[0]!.padEnd(widths[0]!)}  ${row[1]}` : line(row));
  }
  return out.join('\n');
}

function markdownTable(head: string[], rows: string[][]): string {
  const align = head.map((_, i) => (i === 0 ? ':--' : '--:'));
  return [head, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

export function formatConsole(report: BenchReport): string {
  const o = report.options;
  return [
    `${o.connections} connections, ${o.durationSec} s measured after ${o.warmupSec} s warm-up, ${o.keyType === 'ec' ? 'ECDSA P-256' : 'RSA'} server certificate`,
    '',
    textTable(HEAD, scenarioRows(report.scenarios)),
    '',
    report.ratios.length ? textTable(RATIO_HEAD, ratioRows(report.ratios)) : 'no ratios (a scenario of each pair is missing)',
    ...(report.micro ?? []).flatMap((m) => ['', `micro: ${m.name} ${m.args.join(' ')}`, m.output.trimEnd()]),
  ].join('\n');
}

export function formatMarkdown(report: BenchReport): string {
  const e = report.environment;
  const o = report.options;
  const lines = [
    `# ztproxy benchmark, ${report.startedAt}`,
    '',
    `- ${o.connections} keep-alive connections, ${o.durationSec} s measured per scenario after ${o.warmupSec} s warm-up (autocannon, in the bench process)`,
    `- server certificate: ${o.keyType === 'ec' ? 'ECDSA P-256' : 'RSA'} (dev PKI)`,
    `- Node ${e.node}, ${e.platform}, ${e.cpus} × ${e.cpuModel}, load average before the run ${e.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
    `- nginx: ${e.nginx ?? 'not installed'}`,
    `- commit: ${e.gitCommit ?? 'unknown'}${e.gitDirty ? ' (with uncommitted changes)' : ''}`,
    '',
    '## Scenarios',
    '',
    markdownTable(HEAD, scenarioRows(report.scenarios)),
    '',
    ...report.scenarios.map((s) => `- **${s.name}**: ${s.description}${s.loadBefore === undefined ? '' : ` (load average before: ${s.loadBefore.toFixed(2)})`}`),
    '',
    '## Ratios',
    '',
    'req/s: numerator ÷ denominator throughput (higher is better for the numerator); p50/p99: latency ratio, CPU/req: CPU time per request ratio (lower is better).',
    '',
    report.ratios.length ? markdownTable(RATIO_HEAD, ratioRows(report.ratios)) : '_no ratios: a scenario of each pair is missing_',
    '',
  ];
  if (report.micro?.length) {
    lines.push('## Micro-benchmarks', '', 'One hot function each, in its own process (bench/micro/, see bench/README.md).', '');
    for (const m of report.micro) lines.push(`### ${m.name}${m.ok ? '' : ' (failed)'}`, '', '```', m.output.trimEnd(), '```', '');
  }
  const failed = report.scenarios.filter((s) => s.error);
  if (failed.length) {
    lines.push('## Failures', '');
    for (const s of failed) lines.push(`### ${s.name}`, '', '```', s.error!, '```', '');
  }
  return lines.join('\n');
}

/** Writes <dir>/<stamp>.json and .md; returns both paths. */
export async function writeReport(dir: string, stamp: string, report: BenchReport): Promise<{ json: string; markdown: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, `${stamp}.json`);
  const markdown = join(dir, `${stamp}.md`);
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(markdown, formatMarkdown(report));
  return { json, markdown };
}

/** A file-name-safe UTC timestamp: 2025-01-31T14-05-09Z. */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replaceAll(':', '-');
}
