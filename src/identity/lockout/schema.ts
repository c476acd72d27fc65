// `lockout` (SPEC §3): deny after repeated failures — fail2ban's job, done in the PEP.
// Absent: nothing is counted and no request pays for it.
import { z } from 'zod';
import { durationWithin } from '../../basics/duration.ts';


export const lockoutSchema = z.strictObject({
  /** Failures of one client IP (IPv6: its /64) or one verified subject within `window` that ban it; the last of them is still answered normally. */
  maxFailures: z.number({ message: 'must be a whole number from 1' }).int('must be a whole number from 1').min(1, 'must be at least 1 (the failure that bans)'),
  /** How long failures are counted: from a key's first failure, for this long. */
  window: durationWithin(1000, 24 * 3600_000, 'from 1s to 24h'),
  /** How long a banned key is answered 429 (Retry-After: the seconds left). */
  banFor: durationWithin(1000, 7 * 24 * 3600_000, 'from 1s to 7d'),
  /**
   * Keys the in-memory store holds at most, counters and bans each (least recently used
   * dropped first): an attacker rotating addresses cannot grow memory without bound.
   */
  maxEntries: z.number().int().min(1000, 'must be at least 1000').max(10_000_000, 'must be at most 10000000').default(100_000),
});

export type LockoutConfig = z.output<typeof lockoutSchema>;
