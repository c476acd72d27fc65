// The time-claim judgement shared by bearer tokens, ID tokens and (later) device posture
// assertions: every shape a JSON parser can hand over for `exp`/`iat`/`nbf`.
import { describe, expect, it } from 'vitest';
import { MAX_NUMERIC_DATE, isNumericDate, tokenTimesProblem } from '../../src/basics/token-times.ts';

const NOW = 1_900_000_000;
const DAY = 86_400;

describe('isNumericDate', () => {
  it.each([0, 1, NOW, NOW + 0.5, MAX_NUMERIC_DATE, -0])('%d is one', (v) => {
    expect(isNumericDate(v)).toBe(true);
  });

  it.each([
    ['-1', -1],
    ['year 10000', MAX_NUMERIC_DATE + 1],
    ['1e308', 1e308],
    ['Infinity (JSON 1e400)', JSON.parse('1e400') as number],
    ['-Infinity', -Infinity],
    ['NaN', NaN],
    ['2^53 + 1', JSON.parse('9007199254740993') as number],
    ['a numeric string', String(NOW)],
    ['true', true],
    ['null', null],
    ['[NOW]', [NOW]],
    ['{}', {}],
    ['a bigint', BigInt(NOW)],
  ])('%s is not', (_why, v) => {
    expect(isNumericDate(v)).toBe(false);
  });
});

describe('tokenTimesProblem (max 24 h, tolerance 30 s)', () => {
  const judge = (exp: unknown, iat: unknown, nbf: unknown = undefined) => tokenTimesProblem(exp, iat, nbf, NOW, DAY, 30);

  it('exp − iat exactly the maximum passes; one second more is too long', () => {
    expect(judge(NOW + DAY, NOW)).toBeUndefined();
    expect(judge(NOW + DAY + 1, NOW)).toBe('lifetime-too-long');
  });

  it('an old iat counts: issued 30 days ago, expiring in a minute, is too long', () => {
    expect(judge(NOW + 60, NOW - 30 * DAY)).toBe('lifetime-too-long');
  });

  it('without iat: exp − now, with the clock tolerance', () => {
    expect(judge(NOW + DAY + 30, undefined)).toBeUndefined();
    expect(judge(NOW + DAY + 31, undefined)).toBe('lifetime-too-long');
  });

  it('a claim out of range is time-invalid, whichever it is', () => {
    expect(judge(undefined, NOW)).toBe('time-invalid');
    expect(judge(Infinity, NOW)).toBe('time-invalid');
    expect(judge(String(NOW + 60), NOW)).toBe('time-invalid');
    expect(judge(NOW + 60, -1)).toBe('time-invalid');
    expect(judge(NOW + 60, Infinity)).toBe('time-invalid');
    expect(judge(NOW + 60, NOW, 'now')).toBe('time-invalid');
    expect(judge(NOW + 60, NOW, -Infinity)).toBe('time-invalid');
    expect(judge(NOW + 60, NOW, NOW)).toBeUndefined();
  });
});
