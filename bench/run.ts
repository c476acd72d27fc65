// `npm run bench`: every scenario side by side in one run, pinned (the system under test
// on one core, the load generator, upstream and PDP on the other), interleaved over rounds
// (A B C A B C …), reported as medians with their spread, as ratios and as the issue's
// targets; then the parts that run as their own processes (handshake, memory, tunnel,
// micro-benchmarks), each embedded in the same report. See bench/README.md.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, hostname, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installChildCleanup, removeOnExit, stopAllChildren } from './lib/children.ts';
import { measurePaced, measureWithAutocannon, measureWithWrk, type Measurement, type Tool } from './lib/load.ts';
import { haproxyVersion, findHaproxy } from './lib/haproxy.ts';
import { nginxVersion } from './lib/nginx.ts';
import { helpText, OptionError, parseOptions, partWanted, type HarnessOptions, type RateKey } from './lib/options.ts';
import { parsePart, type PartTable } from './lib/part.ts';
import { stageTable } from './lib/stage-timings.ts';
import { MICRO_PARTS } from './micro/index.ts';
import { LOAD_CPU, PINNING, pinPid, pinningDescription } from './lib/pin.ts';
import { latestReport, updateReadme } from './lib/readme.ts';
import {
  computeRatios,
  directAt,
  formatConsole,
  httpCharts,
  httpTargets,
  summarizePoint,
  timestamp,
  withAddedLatency,
  writeReport,
  type BenchReport,
  type Environment,
  type PartRun,
  type PointSpec,
  type ScenarioResult,
} from './lib/report.ts';
import type { BenchContext, BenchOptions, Scenario, Target } from './lib/scenario.ts';
import { allScenarios, RATIOS } from './lib/scenarios.ts';
import { startUpstream } from './lib/upstream.ts';
import { ensureDebianTool, findWrk, wrkVersion, writeWrkScript } from './lib/wrk.ts';
import { initCerts } from './lib/ztproxy.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string) => process.stderr.write(`${line}\n`);

function environment(): Omit<Environment, 'wrk'> {
  const run = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    } catch {
      return undefined;
    }
  };
  const status = run('git', ['status', '--porcelain', '--untracked-files=no']);
  let autocannon: string | undefined;
  try {
    autocannon = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    autocannon = undefined;
  }
  return {
    hostname: hostname(),
    platform: `${process.platform} ${process.arch}`,
    kernel: release(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: loadavg(),
    node: process.version,
    opensslNode: process.versions.openssl ?? 'unknown',
    opensslCli: run('openssl', ['version']),
    nginx: nginxVersion(),
    haproxy: haproxyVersion(),
    autocannon,
    pinning: pinningDescription(),
    gitCommit: run('git', ['rev-parse', '--short', 'HEAD']),
    gitDirty: status === undefined ? undefined : status !== '',
  };
}

interface Running {
  readonly scenario: Scenario;
  readonly target: Target;
  readonly tool: Tool;
  /** wrk's Lua script for this target. */
  readonly script?: string;
  /** Set once its first run (with the long first warm-up, options.firstWarmupSec) began. */
  warmed?: boolean;
}

/** Systems under test that need no JIT warm-up (see options.firstWarmupSec). */
const COMPILED = new Set(['direct', 'nginx', 'haproxy']);

const RATE_SHARE: Record<Exclude<RateKey, 'r1k'>, number> = { r25: 0.25, r50: 0.5, r75: 0.75 };
/** `--rates targets`: only the fixed-rate runs the targets read (ztproxy's at 50 % of nginx's is added below). */
const TARGET_RATES: Readonly<Record<string, readonly RateKey[]>> = { nginx: ['r50'], 'ztproxy-jwt': ['r1k'] };
const RATE_LABEL: Record<RateKey, string> = { r25: '25 % of own capacity', r50: '50 % of own capacity', r75: '75 % of own capacity', r1k: '1k req/s' };

async function scrape(adminUrl: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${adminUrl}/metrics`);
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

interface PartSpec {
  readonly name: string;
  readonly script: string;
  readonly args: readonly string[];
  readonly timeoutSec: number;
}

/** The parts that run after the HTTP scenarios, each as its own process, sized by mode. */
function partSpecs(options: HarnessOptions): PartSpec[] {
  // The budgets (issue #7): `--quick` within 3 minutes, the full run within 15. The HTTP
  // phase takes ~2 and ~5.5 of them; the memory part's 10,000 connections and 5-minute
  // soak ~7. So the quick run gives its parts their smallest sizes (a check that they
  // work, with the numbers they can give: the 10,000-rule decision still runs at its
  // quick size), and the full run gives the handshake, tunnel and micro parts their
  // quick sizes and the memory part its full one.
  const q = options.quick;
  const specs: PartSpec[] = [
    { name: 'handshake', script: 'bench/handshake.ts', args: ['--json', q ? '--tiny' : '--quick'], timeoutSec: q ? 60 : 180 },
    { name: 'memory', script: 'bench/memory.ts', args: ['--json', ...(q ? ['--tiny'] : [])], timeoutSec: q ? 90 : 600 },
    // Positional sizes: MiB per transfer, rounds, new tunnels for the time to first byte.
    { name: 'tunnel', script: 'bench/tunnel.ts', args: ['--json', ...(q ? ['10', '1', '5'] : ['50', '3', '20'])], timeoutSec: q ? 45 : 150 },
  ];
  for (const m of MICRO_PARTS) {
    const args = q && m.name !== 'policy-decision' ? ['--tiny'] : m.quickArgs;
    specs.push({ name: `micro:${m.name}`, script: m.script, args: ['--json', ...args], timeoutSec: q ? 30 : 60 });
  }
  return specs.filter((s) => partWanted(options, s.name));
}

/**
 * One part as a child with a timeout; its PartResult is the last stdout line. The bench
 * process is pinned to the load core and children inherit that, so the part starts on
 * every core and pins its own processes (bench/lib/pin.ts).
 */
async function runPart(spec: PartSpec): Promise<PartRun> {
  const script = join(ROOT, spec.script);
  const command = [process.execPath, spec.script, ...spec.args];
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  if (!existsSync(script)) return { name: spec.name, command, seconds: 0, error: `${spec.script} is missing (not merged yet)` };
  // cpus(), not availableParallelism(): the latter is this process's affinity (the load core).
  const [cmd, args] = PINNING ? ['taskset', ['-c', `0-${cpus().length - 1}`, process.execPath, script, ...spec.args]] : [process.execPath, [script, ...spec.args]];
  return new Promise<PartRun>((done) => {
    execFile(cmd, args, { cwd: ROOT, maxBuffer: 64 << 20, timeout: spec.timeoutSec * 1000, killSignal: 'SIGTERM' }, (err, stdout, stderr) => {
      if (err) {
        const why = (err as NodeJS.ErrnoException & { killed?: boolean }).killed ? `timed out after ${spec.timeoutSec} s` : err.message.split('\n')[0];
        done({ name: spec.name, command, seconds: seconds(), error: `${why}\n${stderr.slice(-2000)}` });
        return;
      }
      try {
        done({ name: spec.name, command, seconds: seconds(), result: parsePart(stdout) });
      } catch (parseErr) {
        done({ name: spec.name, command, seconds: seconds(), error: `${(parseErr as Error).message}\n${stderr.slice(-2000)}` });
      }
    });
  });
}

async function measure(r: Running, spec: PointSpec, options: HarnessOptions, wrkBin: string | undefined, caPem: string | undefined): Promise<Measurement> {
  // nginx and HAProxy are C, and direct is the upstream, warmed by every proxy's runs.
  const first = !r.warmed && !COMPILED.has(r.scenario.name);
  r.warmed = true;
  const warmupSec = first ? Math.max(options.warmupSec, options.firstWarmupSec) : options.warmupSec;
  const run = { kind: spec.kind, connections: spec.connections, durationSec: spec.kind === 'rate' ? options.rateDurationSec : options.durationSec, warmupSec, ...(spec.rate ? { rate: spec.rate } : {}) };
  if (spec.kind === 'rate') return measurePaced(r.target, run, caPem === undefined ? {} : { ca: caPem });
  if (spec.tool === 'wrk' && wrkBin && r.script) return measureWithWrk(wrkBin, r.target, r.script, run);
  return measureWithAutocannon(r.target, run);
}

async function main(): Promise<number> {
  let options: HarnessOptions;
  try {
    const parsed = parseOptions(process.argv.slice(2), process.env);
    if (parsed === 'help') {
      say(helpText());
      return 0;
    }
    options = parsed;
  } catch (err) {
    if (err instanceof OptionError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      say(`bench: ${(err as Error).message}\n\n${helpText()}`);
      return 2;
    }
    throw err;
  }
  const resultsDir = resolve(options.resultsDir ?? join(ROOT, 'bench', 'results'));
  if (options.updateReadmeOnly) {
    const { path, report } = await latestReport(resultsDir);
    const { readme, charts } = await updateReadme(ROOT, report);
    say(`bench: ${readme} and ${charts.length} chart(s) in docs/bench/ rewritten from ${path}`);
    return 0;
  }

  const started = new Date();
  const stamp = timestamp(started);
  const wantHaproxy = !options.scenarios || options.scenarios.includes('haproxy');
  const scenarios = allScenarios(wantHaproxy ? ensureHaproxy() : { bin: findHaproxy() });
  if (options.scenarios) {
    const unknown = options.scenarios.filter((n) => !scenarios.some((s) => s.name === n));
    if (unknown.length) {
      say(`bench: unknown scenario(s): ${unknown.join(', ')} (have: ${scenarios.map((s) => s.name).join(', ')})`);
      return 2;
    }
  }
  const chosen = scenarios.filter((s) => !options.scenarios || options.scenarios.includes(s.name) || (s.name === 'ztproxy' && options.scenarios.includes('ztproxy-autocannon')));
  installChildCleanup();
  // The bench process (autocannon and the paced generator run in it) belongs on the load core, with wrk and the upstream.
  pinPid(LOAD_CPU, process.pid);
  const notes: string[] = [];
  if (!PINNING) notes.push(`not pinned: ${pinningDescription()} — the numbers are the load generator's as much as the system's`);
  const wrk = ensureDebianTool(findWrk, 'wrk');
  const wrkBin = 'bin' in wrk ? wrk.bin : undefined;
  if (!wrkBin) notes.push(`${'missing' in wrk ? wrk.missing : 'wrk missing'}: capacity measured with autocannon instead (it needs more CPU per request than wrk and saturates earlier)`);
  const env: Environment = { ...environment(), wrk: wrkVersion(wrkBin) };
  const cpuProfileDir = options.cpuProfile ? join(resultsDir, `${stamp}-profiles`) : undefined;

  const workDir = await mkdtemp(join(tmpdir(), 'ztproxy-bench-'));
  removeOnExit(workDir);
  const mainKey = `c${options.connections}`;
  const measured = new Map<string, Map<string, { spec: PointSpec; rounds: Measurement[] }>>();
  const failures = new Map<string, string>();
  const skipped = new Map<string, string>();
  const running: Running[] = [];
  const stageTimings: PartTable[] = [];
  let caPem: string | undefined;
  const record = (scenario: string, spec: PointSpec, m: Measurement) => {
    const points = measured.get(scenario) ?? new Map<string, { spec: PointSpec; rounds: Measurement[] }>();
    measured.set(scenario, points);
    const entry = points.get(spec.key) ?? { spec, rounds: [] };
    points.set(spec.key, entry);
    entry.rounds.push(m);
  };
  const attempt = async (r: Running, spec: PointSpec, round: number) => {
    say(`bench: round ${round + 1}/${options.rounds} ${r.scenario.name} ${spec.label}${spec.rate ? ` (${Math.round(spec.rate)} req/s)` : ''}`);
    try {
      const m = await measure(r, spec, options, wrkBin, caPem);
      record(r.scenario.name, spec, m);
      say(
        `bench:   → ${Math.round(m.requestsPerSec).toLocaleString('en-US')} req/s, p50 ${m.latencyMs.p50.toFixed(2)} ms, p99 ${m.latencyMs.p99.toFixed(2)} ms` +
          `${m.sutCpu ? `, ${Math.round(m.sutCpu.usPerRequest)} µs CPU/req` : ''}${m.loadgenCpuPercent === undefined ? '' : `, load gen ${Math.round(m.loadgenCpuPercent)} %`}` +
          `${m.loadgenSaturated ? ` — SATURATED (${m.saturation})` : ''}${m.rateHeld === false ? ' — rate not held' : ''}${m.errors + m.timeouts + m.non2xx ? ` — ${m.errors + m.timeouts} errors, ${m.non2xx} non-2xx` : ''}`,
      );
    } catch (err) {
      say(`bench: ${r.scenario.name} ${spec.key} failed: ${(err as Error).message}`);
      // One failed run (e.g. no request completed on a starved core) does not end the
      // scenario: its other runs still count, and the error is reported with it.
      const before = failures.get(r.scenario.name);
      failures.set(r.scenario.name, `${before ? `${before}\n` : ''}round ${round + 1}, ${spec.label}: ${(err as Error).stack ?? String(err)}`);
    }
  };

  try {
    say(`bench: ${pinningDescription()}`);
    say(`bench: dev PKI (${options.keyType}) and upstream in ${workDir}`);
    const node = process.execPath;
    const certs = await initCerts({ root: ROOT, node }, join(workDir, 'certs'), options.keyType);
    caPem = certs.caPem;
    const upstream = await startUpstream(node);
    const benchOptions: BenchOptions = { connections: options.connections, durationSec: options.durationSec, warmupSec: options.warmupSec, keyType: options.keyType, only: options.scenarios, cpuProfileDir };
    const ctx: BenchContext = { options: benchOptions, root: ROOT, node, workDir, certs, upstream: upstream.url, upstreamPid: upstream.child.proc.pid! };

    // Every system starts once and stays up through all rounds: a restart per round would
    // measure a cold JIT and empty pools each time; each run has its own warm-up instead.
    for (const scenario of chosen) {
      const why = scenario.skipReason?.(ctx);
      if (why) {
        say(`bench: ${scenario.name}: skipped (${why})`);
        skipped.set(scenario.name, why);
        continue;
      }
      try {
        say(`bench: starting ${scenario.name}`);
        const target = await scenario.setup(ctx);
        const tool: Tool = scenario.tool ?? (wrkBin ? 'wrk' : 'autocannon');
        const script = tool === 'wrk' ? await writeWrkScript(workDir, scenario.name, { ...(target.headers ? { headers: target.headers } : {}), ...(target.pool ? { pool: target.pool } : {}) }) : undefined;
        running.push({ scenario, target, tool, ...(script ? { script } : {}) });
      } catch (err) {
        say(`bench: ${scenario.name} did not start: ${(err as Error).message}`);
        failures.set(scenario.name, (err as Error).stack ?? String(err));
      }
    }
    const listed = (r: Running) => !options.scenarios || options.scenarios.includes(r.scenario.name);
    {
      // What the load phases will take (the parts come on top, each within its timeout).
      const capacityRuns = running.filter(listed).reduce((n, r) => n + 1 + (r.scenario.sweep ? options.sweep.length : 0), 0);
      const latencyRuns = options.rates === 'targets' ? 5 : running.filter((r) => listed(r) && r.scenario.latency).length * options.rates.length * 2;
      const seconds = options.rounds * capacityRuns * (Math.max(1, Math.round(options.durationSec)) + options.warmupSec) + latencyRuns * (options.rateDurationSec + options.warmupSec) + running.filter((r) => listed(r) && !COMPILED.has(r.scenario.name)).length * Math.max(0, options.firstWarmupSec - options.warmupSec);
      say(`bench: ${options.rounds} round(s) of ${capacityRuns} capacity runs and ~${latencyRuns} fixed-rate runs: ~${Math.round(seconds)} s of load`);
    }
    const capacitySpec = (r: Running, c: number): PointSpec => ({ key: `c${c}`, kind: 'capacity', tool: r.tool, connections: c, label: `capacity, ${c} connections` });

    // Phase 1: capacity, interleaved.
    for (let round = 0; round < options.rounds; round++) {
      for (const r of running.filter(listed)) {
        const counts = [options.connections, ...(r.scenario.sweep ? options.sweep : [])];
        for (const c of counts) {
          const last = round === options.rounds - 1 && c === options.connections;
          const before = last && r.target.adminUrl ? await scrape(r.target.adminUrl) : undefined;
          await attempt(r, capacitySpec(r, c), round);
          if (before !== undefined) {
            const after = await scrape(r.target.adminUrl!);
            if (after !== undefined) {
              try {
                stageTimings.push(stageTable(before, after, r.scenario.name));
              } catch (err) {
                notes.push(`stage timings of ${r.scenario.name}: ${(err as Error).message}`);
              }
            }
          }
        }
      }
    }

    // Phase 2: latency at fixed rates, from each system's own capacity median, interleaved;
    // direct is measured at every rate any system was, for the added latency.
    const summaries = (name: string) => measured.get(name)?.get(mainKey);
    const capacityOf = (name: string) => {
      const entry = summaries(name);
      return entry ? summarizePoint(entry.spec, entry.rounds)?.requestsPerSec.median : undefined;
    };
    const ratePlan = new Map<Running, PointSpec[]>();
    const directRates = new Set<number>();
    const latencyRunners = running.filter((r) => listed(r) && r.scenario.latency && r.scenario.name !== 'direct');
    for (const r of latencyRunners) {
      const cap = capacityOf(r.scenario.name);
      const specs: PointSpec[] = [];
      const keys = options.rates === 'targets' ? (TARGET_RATES[r.scenario.name] ?? []) : options.rates;
      for (const key of keys) {
        const rate = key === 'r1k' ? 1000 : cap ? Math.round(cap * RATE_SHARE[key]) : undefined;
        if (rate) specs.push({ key, kind: 'rate', tool: 'paced', connections: options.connections, rate, label: RATE_LABEL[key] });
      }
      // The added-p99 target compares ztproxy with nginx at 50 % of nginx's capacity.
      const nginxCap = capacityOf('nginx');
      if (r.scenario.name === 'ztproxy' && nginxCap && (options.rates === 'targets' || options.rates.includes('r50'))) {
        specs.push({ key: 'nginx50', kind: 'rate', tool: 'paced', connections: options.connections, rate: Math.round(nginxCap * 0.5), label: "50 % of nginx's capacity" });
      }
      for (const s of specs) directRates.add(Math.round(s.rate!));
      ratePlan.set(r, specs);
    }
    const direct = running.find((r) => r.scenario.name === 'direct');
    if (direct && directRates.size) {
      ratePlan.set(direct, [...directRates].sort((a, b) => a - b).map((rate) => ({ key: directAt(rate), kind: 'rate', tool: 'paced', connections: options.connections, rate, label: `${rate.toLocaleString('en-US')} req/s` })));
    }
    // One round: the rates already come from medians over the capacity rounds, and the full
    // run must leave time for the memory part's 5-minute soak within its 15 minutes.
    for (const r of running) for (const spec of ratePlan.get(r) ?? []) await attempt(r, spec, 0);

    for (const r of running) await r.scenario.teardown();
    await upstream.child.stop();
  } finally {
    await stopAllChildren();
    await rm(workDir, { recursive: true, force: true });
  }

  // The parts, each in its own process after the HTTP scenarios (nothing else of ours runs then).
  const parts: PartRun[] = [];
  for (const spec of partSpecs(options)) {
    say(`bench: part ${spec.name} (${spec.script} ${spec.args.join(' ')}, timeout ${spec.timeoutSec} s)`);
    const run = await runPart(spec);
    if (run.error) say(`bench: part ${spec.name} failed: ${run.error.split('\n')[0]}`);
    parts.push(run);
  }

  const results: ScenarioResult[] = withAddedLatency(
    chosen
      .filter((s) => !options.scenarios || options.scenarios.includes(s.name))
      .map((s) => {
        const points = [...(measured.get(s.name)?.values() ?? [])].map((e) => summarizePoint(e.spec, e.rounds)).filter((p) => p !== undefined);
        const r = running.find((x) => x.scenario === s);
        return {
          name: s.name,
          description: s.description,
          tool: r?.tool ?? s.tool ?? 'wrk',
          ...(r ? { url: r.target.url } : {}),
          points,
          ...(skipped.has(s.name) ? { skipped: skipped.get(s.name)! } : {}),
          ...(failures.has(s.name) ? { error: failures.get(s.name)! } : {}),
        };
      }),
  );
  const targets = [...httpTargets(results, mainKey), ...parts.flatMap((p) => p.result?.targets ?? [])];
  for (const p of parts) if (p.error) notes.push(`part ${p.name} did not report: ${p.error.split('\n')[0]} — its targets are not measured`);
  const { resultsDir: _r, updateReadmeOnly: _u, ...reported } = options;
  const report: BenchReport = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: env,
    options: { ...reported, ...(cpuProfileDir ? { cpuProfileDir } : {}) },
    notes,
    mainKey,
    scenarios: results,
    ratios: computeRatios(results, RATIOS, mainKey),
    targets,
    stageTimings,
    parts,
    charts: httpCharts(results, mainKey, [...new Set([options.connections, ...options.sweep])].sort((a, b) => a - b)),
  };
  process.stdout.write(`\n${formatConsole(report)}\n\n`);
  const files = await writeReport(resultsDir, stamp, report);
  say(`bench: wrote ${files.json}, ${files.markdown} and ${files.charts.length} chart(s) (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
  if (options.readme) {
    const { readme, charts } = await updateReadme(ROOT, report);
    say(`bench: ${readme} and ${charts.length} chart(s) in docs/bench/ rewritten`);
  }
  if (cpuProfileDir) say(`bench: ztproxy CPU profiles in ${cpuProfileDir} (open in Chrome DevTools → Performance)`);
  return failures.size > 0 ? 1 : 0;
}

/** haproxy, installed from Debian when missing and allowed; else the reason its scenario is skipped. */
function ensureHaproxy(): { bin?: string; missing?: string } {
  const tool = ensureDebianTool(findHaproxy, 'haproxy');
  return 'bin' in tool ? { bin: tool.bin } : { missing: tool.missing };
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
