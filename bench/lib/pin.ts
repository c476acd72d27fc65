// Which core does what (issue #7: "the system under test pinned to its own core, the load
// generator and the upstream on the other"). On this 2-core machine the system under test
// (ztproxy, nginx, haproxy, the bare proxies) runs on SUT_CPU and everything else — the
// load generator, the upstream, the PDP, the bench process itself — on LOAD_CPU. With
// fewer than two cores, or without `taskset`, nothing is pinned and the report says so.
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

export const SUT_CPU = Number(process.env.BENCH_SUT_CPU ?? 0);
export const LOAD_CPU = Number(process.env.BENCH_LOAD_CPU ?? 1);

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when pinning applies: two distinct cores exist and taskset runs. */
export const PINNING = availableParallelism() >= 2 && SUT_CPU !== LOAD_CPU && hasTaskset();

/** `[command, args]` that run `cmd args` on `cpu` (unchanged when pinning is off). */
export function pinned(cpu: number, cmd: string, args: readonly string[]): [string, string[]] {
  return PINNING ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, [...args]];
}

/** Move an already running process (and its threads) to `cpu`; no-op when pinning is off. */
export function pinPid(cpu: number, pid: number): void {
  if (!PINNING) return;
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}

/** For the report: how this run was pinned. */
export function pinningDescription(): string {
  return PINNING
    ? `system under test on CPU ${SUT_CPU}; load generator, upstream and bench process on CPU ${LOAD_CPU} (taskset)`
    : `not pinned (${availableParallelism()} CPU(s)${hasTaskset() ? '' : ', no taskset'}): load generator and system under test share the cores`;
}
