// The counters and bans of the lockout, behind an interface: in memory now (one process),
// in Redis when several instances share them (the scale issue). Keys are per kind — a
// client address (`ip`) or a verified subject (`subject`) — so the two never collide.
// Every method takes the time from the caller: one clock per request, and tests need no
// fake timers.
import { LRUCache } from 'lru-cache';

export type LockoutKind = 'ip' | 'subject';

export interface LockoutLimits {
  readonly maxFailures: number;
  readonly window: number;
  readonly banFor: number;
}

export interface FailureCount {
  /** Failures of the key counted in its current window, this one included. */
  readonly failures: number;
  /** This failure banned the key (the count then starts again after the ban). */
  readonly banned: boolean;
}

export interface LockoutStore {
  /** Milliseconds left of the key's ban at `now`; 0 when it is not banned. On the hot path: one lookup. */
  banLeft(kind: LockoutKind, key: string, now: number): number | Promise<number>;
  /** Counts one failure of the key; at the `maxFailures`-th within `window` the key is banned for `banFor`. */
  recordFailure(kind: LockoutKind, key: string, now: number, limits: LockoutLimits): FailureCount | Promise<FailureCount>;
  /** Keys banned at `now`, by kind (the gauge). */
  bans(now: number): Record<LockoutKind, number> | Promise<Record<LockoutKind, number>>;
}

interface Counter {
  failures: number;
  /** When the window that started with the first failure ends. */
  windowEnds: number;
}

/**
 * The store of one process. Two bounded LRU maps per kind: a counter per key for its
 * window, a ban end per banned key. A fixed window from a key's first failure: at most
 * 2 × maxFailures − 1 failures fit in any one window's length (docs/design.md "Lockout").
 * Expired entries are dropped when read; the LRU bound drops the least recently used
 * when an attacker rotates through more keys than `maxEntries`.
 */
export class MemoryLockoutStore implements LockoutStore {
  readonly #counters: Record<LockoutKind, LRUCache<string, Counter>>;
  readonly #bans: Record<LockoutKind, LRUCache<string, number>>;

  constructor(maxEntries: number) {
    this.#counters = { ip: new LRUCache({ max: maxEntries }), subject: new LRUCache({ max: maxEntries }) };
    this.#bans = { ip: new LRUCache({ max: maxEntries }), subject: new LRUCache({ max: maxEntries }) };
  }

  banLeft(kind: LockoutKind, key: string, now: number): number {
    const bans = this.#bans[kind];
    const until = bans.get(key);
    if (until === undefined) return 0;
    if (until > now) return until - now;
    bans.delete(key);
    return 0;
  }

  recordFailure(kind: LockoutKind, key: string, now: number, limits: LockoutLimits): FailureCount {
    const counters = this.#counters[kind];
    let counter = counters.get(key);
    if (counter === undefined || counter.windowEnds <= now) {
      counter = { failures: 0, windowEnds: now + limits.window };
      counters.set(key, counter);
    }
    counter.failures++;
    if (counter.failures < limits.maxFailures) return { failures: counter.failures, banned: false };
    counters.delete(key);
    // A failure that arrives while the key is banned (requests already past the check)
    // does not extend the ban: a ban is banFor from the failure that crossed the threshold.
    if (this.banLeft(kind, key, now) > 0) return { failures: counter.failures, banned: false };
    this.#bans[kind].set(key, now + limits.banFor);
    return { failures: counter.failures, banned: true };
  }

  bans(now: number): Record<LockoutKind, number> {
    return { ip: this.#liveBans('ip', now), subject: this.#liveBans('subject', now) };
  }

  #liveBans(kind: LockoutKind, now: number): number {
    const bans = this.#bans[kind];
    const expired: string[] = [];
    for (const [key, until] of bans.entries()) if (until <= now) expired.push(key);
    for (const key of expired) bans.delete(key);
    return bans.size;
  }
}
