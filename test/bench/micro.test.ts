// The micro-benchmark parts (bench/micro/index.ts) as `npm run bench` runs them: each as a
// child process with `--json`, here at `--tiny` sizes (milliseconds per case, numbers
// meaningless), and its last stdout line must be a PartResult whose rows hold measured
// numbers and whose targets agree with the values they carry. No timing is asserted.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePart, type PartResult } from '../../bench/lib/part.ts';
import { MICRO_PARTS } from '../../bench/micro/index.ts';
import { MEASURED_COLUMNS } from '../../bench/micro/measure.ts';
import { DECISION_TARGET, decisionTarget } from '../../bench/micro/policy-rules.ts';

const ROOT = join(import.meta.dirname, '..', '..');

interface Run {
  stdout: string;
  result: PartResult | Error;
}
const runs = new Map<string, Run>();

beforeAll(async () => {
  // Two at a time (the machine has two cores): each is a few hundred milliseconds of measuring plus its setup.
  const queue = [...MICRO_PARTS];
  const worker = async (): Promise<void> => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) await runPart(p);
  };
  await Promise.all([worker(), worker()]);
}, 58_000);

async function runPart(p: (typeof MICRO_PARTS)[number]): Promise<void> {
  let stdout = '';
  let result: PartResult | Error;
  try {
    ({ stdout } = await promisify(execFile)(process.execPath, [join(ROOT, p.script), '--tiny', '--json'], { cwd: ROOT, maxBuffer: 1 << 22, timeout: 50_000 }));
    result = parsePart(stdout);
  } catch (err) {
    result = err as Error;
  }
  runs.set(p.name, { stdout, result });
}

function resultOf(name: string): PartResult {
  const run = runs.get(name);
  if (run === undefined) throw new Error(`${name} did not run`);
  if (run.result instanceof Error) throw run.result;
  return run.result;
}

describe('MICRO_PARTS', () => {
  it('lists scripts with their mode arguments, each name once', () => {
    expect(MICRO_PARTS.length).toBeGreaterThanOrEqual(7);
    expect(new Set(MICRO_PARTS.map((p) => p.name)).size).toBe(MICRO_PARTS.length);
    for (const p of MICRO_PARTS) {
      expect(p.script).toBe(`bench/micro/${p.name}.ts`);
      expect(p.quickArgs).toContain('--quick');
      expect(p.fullArgs).not.toContain('--quick');
    }
    // The functions the issue names, each measured by some part.
    expect(MICRO_PARTS.map((p) => p.name)).toEqual(
      expect.arrayContaining(['header-sanitation', 'route-selection', 'policy-decision', 'jwt-verify', 'posture-verify', 'assertion-sign', 'pdp-decision']),
    );
  });
});

describe.each(MICRO_PARTS.map((p) => p.name))('micro part %s at --tiny', (name) => {
  it('prints one PartResult line on stdout and nothing else', () => {
    const result = resultOf(name);
    expect(result.name).toBe(`micro:${name}`);
    expect(runs.get(name)!.stdout.trim().split('\n')).toHaveLength(1);
    expect(result.setup).toMatch(/Node v\d+/);
    // How much of its core the part had, measured, so a reader knows how far to trust it.
    expect(result.setup).toMatch(/had \d+ % of a core/);
    expect((result.raw as { cpuShare: number }).cpuShare).toBeGreaterThan(0);
    expect(result.tables.length).toBeGreaterThan(0);
  });

  it('fills every table with measured numbers', () => {
    for (const table of resultOf(name).tables) {
      expect(table.rows.length, table.title).toBeGreaterThan(0);
      for (const row of table.rows) {
        expect(row).toHaveLength(table.columns.length);
        expect(typeof row[0]).toBe('string');
        for (const cell of row.slice(1)) {
          expect(typeof cell === 'number' && Number.isFinite(cell) && cell > 0, `${table.title}: ${JSON.stringify(row)}`).toBe(true);
        }
        if (table.columns.join() === MEASURED_COLUMNS.join()) {
          const [, ops, p50, p99, mean] = row as [string, number, number, number, number];
          expect(p99).toBeGreaterThanOrEqual(p50);
          // ops/s and the mean are two views of one measurement.
          expect(ops * mean).toBeGreaterThan(0.9e6);
          expect(ops * mean).toBeLessThan(1.1e6);
        }
      }
    }
  });

  it('computes each target from its value', () => {
    for (const t of resultOf(name).targets ?? []) {
      if (t.value === null) {
        // Not measured: never met or missed, and it says why.
        expect(t.met, t.name).toBeUndefined();
        expect(t.why, t.name).toBeTruthy();
      } else {
        expect(t.met, t.name).toBe(t.comparison === '<=' ? t.value <= t.target : t.value >= t.target);
      }
    }
  });
});

describe('the embedded decision target', () => {
  it('is computed from the measured p50 at 10,000 rules, met or not', () => {
    expect(decisionTarget(new Map([[1, 0.1], [100, 0.5], [10_000, 1.5]]))).toMatchObject({ name: DECISION_TARGET, value: 1.5, comparison: '<=', target: 2, unit: 'µs', met: true });
    expect(decisionTarget(new Map([[10_000, 2.5]]))).toMatchObject({ value: 2.5, met: false });
    // Another size's p50 never stands in for the 10,000-rule one.
    const none = decisionTarget(new Map([[1000, 0.9]]));
    expect(none.value).toBeNull();
    expect(none.met).toBeUndefined();
    expect(none.why).toMatch(/10,000-rule/);
  });

  it('is reported by policy-decision, not measured at --tiny, with the table labelled by what ran', () => {
    const result = resultOf('policy-decision');
    expect(result.targets).toHaveLength(1);
    expect(result.targets![0]).toMatchObject({ name: DECISION_TARGET, value: null });
    expect(result.targets![0]!.met).toBeUndefined();
    const labels = result.tables[0]!.rows.map((r) => String(r[0]));
    expect(labels.some((l) => l.includes('1,000 rules'))).toBe(true);
    expect(labels.some((l) => l.includes('10,000'))).toBe(false);
    // The chart shows the same p50s as the table.
    const p50s = result.tables[0]!.rows.map((r) => r[MEASURED_COLUMNS.indexOf('p50 µs')]);
    expect(result.charts?.[0]?.series[0]?.values.map((v) => Number(v!.toPrecision(3)))).toEqual(p50s);
  });
});
