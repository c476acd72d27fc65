// What a process holds, read from outside: the kernel's view (/proc/PID/status — what the
// process costs the machine, whatever allocated it) and V8's view (the admin /metrics of
// ztproxy — what JavaScript keeps alive). The gap between the two is what the allocator,
// OpenSSL and Node's C++ side hold; bench/memory.ts reports both so a number can be
// traced to its owner.
import { readFileSync } from 'node:fs';

const MB = 1024 * 1024;

/** Resident memory of a process, in MB (Linux; undefined when the process is gone). */
export interface Rss {
  /** VmRSS: everything resident. */
  readonly rss: number;
  /** RssAnon: heap, stacks, malloc arenas, V8's heap — memory the process allocated. */
  readonly anon: number;
  /** RssFile: mapped files (the node binary, shared libraries). */
  readonly file: number;
  /**
   * Resident part of the `[heap]` mapping: glibc's main malloc arena, where OpenSSL and
   * Node's C++ side allocate on the main thread (not V8's heap, which has mappings of its
   * own). NaN when smaps cannot be read; jemalloc does not use it.
   */
  readonly brk: number;
}

export function readRss(pid: number): Rss | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  const rss = kb('VmRSS');
  if (!Number.isFinite(rss)) return undefined;
  return { rss: rss / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024, brk: brkKb(pid) / 1024 };
}

/** Rss of the `[heap]` mapping in /proc/PID/smaps, in kB. */
function brkKb(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return NaN;
  }
  const at = text.search(/ \[heap\]\n/);
  if (at < 0) return 0;
  const m = /^Rss:\s+(\d+) kB/m.exec(text.slice(at));
  return m ? Number(m[1]) : NaN;
}

/** V8's and the proxy's own view, from the admin port's Prometheus text (MB, and a count). */
export interface HeapView {
  readonly heapUsed: number;
  readonly heapTotal: number;
  /** Memory of JS objects held outside the V8 heap (Buffers, TLS records). */
  readonly external: number;
  readonly openConnections: number;
}

/** The value of an unlabelled sample `name` in Prometheus text, or NaN. */
export function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{\\})? ([^\\s]+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

export function parseHeapView(text: string): HeapView {
  return {
    heapUsed: metricValue(text, 'ztproxy_nodejs_heap_size_used_bytes') / MB,
    heapTotal: metricValue(text, 'ztproxy_nodejs_heap_size_total_bytes') / MB,
    external: metricValue(text, 'ztproxy_nodejs_external_memory_bytes') / MB,
    openConnections: metricValue(text, 'ztproxy_open_connections'),
  };
}

/** Scrape ztproxy's admin /metrics; undefined when it does not answer within 5 s. */
export async function readHeapView(adminUrl: string): Promise<HeapView | undefined> {
  try {
    const res = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    return parseHeapView(await res.text());
  } catch {
    return undefined;
  }
}
