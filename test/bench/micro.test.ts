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
      expect(t.value, t.name).not.toBeNull();
      expect(t.met).toBe(t.comparison === '<=' ? t.value! <= t.target : t.value! >= t.target);
    }
  });
});

describe('the embedded decision target', () => {
  it('is the measured p50 of the 10,000-rule row', () => {
    const result = resultOf('policy-decision');
    expect(result.targets).toHaveLength(1);
    const t = result.targets![0]!;
    expect(t).toMatchObject({ name: 'embedded decision p50 at 10,000 rules', comparison: '<=', target: 2, unit: 'µs' });
    const row = result.tables[0]!.rows.find((r) => String(r[0]).includes('10,000 rules'));
    expect(row).toBeDefined();
    // The target carries the unrounded p50; the table shows it to three digits.
    expect(Number(t.value!.toPrecision(3))).toBe(row![MEASURED_COLUMNS.indexOf('p50 µs')]);
    expect(result.charts?.[0]?.series[0]?.values).toContain(t.value);
  });
});
