// "Growth over the soak" (issue #7: ≤ 5 % over 5 minutes at 50 % load), defined so that a
// number means the same in every run:
//   1. drop the warm-up — samples taken in the first WARMUP_FRACTION of the soak, while
//      JIT, connection pools, caches and V8's new space settle (a one-time cost, not a leak);
//   2. split the remaining samples by time into halves;
//   3. growth % = (highest RSS of the second half − highest RSS of the first) ÷ the first × 100.
// Peaks of halves, not means of quarters or first and last samples: with the 4× heap
// growth of `ztproxy start` (src/cli/heap.ts) RSS under steady load is a sawtooth — it
// climbs ~30 MB until a full collection, drops, climbs again, one cycle every ~75 s at
// ~850 req/s on the development machine — and a mean or a single sample lands anywhere on
// a tooth (a 150 s soak measured −10 % that way). Each half's peak is the top of a tooth
// once a half spans a cycle; a leak raises the tops. A soak shorter than two cycles (the
// quick run's 30 s) sees only the climb of the first tooth: then the figure is an upper bound.

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
  readonly firstHalfPeakMb: number;
  readonly secondHalfPeakMb: number;
  readonly percent: number;
}

/** Growth of RSS over a soak of `durationSec`, or undefined with fewer than 4 samples after warm-up. */
export function soakGrowth(samples: readonly Sample[], durationSec: number): Growth | undefined {
  const from = durationSec * WARMUP_FRACTION;
  const kept = samples.filter((s) => s.t >= from).sort((a, b) => a.t - b.t);
  if (kept.length < 4) return undefined;
  // By time, not by count: a sampler that fell behind under load must not shift the halves.
  const middle = (kept[0]!.t + kept[kept.length - 1]!.t) / 2;
  const peak = (xs: readonly Sample[]) => Math.max(...xs.map((s) => s.rss));
  const firstHalfPeakMb = peak(kept.filter((s) => s.t <= middle));
  const secondHalfPeakMb = peak(kept.filter((s) => s.t > middle));
  return { samples: kept.length, firstHalfPeakMb, secondHalfPeakMb, percent: ((secondHalfPeakMb - firstHalfPeakMb) / firstHalfPeakMb) * 100 };
}
