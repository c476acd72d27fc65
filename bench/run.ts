// `npm run bench`: every scenario, one after another in one run, against one upstream on
// loopback, reported side by side and as ratios (SPEC §9). See bench/README.md.
//
// Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 2),
// BENCH_CONNECTIONS (default 50), BENCH_SCENARIOS (comma list of names, default all),
// BENCH_KEY_TYPE (ec | rsa, default ec), BENCH_CPU_PROF (set: write ztproxy CPU profiles
// next to the results), BENCH_MICRO (0: skip the micro-benchmarks).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installChildCleanup, removeOnExit, stopAllChildren } from './lib/children.ts';
import { measure } from './lib/load.ts';
import { nginxVersion } from './lib/nginx.ts';
import { computeRatios, formatConsole, timestamp, writeReport, type BenchReport, type Environment, type MicroResult, type ScenarioResult } from './lib/report.ts';
import type { BenchContext, BenchOptions } from './lib/scenario.ts';
import { allScenarios, RATIOS } from './lib/scenarios.ts';
import { startUpstream } from './lib/upstream.ts';
import { initCerts } from './lib/ztproxy.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');

class OptionError extends Error {}

function numberEnv(name: string, fallback: number, { integer = false, min = 0 } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new OptionError(`${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, not "${raw}"`);
  }
  return n;
}

function readOptions(stamp: string): BenchOptions {
  const keyType = process.env.BENCH_KEY_TYPE || 'ec';
  if (keyType !== 'ec' && keyType !== 'rsa') throw new OptionError(`BENCH_KEY_TYPE must be "ec" or "rsa", not "${keyType}"`);
  const only = process.env.BENCH_SCENARIOS?.split(',').map((s) => s.trim()).filter(Boolean);
  const durationSec = numberEnv('BENCH_DURATION', 10, { min: 1 });
  return {
    connections: numberEnv('BENCH_CONNECTIONS', 50, { integer: true, min: 1 }),
    durationSec,
    warmupSec: numberEnv('BENCH_WARMUP', Math.min(2, durationSec)),
    keyType,
    only: only?.length ? only : undefined,
    cpuProfileDir: process.env.BENCH_CPU_PROF ? join(RESULTS, `${stamp}-profiles`) : undefined,
  };
}

function environment(): Environment {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    loadAverage: loadavg(),
    nginx: nginxVersion(),
    gitCommit: git(['rev-parse', '--short', 'HEAD']),
    gitDirty: status === undefined ? undefined : status !== '',
  };
}

const say = (line: string) => process.stderr.write(`${line}\n`);

/**
 * The micro-benchmarks that have per-request targets (issue #5: embedded decision at
 * 10,000 rules over 1,000 routes, posture verify on a cache hit, a cached remote
 * decision), each in its own process after the load scenarios, with fewer iterations
 * than their defaults so the whole run stays short. BENCH_MICRO=0 skips them; with
 * BENCH_SCENARIOS they run only if `micro` is listed.
 */
const MICRO: readonly { name: string; args: string[]; script?: string }[] = [
  { name: 'policy-decision', args: ['20000'] },
  { name: 'posture-verify', args: ['5000'] },
  { name: 'pdp-decision', args: ['200000'] },
  { name: 'jwt-verify', args: ['5000'] },
  { name: 'lockout-check', args: ['200000'] },
  { name: 'stream-sweep', args: ['10000'] },
  // Not a micro-benchmark: tunnel throughput vs a direct TCP connection beside direct
  // TLS, a bare Node TLS pipe and nginx stream (5 interleaved rounds of 100 MiB), and a
  // new tunnel's time to first byte beside nginx's TLS handshake (issue #9); ~2 minutes.
  { name: 'tunnel', args: ['100', '5', '40'], script: join('bench', 'tunnel.ts') },
];

async function runMicro(only: readonly string[] | undefined): Promise<MicroResult[]> {
  if (only && !only.includes('micro')) return [];
  const out: MicroResult[] = [];
  for (const m of MICRO) {
    say(`bench: micro ${m.name}`);
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, m.script ?? join('bench', 'micro', `${m.name}.ts`)), ...m.args], { cwd: ROOT, maxBuffer: 1 << 20, timeout: 120_000 });
      out.push({ name: m.name, args: m.args, output: stdout, ok: true });
    } catch (err) {
      out.push({ name: m.name, args: m.args, output: (err as Error).message, ok: false });
    }
  }
  return out;
}

async function main(): Promise<number> {
  const started = new Date();
  const stamp = timestamp(started);
  let options: BenchOptions;
  try {
    options = readOptions(stamp);
  } catch (err) {
    if (err instanceof OptionError) {
      say(`bench: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const scenarios = allScenarios();
  if (options.only) {
    const unknown = options.only.filter((n) => n !== 'micro' && !scenarios.some((s) => s.name === n));
    if (unknown.length) {
      say(`bench: unknown scenario(s) in BENCH_SCENARIOS: ${unknown.join(', ')} (have: ${scenarios.map((s) => s.name).join(', ')})`);
      return 2;
    }
  }
  installChildCleanup();
  const env = environment();
  const workDir = await mkdtemp(join(tmpdir(), 'ztproxy-bench-'));
  removeOnExit(workDir);
  const results: ScenarioResult[] = [];
  try {
    say(`bench: dev PKI (${options.keyType}) and upstream in ${workDir}`);
    const node = process.execPath;
    const certs = await initCerts({ root: ROOT, node }, join(workDir, 'certs'), options.keyType);
    const upstream = await startUpstream(node);
    const ctx: BenchContext = { options, root: ROOT, node, workDir, certs, upstream: upstream.url, upstreamPid: upstream.child.proc.pid! };

    for (const scenario of scenarios) {
      if (options.only && !options.only.includes(scenario.name)) continue;
      const base = { name: scenario.name, description: scenario.description, loadBefore: loadavg()[0] };
      const skipped = scenario.skipReason?.(ctx);
      if (skipped) {
        say(`bench: ${scenario.name}: skipped (${skipped})`);
        results.push({ ...base, skipped });
        continue;
      }
      try {
        const target = await scenario.setup(ctx);
        say(`bench: ${scenario.name}: ${target.url} — ${options.warmupSec} s warm-up, ${options.durationSec} s measured`);
        const measurement = await measure(target, options);
        results.push({ ...base, url: target.url, measurement });
      } catch (err) {
        say(`bench: ${scenario.name} failed: ${(err as Error).message}`);
        results.push({ ...base, error: (err as Error).stack ?? String(err) });
      } finally {
        await scenario.teardown();
      }
    }
    await upstream.child.stop();
  } finally {
    await stopAllChildren();
    await rm(workDir, { recursive: true, force: true });
  }

  const micro = process.env.BENCH_MICRO === '0' ? [] : await runMicro(options.only);

  const { only: _only, cpuProfileDir, ...reported } = options;
  const report: BenchReport = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: env,
    options: cpuProfileDir ? { ...reported, cpuProfileDir } : reported,
    scenarios: results,
    ratios: computeRatios(results, RATIOS),
    micro,
  };
  process.stdout.write(`\n${formatConsole(report)}\n\n`);
  const files = await writeReport(RESULTS, stamp, report);
  say(`bench: wrote ${resolve(files.json)} and ${resolve(files.markdown)}`);
  if (cpuProfileDir) say(`bench: ztproxy CPU profiles in ${cpuProfileDir} (open in Chrome DevTools → Performance)`);
  return results.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    say(`bench: ${(err as Error).stack ?? String(err)}`);
    await stopAllChildren();
    process.exitCode = 1;
  },
);
