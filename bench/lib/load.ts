// The load generator: autocannon, in the bench process, with keep-alive connections. A
// warm-up run first (JIT, connection pools, TLS session state), then the measured run on
// fresh connections.
//
// Latency is recorded here, from autocannon's per-response times, in microseconds:
// autocannon's own histogram truncates to whole milliseconds, too coarse for loopback
// p50s of 1-5 ms and for ratios between them.
import { createHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { meterCpu } from './cpu.ts';
import type { Target } from './scenario.ts';

export interface LoadOptions {
  readonly connections: number;
  readonly durationSec: number;
  readonly warmupSec: number;
}

export interface LatencyMs {
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p99_9: number;
  readonly max: number;
}

export interface Measurement {
  /** Completed requests per second over the measured run (any status). */
  readonly requestsPerSec: number;
  readonly requests: number;
  readonly durationSec: number;
  readonly connections: number;
  readonly latencyMs: LatencyMs;
  /** Connection errors and timeouts. */
  readonly errors: number;
  readonly timeouts: number;
  /** Responses with a status outside 2xx. */
  readonly non2xx: number;
  readonly statusCodes: Readonly<Record<string, number>>;
  /** Response bytes per second. */
  readonly bytesPerSec: number;
  /** CPU of the server under test during the run (Linux, when the scenario names its pid). */
  readonly cpu?: {
    readonly cpuSec: number;
    /** 100 = one core busy the whole run. */
    readonly percent: number;
    /** CPU microseconds per completed request. */
    readonly usPerRequest: number;
  };
}

function run(target: Target, connections: number, durationSec: number, onResponseMs?: (ms: number) => void) {
  const instance = autocannon({
    url: target.url,
    connections,
    duration: durationSec,
    headers: target.headers ? { ...target.headers } : undefined,
    timeout: 10,
  });
  if (onResponseMs) instance.on('response', (_client, _status, _bytes, ms) => onResponseMs(ms));
  return instance;
}

export async function measure(target: Target, opts: LoadOptions): Promise<Measurement> {
  if (opts.warmupSec > 0) await run(target, opts.connections, opts.warmupSec);

  const histogram = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
  const stopCpu = meterCpu(target.pid === undefined ? [] : [target.pid]);
  const result = await run(target, opts.connections, opts.durationSec, (ms) => {
    histogram.record(Math.max(1, Math.round(ms * 1000)));
  });
  const cpu = stopCpu();
  const ms = (us: number) => us / 1000;
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
  const requests = result.requests.total;
  return {
    requestsPerSec: requests / result.duration,
    requests,
    durationSec: result.duration,
    connections: result.connections,
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
    non2xx: result.non2xx,
    statusCodes,
    bytesPerSec: result.throughput.total / result.duration,
    cpu: cpu && { ...cpu, usPerRequest: requests > 0 ? (cpu.cpuSec * 1e6) / requests : 0 },
  };
}
