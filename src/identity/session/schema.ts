// `identity.session` (SPEC §3, §4): browser sessions after an OIDC login, kept in the
// encrypted `__Host-ztproxy` cookie.
import { z } from 'zod';
import { durationWithin } from '../../basics/duration.ts';

/** Bytes of entropy a session secret needs at least (a key for A256GCM is derived from it). */
export const MIN_SECRET_LENGTH = 32;


export const sessionSchema = z
  .strictObject({
    /**
     * Secrets (at least 32 characters each, e.g. `openssl rand -base64 32`). The first
     * encrypts, all decrypt: rotate by listing a new one first. Left out: a random key
     * per process (every restart logs everyone out).
     */
    keys: z
      .array(
        z
          .string()
          .min(MIN_SECRET_LENGTH, `must be at least ${MIN_SECRET_LENGTH} characters (e.g. \`openssl rand -base64 32\`)`),
      )
      .min(1, 'list at least one key, or leave keys out for a per-process key')
      .refine((k) => new Set(k).size === k.length, { message: 'must not list the same key twice' })
      .optional(),
    /** Absolute lifetime from login; no refresh extends it. */
    ttl: durationWithin(60_000, 30 * 24 * 3600_000, 'from 1m to 30d').prefault('8h'),
    /** A session unused for this long ends. */
    idleTimeout: durationWithin(60_000, 30 * 24 * 3600_000, 'from 1m to 30d').prefault('30m'),
    /** Only `cookie`: the session lives, encrypted, in the browser's cookie. */
    store: z.enum(['cookie'], { error: 'must be cookie (the only session store this version has)' }).default('cookie'),
  })
  .refine((s) => s.idleTimeout <= s.ttl, { message: 'idleTimeout must not be longer than ttl', path: ['idleTimeout'] });

export type SessionConfig = z.output<typeof sessionSchema>;
