// The stage timings of a macro run (bench/lib/stage-timings.ts): the histogram delta of
// two hand-written scrapes, computed by hand here; and two real scrapes of a running
// ztproxy around requests sent through it.
import { Pool } from 'undici';
import { describe, expect, it } from 'vitest';
import { bucketQuantile, fetchMetrics, histogramDelta, parseHistogram, stageTable, STAGE_COLUMNS, STAGE_HISTOGRAM } from '../../bench/lib/stage-timings.ts';
import { openRoute } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const BOUNDS = ['0.00001', '0.00005', '0.0001', '0.0005', '0.001', '+Inf'];

/** A scrape with the stage histogram as prom-client writes it; cumulative bucket counts in BOUNDS order. */
function scrape(stages: Record<string, { buckets: number[]; sum: number }>, extra = ''): string {
  const lines = [`# HELP ${STAGE_HISTOGRAM} Time spent in each request-chain stage.`, `# TYPE ${STAGE_HISTOGRAM} histogram`];
  for (const [stage, { buckets, sum }] of Object.entries(stages)) {
    buckets.forEach((n, i) => lines.push(`${STAGE_HISTOGRAM}_bucket{le="${BOUNDS[i]}",stage="${stage}"} ${n}`));
    lines.push(`${STAGE_HISTOGRAM}_sum{stage="${stage}"} ${sum}`, `${STAGE_HISTOGRAM}_count{stage="${stage}"} ${buckets.at(-1)}`);
  }
  return `${extra}${lines.join('\n')}\n`;
}

const col = (name: (typeof STAGE_COLUMNS)[number]): number => STAGE_COLUMNS.indexOf(name);

describe('stageTable on hand-written scrapes', () => {
  const before = scrape({ sanitize: { buckets: [10, 10, 10, 10, 10, 10], sum: 0.00005 }, forward: { buckets: [0, 0, 0, 5, 10, 10], sum: 0.005 } });
  // Between the scrapes: sanitize +100 (60 under 10 µs, 40 in 10–50 µs), forward +100 (all in 0.5–1 ms), authorize appears with 4.
  const after = scrape({
    sanitize: { buckets: [70, 110, 110, 110, 110, 110], sum: 0.00005 + 0.002 },
    forward: { buckets: [0, 0, 0, 5, 110, 110], sum: 0.005 + 0.08 },
    authorize: { buckets: [4, 4, 4, 4, 4, 4], sum: 0.00002 },
  });

  it('takes the delta of buckets, sum and count per stage', () => {
    const delta = histogramDelta(parseHistogram(before, STAGE_HISTOGRAM, 'stage'), parseHistogram(after, STAGE_HISTOGRAM, 'stage'));
    expect(delta.get('sanitize')).toMatchObject({ count: 100 });
    expect(delta.get('sanitize')!.sum).toBeCloseTo(0.002, 12);
    expect(delta.get('sanitize')!.buckets.get(0.00001)).toBe(60);
    expect(delta.get('sanitize')!.buckets.get(Infinity)).toBe(100);
    expect(delta.get('authorize')).toMatchObject({ count: 4 });
    expect(delta.get('forward')!.buckets.get(0.0005)).toBe(0);
  });

  it('gives count, mean, bucket-interpolated p50/p99 and share, largest share first', () => {
    const table = stageTable(before, after, 'ztproxy');
    expect(table.columns).toEqual([...STAGE_COLUMNS]);
    expect(table.rows.map((r) => r[0])).toEqual(['forward', 'sanitize', 'authorize']);
    const [forward, sanitize, authorize] = table.rows;
    expect(forward![col('timed')]).toBe(100);
    expect(forward![col('mean µs')]).toBe(800);
    // Rank 50 of 100, all in (500 µs, 1 ms]: 500 + 500 × 50/100.
    expect(forward![col('p50 µs')]).toBe(750);
    expect(forward![col('p99 µs')]).toBe(995);
    expect(sanitize![col('mean µs')]).toBe(20);
    // Rank 50 of 100 falls in the lowest bucket: only "at most 10 µs" is known.
    expect(sanitize![col('p50 µs')]).toBe('≤ 10');
    // Rank 99: 60 below, 40 in (10, 50 µs]: 10 + 40 × 39/40.
    expect(sanitize![col('p99 µs')]).toBe(49);
    expect(authorize![col('timed')]).toBe(4);
    const shares = table.rows.map((r) => r[col('share %')] as number);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 0);
    expect(shares[0]).toBeCloseTo((100 * 0.08) / (0.08 + 0.002 + 0.00002), 1);
    expect(table.note).toMatch(/bucket/);
  });

  it('marks a percentile beyond the last bound and reads a reset counter as a restart', () => {
    const slow = scrape({ forward: { buckets: [0, 0, 0, 0, 0, 3], sum: 6 } });
    const restarted = stageTable(scrape({ forward: { buckets: [0, 0, 0, 0, 0, 50], sum: 1 } }), slow, 'restart');
    expect(restarted.rows[0]![col('timed')]).toBe(3);
    expect(restarted.rows[0]![col('p50 µs')]).toBe('> 1000');
    expect(bucketQuantile({ buckets: new Map(), sum: 0, count: 0 }, 0.5)).toBeUndefined();
  });

  it('answers a missing or unchanged histogram with a note, not a throw', () => {
    const none = stageTable('# nothing here\n', 'ztproxy_requests_total{route="a"} 3\n', 'nginx');
    expect(none.rows).toEqual([]);
    expect(none.note).toMatch(/not in ztproxy's \/metrics/);
    const same = stageTable(before, before, 'idle');
    expect(same.rows).toEqual([]);
    expect(same.note).toMatch(/did not change/);
  });

  it('adds series that differ in other labels and reads escaped label values', () => {
    const text = [
      `${STAGE_HISTOGRAM}_bucket{le="+Inf",route="a",stage="auth\\"n"} 2`,
      `${STAGE_HISTOGRAM}_bucket{le="+Inf",route="b",stage="auth\\"n"} 3`,
      `${STAGE_HISTOGRAM}_count{route="a",stage="auth\\"n"} 2`,
      `${STAGE_HISTOGRAM}_count{route="b",stage="auth\\"n"} 3`,
      `${STAGE_HISTOGRAM}_sum{route="b",stage="auth\\"n"} 0.5`,
    ].join('\n');
    const series = parseHistogram(text, STAGE_HISTOGRAM, 'stage').get('auth"n');
    expect(series).toMatchObject({ count: 5, sum: 0.5 });
    expect(series!.buckets.get(Infinity)).toBe(5);
  });
});

describe('stageTable on a running ztproxy', () => {
  const stack = useProxyStack(({ upstream }) => ({ routes: [openRoute(upstream.url)], log: { level: 'warn' } }));
  const REQUESTS = 300;

  it('reads the stages of the requests sent between two scrapes', async () => {
    const adminUrl = `http://127.0.0.1:${stack.proxy.proxy.addresses.admin.port}`;
    const pool = new Pool(`https://127.0.0.1:${stack.proxy.port}`, { connections: 4, connect: { rejectUnauthorized: false, servername: 'localhost' } });
    // A request before the first scrape: the delta must not count it.
    await (await pool.request({ path: '/warm', method: 'GET', headers: { host: 'localhost' } })).body.dump();
    const before = await fetchMetrics(adminUrl);
    const statuses = await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        const res = await pool.request({ path: `/item/${i}`, method: 'GET', headers: { host: 'localhost' } });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    const after = await fetchMetrics(`${adminUrl}/metrics`);
    await pool.close();
    expect(statuses.every((s) => s === 200)).toBe(true);

    const table = stageTable(before, after, 'ztproxy');
    const stages = table.rows.map((r) => r[0]);
    expect(stages).toEqual(expect.arrayContaining(['sanitize', 'route-match', 'authorize']));
    for (const row of table.rows) {
      const timed = row[col('timed')] as number;
      // Sampled or not, never more than the requests sent between the scrapes.
      expect(timed).toBeGreaterThan(0);
      expect(timed).toBeLessThanOrEqual(REQUESTS);
      expect(row[col('mean µs')]).toBeGreaterThan(0);
    }
    const shares = table.rows.map((r) => r[col('share %')] as number);
    expect(shares.reduce((a, b) => a + b, 0)).toBeGreaterThan(99);
    expect(shares.reduce((a, b) => a + b, 0)).toBeLessThan(101);
  });

  it('fails loudly on an admin URL that does not answer /metrics', async () => {
    await expect(fetchMetrics(`http://127.0.0.1:${stack.proxy.port}`)).rejects.toThrow();
  });
});
