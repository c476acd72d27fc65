// Per-request metrics counted in plain numbers on the hot path and handed to prom-client
// only when /metrics is scraped. prom-client's own label children hash their label object
// on every observe() and inc() (convertLabelsAndValues, validateLabel, hashObject): with a
// stage histogram per chain stage and a request counter, about a dozen such calls per
// request (bench/README.md "Hot path"). Here a bound cell is an array increment; the
// scrape, seconds apart, pays for the formatting.
import { Counter, type MetricValueWithName, type Registry } from 'prom-client';

/** What prom-client's registry formats: the shape its own metrics' get() returns. */
export interface CollectedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly values: MetricValueWithName<string>[];
  readonly aggregator: 'sum';
}

/** One label set's buckets: counts[i] observations ≤ bounds[i] (and > bounds[i-1]); the last slot is +Inf. */
export class HistogramCell {
  readonly labels: Readonly<Record<string, string>>;
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  readonly #bounds: readonly number[];

  constructor(labels: Readonly<Record<string, string>>, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A Prometheus histogram with one label, registered as a metric of its own on the
 * registry (prom-client formats whatever `get()` returns, the way it formats its own
 * Histogram: cumulative `_bucket{le}` lines, `_sum`, `_count`).
 */
export class HotHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #bounds: readonly number[];
  readonly #label: string | undefined;
  readonly #cells = new Map<string, HistogramCell>();

  constructor(opts: { name: string; help: string; buckets: readonly number[]; label?: string; registry: Registry }) {
    this.name = opts.name;
    this.help = opts.help;
    this.#bounds = [...opts.buckets].sort((a, b) => a - b);
    this.#label = opts.label;
    opts.registry.registerMetric(this as never);
  }

  /** The cell of one label value (bind it once; observing it is then cheap). */
  cell(labelValue = ''): HistogramCell {
    let cell = this.#cells.get(labelValue);
    if (cell === undefined) {
      cell = new HistogramCell(this.#label === undefined ? {} : { [this.#label]: labelValue }, this.#bounds);
      this.#cells.set(labelValue, cell);
    }
    return cell;
  }

  observe(value: number): void {
    this.cell().observe(value);
  }

  get(): Promise<CollectedMetric> {
    const values: MetricValueWithName<string>[] = [];
    const bucket = `${this.name}_bucket`;
    for (const cell of this.#cells.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += cell.counts[i]!;
        values.push({ labels: { le: this.#bounds[i]!, ...cell.labels }, value: cumulative, metricName: bucket });
      }
      values.push({ labels: { le: '+Inf', ...cell.labels }, value: cell.count, metricName: bucket });
      values.push({ labels: { ...cell.labels }, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...cell.labels }, value: cell.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', values, aggregator: this.aggregator });
  }

  reset(): void {
    this.#cells.clear();
  }
}

/** A counter cell: `n` is added to the prom-client counter at the next scrape. */
export class CounterCell {
  readonly labels: Record<string, string | number>;
  pending = 0;
  constructor(labels: Record<string, string | number>) {
    this.labels = labels;
  }
  inc(): void {
    this.pending++;
  }
}

/**
 * A prom-client Counter whose hot-path increments are bound cells, flushed into it when
 * it is collected (scraped). Its cells are keyed by the caller's own string key, so a
 * lookup is one Map.get of a string the caller already has.
 */
export class HotCounter<L extends string> {
  readonly counter: Counter<L>;
  readonly #cells = new Map<string, CounterCell>();

  constructor(opts: { name: string; help: string; labelNames: readonly L[]; registry: Registry }) {
    const cells = this.#cells;
    this.counter = new Counter<L>({
      name: opts.name,
      help: opts.help,
      labelNames: opts.labelNames,
      registers: [opts.registry],
      collect(this: Counter<L>) {
        for (const cell of cells.values()) {
          if (cell.pending === 0) continue;
          this.inc(cell.labels as never, cell.pending);
          cell.pending = 0;
        }
      },
    });
  }

  /** The cell for `key`, made from `labels()` the first time. */
  cell(key: string, labels: () => Record<L, string | number>): CounterCell {
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      cell = new CounterCell(labels());
      this.#cells.set(key, cell);
    }
    return cell;
  }
}
