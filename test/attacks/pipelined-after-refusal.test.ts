// A request refused for its framing (400) with more requests pipelined behind it on the
// same connection. Each queued request used to add a 'finish' listener to the socket
// (`destroySoon` per request), so from the 11th on Node printed
// MaxListenersExceededWarning — once per connection, an output any client can flood
// into the operator's logs — and the socket held listeners in proportion to what the
// client sent. The queued requests must never be processed, never reach the upstream,
// and leave no listener growth behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRoute, rawRequest } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const stack = useProxyStack(({ upstream }) => ({ routes: [openRoute(upstream.url)] }));
const warnings: Error[] = [];
const onWarning = (w: Error): void => {
  warnings.push(w);
};

// Registered after the stack: on before its proxy serves a test, off before it closes.
beforeAll(() => {
  process.on('warning', onWarning);
});
afterAll(() => {
  process.off('warning', onWarning);
});

describe('requests pipelined behind a refused one', () => {
  it.each([11, 40])('%i queued requests behind a 400: one answer, nothing forwarded, no MaxListeners warning', async (queued) => {
    stack.upstream.reset();
    warnings.length = 0;
    // Two Host headers: refused by the sanitize stage with a 400 (framing in doubt).
    const bad = 'GET /bad HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n';
    const good = 'GET /queued HTTP/1.1\r\nHost: localhost\r\n\r\n';
    const { text } = await rawRequest(stack.proxy.port, bad + good.repeat(queued), { timeoutMs: 3000 });
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(stack.upstream.seen).toEqual([]);
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
  });
});
