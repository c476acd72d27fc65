// The report builder of `npm run bench` from given measurements: medians and spreads over
// rounds, the saturation flag, added latency against direct at the same rate, the ratios
// and the targets computed from those medians, the files written (JSON that
// parses, Markdown, one well-formed SVG per chart) and the README section between its
// markers. No load is generated here; bench/run.ts's own end-to-end test is harness-run.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { saturation, type Measurement } from '../../bench/lib/load.ts';
import { parseOptions, partWanted } from '../../bench/lib/options.ts';
import { target, type ChartSpec } from '../../bench/lib/part.ts';
import { README_BEGIN, README_END, readmeSection, replaceSection } from '../../bench/lib/readme.ts';
import {
  computeRatios,
  directAt,
  formatMarkdown,
  httpCharts,
  httpTargets,
  stat,
  summarizePoint,
  withAddedLatency,
  writeReport,
  type BenchReport,
  type PointSpec,
  type ScenarioResult,
} from '../../bench/lib/report.ts';
import { renderChart } from '../../bench/lib/svg.ts';
import { assertWellFormedXml } from './report-xml.ts';

function m(rps: number, p50: number, p99: number, extra: Partial<Measurement> = {}): Measurement {
  return {
    tool: 'wrk',
    kind: 'capacity',
    connections: 50,
    durationSec: 4,
    requestsPerSec: rps,
    requests: rps * 4,
    latencyMs: { mean: p50, p50, p90: (p50 + p99) / 2, p99, p99_9: p99 * 2, max: p99 * 3 },
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    sutCpu: { cpuSec: 4, percent: 100, usPerRequest: 1e6 / rps },
    loadgenCpuPercent: 40,
    loadgenSaturated: false,
    ...extra,
  };
}

const cap: PointSpec = { key: 'c50', kind: 'capacity', tool: 'wrk', connections: 50, label: 'capacity, 50 connections' };
const rate = (key: string, r: number): PointSpec => ({ key, kind: 'rate', tool: 'paced', connections: 50, rate: r, label: key });

function scenario(name: string, points: { spec: PointSpec; rounds: Measurement[] }[]): ScenarioResult {
  return { name, description: name, tool: 'wrk', points: points.map((p) => summarizePoint(p.spec, p.rounds)!) };
}

/** A run where every target's inputs exist, with numbers chosen so each ratio is known. */
function sampleResults(): ScenarioResult[] {
  return withAddedLatency([
    scenario('direct', [
      { spec: cap, rounds: [m(40_000, 1, 3)] },
      { spec: rate(directAt(10_000), 10_000), rounds: [m(10_000, 0.5, 2)] },
      { spec: rate(directAt(1000), 1000), rounds: [m(1000, 0.2, 0.5)] },
    ]),
    scenario('nginx', [
      { spec: cap, rounds: [m(19_000, 2, 5), m(20_000, 2, 5), m(21_000, 2, 5)] },
      { spec: rate('r50', 10_000), rounds: [m(10_000, 1, 3)] },
    ]),
    scenario('ztproxy', [
      { spec: cap, rounds: [m(9000, 5, 12), m(10_000, 5, 10), m(12_000, 5, 11)] },
      { spec: rate('nginx50', 10_000), rounds: [m(10_000, 3, 4)] },
    ]),
    scenario('ztproxy-jwt', [
      { spec: cap, rounds: [m(9000, 5, 10)] },
      { spec: rate('r1k', 1000), rounds: [m(1000, 0.45, 1, { tool: 'paced', kind: 'rate', pacing: { lagMs: { p50: 0.42, p99: 0.97, max: 3 }, late: 2, waitedForConnection: 0, unsent: 0 } })] },
    ]),
    scenario('ztproxy-jwt-new-es256', [{ spec: cap, rounds: [m(4500, 5, 10, { sutCoreOtherPercent: 70 })] }]),
    scenario('ztproxy-jwt-new-rs256', [{ spec: cap, rounds: [m(6000, 5, 10, { loadgenSaturated: true, saturation: 'load generator at 95 % of its core' })] }]),
    scenario('ztproxy-pdp', [{ spec: cap, rounds: [m(8100, 5, 10)] }]),
    { name: 'ztproxy-pdp-nocache', description: 'x', tool: 'wrk', points: [], error: 'Error: did not start\n    at stack' },
  ]);
}

describe('medians, spreads and saturation', () => {
  it('summarizes the rounds as median and min–max', () => {
    expect(stat([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(stat([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4, n: 4 });
    expect(stat([undefined, Number.NaN])).toBeUndefined();
    const p = summarizePoint(cap, [m(9000, 5, 12), m(12_000, 4, 10), m(10_000, 6, 11)])!;
    expect(p.requestsPerSec).toEqual({ median: 10_000, min: 9000, max: 12_000, n: 3 });
    expect(p.latencyMs.p50.median).toBe(5);
    expect(p.latencyMs.p99).toEqual({ median: 11, min: 10, max: 12, n: 3 });
    expect(p.loadgenSaturated).toBe(false);
  });

  it('marks a point saturated when any round was, and keeps why', () => {
    const p = summarizePoint(cap, [m(9000, 5, 12), m(9000, 5, 12, { loadgenSaturated: true, saturation: 'load generator at 97 % of its core' })])!;
    expect(p.loadgenSaturated).toBe(true);
    expect(p.saturation).toBe('load generator at 97 % of its core');
  });

  it('flags the load generator at ≥ 90 % of its core, not below', () => {
    expect(saturation({ loadgenCpuPercent: 90 }).loadgenSaturated).toBe(true);
    expect(saturation({ loadgenCpuPercent: 89.9 }).loadgenSaturated).toBe(false);
    expect(saturation({}).loadgenSaturated).toBe(false);
  });

  it('a fixed-rate point is not held when a round completed < 95 % of the asked rate', () => {
    const held = summarizePoint(rate('r50', 1000), [m(960, 1, 2, { kind: 'rate', targetRate: 1000, rateHeld: true })])!;
    const lost = summarizePoint(rate('r50', 1000), [m(960, 1, 2, { kind: 'rate', targetRate: 1000, rateHeld: true }), m(900, 1, 2, { kind: 'rate', targetRate: 1000, rateHeld: false })])!;
    expect(held.rateHeld).toBe(true);
    expect(lost.rateHeld).toBe(false);
  });
});

describe('added latency, ratios and targets', () => {
  const results = sampleResults();
  const byName = (name: string) => httpTargets(results, 'c50').find((t) => t.name.startsWith(name))!;

  it('added latency is the median minus direct’s median at the same rate', () => {
    const z = results.find((r) => r.name === 'ztproxy')!.points.find((p) => p.key === 'nginx50')!;
    expect(z.addedMs).toEqual({ p50: 2.5, p90: 3.5 - 1.25, p99: 2, p99_9: 4 });
    // direct itself gets none.
    expect(results.find((r) => r.name === 'direct')!.points.every((p) => p.addedMs === undefined)).toBe(true);
  });

  it('throughput targets are ratios of capacity medians, met iff value ≥ goal', () => {
    const fwd = byName('forward-only ÷ nginx');
    expect(fwd.value).toBeCloseTo(10_000 / 20_000);
    expect(fwd.met).toBe(true); // 0.5 ≥ 0.5
    expect(byName('TLS + JWT').value).toBeCloseTo(0.9);
    expect(byName('TLS + JWT').met).toBe(true);
    expect(byName('every token new: ES256').value).toBeCloseTo(0.45);
    expect(byName('every token new: ES256').note).toMatch(/ztproxy-jwt-new-es256: 70 % of its core was other work/);
    const rs = byName('every token new: RS256');
    expect(rs.value).toBeCloseTo(0.6);
    expect(rs.met).toBe(false);
    expect(rs.note).toMatch(/saturated/);
    expect(byName('remote PDP ÷ embedded, with').value).toBeCloseTo(0.9);
  });

  it('a target whose scenario failed is not measured, and says why', () => {
    const t = byName('remote PDP ÷ embedded, without');
    expect(t.value).toBeNull();
    expect(t.met).toBeUndefined();
    expect(t.why).toMatch(/ztproxy-pdp-nocache failed: did not start/);
  });

  it('the latency targets come from added latency', () => {
    const p99 = byName('added p99');
    // ztproxy: 4 − 2 = 2 ms added; nginx: 3 − 2 = 1 ms added → 2.0, met at ≤ 2.0.
    expect(p99.value).toBeCloseTo(2);
    expect(p99.met).toBe(true);
    const p50 = byName('added p50 at 1k');
    expect(p50.value).toBeCloseTo(0.25);
    expect(p50.unit).toBe('ms');
    expect(p50.met).toBe(true);
  });

  it('an added p99 at or below 0 gives no ratio, and says why', () => {
    const noisy = sampleResults().map((r) =>
      r.name === 'ztproxy' ? { ...r, points: r.points.map((p) => (p.addedMs ? { ...p, addedMs: { ...p.addedMs, p99: -0.5 } } : p)) } : r,
    );
    const t = httpTargets(noisy, 'c50').find((x) => x.name.startsWith('added p99'))!;
    expect(t.value).toBeNull();
    expect(t.met).toBeUndefined();
    expect(t.why).toMatch(/not above 0/);
  });

  it('an added p50 below 0 is not a measured value', () => {
    const noisy = sampleResults().map((r) =>
      r.name === 'ztproxy-jwt' ? { ...r, points: r.points.map((p) => (p.addedMs ? { ...p, addedMs: { ...p.addedMs, p50: -0.2 } } : p)) } : r,
    );
    const t = httpTargets(noisy, 'c50').find((x) => x.name.startsWith('added p50'))!;
    expect(t.value).toBeNull();
    expect(t.met).toBeUndefined();
    expect(t.why).toMatch(/below 0/);
  });

  it('target() computes met from the value on both sides of the goal', () => {
    expect(target('x', 0.49, '>=', 0.5).met).toBe(false);
    expect(target('x', 0.5, '>=', 0.5).met).toBe(true);
    expect(target('x', 2.01, '<=', 2).met).toBe(false);
    expect(target('x', null, '<=', 2).met).toBeUndefined();
  });

  it('ratios divide the medians and carry saturation', () => {
    const ratios = computeRatios(results, [{ numerator: 'ztproxy', denominator: 'nginx' }, { numerator: 'ztproxy-jwt-new-rs256', denominator: 'ztproxy' }, { numerator: 'missing', denominator: 'nginx' }], 'c50');
    expect(ratios.map((r) => r.name)).toEqual(['ztproxy/nginx', 'ztproxy-jwt-new-rs256/ztproxy']);
    expect(ratios[0]!.throughput).toBeCloseTo(0.5);
    expect(ratios[0]!.cpuPerRequest).toBeCloseTo(2);
    expect(ratios[1]!.loadgenSaturated).toBe(true);
  });
});

describe('the files', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function sampleReport(): BenchReport {
    const results = sampleResults();
    const partChart: ChartSpec = { id: 'handshake-rate', title: 'Handshakes & <rates>', unit: 'handshakes/s', kind: 'bar', groups: ['ztproxy', 'nginx'], series: [{ label: 'full', values: [900, 1800] }, { label: 'resumed', values: [null, 5000] }] };
    return {
      startedAt: '2026-12-03T18:00:00.000Z',
      finishedAt: '2026-12-03T18:03:00.000Z',
      environment: {
        hostname: 'h', platform: 'linux x64', kernel: '6.1', cpus: 2, cpuModel: 'AMD EPYC', memoryGiB: 24, loadAverage: [0.5, 0.4, 0.3], node: 'v24.21.0',
        opensslNode: '3.0.15', opensslCli: 'OpenSSL 3.0.15', nginx: 'nginx/1.22.1', haproxy: '2.6.12', wrk: 'wrk 4.1.0', autocannon: '8.0.0', pinning: 'pinned', gitCommit: 'abc1234', gitDirty: false,
      },
      options: { quick: true, rounds: 1, durationSec: 2 },
      notes: ['a note'],
      mainKey: 'c50',
      scenarios: results,
      ratios: computeRatios(results, [{ numerator: 'ztproxy', denominator: 'nginx' }], 'c50'),
      targets: [...httpTargets(results, 'c50'), target('full TLS 1.3 handshakes ÷ nginx (P-256)', 0.5, '>=', 0.7)],
      stageTimings: [],
      parts: [
        { name: 'handshake', command: ['node', 'bench/handshake.ts'], seconds: 3, result: { name: 'handshake', title: 'Handshakes', setup: 'pinned', tables: [{ title: 't', columns: ['a', 'b'], rows: [['x', 1.5]] }], charts: [partChart] } },
        { name: 'memory', command: ['node', 'bench/memory.ts'], seconds: 0, error: 'bench/memory.ts is missing' },
      ],
      charts: httpCharts(results, 'c50', [50]),
    };
  }

  it('writes JSON that parses, Markdown with every table, and one well-formed SVG per chart', async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-report-'));
    const report = sampleReport();
    const files = await writeReport(dir, 'stamp', report);
    const parsed = JSON.parse(await readFile(files.json, 'utf8')) as BenchReport;
    expect(parsed.targets).toHaveLength(9);
    expect(parsed.scenarios.map((s) => s.name)).toContain('ztproxy');
    const md = await readFile(files.markdown, 'utf8');
    expect(md).toContain('## Targets');
    expect(md).toContain('forward-only ÷ nginx forward-only');
    expect(md).toContain('## Latency at fixed rates');
    // Which generator a fixed-rate run used, why not autocannon's overallRate, and its own lateness.
    expect(md).toContain('The paced generator (`bench/lib/paced.ts`');
    expect(md).toContain('reqsMadeThisSecond');
    expect(md).toMatch(/\| ztproxy-jwt \| r1k \| paced \| 1,000 \|.*\| 0\.42 \/ 0\.97 \| - \|/);
    expect(md).toContain('bench/memory.ts is missing');
    expect(md).toContain('![Handshakes & <rates>](stamp-handshake-rate.svg)');
    const svgs = (await readdir(dir)).filter((f) => f.endsWith('.svg')).sort();
    expect(svgs).toEqual(['stamp-cpu-per-request.svg', 'stamp-handshake-rate.svg', 'stamp-latency-r1k.svg', 'stamp-latency-r50.svg', 'stamp-throughput.svg']);
    for (const f of svgs) assertWellFormedXml(await readFile(join(dir, f), 'utf8'));
  });

  it('formats a failed scenario as one short line, the full error kept in the JSON', () => {
    const md = formatMarkdown(sampleReport(), 's');
    expect(md).toMatch(/\| ztproxy-pdp-nocache \| failed: did not start \|/);
  });

  it('the README section is replaced between its markers, and only there', () => {
    const section = readmeSection(sampleReport());
    expect(section.startsWith(README_BEGIN)).toBe(true);
    expect(section.endsWith(README_END)).toBe(true);
    expect(section).toContain('](docs/bench/throughput.svg)');
    expect(section).toContain("1 of 7 capacity rows were measured with the load generator's core saturated, and 1 with");
    const before = `# x\n\n## Benchmarks\n\nintro\n\n${README_BEGIN}\nold table\n${README_END}\n\nafter\n`;
    const after = replaceSection(before, section);
    expect(after).not.toContain('old table');
    expect(after).toContain('intro');
    expect(after).toContain('after');
    expect(replaceSection(after, section)).toBe(after);
    // No markers yet: the section goes under the Benchmarks heading.
    const fresh = replaceSection('# x\n\n## Benchmarks\n\nintro\n', section);
    expect(fresh.indexOf(README_BEGIN)).toBeGreaterThan(fresh.indexOf('## Benchmarks'));
  });
});

describe('SVG charts', () => {
  it('draws every series of a bar chart, escaping labels', () => {
    const svg = renderChart({ id: 'x', title: 'A & B <c>', unit: 'req/s', kind: 'bar', groups: ['direct', 'ztproxy', 'nginx'], series: [{ label: 'round "1"', values: [40_000, 10_000, null] }, { label: 'round 2', values: [39_000, 11_000, 20_000] }] });
    assertWellFormedXml(svg);
    expect(svg).toContain('A &amp; B &lt;c&gt;');
    expect(svg).toContain('round &quot;1&quot;');
    expect(svg.match(/<rect x="[\d.]+" y="[\d.]+" width="(?!12")/g)).toHaveLength(5);
    for (const g of ['direct', 'ztproxy', 'nginx']) expect(svg).toContain(`>${g}</text>`);
  });

  it('draws a line per series on a log scale, breaking at a gap', () => {
    const svg = renderChart({ id: 'l', title: 'latency', unit: 'ms', kind: 'line', log: true, groups: ['p50', 'p90', 'p99', 'p99.9', 'max'], series: [{ label: 'nginx', values: [0.5, 1, 3, 8, 20] }, { label: 'ztproxy', values: [1, 2, null, 15, 40] }] });
    assertWellFormedXml(svg);
    expect(svg.match(/<polyline/g)).toHaveLength(3);
    expect(svg.match(/<circle/g)).toHaveLength(9);
    expect(svg).toContain('ms (log scale)');
  });

  it('survives an empty or all-zero chart', () => {
    assertWellFormedXml(renderChart({ id: 'e', title: 'empty', unit: 'x', kind: 'bar', groups: [], series: [] }));
    assertWellFormedXml(renderChart({ id: 'z', title: 'zero', unit: 'x', kind: 'line', log: true, groups: ['a'], series: [{ label: 's', values: [0] }] }));
  });
});

describe('options', () => {
  it('--quick shortens the defaults; flags beat the environment', () => {
    const quick = parseOptions(['--quick'], {});
    expect(quick).toMatchObject({ quick: true, rounds: 1, durationSec: 2, sweep: [], rates: 'targets', parts: 'all' });
    const full = parseOptions([], { BENCH_ROUNDS: '5' });
    expect(full).toMatchObject({ quick: false, rounds: 5, sweep: [10, 200], rates: ['r25', 'r50', 'r75', 'r1k'] });
    expect(parseOptions(['--rounds', '2'], { BENCH_ROUNDS: '5' })).toMatchObject({ rounds: 2 });
  });

  it('reports every bad value at once', () => {
    expect(() => parseOptions(['--rounds', '0', '--duration', 'x', '--rates', 'r33'], {})).toThrow(/rounds[\s\S]*duration[\s\S]*rates/);
  });

  it('BENCH_MICRO=0 still drops the micro-benchmarks', () => {
    const o = parseOptions([], { BENCH_MICRO: '0' });
    if (o === 'help') throw new Error('unexpected help');
    expect(partWanted(o, 'micro:jwt-verify')).toBe(false);
    expect(partWanted(o, 'handshake')).toBe(true);
    const none = parseOptions(['--parts', 'none'], {});
    if (none === 'help') throw new Error('unexpected help');
    expect(partWanted(none, 'tunnel')).toBe(false);
  });
});
