// One measurement: a load generator against one target for a fixed time, with the CPU of
// everyone involved metered over the same window. Capacity runs use wrk (bench/lib/wrk.ts,
// closed loop, as fast as the target answers), or autocannon in the bench process where wrk
// cannot do what the scenario needs (a client certificate) or is missing. Fixed-rate runs
// use the paced generator (bench/lib/paced.ts: open loop, evenly spaced, latency from each
// request's due time), also in the bench process — not autocannon's `overallRate`, which
// sends each connection's second of requests as one burst (see paced.ts). All of them are on
// the load core (the bench process is pinned there by run.ts), the system under test on the
// other.
//
// The CPU window starts 250 ms after the generator does (so the connections' TLS
// handshakes are not charged to the requests) and ends 100 ms before it stops; CPU µs per
// request is the system under test's CPU in the window ÷ (req/s × window).
import { createHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { meterCore, meterCpu } from './cpu.ts';
import { LOAD_CPU, PINNING, SUT_CPU } from './pin.ts';
import type { Target } from './scenario.ts';
import { startPaced } from './paced.ts';
import { startWrk } from './wrk.ts';

export type Tool = 'wrk' | 'autocannon' | 'paced';

export interface RunSpec {
  /** `capacity`: as fast as it answers; `rate`: a fixed request rate (the paced generator). */
  readonly kind: 'capacity' | 'rate';
  readonly connections: number;
  readonly durationSec: number;
  readonly warmupSec: number;
  /** Requests per second over all connections, for `rate`. */
  readonly rate?: number;
}

export interface LatencyMs {
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p99_9: number;
  readonly max: number;
}

/** The load generator is at ≥ this % of its core: its numbers are its own limit, not the target's. */
export const LOADGEN_SATURATED_PERCENT = 90;
/** The load core is at ≥ this %: the generator competes (with the upstream) for its core. */
export const LOAD_CORE_SATURATED_PERCENT = 95;
/** A fixed-rate run that reached less than this share of the asked rate did not hold it. */
export const RATE_HELD_SHARE = 0.95;

export interface Measurement {
  readonly tool: Tool;
  readonly kind: 'capacity' | 'rate';
  readonly connections: number;
  /** The rate asked for (fixed-rate runs). */
  readonly targetRate?: number;
  /** False when a fixed-rate run completed < 95 % of the asked rate: the target could not keep up. */
  readonly rateHeld?: boolean;
  readonly durationSec: number;
  /** Completed requests per second over the measured run (any status). */
  readonly requestsPerSec: number;
  readonly requests: number;
  readonly latencyMs: LatencyMs;
  /** Connection, read and write errors. */
  readonly errors: number;
  readonly timeouts: number;
  /** Responses with a status outside 2xx (wrk: ≥ 400). */
  readonly non2xx: number;
  /** The system under test (with its children), in the CPU window. */
  readonly sutCpu?: { readonly cpuSec: number; readonly percent: number; readonly usPerRequest: number };
  /** The load generator's own CPU (wrk's process, or the bench process running autocannon or the paced generator). */
  readonly loadgenCpuPercent?: number;
  /** How busy each core was in the window (everything on it: ours and anything else). */
  readonly sutCoreBusyPercent?: number;
  readonly loadCoreBusyPercent?: number;
  /**
   * The share of the system under test's core that was not the system under test (another
   * process on a shared machine): well above 0, the system did not have its core to itself.
   */
  readonly sutCoreOtherPercent?: number;
  /**
   * The paced generator's own lateness (fixed-rate runs): from when a request could have left
   * (its due time, a connection free) to when it did, ms; it is in every latency above.
   */
  readonly pacing?: {
    readonly lagMs: { readonly p50: number; readonly p99: number; readonly max: number };
    /** Requests that left more than LATE_MS (paced.ts) late. */
    readonly late: number;
    /** Requests that found every connection busy when due: the target's queue, counted in their latency. */
    readonly waitedForConnection: number;
    /** Due in the window but never sent (still waiting for a connection when it ended). */
    readonly unsent: number;
  };
  /** The load generator, not the target, may have set the pace: do not read this as capacity. */
  readonly loadgenSaturated: boolean;
  /** Why it is marked saturated. */
  readonly saturation?: string;
}

export interface SaturationInput {
  readonly loadgenCpuPercent?: number;
  readonly loadCoreBusyPercent?: number;
}

/** Whether (and why) a measurement is marked as load-generator bound. */
export function saturation(m: SaturationInput): { loadgenSaturated: boolean; saturation?: string } {
  if (m.loadgenCpuPercent !== undefined && m.loadgenCpuPercent >= LOADGEN_SATURATED_PERCENT) {
    return { loadgenSaturated: true, saturation: `load generator at ${Math.round(m.loadgenCpuPercent)} % of its core` };
  }
  if (PINNING && m.loadCoreBusyPercent !== undefined && m.loadCoreBusyPercent >= LOAD_CORE_SATURATED_PERCENT) {
    return { loadgenSaturated: true, saturation: `load core ${Math.round(m.loadCoreBusyPercent)} % busy` };
  }
  return { loadgenSaturated: false };
}

interface WindowUsage {
  readonly windowSec: number;
  readonly sut?: { readonly cpuSec: number; readonly percent: number };
  readonly loadgenCpuPercent?: number;
  readonly sutCoreBusyPercent?: number;
  readonly loadCoreBusyPercent?: number;
}

/** Meters the target, the load generator (a pid, or this process) and both cores from now; the returned function stops. */
function openWindow(target: Target, loadgenPid: number | undefined): () => WindowUsage {
  const stopSut = meterCpu(target.pid === undefined ? [] : [target.pid]);
  const stopGen = loadgenPid === undefined ? undefined : meterCpu([loadgenPid]);
  const ownStart = process.cpuUsage();
  const started = process.hrtime.bigint();
  const stopSutCore = meterCore(SUT_CPU);
  const stopLoadCore = meterCore(LOAD_CPU);
  return () => {
    const windowSec = Number(process.hrtime.bigint() - started) / 1e9;
    const sut = stopSut();
    let loadgenCpuPercent: number | undefined;
    if (stopGen) loadgenCpuPercent = stopGen()?.percent;
    else {
      const own = process.cpuUsage(ownStart);
      loadgenCpuPercent = (100 * (own.user + own.system)) / 1e6 / windowSec;
    }
    const sutCore = stopSutCore();
    const loadCore = stopLoadCore();
    return {
      windowSec,
      ...(sut ? { sut } : {}),
      ...(loadgenCpuPercent === undefined ? {} : { loadgenCpuPercent }),
      ...(sutCore === undefined ? {} : { sutCoreBusyPercent: sutCore }),
      ...(loadCore === undefined ? {} : { loadCoreBusyPercent: loadCore }),
    };
  };
}

/** The measurement's CPU fields from a window's usage and the rate of requests in it. */
function cpuFields(u: WindowUsage, requestsPerSec: number): Pick<Measurement, 'sutCpu' | 'loadgenCpuPercent' | 'sutCoreBusyPercent' | 'loadCoreBusyPercent' | 'sutCoreOtherPercent' | 'loadgenSaturated' | 'saturation'> {
  const served = requestsPerSec * u.windowSec;
  const { windowSec: _w, sut, ...rest } = u;
  // Only meaningful when pinned: unpinned, the system's CPU is spread over every core.
  const other = PINNING && sut && u.sutCoreBusyPercent !== undefined ? Math.max(0, u.sutCoreBusyPercent - sut.percent) : undefined;
  return {
    ...(sut ? { sutCpu: { ...sut, usPerRequest: served > 0 ? (sut.cpuSec * 1e6) / served : 0 } } : {}),
    ...rest,
    ...(other === undefined ? {} : { sutCoreOtherPercent: other }),
    ...saturation(u),
  };
}

/** When the CPU window opens and closes, in ms from the start of the measured run. */
function windowTimes(durationSec: number): { openMs: number; closeMs: number } {
  const openMs = Math.min(250, durationSec * 100);
  return { openMs, closeMs: Math.max(openMs + 100, durationSec * 1000 - 100) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sleeps to the window's start, meters until its end (before the generator exits: its /proc entry goes with it). */
async function meterWindow(target: Target, loadgenPid: number | undefined, durationSec: number): Promise<WindowUsage> {
  const { openMs, closeMs } = windowTimes(durationSec);
  await sleep(openMs);
  const stop = openWindow(target, loadgenPid);
  await sleep(closeMs - openMs);
  return stop();
}

/** wrk, closed loop: capacity at `spec.connections`. */
export async function measureWithWrk(bin: string, target: Target, script: string, spec: RunSpec): Promise<Measurement> {
  // The warm-up's numbers are thrown away, and so is its failure (e.g. no request done while
  // 50 TLS handshakes queue on a busy core): the measured run decides.
  if (spec.warmupSec > 0) await startWrk(bin, target.url, { connections: spec.connections, durationSec: spec.warmupSec, script }).done.catch(() => undefined);
  const run = startWrk(bin, target.url, { connections: spec.connections, durationSec: spec.durationSec, script });
  const usage = await meterWindow(target, run.pid, spec.durationSec);
  const s = await run.done;
  const durationSec = s.durationUs / 1e6;
  const requestsPerSec = s.requests / durationSec;
  const ms = (us: number) => us / 1000;
  return {
    tool: 'wrk',
    kind: 'capacity',
    connections: spec.connections,
    durationSec,
    requestsPerSec,
    requests: s.requests,
    latencyMs: { mean: ms(s.latencyUs.mean), p50: ms(s.latencyUs.p50), p90: ms(s.latencyUs.p90), p99: ms(s.latencyUs.p99), p99_9: ms(s.latencyUs.p99_9), max: ms(s.latencyUs.max) },
    errors: s.errors.connect + s.errors.read + s.errors.write,
    timeouts: s.errors.timeout,
    non2xx: s.errors.status,
    // wrk's rate over its whole run stands for the window's: the window is all of it but its edges.
    ...cpuFields(usage, requestsPerSec),
  };
}

function autocannonRun(target: Target, spec: RunSpec, durationSec: number, onResponseMs?: (ms: number) => void) {
  const pool = target.pool;
  let next = 0;
  const instance = autocannon({
    url: target.url,
    connections: spec.connections,
    duration: durationSec,
    headers: target.headers ? { ...target.headers } : undefined,
    timeout: 10,
    ...(spec.kind === 'rate' && spec.rate ? { overallRate: spec.rate } : {}),
    ...(target.tlsOptions ? { tlsOptions: { ...target.tlsOptions } } : {}),
    ...(pool && pool.values.length
      ? {
          requests: [
            {
              setupRequest: (req: { headers?: Record<string, string> }) => {
                next = (next + 1) % pool.values.length;
                return { ...req, headers: { ...req.headers, [pool.name]: pool.values[next]! } };
              },
            },
          ],
        }
      : {}),
  });
  if (onResponseMs) instance.on('response', (_client, _status, _bytes, ms) => onResponseMs(ms));
  return instance;
}

/**
 * autocannon in the bench process: capacity (closed loop) or a fixed rate. Latency is
 * recorded from autocannon's per-response times in microseconds (its own histogram
 * truncates to whole ms, too coarse for loopback).
 */
export async function measureWithAutocannon(target: Target, spec: RunSpec): Promise<Measurement> {
  if (spec.warmupSec > 0) await autocannonRun(target, spec, spec.warmupSec);
  const histogram = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
  const instance = autocannonRun(target, spec, spec.durationSec, (ms) => histogram.record(Math.max(1, Math.round(ms * 1000))));
  let counted = 0;
  let atOpen = 0;
  instance.on('response', () => {
    counted++;
  });
  const { openMs } = windowTimes(spec.durationSec);
  setTimeout(() => (atOpen = counted), openMs).unref();
  const usage = await meterWindow(target, undefined, spec.durationSec);
  const inWindow = counted - atOpen;
  const result = await instance;
  const requests = result.requests.total;
  // No response, no latency: an empty histogram would read as 0 ms.
  if (requests === 0 || histogram.count === 0) throw new Error(`autocannon completed no request in ${result.duration} s (${result.errors} errors, ${result.timeouts} timeouts)`);
  const requestsPerSec = requests / result.duration;
  const ms = (us: number) => us / 1000;
  const statusNon2xx = result.non2xx;
  return {
    tool: 'autocannon',
    kind: spec.kind,
    connections: spec.connections,
    ...(spec.kind === 'rate' && spec.rate ? { targetRate: spec.rate, rateHeld: requestsPerSec >= RATE_HELD_SHARE * spec.rate } : {}),
    durationSec: result.duration,
    requestsPerSec,
    requests,
    latencyMs: {
      mean: ms(histogram.mean),
      p50: ms(histogram.percentile(50)),
      p90: ms(histogram.percentile(90)),
      p99: ms(histogram.percentile(99)),
      p99_9: ms(histogram.percentile(99.9)),
      max: ms(histogram.max),
    },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: statusNon2xx,
    ...cpuFields(usage, inWindow / usage.windowSec),
  };
}

export interface PacedTls {
  /** PEM of the CA that signed the target's certificate (the dev CA): the paced generator verifies it. */
  readonly ca?: string;
}

/**
 * The paced generator in the bench process: a fixed rate, open loop, latency from each
 * request's due time. The warm-up is paced too, on the same connections, straight into the
 * measured window (no gap and no burst of new handshakes at its start).
 */
export async function measurePaced(target: Target, spec: RunSpec, tls: PacedTls = {}): Promise<Measurement> {
  if (spec.kind !== 'rate' || !spec.rate) throw new TypeError('measurePaced: a fixed-rate run needs kind "rate" and a rate');
  const run = startPaced({
    url: target.url,
    rate: spec.rate,
    durationSec: spec.durationSec,
    warmupSec: spec.warmupSec,
    connections: spec.connections,
    ...(target.headers ? { headers: target.headers } : {}),
    ...(target.pool ? { pool: target.pool } : {}),
    ...(target.url.startsWith('https:') ? { tls: { ...(tls.ca ? { ca: tls.ca } : {}), ...(target.tlsOptions ?? {}) } } : {}),
  });
  // A failed start (no connection) ends the run before its window: do not wait for that.
  await Promise.race([run.measuring, run.done]);
  const { openMs, closeMs } = windowTimes(spec.durationSec);
  await sleep(openMs);
  const atOpen = run.completedSoFar();
  const stop = openWindow(target, undefined);
  await sleep(closeMs - openMs);
  const inWindow = run.completedSoFar() - atOpen;
  const usage = stop();
  const r = await run.done;
  if (r.completed === 0) throw new Error(`the paced generator completed no request in ${spec.durationSec} s (${r.errors} errors, ${r.timeouts} timeouts)`);
  const requestsPerSec = r.completedInWindow / r.durationSec;
  const cpu = cpuFields(usage, inWindow / usage.windowSec);
  // Its core saturated or its pacing late: either way the latency is partly the generator's.
  const reasons = [cpu.saturation, r.behind].filter(Boolean);
  const { latencyMs: l, lagMs } = r;
  return {
    tool: 'paced',
    kind: 'rate',
    connections: spec.connections,
    targetRate: spec.rate,
    rateHeld: requestsPerSec >= RATE_HELD_SHARE * spec.rate,
    durationSec: r.durationSec,
    requestsPerSec,
    requests: r.completed,
    latencyMs: { mean: l.mean, p50: l.p50, p90: l.p90, p99: l.p99, p99_9: l.p99_9, max: l.max },
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    ...cpu,
    pacing: { lagMs: { p50: lagMs.p50, p99: lagMs.p99, max: lagMs.max }, late: r.late, waitedForConnection: r.waitedForConnection, unsent: r.due - r.sent },
    loadgenSaturated: reasons.length > 0,
    ...(reasons.length ? { saturation: reasons.join('; ') } : {}),
  };
}
