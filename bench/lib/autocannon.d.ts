// The part of autocannon's programmatic API the bench uses (the package ships no types).
// See node_modules/autocannon/README.md, "API".
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';
  import type { ConnectionOptions } from 'node:tls';

  namespace autocannon {
    interface Options {
      url: string;
      connections?: number;
      /** Seconds. */
      duration?: number;
      pipelining?: number;
      /** Requests per second over all connections (a fixed-rate run); unlimited when unset. */
      overallRate?: number;
      /** Seconds to wait for one response before counting a timeout. */
      timeout?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      title?: string;
      servername?: string;
      /** Passed to tls.connect; autocannon always forces rejectUnauthorized: false. */
      tlsOptions?: ConnectionOptions;
      excludeErrorStats?: boolean;
      /** Request templates; `setupRequest` may rewrite each request before it is sent (a rotating header). */
      requests?: { setupRequest?: (req: { headers?: Record<string, string> }, context: Record<string, unknown>) => { headers?: Record<string, string> } }[];
    }

    /** hdr-histogram-percentiles-obj: integer buckets of the recorded unit. */
    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      total: number;
      p50: number;
      p90: number;
      p99: number;
      p99_9: number;
    }

    interface Result {
      title?: string;
      url: string;
      connections: number;
      /** Seconds. */
      duration: number;
      errors: number;
      timeouts: number;
      mismatches: number;
      non2xx: number;
      statusCodeStats: Record<string, { count: number }>;
      /** Milliseconds, truncated to whole ms by autocannon's histogram. */
      latency: Histogram;
      /** Per-second samples; `total` is the number of completed requests. */
      requests: Histogram & { sent: number };
      throughput: Histogram;
    }

    type Client = EventEmitter;

    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void;
      on(event: 'response', listener: (client: Client, statusCode: number, resBytes: number, responseTimeMs: number) => void): this;
      on(event: 'reqError', listener: (error: Error) => void): this;
      on(event: 'done', listener: (result: Result) => void): this;
      on(event: string, listener: (...args: unknown[]) => void): this;
    }
  }

  function autocannon(opts: autocannon.Options): autocannon.Instance;
  export = autocannon;
}
