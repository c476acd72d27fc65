// The malloc under ztproxy. glibc's malloc keeps what a wave of TLS connections freed in
// its main arena (freed chunks sit below live ones, and only the top of the arena is ever
// trimmed), so RSS stays at its peak after the connections close; jemalloc hands freed
// pages back to the kernel after a decay time. bench/memory.ts runs the idle-connection
// phase under both, so the report shows what the allocator, not ztproxy, holds.
// jemalloc is Debian's libjemalloc2, preloaded (LD_PRELOAD is read only at exec).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CANDIDATES = ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2', '/usr/lib64/libjemalloc.so.2', '/usr/lib/libjemalloc.so.2'];

/**
 * The jemalloc settings the Dockerfile uses: freed pages go back to the kernel 1 s after
 * they became unused, by jemalloc's own background thread (without it, only when the
 * process next calls malloc — an idle proxy would never give them back).
 */
export const JEMALLOC_CONF = 'background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0';

export function findJemalloc(): string | undefined {
  return CANDIDATES.find((p) => existsSync(p));
}

/**
 * The path of libjemalloc.so.2, installing Debian's libjemalloc2 first when it is missing,
 * this process runs as root and BENCH_INSTALL is not `0`. Otherwise `{skip}` says why.
 */
export function jemallocOrInstall(): { path: string } | { skip: string } {
  const found = findJemalloc();
  if (found) return { path: found };
  if (process.getuid?.() !== 0 || process.env.BENCH_INSTALL === '0') {
    return { skip: 'libjemalloc2 is not installed (apt-get install libjemalloc2; the bench installs it when run as root unless BENCH_INSTALL=0)' };
  }
  try {
    execFileSync('apt-get', ['install', '-y', '-qq', 'libjemalloc2'], { stdio: 'ignore', timeout: 120_000 });
  } catch (err) {
    return { skip: `apt-get install libjemalloc2 failed: ${(err as Error).message.split('\n')[0]}` };
  }
  const installed = findJemalloc();
  return installed ? { path: installed } : { skip: 'libjemalloc2 installed but libjemalloc.so.2 not found' };
}
