// The circuit breaker in front of one remote PDP. A PDP that is down costs every request
// the full timeout before its 503; after `failures` errors in a row the breaker opens and
// requests fail fast (503, no call) for `coolDown`. Then it is half-open: exactly one
// request is let through as a trial — the others still fail fast — and its success
// closes the breaker, its failure opens it for another cool-down. A denial is a success:
// the PDP answered.

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly #threshold: number;
  readonly #coolDown: number;
  readonly #changed: (state: BreakerState) => void;
  #failures = 0;
  /** Epoch ms until which the breaker is open; 0: not open. */
  #openUntil = 0;
  #trialInFlight = false;

  constructor(opts: { failures: number; coolDown: number }, changed: (state: BreakerState) => void = () => {}) {
    this.#threshold = opts.failures;
    this.#coolDown = opts.coolDown;
    this.#changed = changed;
  }

  /** As seen now: open during the cool-down, half-open after it until a trial succeeds. */
  state(now = Date.now()): BreakerState {
    if (this.#openUntil === 0) return 'closed';
    return now < this.#openUntil ? 'open' : 'half-open';
  }

  /** How long a client refused by the open breaker should wait (Retry-After): the rest of the cool-down, at least 1 s. */
  retryAfterSeconds(now = Date.now()): number {
    return Math.max(1, Math.ceil((this.#openUntil - now) / 1000));
  }

  /**
   * May a call go out now? `call` when closed; in half-open `trial` once, until that
   * call's outcome is reported (with `trial: true`); otherwise false.
   */
  tryAcquire(now = Date.now()): 'call' | 'trial' | false {
    if (this.#openUntil === 0) return 'call';
    if (now < this.#openUntil || this.#trialInFlight) return false;
    this.#trialInFlight = true;
    this.#changed('half-open');
    return 'trial';
  }

  success(trial: boolean): void {
    this.#failures = 0;
    if (trial) this.#trialInFlight = false;
    if (this.#openUntil !== 0) {
      this.#openUntil = 0;
      this.#changed('closed');
    }
  }

  failure(trial: boolean, now = Date.now()): void {
    this.#failures++;
    if (trial) this.#trialInFlight = false;
    // A failed trial reopens at once; a request that started before the breaker opened
    // and fails late does not extend the cool-down (nor count as the trial).
    if (trial || (this.#openUntil === 0 && this.#failures >= this.#threshold)) {
      this.#openUntil = now + this.#coolDown;
      this.#changed('open');
    }
  }
}
