// Prometheus metrics (SPEC §8), on a registry of the proxy's own so two proxies in one
// process (the tests) never share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { STRIPPED_HEADER_FAMILIES } from '../basics/identity-headers.ts';
import { HotCounter, HotHistogram, type HistogramCell } from './hot-metrics.ts';

export class Metrics {
  readonly registry = new Registry();
  // The three metrics every request touches are hot-path metrics (hot-metrics.ts):
  // counted in bound cells, formatted only when scraped.
  readonly #requests = new HotCounter({
    name: 'ztproxy_requests_total',
    help: 'Requests answered, by route, status and policy decision.',
    labelNames: ['route', 'status', 'decision'] as const,
    registry: this.registry,
  });
  readonly requests = this.#requests.counter;
  readonly stageSeconds = new HotHistogram({
    name: 'ztproxy_stage_duration_seconds',
    help: 'Time spent in each request-chain stage.',
    label: 'stage',
    // From 1 µs: most stages take 1-10 µs, and a first bound of 10 µs read them all as "≤ 10 µs".
    buckets: [0.000001, 0.000002, 0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registry: this.registry,
  });
  readonly policySeconds = new HotHistogram({
    name: 'ztproxy_policy_decision_seconds',
    help: 'Time to reach a policy decision.',
    buckets: [0.000001, 0.000005, 0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.01, 0.1],
    registry: this.registry,
  });
  readonly #policyCell = this.policySeconds.cell();
  /** ztproxy_policy_decision_seconds + one observation. */
  observePolicy(seconds: number): void {
    this.#policyCell.observe(seconds);
  }
  readonly tlsHandshakes = new Counter({
    name: 'ztproxy_tls_handshakes_total',
    help: 'TLS handshakes on the listener, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly openConnections = new Gauge({
    name: 'ztproxy_open_connections',
    help: 'Client connections open on the listener.',
    registers: [this.registry],
  });
  readonly tlsHandshakesInProgress = new Gauge({
    name: 'ztproxy_tls_handshakes_in_progress',
    help: 'Client connections accepted whose TLS handshake has not finished yet.',
    registers: [this.registry],
  });
  readonly connectionsRefused = new Counter({
    name: 'ztproxy_connections_refused_total',
    help: 'Client connections reset before their TLS handshake, by reason: handshakes (listen.limits.maxHandshakes), per_ip (listen.limits.maxConnectionsPerIp), max_connections (listen.limits.maxConnections).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'ztproxy_config_reloads_total',
    help: 'Configuration and certificate reloads, by what and result.',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });

  readonly sessionEvents = new Counter({
    name: 'ztproxy_session_events_total',
    help: 'Browser login and session events: login, login_failed, refresh, refresh_refused, refresh_unavailable, logout, backchannel_logout, backchannel_rejected.',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  readonly strippedHeaders = new Counter({
    name: 'ztproxy_stripped_headers_total',
    help: 'Identity headers removed from client requests, by family (src/basics/identity-headers.ts; configured: the stripHeaders keys). "replaced" counts headers honest clients send too (X-Request-Id, the posture header).',
    labelNames: ['family'] as const,
    registers: [this.registry],
  });
  // Bounded: the families are a fixed list. Bound once, and shown at 0 from the start,
  // so a rate() alert works before the first forged header arrives.
  readonly #strippedCounters = new Map(STRIPPED_HEADER_FAMILIES.map((family) => [family, this.strippedHeaders.labels({ family })]));

  /** stripped_headers_total{family} + 1 for each family in the list (one per header). */
  countStrippedHeaders(families: readonly string[]): void {
    for (const family of families) this.#strippedCounters.get(family)?.inc();
  }

  readonly postureChecks = new Counter({
    name: 'ztproxy_posture_checks_total',
    help: 'Device-posture checks on requests of routes with posture configured, by result: valid, posture-absent (no header), or why the assertion did not count (posture-stale, posture-cert-mismatch, ...).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly #postureCounters = new Map<string, { inc(): void }>();

  /** posture_checks_total{result} + 1 (bounded: `valid`, `posture-absent` and the fixed posture-* reasons). */
  countPosture(result: string): void {
    let counter = this.#postureCounters.get(result);
    if (!counter) {
      counter = this.postureChecks.labels({ result });
      this.#postureCounters.set(result, counter);
    }
    counter.inc();
  }

  readonly pdpRequests = new Counter({
    name: 'ztproxy_pdp_requests_total',
    help: 'Evaluations sent to a remote PDP (and refused by its open circuit breaker), by PDP and result: allow, deny, pdp-timeout, pdp-unavailable, pdp-bad-status, pdp-malformed-answer, pdp-circuit-open.',
    labelNames: ['pdp', 'result'] as const,
    registers: [this.registry],
  });
  readonly pdpSeconds = new Histogram({
    name: 'ztproxy_pdp_request_duration_seconds',
    help: 'Time from sending an evaluation to a remote PDP to its parsed answer (or error).',
    labelNames: ['pdp'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  // A lookup per request on a remote-PDP route: counted in bound cells like #requests.
  readonly #pdpCache = new HotCounter({
    name: 'ztproxy_pdp_cache_total',
    help: 'Decision-cache lookups in front of a remote PDP, by PDP and result (hit, miss).',
    labelNames: ['pdp', 'result'] as const,
    registry: this.registry,
  });
  readonly pdpCache = this.#pdpCache.counter;
  readonly pdpBreaker = new Gauge({
    name: 'ztproxy_pdp_circuit_state',
    help: 'Circuit breaker of a remote PDP: 0 closed, 1 half-open (one trial call), 2 open (failing fast).',
    labelNames: ['pdp'] as const,
    registers: [this.registry],
  });

  /**
   * The metrics of one remote PDP, label children bound once (bounded: PDPs come from
   * config). Structurally the pdp layer's PdpTelemetry; `onBreaker` also hears the
   * breaker's changes (the composition root logs them).
   */
  pdp(label: string, onBreaker: (state: string) => void = () => {}): {
    called(result: string, seconds: number): void;
    cache(result: 'hit' | 'miss'): void;
    breaker(state: string): void;
  } {
    const results = new Map<string, { inc(): void }>();
    const latency = this.pdpSeconds.labels({ pdp: label });
    const hitLabels = { pdp: label, result: 'hit' };
    const missLabels = { pdp: label, result: 'miss' };
    const hit = this.#pdpCache.cell(JSON.stringify(hitLabels), () => hitLabels);
    const miss = this.#pdpCache.cell(JSON.stringify(missLabels), () => missLabels);
    const gauge = this.pdpBreaker.labels({ pdp: label });
    // Both series from the start, at 0 (the cells only add what they counted).
    this.pdpCache.inc(hitLabels, 0);
    this.pdpCache.inc(missLabels, 0);
    let last = 'closed';
    return {
      called: (result, seconds) => {
        let counter = results.get(result);
        if (!counter) {
          counter = this.pdpRequests.labels({ pdp: label, result });
          results.set(result, counter);
        }
        counter.inc();
        if (result !== 'pdp-circuit-open') latency.observe(seconds);
      },
      cache: (result) => (result === 'hit' ? hit : miss).inc(),
      breaker: (state) => {
        gauge.set(state === 'open' ? 2 : state === 'half-open' ? 1 : 0);
        if (state !== last) onBreaker(state);
        last = state;
      },
    };
  }

  readonly shadowEvaluations = new Counter({
    name: 'ztproxy_policy_shadow_evaluations_total',
    help: 'Requests whose route has a shadowPolicy, evaluated after the answer, by route and the effects of the enforced and the shadow decision (allow, deny, error).',
    labelNames: ['route', 'enforced', 'shadow'] as const,
    registers: [this.registry],
  });
  readonly shadowDivergences = new Counter({
    name: 'ztproxy_policy_shadow_divergences_total',
    help: 'Shadow evaluations whose effect differed from the enforced allow or deny (also counted in ztproxy_policy_shadow_evaluations_total).',
    labelNames: ['route', 'enforced', 'shadow'] as const,
    registers: [this.registry],
  });
  readonly #shadowCounters = new Map<string, { evaluations: { inc(): void }; divergences: { inc(): void } }>();

  /** shadow_evaluations_total + 1, and shadow_divergences_total + 1 if `diverged`; label children bound once. */
  countShadow(route: string, enforced: string, shadow: string, diverged: boolean): void {
    const key = `${route}\u0000${enforced}\u0000${shadow}`;
    let counters = this.#shadowCounters.get(key);
    if (!counters) {
      // Bounded: routes come from config, effects from {allow, deny, error}.
      const labels = { route, enforced, shadow };
      counters = { evaluations: this.shadowEvaluations.labels(labels), divergences: this.shadowDivergences.labels(labels) };
      this.#shadowCounters.set(key, counters);
    }
    counters.evaluations.inc();
    if (diverged) counters.divergences.inc();
  }

  readonly lockouts = new Counter({
    name: 'ztproxy_lockouts_total',
    help: 'Bans begun by the lockout (deny after repeated failures), by kind: ip (a client address, IPv6 per /64) or subject (a verified user).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly lockoutRefusals = new Counter({
    name: 'ztproxy_lockout_refusals_total',
    help: 'Requests answered 429 because their client address or subject is banned, by kind (ip, subject).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  /** Where the bans gauge reads the bans in force (set by the composition root). */
  lockoutBansSource: (() => Record<string, number> | Promise<Record<string, number>>) | undefined;
  readonly lockoutBans = new Gauge({
    name: 'ztproxy_lockout_bans',
    help: 'Bans in force now, by kind (ip, subject).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: async () => {
      const source = this.lockoutBansSource;
      if (source === undefined) return;
      for (const [kind, n] of Object.entries(await source())) this.lockoutBans.set({ kind }, n);
    },
  });
  readonly #lockoutCounters = {
    ip: { bans: this.lockouts.labels({ kind: 'ip' }), refusals: this.lockoutRefusals.labels({ kind: 'ip' }) },
    subject: { bans: this.lockouts.labels({ kind: 'subject' }), refusals: this.lockoutRefusals.labels({ kind: 'subject' }) },
  };

  /** lockouts_total{kind} + 1 (a ban began). */
  countLockout(kind: 'ip' | 'subject'): void {
    this.#lockoutCounters[kind].bans.inc();
  }

  /** lockout_refusals_total{kind} + 1 (a request answered 429). */
  countLockoutRefusal(kind: 'ip' | 'subject'): void {
    this.#lockoutCounters[kind].refusals.inc();
  }

  readonly streamsOpen = new Gauge({
    name: 'ztproxy_streams_open',
    help: 'Long-lived streams open now, by kind: websocket, tunnel (CONNECT).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly streamCloses = new Counter({
    name: 'ztproxy_stream_closes_total',
    help: 'Long-lived streams ended, by kind and reason (websocket-closed / tunnel-closed when a peer ended it; policy, session, token, posture or reload reasons when ztproxy cut it).',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });

  /** streams_open{kind} + 1. */
  countStreamOpened(kind: string): void {
    this.streamsOpen.inc({ kind });
  }

  /** streams_open{kind} - 1, stream_closes_total{kind,reason} + 1 (reasons: a small fixed set of kebab-case words). */
  countStreamClosed(kind: string, reason: string): void {
    this.streamsOpen.dec({ kind });
    this.streamCloses.inc({ kind, reason });
  }

  readonly tunnelBytes = new Counter({
    name: 'ztproxy_tunnel_bytes_total',
    help: 'Bytes relayed through CONNECT tunnels, by route and direction (upstream: client to upstream; client: upstream to client).',
    labelNames: ['route', 'direction'] as const,
    registers: [this.registry],
  });
  readonly #tunnelByteCounters = new Map<string, { inc(n: number): void }>();

  /** The tunnel_bytes_total{route,direction} child, bound once per route and direction (a tunnel adds to it per chunk). */
  tunnelByteCounter(route: string, direction: 'upstream' | 'client'): { inc(n: number): void } {
    const key = `${route}\u0000${direction}`;
    let counter = this.#tunnelByteCounters.get(key);
    if (!counter) {
      counter = this.tunnelBytes.labels({ route, direction });
      this.#tunnelByteCounters.set(key, counter);
    }
    return counter;
  }

  /** requests_total{route,status,decision} + 1 (bounded: routes come from config, statuses and decisions from small sets). */
  countRequest(route: string, status: number, decision: string): void {
    this.#requests.cell(`${route}\u0000${status}\u0000${decision}`, () => ({ route, status, decision })).inc();
  }

  /** The histogram cell of one stage: bind it once, observe it per request. */
  stageTimer(stage: string): HistogramCell {
    return this.stageSeconds.cell(stage);
  }

  constructor(opts: { processMetrics?: boolean } = {}) {
    for (const counter of this.#strippedCounters.values()) counter.inc(0);
    for (const kind of ['websocket', 'tunnel']) this.streamsOpen.set({ kind }, 0);
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'ztproxy_' });
  }
}
