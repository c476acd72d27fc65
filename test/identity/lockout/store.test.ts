// The in-memory lockout store (src/identity/lockout/store.ts): the window, the ban, and
// the bound on memory an attacker rotating addresses runs into. Times are passed in, so
// no clock is faked.
import { describe, expect, it } from 'vitest';
import { MemoryLockoutStore } from '../../../src/identity/lockout/index.ts';

const limits = { maxFailures: 3, window: 60_000, banFor: 10_000 };

describe('MemoryLockoutStore', () => {
  it('bans at the maxFailures-th failure within the window, for banFor', () => {
    const store = new MemoryLockoutStore(1000);
    expect(store.recordFailure('ip', 'a', 0, limits)).toEqual({ failures: 1, banned: false });
    expect(store.recordFailure('ip', 'a', 1, limits)).toEqual({ failures: 2, banned: false });
    expect(store.banLeft('ip', 'a', 2)).toBe(0);
    expect(store.recordFailure('ip', 'a', 2, limits)).toEqual({ failures: 3, banned: true });
    expect(store.banLeft('ip', 'a', 2)).toBe(10_000);
    expect(store.banLeft('ip', 'a', 10_001)).toBe(1);
    expect(store.banLeft('ip', 'a', 10_002)).toBe(0);
    expect(store.bans(10_002)).toEqual({ ip: 0, subject: 0 });
  });

  it('a failure after the window starts a new count', () => {
    const store = new MemoryLockoutStore(1000);
    store.recordFailure('ip', 'a', 0, limits);
    store.recordFailure('ip', 'a', 1, limits);
    expect(store.recordFailure('ip', 'a', 60_000, limits)).toEqual({ failures: 1, banned: false });
  });

  it('kinds do not share keys', () => {
    const store = new MemoryLockoutStore(1000);
    for (let i = 0; i < 3; i++) store.recordFailure('subject', 'k', i, limits);
    expect(store.banLeft('subject', 'k', 3)).toBeGreaterThan(0);
    expect(store.banLeft('ip', 'k', 3)).toBe(0);
    expect(store.bans(3)).toEqual({ ip: 0, subject: 1 });
  });

  it('failures while banned do not extend the ban', () => {
    const store = new MemoryLockoutStore(1000);
    for (let i = 0; i < 3; i++) store.recordFailure('ip', 'a', 0, limits);
    for (let i = 0; i < 3; i++) expect(store.recordFailure('ip', 'a', 5_000, limits).banned).toBe(false);
    expect(store.banLeft('ip', 'a', 5_000)).toBe(5_000);
  });

  it('memory is bounded: an attacker rotating through more keys than maxEntries evicts the oldest, never grows past it', () => {
    const store = new MemoryLockoutStore(1000);
    const ban = { ...limits, maxFailures: 1 };
    for (let i = 0; i < 5000; i++) store.recordFailure('ip', `2001:db8:${i.toString(16)}:0::/64`, 0, ban);
    expect(store.bans(1)).toEqual({ ip: 1000, subject: 0 });
    // Counters too: a half-counted key is forgotten once 1000 others were counted after it.
    store.recordFailure('ip', 'victim-of-eviction', 0, limits);
    store.recordFailure('ip', 'victim-of-eviction', 0, limits);
    for (let i = 0; i < 1000; i++) store.recordFailure('ip', `rotating-${i}`, 0, limits);
    expect(store.recordFailure('ip', 'victim-of-eviction', 0, limits)).toEqual({ failures: 1, banned: false });
  });
});
