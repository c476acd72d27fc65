// CPU time of the process under test (and its children, e.g. nginx's worker) over the
// measured run, from /proc. On a shared or small machine req/s moves with whatever else
// runs; CPU time per request moves much less, and "CPU %" near 100 says a single-threaded
// server was saturated rather than waiting. Linux only; elsewhere nothing is reported.
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every mainstream Linux. */
const TICKS_PER_SEC = 100;

interface Stat {
  readonly ppid: number;
  /** utime + stime, in ticks. */
  readonly ticks: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..." — comm may contain spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(fields[1]);
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ppid) && Number.isFinite(ticks) ? { ppid, ticks } : undefined;
}

/** The pids and all their descendants that are alive now. */
function processTree(roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(entry));
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  const todo = [...roots];
  while (todo.length) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Summed ticks, or undefined if one of the processes is gone (its time would be lost). */
function ticksOf(pids: readonly number[]): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    const stat = readStat(pid);
    if (!stat) return undefined;
    sum += stat.ticks;
  }
  return sum;
}

export interface CpuUsage {
  /** CPU seconds (user + system) of the process tree during the run. */
  readonly cpuSec: number;
  /** cpuSec ÷ wall seconds × 100: 100 = one core busy all the time. */
  readonly percent: number;
}

/** Start metering; the returned function stops and reports (undefined off Linux). */
export function meterCpu(roots: readonly number[]): () => CpuUsage | undefined {
  if (process.platform !== 'linux' || roots.length === 0) return () => undefined;
  let pids: number[];
  try {
    pids = processTree(roots);
  } catch {
    return () => undefined;
  }
  const startTicks = ticksOf(pids);
  if (startTicks === undefined) return () => undefined;
  const started = process.hrtime.bigint();
  return () => {
    const wallSec = Number(process.hrtime.bigint() - started) / 1e9;
    const endTicks = ticksOf(pids);
    if (endTicks === undefined) return undefined;
    const cpuSec = (endTicks - startTicks) / TICKS_PER_SEC;
    return { cpuSec, percent: (100 * cpuSec) / wallSec };
  };
}

/** Busy and total jiffies of one CPU from /proc/stat (idle and iowait count as not busy). */
function coreTicks(cpu: number): { busy: number; total: number } | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return undefined;
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 8 || f.some((n) => !Number.isFinite(n))) return undefined;
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/**
 * Start metering how busy one core is (everything on it, ours or not); the returned
 * function reports the busy percentage. Beside a process's own CPU it shows whether
 * something else ran on that core (another process on a shared machine) or whether the
 * load core was full — then the load generator, not the system under test, may have set
 * the pace.
 */
export function meterCore(cpu: number): () => number | undefined {
  if (process.platform !== 'linux') return () => undefined;
  const start = coreTicks(cpu);
  if (!start) return () => undefined;
  return () => {
    const end = coreTicks(cpu);
    if (!end || end.total <= start.total) return undefined;
    return (100 * (end.busy - start.busy)) / (end.total - start.total);
  };
}
