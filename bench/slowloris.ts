// Slowloris under load (issue #4): legitimate requests at a steady rate while 1,000
// slowloris connections are held, cut by headersTimeout and reopened. Reports legitimate
// latency (p50/p99/max) for a baseline phase and the slowloris phase, the ratio of the
// p99s, and the longest event-loop stall ztproxy saw (ztproxy_nodejs_eventloop_lag_max_seconds,
// scraped every 250 ms; prom-client resets it at each scrape). Writes JSON to bench/results/.
//
//   npx node bench/slowloris.ts
// Environment: SLOWLORIS_CONNECTIONS (1000), SLOWLORIS_SECONDS (30: long enough for two
// rounds of cuts at the default 10 s headersTimeout), BASELINE_SECONDS (10), RATE (req/s, 200),
// BENCH_CPU_PROF (set: ztproxy runs with --cpu-prof, the profile goes to bench/results/).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installChildCleanup, removeOnExit, spawnChild, stopAllChildren } from './lib/children.ts';
import { timestamp } from './lib/report.ts';
import type { BenchContext } from './lib/scenario.ts';
import { startUpstream } from './lib/upstream.ts';
import { initCerts, startZtproxy } from './lib/ztproxy.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLIENT = fileURLToPath(new URL('./lib/slowloris-client.ts', import.meta.url));
const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const CONNECTIONS = env('SLOWLORIS_CONNECTIONS', 1000);
const SLOW_SECONDS = env('SLOWLORIS_SECONDS', 30);
const BASELINE_SECONDS = env('BASELINE_SECONDS', 10);
const RATE = env('RATE', 200);
const SOURCES = 8;
const say = (line: string) => process.stderr.write(`${line}\n`);

interface Phase {
  latencies: number[];
  errors: number;
  maxStallMs: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(phase: Phase) {
  const sorted = phase.latencies.slice().sort((a, b) => a - b);
  const r = (n: number) => Math.round(n * 100) / 100;
  return { requests: sorted.length, errors: phase.errors, p50Ms: r(percentile(sorted, 50)), p99Ms: r(percentile(sorted, 99)), maxMs: r(sorted.at(-1) ?? Number.NaN), maxEventLoopStallMs: r(phase.maxStallMs) };
}

async function main(): Promise<void> {
  installChildCleanup();
  const workDir = await mkdtemp(join(tmpdir(), 'ztproxy-slowloris-'));
  removeOnExit(workDir);
  const node = process.execPath;
  try {
    const certs = await initCerts({ root: ROOT, node }, join(workDir, 'certs'), 'ec');
    const upstream = await startUpstream(node);
    const ctx = { options: { cpuProfileDir: process.env.BENCH_CPU_PROF ? join(ROOT, 'bench', 'results', `${timestamp(new Date())}-slowloris-profile`) : undefined }, root: ROOT, node, workDir, certs, upstream: upstream.url, upstreamPid: upstream.child.proc.pid! } as unknown as BenchContext;
    // ztproxy's defaults (headersTimeout 10s, maxHandshakes 512, maxConnectionsPerIp 256);
    // the attack comes from SOURCES addresses, the legitimate client from another one.
    const proxy = await startZtproxy(ctx, { name: 'slowloris' });
    const port = Number(new URL(proxy.url).port);
    say(`slowloris: ztproxy on ${proxy.url}; ${BASELINE_SECONDS} s baseline, then ${CONNECTIONS} slowloris connections for ${SLOW_SECONDS} s at ${RATE} req/s`);

    let phase: Phase = { latencies: [], errors: 0, maxStallMs: 0 };
    const agent = new Agent({ keepAlive: true, maxSockets: 16, ca: certs.caPem, localAddress: '127.0.2.1' });
    const fire = (): void => {
      const current = phase;
      const started = performance.now();
      const req = request({ host: '127.0.0.1', port, path: '/', agent, servername: 'localhost', headers: { host: 'localhost' } }, (res) => {
        res.resume();
        res.on('end', () => current.latencies.push(performance.now() - started));
      });
      req.on('error', () => current.errors++);
      req.end();
    };
    const load = setInterval(fire, 1000 / RATE);
    const sample = async (): Promise<void> => {
      const current = phase;
      try {
        const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
        const m = /^ztproxy_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
        if (m) current.maxStallMs = Math.max(current.maxStallMs, Number(m[1]) * 1000);
      } catch {
        // a missed scrape only loses one sample
      }
    };
    const scrape = setInterval(() => void sample(), 250);

    await new Promise((r) => setTimeout(r, BASELINE_SECONDS * 1000));
    const baseline = phase;
    phase = { latencies: [], errors: 0, maxStallMs: 0 };
    const attacker = spawnChild('slowloris', node, [CLIENT, String(port), String(CONNECTIONS), String(SOURCES), String(SLOW_SECONDS)], { cwd: ROOT });
    let out = '';
    attacker.proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    await attacker.exited;
    const underAttack = phase;
    clearInterval(load);
    clearInterval(scrape);
    agent.destroy();
    const refused = /^ztproxy_connections_refused_total\{reason="(\w+)"\} (\S+)$/gm;
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    const result = {
      startedAt: new Date().toISOString(),
      node: process.version,
      connections: CONNECTIONS,
      rate: RATE,
      baseline: summary(baseline),
      slowloris: summary(underAttack),
      p99Ratio: Math.round((summary(underAttack).p99Ms / summary(baseline).p99Ms) * 100) / 100,
      attacker: out ? (JSON.parse(out.slice(out.indexOf('{'))) as object) : undefined,
      refused: Object.fromEntries([...metrics.matchAll(refused)].map((m) => [m[1], Number(m[2])])),
    };
    const dir = join(ROOT, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${timestamp(new Date())}-slowloris.json`);
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    say(`slowloris: written to ${file}`);
    await proxy.child.stop();
    await upstream.child.stop();
  } finally {
    await stopAllChildren();
    await rm(workDir, { recursive: true, force: true });
  }
}

await main();
