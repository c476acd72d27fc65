// Attack review: what a remote PDP's HTTP answer may do to the decision (SPEC §7: a
// malformed answer fails closed, 503, never forwarded). The PDP here is a raw TCP server
// that writes exactly the bytes a test gives it — answers a well-behaved HTTP server
// could never produce: duplicate JSON member names, two responses for one request,
// informational and empty responses.
//
// Duplicate names: JSON.parse keeps the last (`{"decision": false, "decision": true}` is
// an allow), another parser keeps the first, RFC 8259 §4 calls the outcome
// "unpredictable" — the class of JSON-interoperability bugs where two components read
// one document two ways. Which one the PDP meant is a guess, and a guess is not a
// decision.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { get } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';

/** How the raw PDP answers the n-th request it reads since `answer` was last set (from 0, over all connections). */
type Answer = (socket: Socket, n: number) => void;

let key: TestKey;
let answerFn: Answer = () => {};
let served = 0;
/** Sets how the PDP answers from now on, counting requests from 0 again. */
function answer(fn: Answer): void {
  answerFn = fn;
  served = 0;
}
/** The request bodies the PDP read, in order. */
const requests: string[] = [];

/** An HTTP/1.1 200 JSON response with exactly `body` (Content-Length framed). */
function ok(body: string): string {
  return `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

async function startRawPdp(): Promise<{ server: Server; origin: string }> {
  const server = createServer((socket) => {
    let buffered = '';
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        requests.push(buffered.slice(end + 4, end + 4 + length));
        buffered = buffered.slice(end + 4 + length);
        answerFn(socket, served++);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const stack = useProxyStack(async ({ upstream, onClose }) => {
  key = await makeKey('ES256');
  const jwks = await writeJwksFile(jwksOf(key));
  const pdp = await startRawPdp();
  onClose(() => {
    pdp.server.close();
    return jwks.cleanup();
  });
  // No cache (every request is a call) and no breaker (a failure must not change the next test).
  const settings = { timeout: '1s', cache: { ttl: '0s' }, breaker: { failures: 1000 } };
  return {
    identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
    routes: [
      { name: 'az', match: { host: 'az.test' }, upstream: upstream.url, pdp: { mode: 'authzen', url: pdp.origin, ...settings } },
      { name: 'opa', match: { host: 'opa.test' }, upstream: upstream.url, pdp: { mode: 'opa', url: `${pdp.origin}/v1/data/ztproxy/allow`, ...settings } },
    ],
  };
});

async function send(host: string, sub: string): Promise<number> {
  const token = await mint(key, accessClaims(Math.floor(Date.now() / 1000), { sub }));
  const res = await get(stack.proxy.port, '/docs/1', { host, headers: { authorization: `Bearer ${token}` } });
  return res.status;
}

function lastLog(): Record<string, unknown> | undefined {
  return stack.proxy.logs.filter((l) => l.msg === 'request').at(-1);
}

describe('duplicate member names in the PDP answer are malformed (503), never an allow', () => {
  const cases: [string, string, string][] = [
    ['AuthZEN decision false then true', 'az.test', '{"decision":false,"decision":true}'],
    ['AuthZEN, the second name spelled with an escape', 'az.test', '{"decision":false,"decisio\\u006e":true}'],
    ['AuthZEN, a duplicate context that hides the first reason', 'az.test', '{"decision":true,"context":{"reason":"a"},"context":{}}'],
    ['OPA result false then true', 'opa.test', '{"result":false,"result":true}'],
    ['OPA allow false then true inside result', 'opa.test', '{"result":{"allow":false,"allow":true}}'],
  ];
  for (const [name, host, body] of cases) {
    it(name, async () => {
      answer((socket) => socket.write(ok(body)));
      requests.length = 0;
      expect(await send(host, 'alice')).toBe(503);
      expect(requests).toHaveLength(1);
      expect(stack.upstream.seen).toEqual([]);
      expect(lastLog()?.reason).toBe('pdp-malformed-answer');
    });
  }

  it('the same names once each, and a nested name repeated at another level, still decide', async () => {
    answer((socket) => socket.write(ok('{"decision":true,"context":{"reason":"ok","reason_admin":{"reason":"x"}}}')));
    expect(await send('az.test', 'alice')).toBe(200);
    answer((socket) => socket.write(ok('{\n  "result": {\n    "allow": true,\n    "reasons": ["a \\"quoted\\" reason"]\n  }\n}')));
    expect(await send('opa.test', 'alice')).toBe(200);
    expect(stack.upstream.seen).toHaveLength(2);
  });
});

describe('HTTP framing tricks on the keep-alive pool (held: recorded as regressions)', () => {
  it('a second response smuggled after a deny is never read as the next request\'s answer', async () => {
    // First request: a deny followed, in the same write, by an allow nobody asked for.
    // Second request (another user): the PDP stays silent — only the smuggled allow could answer it.
    answer((socket, n) => {
      if (n === 0) socket.write(ok('{"decision":false}') + ok('{"decision":true}'));
    });
    expect(await send('az.test', 'mallory')).toBe(403);
    expect(await send('az.test', 'bob')).toBe(503);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('100 Continue before a deny, a 204, a BOM, trailing bytes after the JSON: never an allow', async () => {
    const bodies = [
      'HTTP/1.1 100 Continue\r\n\r\n' + ok('{"decision":false}'),
      'HTTP/1.1 204 No Content\r\ncontent-type: application/json\r\n\r\n',
      ok('\ufeff{"decision":true}'),
      ok('{"decision":true} {"decision":true}'),
    ];
    for (const raw of bodies) {
      answer((socket) => socket.write(raw));
      expect(await send('az.test', 'alice')).not.toBe(200);
    }
    expect(stack.upstream.seen).toEqual([]);
  });
});
