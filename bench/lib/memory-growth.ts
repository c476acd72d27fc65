// "Growth over the soak" (issue #7: ≤ 5 % over 5 minutes at 50 % load), defined so that a
// number means the same in every run:
//   1. drop the warm-up — samples taken in the first WARMUP_FRACTION of the soak, while
//      JIT, connection pools, caches and V8's heap limits settle (growth there is a
//      one-time cost, not a leak);
//   2. split the remaining samples by time into quarters;
//   3. growth % = (mean RSS of the last quarter − mean RSS of the first) ÷ mean of the first × 100.
// Means of quarters, not first and last sample: RSS moves in steps with every full GC and
// every malloc arena trim, and one sample on either side of a step would swing the figure
// by more than the target.

/** Share of the soak treated as warm-up and left out of the growth. */
export const WARMUP_FRACTION = 0.2;

export interface Sample {
  /** Seconds since the soak began. */
  readonly t: number;
  /** RSS in MB. */
  readonly rss: number;
}

export interface Growth {
  /** Samples after the warm-up. */
  readonly samples: number;
  readonly firstQuarterMb: number;
  readonly lastQuarterMb: number;
  readonly percent: number;
}

/** Growth of RSS over a soak of `durationSec`, or undefined with fewer than 4 samples after warm-up. */
export function soakGrowth(samples: readonly Sample[], durationSec: number): Growth | undefined {
  const from = durationSec * WARMUP_FRACTION;
  const kept = samples.filter((s) => s.t >= from).sort((a, b) => a.t - b.t);
  if (kept.length < 4) return undefined;
  const span = kept[kept.length - 1]!.t - kept[0]!.t;
  const start = kept[0]!.t;
  // By time, not by count: a sampler that fell behind under load must not shift the quarters.
  let first = kept.filter((s) => s.t <= start + span / 4);
  let last = kept.filter((s) => s.t >= start + (3 * span) / 4);
  if (first.length === 0) first = kept.slice(0, 1);
  if (last.length === 0) last = kept.slice(-1);
  const mean = (xs: readonly Sample[]) => xs.reduce((sum, s) => sum + s.rss, 0) / xs.length;
  const firstQuarterMb = mean(first);
  const lastQuarterMb = mean(last);
  return { samples: kept.length, firstQuarterMb, lastQuarterMb, percent: ((lastQuarterMb - firstQuarterMb) / firstQuarterMb) * 100 };
}
