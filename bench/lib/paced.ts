// An open-loop, paced load generator for the fixed-rate runs: request i is due at
// t0 + i/rate, evenly spaced, whatever the target does; each due request goes out on a free
// keep-alive connection (one request in flight per connection), and its latency is measured
// from its DUE time, not from when it was sent — so a stall of the target, which leaves due
// requests waiting for a connection, shows as latency (coordinated omission corrected, as
// wrk2 does).
//
// Why not autocannon's `overallRate`: autocannon splits the rate over its connections and
// limits each per SECOND (node_modules/autocannon/lib/httpClient.js: `reqsMadeThisSecond`,
// reset by a 1 s setInterval at lines 67-72, checked at line 158). Each connection sends its
// second's budget back to back and then idles: 1k req/s on 50 connections is 50 bursts of 20
// requests at the start of every second, the target queues, and the latency it reports is
// the burst's, not the rate's.
//
// Pacing resolution is libuv's timer: 1 ms. The scheduler wakes at the next due time (or
// when a response frees a connection) and sends everything due by then; above 1k req/s,
// requests due in the same millisecond leave together, as they do from wrk2's ms timers.
// The wake-up is late by up to ~1 ms on a quiet machine; that lag is in every latency (it
// is the generator's and the same for every scenario, so `added` latency — a system minus
// direct at the same rate — cancels it) and is reported as `lagMs`. A run in which more than
// LATE_SHARE of the requests left more than LATE_MS after they could have (due, with a
// connection free) says the generator fell behind.
//
// The HTTP client is undici: one `Client` per connection, `dispatch()` with a handler object
// per connection (reused: one request in flight each), headers as flat arrays built once.
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { Client } from 'undici';
import type { HeaderPool } from './wrk.ts';

/** A request that left more than this long after it could have (ms) is late: the generator's fault. */
export const LATE_MS = 1;
/** More than this share of late requests: the generator fell behind, its latency is partly its own. */
export const LATE_SHARE = 0.01;
/** Per-request timeout (headers and body), as autocannon's `timeout: 10` in the harness. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface PacedOptions {
  readonly url: string;
  /** Requests per second over all connections. */
  readonly rate: number;
  /** Measured seconds. */
  readonly durationSec: number;
  /** Paced, unmeasured seconds before, on the same connections (no gap, no burst at the boundary). */
  readonly warmupSec?: number;
  /** Keep-alive connections; enough that one is free when a request is due (the harness's 50). */
  readonly connections: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A header rotated through its values, one per request, in order (every bearer token new). */
  readonly pool?: HeaderPool;
  /** PEM: the CA that must have signed the server's certificate; a client certificate and key. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  /** Called once per measured request that completed, with performance.now() times (tests). */
  readonly onRequest?: (due: number, sent: number, done: number, status: number) => void;
}

export interface Percentiles {
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p99_9: number;
  readonly max: number;
}

export interface PacedResult {
  readonly rate: number;
  readonly connections: number;
  readonly durationSec: number;
  /** Requests due in the measured window (rate × duration). */
  readonly due: number;
  /** Of those, sent before the window ended; the rest were still waiting for a connection. */
  readonly sent: number;
  /** Responses received (any status), including those of requests sent before the end that finished after it. */
  readonly completed: number;
  /** Responses received within the window: the achieved rate is this ÷ durationSec. */
  readonly completedInWindow: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  /** From each request's due time to its response's end, ms. */
  readonly latencyMs: Percentiles;
  /** The generator's own lateness: from when a request could have left (due, a connection free) to when it did, ms. */
  readonly lagMs: Percentiles;
  /** Requests that left more than LATE_MS late (the generator's fault). */
  readonly late: number;
  /** Requests that found every connection busy when due and waited (the target's queue, in their latency). */
  readonly waitedForConnection: number;
  /** Why the generator's pacing is not to be trusted in this run, or undefined. */
  readonly behind?: string;
}

export interface PacedRun {
  /** Resolves when the measured window begins (priming and warm-up done). */
  readonly measuring: Promise<void>;
  /** Responses received so far in the measured window (to meter a CPU window inside it). */
  completedSoFar(): number;
  readonly done: Promise<PacedResult>;
}

/** One keep-alive connection and its one request in flight. */
interface Conn {
  readonly client: Client;
  /** Index of the request in flight (-1: none); its due and sent times. */
  index: number;
  due: number;
  sent: number;
  status: number;
  /** When it last became free (performance.now()). */
  freeSince: number;
  readonly handler: Handler;
}

interface Handler {
  onConnect(): void;
  onHeaders(status: number): boolean;
  onData(): boolean;
  onComplete(): void;
  onError(err: Error): void;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

function histogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: 120_000_000, figures: 3 });
}

/** Percentiles in ms of a histogram of µs. */
function percentiles(h: RecordableHistogram): Percentiles {
  const ms = (us: number) => (h.count === 0 ? 0 : us / 1000);
  return { mean: ms(h.mean), p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), p99_9: ms(h.percentile(99.9)), max: ms(h.max) };
}

const recordMs = (h: RecordableHistogram, ms: number) => h.record(Math.max(1, Math.round(ms * 1000)));

function validate(o: PacedOptions): void {
  const problems: string[] = [];
  if (!(o.rate > 0 && Number.isFinite(o.rate))) problems.push(`rate must be a positive number (got ${o.rate})`);
  if (!(o.durationSec > 0)) problems.push(`durationSec must be positive (got ${o.durationSec})`);
  if (!(o.warmupSec === undefined || o.warmupSec >= 0)) problems.push(`warmupSec must be ≥ 0 (got ${o.warmupSec})`);
  if (!(Number.isInteger(o.connections) && o.connections >= 1)) problems.push(`connections must be a positive integer (got ${o.connections})`);
  if (o.pool && o.pool.values.length === 0) problems.push('pool has no values');
  if (problems.length) throw new TypeError(`paced generator: ${problems.join('; ')}`);
}

/** The flat header arrays, built once: one (static headers), or one per pool value. */
function headerSets(o: PacedOptions): string[][] {
  const base = Object.entries(o.headers ?? {}).flat();
  if (!o.pool) return [base];
  const name = o.pool.name;
  return o.pool.values.map((v) => [...base, name, v]);
}

/** Starts a paced run: priming (one request per connection, so no TLS handshake is measured), warm-up, the measured window. */
export function startPaced(o: PacedOptions): PacedRun {
  validate(o);
  const url = new URL(o.url);
  const path = `${url.pathname}${url.search}`;
  const headers = headerSets(o);
  const interval = 1000 / o.rate;
  const warmupCount = Math.round(o.rate * (o.warmupSec ?? 0));
  const measuredCount = Math.max(1, Math.round(o.rate * o.durationSec));
  const total = warmupCount + measuredCount;

  const latency = histogram();
  const lag = histogram();
  let t0 = 0;
  let windowEnd = Infinity;
  let next = 0;
  let inFlight = 0;
  let sent = 0;
  let completed = 0;
  let completedInWindow = 0;
  let errors = 0;
  let timeouts = 0;
  let non2xx = 0;
  let late = 0;
  let waited = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let onIdle: (() => void) | undefined;
  let onMeasuring: () => void = () => undefined;
  const measuring = new Promise<void>((r) => (onMeasuring = r));

  // FIFO of free connections: every connection carries its share, as wrk's and autocannon's do.
  const free: Conn[] = [];
  const conns: Conn[] = [];
  const dueOf = (i: number) => t0 + i * interval;
  const measured = (i: number) => i >= warmupCount;

  const finish = (c: Conn, ok: boolean) => {
    const now = performance.now();
    const i = c.index;
    c.index = -1;
    c.freeSince = now;
    inFlight--;
    if (i >= 0 && measured(i)) {
      if (ok) {
        completed++;
        if (now <= windowEnd) completedInWindow++;
        if (c.status < 200 || c.status > 299) non2xx++;
        recordMs(latency, now - c.due);
        o.onRequest?.(c.due, c.sent, now, c.status);
      }
    }
    free.push(c);
    if (stopped) {
      if (inFlight === 0) onIdle?.();
      return;
    }
    pump();
  };

  const makeConn = (): Conn => {
    const client = new Client(url.origin, {
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
      ...(o.tls ? { connect: { ...o.tls } } : {}),
    });
    const c: Conn = {
      client,
      index: -1,
      due: 0,
      sent: 0,
      status: 0,
      freeSince: 0,
      handler: {
        onConnect() {},
        onHeaders(status: number) {
          c.status = status;
          return true;
        },
        onData() {
          return true;
        },
        onComplete() {
          finish(c, true);
        },
        onError(err: Error) {
          if (c.index >= 0 && measured(c.index)) {
            if (TIMEOUT_CODES.has((err as { code?: string }).code ?? '')) timeouts++;
            else errors++;
          }
          // Not reused in this turn: undici is still failing the client's queue (a dispatch
          // from inside its onError trips its own assertion on a connect error).
          setImmediate(finish, c, false);
        },
      },
    };
    return c;
  };

  const send = (c: Conn, i: number, now: number) => {
    const due = dueOf(i);
    c.index = i;
    c.due = due;
    c.sent = now;
    c.status = 0;
    inFlight++;
    if (measured(i)) {
      sent++;
      // All connections were busy at its due time: the wait is the target's, and is latency.
      if (c.freeSince > due) waited++;
      const couldLeave = c.freeSince > due ? c.freeSince : due;
      const lateBy = now - couldLeave;
      recordMs(lag, lateBy);
      if (lateBy > LATE_MS) late++;
    }
    c.client.dispatch({ origin: url.origin, method: 'GET', path, headers: headers[i % headers.length]! }, c.handler);
  };

  function pump(): void {
    if (stopped) return;
    const now = performance.now();
    while (next < total && free.length > 0 && dueOf(next) <= now) send(free.shift()!, next++, now);
    if (next >= total) return stop();
    // With no connection free, the next response calls pump(); otherwise wake at the next due time.
    if (free.length > 0 && timer === undefined) {
      timer = setTimeout(onTimer, Math.max(0, dueOf(next) - now));
    }
  }
  function onTimer(): void {
    timer = undefined;
    pump();
  }

  let resolveDone: (r: PacedResult) => void;
  let rejectDone: (err: unknown) => void;
  const done = new Promise<PacedResult>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  // Requests in flight at the end are waited for (their latency counts); those still waiting
  // for a connection were never sent: a rate not held.
  function stop(): void {
    if (stopped) return;
    stopped = true;
    if (timer) clearTimeout(timer);
    let settled = false;
    // After the clients are closed: a request stuck past the deadline is then an error, not lost.
    const settle = () => {
      if (settled) return;
      settled = true;
      void Promise.all(conns.map((c) => c.client.destroy().catch(() => undefined))).then(() => {
        resolveDone(result());
      });
    };
    if (inFlight === 0) settle();
    else {
      const deadline = setTimeout(settle, REQUEST_TIMEOUT_MS + 1000);
      onIdle = () => {
        clearTimeout(deadline);
        settle();
      };
    }
  }
  function result(): PacedResult {
    const lateShare = sent > 0 ? late / sent : 0;
    const lagP = percentiles(lag);
    const behind =
      lateShare > LATE_SHARE
        ? `paced generator behind: ${(100 * lateShare).toFixed(1)} % of requests left > ${LATE_MS} ms after they could have (lag p99 ${lagP.p99.toFixed(2)} ms, max ${lagP.max.toFixed(1)} ms)`
        : undefined;
    return {
      rate: o.rate,
      connections: o.connections,
      durationSec: o.durationSec,
      due: measuredCount,
      sent,
      completed,
      completedInWindow,
      errors,
      timeouts,
      non2xx,
      latencyMs: percentiles(latency),
      lagMs: lagP,
      late,
      waitedForConnection: waited,
      ...(behind ? { behind } : {}),
    };
  }

  const prime = async () => {
    for (let k = 0; k < o.connections; k++) conns.push(makeConn());
    // One request per connection, all at once, unmeasured: the TLS handshakes happen here.
    await Promise.all(
      conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            c.client.dispatch(
              { origin: url.origin, method: 'GET', path, headers: headers[0]! },
              { onConnect() {}, onHeaders: () => true, onData: () => true, onComplete: () => resolve(), onError: () => resolve() },
            );
          }),
      ),
    );
    for (const c of conns) {
      c.freeSince = performance.now();
      free.push(c);
    }
    t0 = performance.now();
    const windowStart = dueOf(warmupCount);
    windowEnd = windowStart + o.durationSec * 1000;
    setTimeout(() => onMeasuring(), windowStart - t0);
    // The run ends one interval after its last due time, even with requests still waiting
    // for a connection (never sent: the rate was not held). pump() first: this timer may
    // fire in the same turn as the one for the last due request.
    setTimeout(() => {
      pump();
      stop();
    }, windowEnd - t0 + interval);
    pump();
  };
  prime().catch((err: unknown) => {
    stopped = true;
    rejectDone(err);
  });

  return { measuring, completedSoFar: () => completedInWindow, done };
}

/** A whole paced run: start, wait, result. */
export function runPaced(o: PacedOptions): Promise<PacedResult> {
  return startPaced(o).done;
}
