// What a benchmark scenario is. One scenario = one small object: it starts what it needs
// (setup), names the URL to load, and stops it again (teardown). Everything scenarios
// share — the upstream, the dev PKI, the options — is built once per run and handed in
// as the BenchContext, so every scenario loads the same upstream with the same certs.
import type { KeyType } from '../../src/tls/pki.ts';

export interface BenchOptions {
  /** Concurrent keep-alive connections of the load generator (BENCH_CONNECTIONS, default 50). */
  readonly connections: number;
  /** Measured seconds per scenario (BENCH_DURATION, default 10). */
  readonly durationSec: number;
  /** Unmeasured seconds before each measurement (BENCH_WARMUP, default 2). */
  readonly warmupSec: number;
  /** Key type of the dev PKI (BENCH_KEY_TYPE: ec | rsa, default ec). */
  readonly keyType: KeyType;
  /** Only these scenarios (BENCH_SCENARIOS=a,b), or all when undefined. */
  readonly only: readonly string[] | undefined;
  /** Directory for `node --cpu-prof` output of ztproxy, when BENCH_CPU_PROF is set. */
  readonly cpuProfileDir: string | undefined;
}

export interface DevCerts {
  readonly dir: string;
  /** PEM of the dev CA, to verify the proxies' server certificates. */
  readonly caPem: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

export interface BenchContext {
  readonly options: BenchOptions;
  /** The repository root (the cwd of `npm run bench`). */
  readonly root: string;
  /** The Node binary running the bench (the pinned Node 24); children use the same. */
  readonly node: string;
  /** A temporary directory for this run; removed at the end. */
  readonly workDir: string;
  readonly certs: DevCerts;
  /** The shared upstream, e.g. http://127.0.0.1:41234 (origin, no path). */
  readonly upstream: string;
  readonly upstreamPid: number;
}

/** What the load generator hits. */
export interface Target {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A header whose value rotates through a pool, one per request (every bearer token new). */
  readonly pool?: { readonly name: string; readonly values: readonly string[] };
  /** Client TLS options (a client certificate): only autocannon can present one. */
  readonly tlsOptions?: { readonly cert: string; readonly key: string };
  /** The server under test (with its child processes), whose CPU time is reported. */
  readonly pid?: number;
  /** ztproxy's admin origin, to scrape /metrics around a measured run (per-stage timings). */
  readonly adminUrl?: string;
}

export interface Scenario {
  /** Short and stable: used in tables, JSON keys, ratios and BENCH_SCENARIOS. */
  readonly name: string;
  /** One line: what the scenario measures. */
  readonly description: string;
  /**
   * The load generator for its capacity runs: wrk (default), or autocannon where wrk
   * cannot do what the scenario needs (a client certificate) — and then for what it is
   * compared with, so a ratio compares like with like.
   */
  readonly tool?: 'wrk' | 'autocannon';
  /** Also measure capacity at every connection count of the run (not only the main one). */
  readonly sweep?: boolean;
  /** Also measure latency at fixed rates (25/50/75 % of its own capacity, 1k req/s); each costs rates × 2 runs a round (with direct's at the same rates). */
  readonly latency?: boolean;
  /** Why this scenario cannot run on this machine (e.g. nginx missing), or undefined. */
  skipReason?(ctx: BenchContext): string | undefined;
  /** Start what the scenario needs and wait until it answers; resolves to the target. */
  setup(ctx: BenchContext): Promise<Target>;
  /** Stop what setup started. Called even when setup or the measurement failed. */
  teardown(): Promise<void>;
}

/** A ratio the report prints: `numerator / denominator` for req/s and for p99 latency. */
export interface RatioSpec {
  readonly numerator: string;
  readonly denominator: string;
}
