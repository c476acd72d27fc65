// A refused upload lingers (proxy/linger.ts): the connection is half-closed and the rest
// of the body is read and discarded, so that the client can still read its refusal. A
// client that sends the body and then streams pipelined requests behind it must not be
// read on for the whole lingerTimeout: Node parses every such request and keeps it (they
// are never processed, the connection is poisoned) until the socket closes, and with
// the connection half-closed its own pipelining brake (pause while answers back up)
// never engages — one connection grew the heap by ~200 MB per second. The connection
// closes once the refused body has been read and the refusal flushed.
import { describe, expect, it } from 'vitest';
import { openFloodClient } from '../helpers/flood.ts';
import { openRoute } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

/** What the client tries to push behind the refused body: far more than socket buffers hold. */
const FLOOD = 48 * 1024 * 1024;

const stack = useProxyStack(({ upstream }) => ({
  listen: { limits: { lingerTimeout: '3s', lingerMaxBytes: '64KiB' } },
  routes: [openRoute(upstream.url, { name: 'private', match: { pathPrefix: '/private' }, policy: { allow: { authenticated: true } } }), openRoute(upstream.url)],
}));

describe('requests pipelined behind a refused, lingering body', () => {
  it('are not read on: the connection closes once the body is read, long before the flood is in', { timeout: 20_000 }, async () => {
    const client = await openFloodClient(stack.proxy.port);
    client.socket.write('POST /private/upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n');
    await client.waitForAnswer();
    expect(client.answer()).toMatch(/^HTTP\/1\.1 401 /);
    // The refused body, then the flood.
    client.socket.write('0123456789');
    const accepted = await client.flood(FLOOD);
    expect(accepted).toBeLessThan(FLOOD);
    expect(client.answer().match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(stack.upstream.seen).toEqual([]);
  });
});
