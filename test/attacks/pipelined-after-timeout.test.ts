// A request that missed headersTimeout is cut after a jitter (up to a quarter of the
// timeout, at most 5 s: proxy/close-spread.ts), so that connections expiring together are
// not all destroyed in one tick. Meanwhile nothing more on the connection is processed —
// but it was still read: a client that completed its late request and then streamed
// pipelined requests behind it had every one of them parsed and kept (never answered, so
// Node's pipelining brake, which waits for answers to back up, never engaged) until the
// cut — hundreds of MB of heap per connection. A late request is now answered 408 and
// the connection cut at once.
import { describe, expect, it, vi } from 'vitest';
import { openFloodClient } from '../helpers/flood.ts';
import { openRoute } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const HEADERS_TIMEOUT_MS = 8000;
/** Node's sweep runs every second at this timeout (listener.ts checkingInterval). */
const DETECTED_BY_MS = HEADERS_TIMEOUT_MS + 1200;
/** What the client tries to push behind its late request: far more than socket buffers hold. */
const FLOOD = 32 * 1024 * 1024;

const stack = useProxyStack(({ upstream }) => ({
  listen: { limits: { headersTimeout: `${HEADERS_TIMEOUT_MS}ms`, requestTimeout: `${HEADERS_TIMEOUT_MS}ms` } },
  routes: [openRoute(upstream.url)],
}));

describe('requests pipelined behind a request that missed headersTimeout', () => {
  it('are not read during the cut\'s jitter: the late request gets its 408 and the connection is cut', { timeout: 30_000 }, async () => {
    // The longest jitter (2 s at this timeout), so that the cut is surely still ahead when
    // the client completes its request after the sweep found it late.
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    try {
      const client = await openFloodClient(stack.proxy.port);
      client.socket.write('GET /late HTTP/1.1\r\nHost: localhost\r\n');
      await new Promise((r) => setTimeout(r, DETECTED_BY_MS));
      expect(client.closed()).toBe(false);
      vi.restoreAllMocks();
      client.socket.write('\r\n');
      const accepted = await client.flood(FLOOD);
      expect(accepted).toBeLessThan(FLOOD);
      expect(client.answer()).toMatch(/^HTTP\/1\.1 408 /);
      expect(client.answer().match(/HTTP\/1\.1 /g)).toHaveLength(1);
      expect(stack.upstream.seen).toEqual([]);
    } finally {
      vi.restoreAllMocks();
    }
  });
});
