// `npm run bench` end to end at the smallest size: direct and ztproxy, one round of one
// second each (wrk capacity and a paced fixed-rate run at 1k req/s), no child parts, the report
// written to a temporary directory. Asserts the report's shape and that its numbers are
// computed from its own measurements — never how fast anything was.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../bench/lib/report.ts';
import { findWrk } from '../../bench/lib/wrk.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe.skipIf(!findWrk())('npm run bench, tiny', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs direct and ztproxy and writes a report that parses', { timeout: 55_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-run-'));
    const args = ['bench/run.ts', '--scenarios', 'direct,ztproxy', '--rounds', '1', '--duration', '1', '--rate-duration', '1', '--warmup', '0', '--sweep', 'none', '--rates', 'r1k', '--parts', 'none', '--results', dir];
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, args, { cwd: ROOT, timeout: 50_000, env: { ...process.env, BENCH_INSTALL: '0' } }, (err, _stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    const files = await readdir(dir);
    const json = files.find((f) => f.endsWith('.json'));
    expect(json, `no report written; exit ${code}; stderr:\n${stderr.slice(-2000)}`).toBeDefined();
    expect(files).toContain(json!.replace(/\.json$/, '.md'));
    const report = JSON.parse(await readFile(join(dir, json!), 'utf8')) as BenchReport;

    expect(report.environment.node).toBe(process.version);
    expect(report.environment.opensslNode).toBe(process.versions.openssl);
    expect(report.environment.pinning).toBeTruthy();
    expect(report.scenarios.map((s) => s.name)).toEqual(['direct', 'ztproxy']);
    expect(report.parts).toEqual([]);

    // Each scenario either measured or says why not (a starved shared core can fail a run).
    for (const s of report.scenarios) expect(s.points.length > 0 || Boolean(s.error)).toBe(true);
    const ztproxy = report.scenarios.find((s) => s.name === 'ztproxy')!;
    const cap = ztproxy.points.find((p) => p.key === 'c50');
    if (cap) {
      expect(cap.tool).toBe('wrk');
      expect(cap.rounds).toHaveLength(1);
      expect(cap.requestsPerSec.median).toBe(cap.rounds[0]!.requestsPerSec);
      expect(typeof cap.loadgenSaturated).toBe('boolean');
      // ztproxy's admin /metrics scraped around that run, turned into a per-stage table.
      expect(report.stageTimings.map((t) => t.title)).toContain('Stage timings: ztproxy');
    }
    const at1k = ztproxy.points.find((p) => p.key === 'r1k');
    const direct1k = report.scenarios.find((s) => s.name === 'direct')!.points.find((p) => p.key === '@1000');
    if (at1k && direct1k) {
      expect(at1k.tool).toBe('paced');
      expect(at1k.addedMs!.p50).toBeCloseTo(at1k.latencyMs.p50.median - direct1k.latencyMs.p50.median, 9);
    }

    // Every HTTP target is listed; the ones this run cannot measure say why.
    expect(report.targets.length).toBe(8);
    for (const t of report.targets) {
      if (t.value === null) expect(t.why).toBeTruthy();
      else expect(t.met).toBe(t.comparison === '>=' ? t.value >= t.target : t.value <= t.target);
    }
    expect(report.targets.find((t) => t.name.startsWith('TLS + JWT'))!.why).toMatch(/ztproxy-jwt was not run/);
    expect(code === 0 || report.scenarios.some((s) => s.error)).toBe(true);
  });
});
