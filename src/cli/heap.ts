// V8 heap growth for the proxy process (`ztproxy start`). Every chunk a tunnel or a
// streamed body relays is a Buffer whose memory lives outside the JS heap, and V8 counts
// external memory allocated since the last full collection against the old generation's
// limit. With V8's own growth factor for ztproxy's ~26 MB heap (a limit near 50 MB), that
// slack is used up by every ~24 MB relayed, so a 100 MB tunnel transfer ran a full
// mark-compact (of the whole heap, with concurrent marking threads taking the second
// core) every ~150 ms: ~36 of them per 500 MB, and ~1.9× the CPU per GiB of a bare Node
// TLS pipe, whose 4 MB heap is cheap to mark. A fixed factor of 4 (V8's own maximum
// dynamic factor) keeps the young Buffers to the scavenges that free them: ~7 full
// collections per 500 MB and the bare pipe's CPU per GiB (bench/tunnel.ts, bench/README.md).
// The cost is heap headroom: the old generation may grow to 4× what is live (~100 MB)
// before a full collection; what is live is unchanged.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Growth of the old-generation limit after a full collection: 1 + 300/100 = 4× what survived. */
export const HEAP_GROWING_PERCENT = 300;

/**
 * Sets V8's heap growth for a proxy process, unless node was started with its own
 * `--heap-growing-percent` (the operator's choice wins; NODE_OPTIONS cannot carry it).
 * Returns the flag it set, or undefined.
 */
export function tuneHeapForRelaying(execArgv: readonly string[] = process.execArgv): string | undefined {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) return undefined;
  const flag = `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
  setFlagsFromString(flag);
  return flag;
}

/**
 * One compacting full collection, once the proxy has loaded and built its first snapshot
 * (before it has clients). Loading the sources and their dependencies (type stripping,
 * zod schemas, undici, jose, x509, ...) leaves V8's heap at ~60 MB committed of which
 * ~27 MB is still live, and with the growth above nothing would collect it before 4× that;
 * a last-resort collection (V8's own before an out-of-memory: full, compacting, and
 * releasing the pages it empties) brings the heap down to what is live, ~20 MB less RSS
 * from the first minute (bench/memory.ts, docs/design.md "Memory"). Never on the request
 * path: it stops the event loop for the collection (tens of ms).
 * Returns the bytes of V8 heap it released (committed before − after).
 */
export function compactHeapOnce(): number {
  const before = process.memoryUsage().heapTotal;
  // Only a new context gets the gc() function once the flag is set; node's own
  // --expose-gc, if the operator passed it, put one on this context already.
  const gc = (globalThis as { gc?: GcFunction }).gc ?? exposeGc();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return before - process.memoryUsage().heapTotal;
}

type GcFunction = (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

function exposeGc(): GcFunction {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as GcFunction;
}
