// bench/memory.ts: a tiny run (200 idle connections, a 5 s soak) produces the PartResult
// `npm run bench` reads, with targets computed from what it measured; and the pieces it
// is built from (the growth definition, the /metrics reading) on known inputs. No timing
// and no memory figure is asserted: only that the numbers are there and used consistently.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { soakGrowth, WARMUP_FRACTION } from '../../bench/lib/memory-growth.ts';
import { parseHeapView } from '../../bench/lib/memory-probe.ts';
import { parsePart, type PartResult } from '../../bench/lib/part.ts';

describe('bench/memory.ts --tiny', () => {
  let part: PartResult;

  it('prints one PartResult as its last line', async () => {
    // glibc only: each further server (jemalloc, nginx) is another ~10 s.
    const { stdout } = await promisify(execFile)(process.execPath, ['bench/memory.ts', '--tiny', '--json'], { timeout: 55_000, maxBuffer: 4 << 20 });
    part = parsePart(stdout);
    expect(part.name).toBe('memory');
    expect(part.tables.map((t) => t.title)).toEqual(['Memory by phase (MB)', 'Per idle connection, and what is given back', 'Soak']);
  }, 60_000);

  it('measured RSS and the heap at every phase, with every connection open and none lost', () => {
    const phases = part.tables[0]!;
    const rss = phases.columns.indexOf('RSS');
    const open = phases.columns.indexOf('open connections');
    const row = (name: string) => phases.rows.find((r) => r[0] === name);
    for (const name of ['after start', '200 idle connections', 'after all closed', 'soak start', 'soak end']) {
      expect(row(name)?.[rss], name).toBeGreaterThan(0);
    }
    expect(row('200 idle connections')![open]).toBe(200);
    expect(row('after all closed')![open]).toBe(0);
    const perConnection = part.tables[1]!;
    const lost = perConnection.columns.indexOf('lost while idle');
    expect(perConnection.rows[0]![0]).toBe('glibc');
    expect(perConnection.rows[0]![1]).toBe(200);
    expect(perConnection.rows[0]![lost]).toBe(0);
    expect(part.charts?.[0]?.series[0]?.values.length).toBeGreaterThan(4);
  });

  it("computes the targets from its own numbers, and does not claim the 10k target from 200 connections", () => {
    const byName = new Map(part.targets!.map((t) => [t.name, t]));
    const rss = byName.get('RSS at 10k idle connections')!;
    expect(rss.value).toBeNull();
    expect(rss.met).toBeUndefined();
    expect(rss.why).toMatch(/200 connections/);
    const growth = byName.get('RSS growth over the soak')!;
    const soak = part.tables[2]!;
    const measured = soak.rows[0]![soak.columns.indexOf('growth %')];
    expect(typeof growth.value).toBe('number');
    expect(measured).toBeCloseTo(growth.value!, 2);
    expect(growth.met).toBe(growth.value! <= 5);
  });
});

describe('growth over the soak', () => {
  const series = (duration: number, step: number, rss: (t: number) => number) =>
    Array.from({ length: Math.floor(duration / step) + 1 }, (_, i) => ({ t: i * step, rss: rss(i * step) }));
  // V8's sawtooth: +1 MB a second from 150 MB, back to 150 at each full collection (every 30 s).
  const tooth = (t: number) => 150 + (t % 30);

  it('is 0 for a sawtooth whose tops stay level, wherever the soak cuts a tooth, whatever the warm-up did', () => {
    for (const duration of [300, 290, 275]) {
      const g = soakGrowth(series(duration, 1, (t) => (t < duration * WARMUP_FRACTION ? 500 : tooth(t))), duration)!;
      expect(g.percent, `soak of ${duration} s`).toBe(0);
    }
  });

  it('is the rise of the tops from the first half to the second when something leaks', () => {
    // +10 MB leaked over the soak: tops of the second half are higher.
    const g = soakGrowth(series(300, 1, (t) => tooth(t) + t / 30), 300)!;
    expect(g.firstHalfPeakMb).toBeCloseTo(179 + 179 / 30, 5);
    expect(g.secondHalfPeakMb).toBeCloseTo(179 + 299 / 30, 5);
    expect(g.percent).toBeGreaterThan(2);
  });

  it('is not computed from fewer than four samples after the warm-up', () => {
    expect(soakGrowth(series(10, 5, () => 100), 10)).toBeUndefined();
  });
});

describe("ztproxy's /metrics, read", () => {
  it('takes the unlabelled process samples and converts bytes to MB', () => {
    const text = [
      '# HELP ztproxy_nodejs_heap_size_used_bytes Process heap size used from Node.js in bytes.',
      '# TYPE ztproxy_nodejs_heap_size_used_bytes gauge',
      'ztproxy_nodejs_heap_size_used_bytes 31457280',
      'ztproxy_nodejs_heap_size_total_bytes 62914560',
      'ztproxy_nodejs_heap_space_size_used_bytes{space="old"} 1',
      'ztproxy_nodejs_external_memory_bytes 1048576',
      'ztproxy_open_connections 12',
    ].join('\n');
    expect(parseHeapView(text)).toEqual({ heapUsed: 30, heapTotal: 60, external: 1, openConnections: 12 });
  });
});
