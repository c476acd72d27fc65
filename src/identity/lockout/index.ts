// Deny after repeated failures (SPEC §3 `lockout`): the fail2ban of the PEP. Refused
// credentials and authorization denials are counted per client address (an IPv6 client
// per /64, as the connection guard counts it) and per verified subject; past
// `maxFailures` within `window` the key is banned for `banFor` and answered 429 before
// any signature is checked or any PDP asked. Which failures count, and why, is
// docs/design.md "Lockout"; the pipeline decides that (stages/lockout.ts), this module
// keeps the counts.
//
// LockoutRuntime is one per process and outlives config reloads (like the session
// revocations): a reload must not forgive a ban. Lockout is one per snapshot: the
// runtime with that snapshot's limits.
import { addressKey } from '../../basics/ip.ts';
import type { Subject } from '../../basics/subject.ts';
import type { LockoutConfig } from './schema.ts';
import { MemoryLockoutStore, type FailureCount, type LockoutKind, type LockoutLimits, type LockoutStore } from './store.ts';

export type { LockoutConfig } from './schema.ts';
export type { FailureCount, LockoutKind, LockoutLimits, LockoutStore } from './store.ts';
export { MemoryLockoutStore } from './store.ts';

/** A ban that just began, for the log line fail2ban or a SIEM matches. */
export interface BanEvent {
  readonly kind: LockoutKind;
  /** The client address (IPv6: its /64) or the subject (`sub`). */
  readonly key: string;
  /** The subject's issuer (kind `subject`). */
  readonly issuer: string | undefined;
  readonly failures: number;
  readonly banForMs: number;
}

export interface LockoutTelemetry {
  banned(event: BanEvent): void;
  refused(kind: LockoutKind): void;
  /** A store that failed (a Redis later); the request is answered as if there were no lockout. */
  storeFailed(err: unknown): void;
}

const QUIET: LockoutTelemetry = { banned: () => {}, refused: () => {}, storeFailed: () => {} };

export class LockoutRuntime {
  #store: LockoutStore | undefined;
  #maxEntries = 0;
  telemetry: LockoutTelemetry = QUIET;

  /** The process's store; built on first use, rebuilt only if `maxEntries` changes (counts then start again). */
  store(maxEntries: number): LockoutStore {
    if (this.#store === undefined || this.#maxEntries !== maxEntries) {
      this.#store = new MemoryLockoutStore(maxEntries);
      this.#maxEntries = maxEntries;
    }
    return this.#store;
  }

  /** The bans in force now, by kind (zero without a lockout configured yet). */
  bans(now: number): Record<LockoutKind, number> | Promise<Record<LockoutKind, number>> {
    return this.#store === undefined ? { ip: 0, subject: 0 } : this.#store.bans(now);
  }
}

/** The store key of a client address: itself (IPv4), or its /64 (IPv6: one site's hosts can take any address in it). */
export function ipKey(clientIp: string): string {
  return clientIp.includes(':') ? addressKey(clientIp) : clientIp;
}

/** The store key of a subject: issuer and `sub` (two issuers may both have a `sub` 42). */
export function subjectKey(subject: Subject): string {
  return `${subject.issuer}\u0000${subject.sub}`;
}

export class Lockout {
  readonly limits: LockoutLimits;
  readonly #store: LockoutStore;
  readonly #runtime: LockoutRuntime;

  constructor(config: LockoutConfig, runtime: LockoutRuntime) {
    this.limits = Object.freeze({ maxFailures: config.maxFailures, window: config.window, banFor: config.banFor });
    this.#store = runtime.store(config.maxEntries);
    this.#runtime = runtime;
  }

  get telemetry(): LockoutTelemetry {
    return this.#runtime.telemetry;
  }

  banLeft(kind: LockoutKind, key: string, now: number): number | Promise<number> {
    return this.#store.banLeft(kind, key, now);
  }

  /** Counts one failure; logs and counts the ban it may begin. Never throws (a store error is reported). */
  recordFailure(kind: LockoutKind, key: string, issuer: string | undefined, now: number): void {
    try {
      const counted = this.#store.recordFailure(kind, key, now, this.limits);
      if (counted instanceof Promise) counted.then((c) => this.#counted(kind, key, issuer, c), (err: unknown) => this.telemetry.storeFailed(err));
      else this.#counted(kind, key, issuer, counted);
    } catch (err) {
      this.telemetry.storeFailed(err);
    }
  }

  #counted(kind: LockoutKind, key: string, issuer: string | undefined, counted: FailureCount): void {
    if (!counted.banned) return;
    const shown = kind === 'subject' ? key.slice(key.indexOf('\u0000') + 1) : key;
    this.telemetry.banned({ kind, key: shown, issuer, failures: counted.failures, banForMs: this.limits.banFor });
  }
}
