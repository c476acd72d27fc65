// The options of `npm run bench`: command-line flags, each with an environment variable
// of the same meaning (flags win), validated all at once so one run reports every bad
// value. `--quick` changes the defaults, not the meaning: fewer rounds, shorter runs,
// one connection count, only the fixed-rate runs the targets need, and the parts at their
// quick sizes.
import { parseArgs } from 'node:util';
import type { KeyType } from '../../src/tls/pki.ts';

export type RateKey = 'r25' | 'r50' | 'r75' | 'r1k';
export const RATE_KEYS: readonly RateKey[] = ['r25', 'r50', 'r75', 'r1k'];

export interface HarnessOptions {
  readonly quick: boolean;
  /** Interleaved rounds: every scenario once per round (A B C A B C …). */
  readonly rounds: number;
  /** Measured seconds of one capacity run. */
  readonly durationSec: number;
  /** Measured seconds of one fixed-rate run. */
  readonly rateDurationSec: number;
  /** Unmeasured seconds before each run, on its own connections. */
  readonly warmupSec: number;
  /**
   * The warm-up before a system's first measured run. A Node process needs seconds of load
   * before V8 has optimized its request path (ztproxy forward-only: ~135 µs CPU per request
   * after 1 s of load, ~85 µs after 5 s); nginx and HAProxy need none, so a short first
   * warm-up measured Node's compiler, not the proxy.
   */
  readonly firstWarmupSec: number;
  /** The main connection count: every scenario's capacity, the ratios and the targets. */
  readonly connections: number;
  /** More connection counts for the scenarios that sweep (direct, the proxies, ztproxy). */
  readonly sweep: readonly number[];
  /** The fixed rates of the latency runs; `targets`: only those the targets need (nginx at 50 %, ztproxy at 50 % of nginx's, ztproxy-jwt at 1k). */
  readonly rates: readonly RateKey[] | 'targets';
  readonly keyType: KeyType;
  /** Only these scenarios (names), or all. */
  readonly scenarios: readonly string[] | undefined;
  /** Which child parts run: all, none, or these names (handshake, memory, tunnel, micro:NAME or micro). */
  readonly parts: 'all' | 'none' | readonly string[];
  readonly cpuProfile: boolean;
  /** Where the report goes (default bench/results). */
  readonly resultsDir: string | undefined;
  /** After the run, rewrite the README's benchmark section from this report. */
  readonly readme: boolean;
  /** Do not run: rewrite the README's benchmark section from the latest report. */
  readonly updateReadmeOnly: boolean;
}

export class OptionError extends Error {}

const HELP = `usage: npm run bench -- [options]
  --quick                 short run: 1 round, 2 s runs, 50 connections, the targets' fixed-rate runs only, parts quick
  --rounds N              interleaved rounds of the capacity runs (BENCH_ROUNDS; default 3, quick 1); the
                          fixed-rate runs take one round (their rates come from the capacity medians)
  --duration S            measured seconds per capacity run (BENCH_DURATION; default 2)
  --rate-duration S       measured seconds per fixed-rate run (BENCH_RATE_DURATION; default 3, quick 2)
  --warmup S              warm-up seconds before each run (BENCH_WARMUP; default 1)
  --first-warmup S        warm-up seconds before a system's first run: V8 optimizing a Node proxy's path
                          (BENCH_FIRST_WARMUP; default 6, quick 3; not for nginx, HAProxy, direct)
  --connections N         main connection count (BENCH_CONNECTIONS; default 50)
  --sweep A,B             more connection counts for nginx, haproxy, bare-proxy and ztproxy (BENCH_SWEEP; default 10,200, quick none)
  --rates LIST            fixed rates: r25,r50,r75 (% of each system's own capacity), r1k, or targets (only the
                          runs the targets need) or none (BENCH_RATES; default all, quick targets)
  --scenarios A,B         only these scenarios (BENCH_SCENARIOS)
  --parts LIST|none       child parts: handshake, memory, tunnel, micro, micro:NAME (BENCH_PARTS; default all; BENCH_MICRO=0 drops micro)
  --results DIR           where the report goes (BENCH_RESULTS; default bench/results)
  --readme                after the run, rewrite the README's benchmark section and docs/bench/*.svg
  --update-readme         no run: rewrite them from the latest report in the results directory
  --cpu-prof              ztproxy with node --cpu-prof (BENCH_CPU_PROF=1)
environment: BENCH_KEY_TYPE ec|rsa, BENCH_INSTALL=0 (never apt-get), BENCH_SUT_CPU / BENCH_LOAD_CPU (cores)`;

export function helpText(): string {
  return HELP;
}

function list(raw: string | undefined): string[] | undefined {
  const items = raw?.split(',').map((s) => s.trim()).filter(Boolean);
  return items?.length ? items : undefined;
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): HarnessOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      'rate-duration': { type: 'string' },
      warmup: { type: 'string' },
      'first-warmup': { type: 'string' },
      connections: { type: 'string' },
      sweep: { type: 'string' },
      rates: { type: 'string' },
      scenarios: { type: 'string' },
      parts: { type: 'string' },
      results: { type: 'string' },
      readme: { type: 'boolean' },
      'update-readme': { type: 'boolean' },
      'cpu-prof': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const quick = values.quick === true || env.BENCH_QUICK === '1';
  const problems: string[] = [];
  const num = (flag: string, raw: string | undefined, fallback: number, { integer = false, min = 0 } = {}): number => {
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      problems.push(`${flag} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, not "${raw}"`);
      return fallback;
    }
    return n;
  };
  const rounds = num('--rounds / BENCH_ROUNDS', values.rounds ?? env.BENCH_ROUNDS, quick ? 1 : 3, { integer: true, min: 1 });
  const durationSec = num('--duration / BENCH_DURATION', values.duration ?? env.BENCH_DURATION, 2, { min: 1 });
  const rateDurationSec = num('--rate-duration / BENCH_RATE_DURATION', values['rate-duration'] ?? env.BENCH_RATE_DURATION, quick ? 2 : 3, { min: 1 });
  const warmupSec = num('--warmup / BENCH_WARMUP', values.warmup ?? env.BENCH_WARMUP, 1, { min: 0 });
  const firstWarmupSec = num('--first-warmup / BENCH_FIRST_WARMUP', values['first-warmup'] ?? env.BENCH_FIRST_WARMUP, quick ? 3 : 6, { min: 0 });
  const connections = num('--connections / BENCH_CONNECTIONS', values.connections ?? env.BENCH_CONNECTIONS, 50, { integer: true, min: 1 });
  const sweepRaw = values.sweep ?? env.BENCH_SWEEP;
  const sweep = (sweepRaw === 'none' ? [] : (list(sweepRaw) ?? (quick ? [] : ['10', '200']))).map((s) => num('--sweep / BENCH_SWEEP', s, 0, { integer: true, min: 1 })).filter((c) => c !== connections);
  const ratesText = values.rates ?? env.BENCH_RATES ?? (quick ? 'targets' : undefined);
  const ratesRaw = ratesText === 'none' || ratesText === 'targets' ? [] : (list(ratesText) ?? [...RATE_KEYS]);
  const listed = ratesRaw.filter((r): r is RateKey => (RATE_KEYS as readonly string[]).includes(r));
  if (listed.length !== ratesRaw.length) problems.push(`--rates / BENCH_RATES: each of ${RATE_KEYS.join(', ')}, or targets, or none — not "${ratesRaw.join(',')}"`);
  const rates: HarnessOptions['rates'] = ratesText === 'targets' ? 'targets' : listed;
  const keyType = env.BENCH_KEY_TYPE || 'ec';
  if (keyType !== 'ec' && keyType !== 'rsa') problems.push(`BENCH_KEY_TYPE must be "ec" or "rsa", not "${keyType}"`);
  const partsRaw = values.parts ?? env.BENCH_PARTS;
  let parts: HarnessOptions['parts'] = partsRaw === 'none' || partsRaw === '0' ? 'none' : (list(partsRaw) ?? 'all');
  if (env.BENCH_MICRO === '0') {
    // Kept from the first harness: BENCH_MICRO=0 drops the per-stage micro-benchmarks.
    if (parts === 'all') parts = ['handshake', 'memory', 'tunnel'];
    else if (parts !== 'none') parts = parts.filter((p) => !p.startsWith('micro'));
  }
  if (problems.length) throw new OptionError(`invalid options:\n  ${problems.join('\n  ')}`);
  return {
    quick,
    rounds,
    durationSec,
    rateDurationSec,
    warmupSec,
    firstWarmupSec,
    connections,
    sweep: [...new Set(sweep)].sort((a, b) => a - b),
    rates,
    keyType: keyType as KeyType,
    scenarios: list(values.scenarios ?? env.BENCH_SCENARIOS),
    parts,
    cpuProfile: values['cpu-prof'] === true || Boolean(env.BENCH_CPU_PROF),
    resultsDir: values.results ?? env.BENCH_RESULTS,
    readme: values.readme === true,
    updateReadmeOnly: values['update-readme'] === true,
  };
}

/** Whether the part named `name` (`handshake`, `micro:jwt-verify`) runs. */
export function partWanted(options: Pick<HarnessOptions, 'parts'>, name: string): boolean {
  if (options.parts === 'all') return true;
  if (options.parts === 'none') return false;
  return options.parts.includes(name) || (name.startsWith('micro:') && options.parts.includes('micro'));
}
