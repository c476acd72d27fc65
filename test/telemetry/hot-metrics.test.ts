// The hot-path metrics must scrape exactly as prom-client's own Histogram and Counter
// would for the same observations: dashboards and alerts read these lines.
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from '../../src/telemetry/hot-metrics.ts';

const BUCKETS = [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];
// Values on, below, between and above the bounds (and 0): each lands where prom-client puts it.
const VALUES = [0, 0.00001, 0.000010001, 0.00004, 0.0001, 0.0007, 0.001, 0.2, 0.5, 4.9, 5, 7, 120];

describe('hot-path metrics', () => {
  it('a HotHistogram scrapes as a prom-client Histogram with the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const hot = new HotHistogram({ name: 'x_seconds', help: 'h', label: 'stage', buckets: BUCKETS, registry: ours });
    const ref = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['stage'], buckets: BUCKETS, registers: [theirs] });
    for (const [i, v] of VALUES.entries()) {
      const stage = i % 3 === 0 ? 'sanitize' : 'forward';
      hot.cell(stage).observe(v);
      ref.labels({ stage }).observe(v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    hot.reset();
    ref.reset();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('a HotHistogram without a label scrapes as an unlabelled Histogram', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const hot = new HotHistogram({ name: 'y_seconds', help: 'h', buckets: [0.1, 1], registry: ours });
    const ref = new Histogram({ name: 'y_seconds', help: 'h', buckets: [0.1, 1], registers: [theirs] });
    for (const v of [0.05, 0.5, 3]) {
      hot.observe(v);
      ref.observe(v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('a HotCounter counts between scrapes and after them, as a Counter does', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const hot = new HotCounter({ name: 'r_total', help: 'h', labelNames: ['route', 'status'] as const, registry: ours });
    const ref = new Counter({ name: 'r_total', help: 'h', labelNames: ['route', 'status'] as const, registers: [theirs] });
    const count = (route: string, status: number) => {
      hot.cell(`${route}|${status}`, () => ({ route, status })).inc();
      ref.labels({ route, status }).inc();
    };
    for (let i = 0; i < 5; i++) count('a', 200);
    count('b', 403);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    count('a', 200);
    count('c', 502);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('r_total{route="a",status="200"} 6');
  });
});
