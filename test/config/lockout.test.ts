// `lockout` validation (SPEC §3): every problem at its key, in one go.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';

const CERT = 'package.json'; // load checks readability, not content

function withLockout(lockout: unknown): { errors: string[]; lockout: unknown } {
  const { config, errors } = parseConfig(
    stringify({
      listen: { address: '127.0.0.1:8443', tls: { cert: CERT, key: CERT } },
      lockout,
      routes: [{ name: 'app', upstream: 'http://127.0.0.1:9000', policy: { allow: { accept: true } } }],
    }),
    process.cwd(),
    {},
  );
  return { errors, lockout: config?.lockout };
}

describe('lockout config', () => {
  it('absent: off', () => {
    expect(withLockout(undefined)).toEqual({ errors: [], lockout: undefined });
  });

  it('durations in milliseconds, maxEntries defaulted', () => {
    expect(withLockout({ maxFailures: 10, window: '5m', banFor: '15m' })).toEqual({
      errors: [],
      lockout: { maxFailures: 10, window: 300_000, banFor: 900_000, maxEntries: 100_000 },
    });
  });

  it.each<[string, unknown, string[]]>([
    ['maxFailures 0', { maxFailures: 0, window: '5m', banFor: '15m' }, ['lockout.maxFailures: must be at least 1 (the failure that bans)']],
    ['maxFailures 2.5', { maxFailures: 2.5, window: '5m', banFor: '15m' }, ['lockout.maxFailures: must be a whole number from 1']],
    ['maxFailures as text', { maxFailures: 'ten', window: '5m', banFor: '15m' }, ['lockout.maxFailures: must be a whole number from 1']],
    ['a duration without unit', { maxFailures: 3, window: '300', banFor: '15m' }, ['lockout.window: "300" is not a duration (use e.g. 100ms, 5s, 30m, 8h, 7d)']],
    ['too short a ban', { maxFailures: 3, window: '5m', banFor: '10ms' }, ['lockout.banFor: must be from 1s to 7d']],
    ['too long a window', { maxFailures: 3, window: '2d', banFor: '15m' }, ['lockout.window: must be from 1s to 24h']],
    ['missing keys', {}, ['lockout.maxFailures: is required', 'lockout.window: is required', 'lockout.banFor: is required']],
    ['unknown key', { maxFailures: 3, window: '5m', banFor: '15m', banfor: '1h' }, ['lockout.banfor: unknown key']],
    ['tiny maxEntries', { maxFailures: 3, window: '5m', banFor: '15m', maxEntries: 10 }, ['lockout.maxEntries: must be at least 1000']],
  ])('%s', (_name, lockout, errors) => {
    expect(withLockout(lockout).errors).toEqual(errors);
  });
});
