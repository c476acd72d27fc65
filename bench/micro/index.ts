// The micro-benchmarks `npm run bench` runs, each as a child process with `--json` plus
// its mode's arguments (bench/lib/part.ts: one PartResult as the last stdout line). Each
// times the real function ztproxy runs per request (imported from src/), pinned to the
// system-under-test core. Together about 40 s with --quick, under 2.5 min without.
export interface MicroPart {
  /** `policy-decision`: the part is reported as `micro:<name>`. */
  readonly name: string;
  /** Relative to the repository root. */
  readonly script: string;
  readonly quickArgs: string[];
  readonly fullArgs: string[];
}

const part = (name: string): MicroPart => ({ name, script: `bench/micro/${name}.ts`, quickArgs: ['--quick'], fullArgs: [] });

export const MICRO_PARTS: readonly MicroPart[] = [
  // The target: embedded decision p50 at 10,000 rules.
  part('policy-decision'),
  part('route-selection'),
  part('header-sanitation'),
  part('jwt-verify'),
  part('posture-verify'),
  part('assertion-sign'),
  part('pdp-decision'),
  part('connection-identity'),
  part('lockout-check'),
  part('stream-sweep'),
];
