// What a bench part that runs as its own process (bench/handshake.ts, bench/memory.ts,
// bench/micro/*.ts, bench/tunnel.ts) hands to `npm run bench`: with `--json` it prints
// exactly one PartResult as the last line of its stdout (human-readable text goes to
// stderr). The run embeds it in the report as it is, renders its tables and charts in
// the Markdown, and collects its targets into the report's one targets table. Keeping
// the shape generic lets a part add a table or a target without touching the report.

/** One cell: a number is printed with the table's rounding, a string as it is. */
export type Cell = number | string | null;

export interface PartTable {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
  /** One line under the table: what the numbers are and how they were taken. */
  readonly note?: string;
}

/** A chart the report draws as SVG (bench/lib/svg.ts). */
export interface ChartSpec {
  /** File-name safe, unique in the run: `handshakes-rate`. */
  readonly id: string;
  readonly title: string;
  /** The unit of the values, for the axis: `handshakes/s`, `ms`, `MB`. */
  readonly unit: string;
  /** `bar`: one bar per group and series; `line`: one line per series across the groups (e.g. percentiles). */
  readonly kind: 'bar' | 'line';
  /** The x-axis categories: scenario names, or `p50`, `p90`, ... */
  readonly groups: readonly string[];
  readonly series: readonly { readonly label: string; readonly values: readonly (number | null)[] }[];
  /** Draw the value axis on a log scale (latency tails). */
  readonly log?: boolean;
}

/**
 * A target of the table, with the number measured in this run. `met` is computed
 * from `value` and `target` (never written by hand); undefined when the value could not be
 * measured (then `why` says why).
 */
export interface TargetResult {
  /** The row of the table, e.g. `full TLS 1.3 handshakes ÷ nginx (P-256)`. */
  readonly name: string;
  readonly value: number | null;
  readonly comparison: '>=' | '<=';
  readonly target: number;
  readonly unit?: string;
  readonly met: boolean | undefined;
  readonly why?: string;
  /** What qualifies the value (e.g. measured while the load generator was saturated). */
  readonly note?: string;
}

export interface PartResult {
  /** `handshake`, `memory`, `micro:policy-decision`, `tunnel`. */
  readonly name: string;
  readonly title: string;
  /** Where and how it ran: pinning, rounds, sizes — printed under the title. */
  readonly setup: string;
  readonly tables: readonly PartTable[];
  readonly charts?: readonly ChartSpec[];
  readonly targets?: readonly TargetResult[];
  /** The raw measurements, for later comparison (kept in the JSON only). */
  readonly raw?: unknown;
}

/** A target row from a measured value: `met` always computed, never claimed. */
export function target(name: string, value: number | null | undefined, comparison: '>=' | '<=', goal: number, opts: { unit?: string; why?: string; note?: string } = {}): TargetResult {
  const v = value === undefined || value === null || !Number.isFinite(value) ? null : value;
  return {
    name,
    value: v,
    comparison,
    target: goal,
    ...(opts.unit ? { unit: opts.unit } : {}),
    met: v === null ? undefined : comparison === '>=' ? v >= goal : v <= goal,
    ...(v === null ? { why: opts.why ?? 'not measured' } : {}),
    ...(opts.note ? { note: opts.note } : {}),
  };
}

/** Print a part's result the way `npm run bench` reads it: one JSON line, last on stdout. */
export function emitPart(result: PartResult): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** The PartResult in a child's stdout (its last non-empty line), or an error naming what was wrong. */
export function parsePart(stdout: string): PartResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error(`the part printed no JSON result as its last line (got: ${line.slice(0, 120) || 'nothing'})`);
  }
  const p = parsed as Partial<PartResult>;
  if (typeof p !== 'object' || p === null || typeof p.name !== 'string' || typeof p.title !== 'string' || !Array.isArray(p.tables)) {
    throw new Error('the part printed JSON that is not a PartResult (needs name, title, tables)');
  }
  return p as PartResult;
}
