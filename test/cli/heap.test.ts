// `ztproxy start` sets V8's heap growth for relaying (src/cli/heap.ts) unless node was
// started with the operator's own --heap-growing-percent. Run in child processes: the flag
// is process-wide, and what is read is the real process.execArgv.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT } from '../../src/cli/heap.ts';

const PROBE = "import('./src/cli/heap.ts').then((m) => process.stdout.write(String(m.tuneHeapForRelaying())))";

function probe(...nodeArgs: string[]): string {
  const r = spawnSync(process.execPath, [...nodeArgs, '-e', PROBE], { encoding: 'utf8', timeout: 20_000 });
  expect(r.stderr).toBe('');
  return r.stdout;
}

describe('heap growth for relaying', () => {
  it('is set when node was started without one', () => {
    expect(probe()).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  });

  it("leaves the operator's own setting alone, in either spelling", () => {
    expect(probe('--heap-growing-percent=50')).toBe('undefined');
    expect(probe('--heap_growing_percent=0')).toBe('undefined');
  });
});
