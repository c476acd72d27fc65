// One remote PDP as the authorization stage sees it: `decide(input, route)` → an answer.
// In front of the HTTP client (./client.ts), in this order:
// 1. the decision cache, keyed by remoteCacheKey (../policy/remote-input.ts): built from
//    every value the document is built from, without building it, so that equal keys
//    mean byte-identical documents — a decision about one user, device, method, path or
//    template parameter is never reused for another. Only definite allow/deny answers
//    are kept, for `cache.ttl`; an error is never cached. A hit answers synchronously
//    and builds no document. The cache belongs to this PDP (its mode, URL and settings:
//    ./registry.ts), so no key is shared across PDPs or modes.
// 2. identical evaluations in flight are coalesced: one PDP call, every waiter gets its
//    answer (a burst of identical requests after a cache expiry is one call, not 100).
// 3. the circuit breaker (./breaker.ts): while it is open, no call — `pdp-circuit-open`.
import { LRUCache } from 'lru-cache';
import type { Decision, PolicyInput } from '../policy/index.ts';
import { remoteCacheKey, remoteDocument, type RemoteRoute } from '../policy/remote-input.ts';
import type { RemotePdpSettings } from '../config/pdp.ts';
import { CircuitBreaker, type BreakerState } from './breaker.ts';
import { PdpHttpClient, pdpEndpoint, type PdpErrorReason } from './client.ts';

export type PdpSource = 'opa' | 'authzen' | 'cache';

/** An evaluation's outcome; the shared ones are frozen, never mutate one. */
export interface PdpAnswer {
  /** The decision for ctx.decision (effect, kebab-case reason). */
  readonly decision: Decision;
  /** The PDP's reasons (OPA `result.reasons`, AuthZEN `context.reason`), for the audit log. */
  readonly reasons: readonly string[] | undefined;
  readonly source: PdpSource;
}

/** Where the PDP's health goes (metrics, the log); the composition root supplies it. */
export interface PdpTelemetry {
  /** One PDP call finished (or was refused by the open breaker: seconds 0): result allow, deny or an error reason. */
  called(result: 'allow' | 'deny' | PdpErrorReason, seconds: number): void;
  cache(result: 'hit' | 'miss'): void;
  breaker(state: BreakerState): void;
}

export const NO_TELEMETRY: PdpTelemetry = Object.freeze({ called() {}, cache() {}, breaker() {} });

const decision = (effect: Decision['effect'], reason: string): Decision => Object.freeze({ effect, reason, rule: undefined, needsAuthentication: false });
const ALLOW = decision('allow', 'pdp-allow');
const DENY = decision('deny', 'pdp-deny');

function answer(d: Decision, reasons: readonly string[] | undefined, source: PdpSource): PdpAnswer {
  return Object.freeze({ decision: d, reasons, source });
}

/** `mode url`: a PDP in metrics, logs and /readyz (the URL carries no credentials: the config refuses them). */
export function pdpLabel(settings: Pick<RemotePdpSettings, 'mode' | 'url'>): string {
  return `${settings.mode} ${pdpEndpoint(settings).href}`;
}

export class RemotePdp {
  readonly settings: RemotePdpSettings;
  /** `mode url`: the PDP in metrics, logs and /readyz. */
  readonly label: string;
  readonly #client: PdpHttpClient;
  readonly #breaker: CircuitBreaker;
  readonly #cache: LRUCache<string, PdpAnswer> | undefined;
  readonly #inFlight = new Map<string, Promise<PdpAnswer>>();
  readonly #telemetry: PdpTelemetry;
  readonly #allow: PdpAnswer;
  readonly #deny: PdpAnswer;
  readonly #cachedAllow = answer(ALLOW, undefined, 'cache');
  readonly #cachedDeny = answer(DENY, undefined, 'cache');
  readonly #errors: Record<PdpErrorReason, PdpAnswer>;

  constructor(settings: RemotePdpSettings, telemetry: PdpTelemetry = NO_TELEMETRY) {
    this.settings = settings;
    this.label = pdpLabel(settings);
    this.#telemetry = telemetry;
    this.#client = new PdpHttpClient(settings);
    this.#breaker = new CircuitBreaker(settings.breaker, (state) => telemetry.breaker(state));
    // ttlResolution 0: an expiry check reads the clock. lru-cache's default (1 ms) caches
    // the clock and arms a timer to forget it — a timer a millisecond under load.
    this.#cache = settings.cache.ttl > 0 && settings.cache.max > 0 ? new LRUCache({ max: settings.cache.max, ttl: settings.cache.ttl, ttlResolution: 0 }) : undefined;
    const mode = settings.mode;
    this.#allow = answer(ALLOW, undefined, mode);
    this.#deny = answer(DENY, undefined, mode);
    const errors = {} as Record<PdpErrorReason, PdpAnswer>;
    for (const reason of ['pdp-timeout', 'pdp-unavailable', 'pdp-bad-status', 'pdp-malformed-answer', 'pdp-circuit-open'] as const) {
      errors[reason] = answer(decision('error', reason), undefined, mode);
    }
    this.#errors = errors;
    telemetry.breaker('closed');
  }

  /** The breaker as of now (for /readyz and the metrics gauge). */
  breakerState(): BreakerState {
    return this.#breaker.state();
  }

  /** Seconds until the open breaker lets a trial through (a `Retry-After` for `pdp-circuit-open`). */
  retryAfterSeconds(): number {
    return this.#breaker.retryAfterSeconds();
  }

  /**
   * The answer for this input on this route: synchronous on a cache hit; undefined when
   * this PDP cannot be asked about it (AuthZEN, no subject). Never rejects.
   */
  decide(input: PolicyInput, route: RemoteRoute, requestId: string): PdpAnswer | Promise<PdpAnswer> | undefined {
    const mode = this.settings.mode;
    const key = remoteCacheKey(mode, input, route);
    if (key === undefined) return undefined;
    const cache = this.#cache;
    if (cache !== undefined) {
      const cached = cache.get(key);
      if (cached !== undefined) {
        this.#telemetry.cache('hit');
        return cached;
      }
      this.#telemetry.cache('miss');
    }
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) return pending;
    const permit = this.#breaker.tryAcquire();
    if (permit === false) {
      this.#telemetry.called('pdp-circuit-open', 0);
      return this.#errors['pdp-circuit-open'];
    }
    // Defined whenever the key is (remoteCacheKey's contract).
    const document = remoteDocument(mode, input, route)!;
    const call = this.#call(document, requestId, key, permit === 'trial');
    this.#inFlight.set(key, call);
    return call;
  }

  async #call(document: string, requestId: string, key: string, trial: boolean): Promise<PdpAnswer> {
    const started = performance.now();
    let result;
    try {
      result = await this.#client.evaluate(document, requestId);
    } finally {
      this.#inFlight.delete(key);
    }
    const seconds = (performance.now() - started) / 1000;
    if (typeof result === 'string') {
      this.#breaker.failure(trial);
      this.#telemetry.called(result, seconds);
      return this.#errors[result];
    }
    this.#breaker.success(trial);
    this.#telemetry.called(result.allow ? 'allow' : 'deny', seconds);
    if (result.reasons === undefined) {
      this.#cache?.set(key, result.allow ? this.#cachedAllow : this.#cachedDeny);
      return result.allow ? this.#allow : this.#deny;
    }
    const d = result.allow ? ALLOW : DENY;
    this.#cache?.set(key, answer(d, result.reasons, 'cache'));
    return answer(d, result.reasons, this.settings.mode);
  }

  close(): Promise<void> {
    this.#cache?.clear();
    return this.#client.close();
  }

  destroy(): Promise<void> {
    return this.#client.destroy();
  }
}
