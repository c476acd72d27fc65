// The circuit breaker's state machine, with the clock passed in (no waiting): closed →
// open after N failures in a row → half-open after the cool-down with exactly one trial
// → closed on its success, open again on its failure. A late outcome of a call that
// started before the breaker opened is not mistaken for the trial's.
import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerState } from '../../src/pdp/breaker.ts';

describe('CircuitBreaker', () => {
  it('opens after N failures in a row; a success in between resets the count', () => {
    const changes: BreakerState[] = [];
    const b = new CircuitBreaker({ failures: 3, coolDown: 1000 }, (s) => changes.push(s));
    b.failure(false, 0);
    b.failure(false, 0);
    b.success(false);
    b.failure(false, 0);
    b.failure(false, 0);
    expect(b.state(0)).toBe('closed');
    b.failure(false, 10);
    expect(b.state(10)).toBe('open');
    expect(b.tryAcquire(500)).toBe(false);
    expect(changes).toEqual(['open']);
  });

  it('half-open after the cool-down: one trial, the others refused; success closes', () => {
    const b = new CircuitBreaker({ failures: 1, coolDown: 1000 });
    b.failure(false, 0);
    expect(b.state(1000)).toBe('half-open');
    expect(b.tryAcquire(1000)).toBe('trial');
    expect(b.tryAcquire(1001)).toBe(false);
    b.success(true);
    expect(b.state(1002)).toBe('closed');
    expect(b.tryAcquire(1002)).toBe('call');
  });

  it('a failed trial reopens for a whole cool-down', () => {
    const b = new CircuitBreaker({ failures: 1, coolDown: 1000 });
    b.failure(false, 0);
    expect(b.tryAcquire(1000)).toBe('trial');
    b.failure(true, 1100);
    expect(b.state(2000)).toBe('open');
    expect(b.tryAcquire(2099)).toBe(false);
    expect(b.tryAcquire(2100)).toBe('trial');
  });

  it('a late failure of an old call does not end the trial or extend the cool-down', () => {
    const b = new CircuitBreaker({ failures: 1, coolDown: 1000 });
    b.failure(false, 0);
    expect(b.tryAcquire(1000)).toBe('trial');
    b.failure(false, 1050); // started before the breaker opened
    expect(b.tryAcquire(1060)).toBe(false); // the trial is still the one in flight
    b.success(true);
    expect(b.state(1070)).toBe('closed');
  });
});
