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

// After start (src/cli/main.ts) one compacting collection gives back what loading left
// committed. Here: ~100 MB of garbage made, then compactHeapOnce(); V8's heap must shrink
// by most of it (an ordinary full collection released ~36 MB of it here, too little), and gc() must not have been exposed to the program's own context.
const COMPACT = `
  const m = await import('./src/cli/heap.ts');
  m.tuneHeapForRelaying();
  let junk = [];
  for (let i = 0; i < 200; i++) junk.push(new Array(64 * 1024).fill(i));
  junk = undefined;
  const released = m.compactHeapOnce();
  process.stdout.write(JSON.stringify({ released, gcExposed: typeof globalThis.gc }));
`;

describe('heap compaction after start', () => {
  it('releases the heap that garbage left committed, without exposing gc()', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', COMPACT], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { released: number; gcExposed: string };
    expect(out.released).toBeGreaterThan(80 * 1024 * 1024);
    expect(out.gcExposed).toBe('undefined');
  });
});
