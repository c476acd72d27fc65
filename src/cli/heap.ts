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
