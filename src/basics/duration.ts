// Durations and sizes as operators write them in YAML ("100ms", "30s", "8h", "10MB").
// One strict parser each, so "5" (seconds? ms?) or "1.5.h" is an error, never a guess.
import { z } from 'zod';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds in a duration like `100ms`, `5s`, `30m`, `8h`, `7d`. Throws on anything else. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration (use e.g. 100ms, 5s, 30m, 8h, 7d)`);
  return Math.round(Number(m[1]) * (DURATION_UNITS[m[2]!] ?? 0));
}

/**
 * The config schema of a duration from `minMs` to `maxMs`, parsed to milliseconds; out
 * of range it says `must be <range>` (`range`: "from 1s to 24h", "at most 60s"), with
 * `echo` followed by the value written.
 */
export function durationWithin(minMs: number, maxMs: number, range: string, opts: { echo?: boolean } = {}) {
  return z
    .string()
    .superRefine((s, ctx) => {
      let ms: number;
      try {
        ms = parseDuration(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return;
      }
      if (ms < minMs || ms > maxMs) ctx.addIssue({ code: 'custom', message: `must be ${range}${opts.echo === true ? ` (got ${s})` : ''}` });
    })
    .transform((s) => parseDuration(s));
}

const SIZE = /^(\d+)(B|KB|KiB|MB|MiB|GB|GiB)?$/;
const SIZE_UNITS: Record<string, number> = {
  B: 1, KB: 1000, KiB: 1024, MB: 1_000_000, MiB: 1 << 20, GB: 1_000_000_000, GiB: 1 << 30,
};

/** Bytes in a size like `1048576`, `64KiB`, `10MB`. Throws on anything else. */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text) || text < 0) throw new Error(`${text} is not a size in bytes`);
    return text;
  }
  const m = SIZE.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a size (use e.g. 65536, 64KiB, 10MB)`);
  return Number(m[1]) * (SIZE_UNITS[m[2] ?? 'B'] ?? 1);
}
