// Remote PDPs through a real ztproxy over real sockets (SPEC §7, issue points 3 and 4):
// test PDPs on loopback that speak the documented OPA and AuthZEN shapes and decide from
// a table (never with ztproxy's engine). Every failure — slow, down, 500, garbage JSON,
// a string where a boolean belongs, a huge or stalled body — is a 503 with the upstream
// untouched; the circuit breaker opens, fails fast without calling and closes again;
// the decision cache never answers one user, method, path or parameter with another's
// decision, and identical concurrent misses make one call.
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { get, rawRequest, type LogLine, type SimpleResponse } from '../helpers/proxy.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { useProxyStack } from '../helpers/stack.ts';
import { AUDIENCE, ISSUER, accessClaims, jwksOf, makeKey, mint, writeJwksFile, type TestKey } from '../helpers/jwt.ts';
import { closedPort, startTestPdp, type TestPdp } from '../helpers/pdp.ts';

/** Who may do what on which template: the test PDPs' whole policy. */
const TABLE: Record<string, Record<string, string[]>> = {
  alice: { '/docs': ['GET', 'POST'], '/docs/{docId}': ['GET', 'PUT'], '/docs/{docId}/comments/{commentId}': ['GET'] },
  bob: { '/docs': ['GET'] },
};

function tableAllows(sub: unknown, method: unknown, template: unknown, params: Record<string, string> | undefined): { allow: boolean; reason?: string } {
  if (params?.docId?.startsWith('secret')) return { allow: false, reason: 'secret document' };
  const allowed = typeof sub === 'string' && typeof template === 'string' && TABLE[sub]?.[template]?.includes(String(method)) === true;
  return { allow: allowed };
}

function authzenDecide(body: Record<string, unknown>): unknown {
  const subject = body.subject as { id: string };
  const action = body.action as { name: string };
  const resource = body.resource as { id: string; properties: { params: Record<string, string> } };
  const d = tableAllows(subject.id, action.name, resource.id, resource.properties.params);
  return d.reason ? { decision: d.allow, context: { reason: d.reason } } : { decision: d.allow };
}

function opaDecide(body: Record<string, unknown>): unknown {
  const input = body.input as { subject: { id: string } | null; request: { method: string; template: string; params: Record<string, string> } };
  if (input.subject === null) return { result: false };
  const d = tableAllows(input.subject.id, input.request.method, input.request.template, input.request.params);
  // Both documented answer shapes: the bare boolean and the object with reasons.
  return d.reason ? { result: { allow: d.allow, reasons: [d.reason] } } : { result: d.allow };
}

let key: TestKey;
let azPdp: TestPdp;
let breakerPdp: TestPdp;
let opaPdp: TestPdp;

const TEMPLATES = ['/docs', '/docs/{docId}', '/docs/{docId}/comments/{commentId}'];

const stack = useProxyStack(async ({ upstream, onClose }) => {
  key = await makeKey('ES256');
  const jwks = await writeJwksFile(jwksOf(key));
  azPdp = await startTestPdp(authzenDecide);
  breakerPdp = await startTestPdp(authzenDecide);
  opaPdp = await startTestPdp(opaDecide);
  const downPort = await closedPort();
  onClose(() => Promise.all([jwks.cleanup(), azPdp.close(), breakerPdp.close(), opaPdp.close()]));
  const noBreaker = { failures: 1000 };
  const route = (name: string, host: string, extra: Record<string, unknown>) => ({ name, match: { host }, upstream: upstream.url, ...extra });
  return {
    identity: { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] },
    routes: [
      // Decision cache on (a long ttl, so a test never sees an entry expire).
      route('az', 'az.test', { pdp: { mode: 'authzen', url: azPdp.origin, timeout: '3s', cache: { ttl: '10m' }, breaker: noBreaker }, templates: TEMPLATES }),
      // The same PDP without a cache: every request is a call (the failure modes).
      route('az-nc', 'nc.test', { pdp: { mode: 'authzen', url: azPdp.origin, timeout: '600ms', cache: { ttl: '0s' }, breaker: noBreaker }, templates: TEMPLATES }),
      route('down', 'down.test', { pdp: { mode: 'authzen', url: `http://127.0.0.1:${downPort}`, timeout: '3s', breaker: noBreaker } }),
      route('breaker', 'br.test', {
        pdp: { mode: 'authzen', url: breakerPdp.origin, timeout: '3s', cache: { ttl: '0s' }, breaker: { failures: 3, coolDown: '1s' } },
        templates: TEMPLATES,
      }),
      route('opa', 'opa.test', { pdp: { mode: 'opa', url: `${opaPdp.origin}/v1/data/ztproxy/allow`, timeout: '3s', cache: { ttl: '0s' }, breaker: noBreaker }, templates: TEMPLATES }),
      // A gate that lets anonymous callers through to the PDP.
      route('az-public', 'azpub.test', { pdp: { mode: 'authzen', url: azPdp.origin, timeout: '3s', breaker: noBreaker }, policy: { allow: { accept: true } } }),
      route('opa-public', 'opapub.test', {
        pdp: { mode: 'opa', url: `${opaPdp.origin}/v1/data/ztproxy/allow`, timeout: '3s', cache: { ttl: '0s' }, breaker: noBreaker },
        policy: { allow: { accept: true } },
      }),
      route('ws', 'ws.test', { websocket: true, pdp: { mode: 'authzen', url: azPdp.origin, timeout: '3s', cache: { ttl: '0s' }, breaker: noBreaker }, templates: TEMPLATES }),
      // An embedded gate that says no before the PDP is asked.
      route('gated', 'gated.test', { pdp: { mode: 'authzen', url: azPdp.origin, timeout: '3s', breaker: noBreaker }, policy: { allow: { groups: { has: 'never' } } } }),
    ],
  };
}, { upstream: () => startUpstream({ websocket: true }) });

const tokens = new Map<string, string>();
async function as(sub: string): Promise<Record<string, string>> {
  let t = tokens.get(sub);
  if (t === undefined) {
    t = await mint(key, accessClaims(Math.floor(Date.now() / 1000), { sub }));
    tokens.set(sub, t);
  }
  return { authorization: `Bearer ${t}` };
}

async function send(host: string, path: string, sub: string | undefined, method = 'GET'): Promise<SimpleResponse> {
  return get(stack.proxy.port, path, { host, method, headers: sub === undefined ? {} : await as(sub) });
}

function logOf(res: SimpleResponse): LogLine | undefined {
  return stack.proxy.logs.find((l) => l.msg === 'request' && l.requestId === res.headers['x-request-id']);
}

function resetPdps(): void {
  azPdp.reset();
  breakerPdp.reset();
  opaPdp.reset();
}

function admin(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: stack.proxy.proxy.addresses.admin.port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('AuthZEN PDP: allow and deny', () => {
  it('the PDP allows → forwarded; the PDP saw the gateway-profile request', async () => {
    resetPdps();
    const res = await send('az.test', '/docs/d-1', 'alice');
    expect(res.status).toBe(200);
    expect(stack.upstream.seen.map((r) => r.url)).toEqual(['/docs/d-1']);
    expect(azPdp.calls).toHaveLength(1);
    const call = azPdp.calls[0]!;
    expect(call.path).toBe('/access/v1/evaluation');
    expect(call.headers['content-type']).toBe('application/json');
    expect(call.headers['x-request-id']).toBe(res.headers['x-request-id']);
    expect(call.body).toEqual({
      subject: { type: 'identity', id: 'alice' },
      action: { name: 'GET' },
      resource: {
        type: 'route',
        id: '/docs/{docId}',
        properties: { uri: 'https://az.test/docs/d-1', schema: 'https', hostname: 'az.test', path: '/docs/d-1', params: { docId: 'd-1' }, ip: '127.0.0.1' },
      },
      context: { issuer: ISSUER, groups: [] },
    });
    expect(logOf(res)).toMatchObject({ decision: 'allow', reason: 'pdp-allow' });
  });

  it('the PDP denies → 403, nothing forwarded; its reason is kept for the audit log, never sent', async () => {
    resetPdps();
    const res = await send('az.test', '/docs/d-1', 'alice', 'DELETE');
    expect(res.status).toBe(403);
    const secret = await send('az.test', '/docs/secret-1', 'alice');
    expect(secret.status).toBe(403);
    expect(secret.body).not.toContain('secret document');
    expect(stack.upstream.seen).toEqual([]);
    expect(logOf(res)).toMatchObject({ decision: 'deny', reason: 'pdp-deny' });
  });

  it('nested templates: the most specific wins, every parameter extracted; no template → the route prefix', async () => {
    resetPdps();
    expect((await send('nc.test', '/docs/d-9/comments/c-3', 'alice')).status).toBe(200);
    const resource = azPdp.calls[0]!.body!.resource as { id: string; properties: { params: unknown } };
    expect(resource.id).toBe('/docs/{docId}/comments/{commentId}');
    expect(resource.properties.params).toEqual({ docId: 'd-9', commentId: 'c-3' });
    // /docs/x/y matches no template: the PDP is asked about the route prefix (and says no).
    expect((await send('nc.test', '/docs/x/y', 'alice')).status).toBe(403);
    expect((azPdp.calls[1]!.body!.resource as { id: string }).id).toBe('/');
  });

  it('parameters are sent in the canonical form the upstream gets (unreserved escapes decoded, others kept)', async () => {
    resetPdps();
    expect((await send('nc.test', '/docs/%61b%40c', 'alice')).status).toBe(200);
    expect(stack.upstream.last()!.url).toBe('/docs/ab%40c');
    const props = (azPdp.calls[0]!.body!.resource as { properties: { params: unknown; path: string } }).properties;
    expect(props).toMatchObject({ path: '/docs/ab%40c', params: { docId: 'ab%40c' } });
  });

  it('anonymous: the default gate asks for a login (401) and never calls the PDP', async () => {
    resetPdps();
    const res = await send('az.test', '/docs/d-1', undefined);
    expect(res.status).toBe(401);
    expect(azPdp.calls).toEqual([]);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('anonymous through a gate that admits it: AuthZEN cannot be asked about nobody → 401, no call', async () => {
    resetPdps();
    const res = await send('azpub.test', '/x', undefined);
    expect(res.status).toBe(401);
    expect(logOf(res)).toMatchObject({ decision: 'deny', reason: 'authentication-required' });
    expect(azPdp.calls).toEqual([]);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('an embedded gate that says no answers before the PDP is asked', async () => {
    resetPdps();
    expect((await send('gated.test', '/docs', 'alice')).status).toBe(403);
    expect(azPdp.calls).toEqual([]);
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('WebSocket upgrades are decided by the PDP before anything reaches the upstream', () => {
  const handshake = async (path: string, sub: string): Promise<number> =>
    (
      await rawRequest(
        stack.proxy.port,
        `GET ${path} HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: ${(await as(sub)).authorization}\r\n\r\n`,
        { timeoutMs: 1500 },
      )
    ).status;

  it('denied by the PDP → 403, the upstream never sees the handshake', async () => {
    resetPdps();
    expect(await handshake('/docs/1', 'bob')).toBe(403);
    expect(azPdp.calls).toHaveLength(1);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a PDP error → 503, never forwarded', async () => {
    resetPdps();
    azPdp.behave({ kind: 'status', status: 500 });
    expect(await handshake('/docs/1', 'alice')).toBe(503);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('allowed by the PDP → 101 from the upstream', async () => {
    resetPdps();
    expect(await handshake('/docs/1', 'alice')).toBe(101);
    expect((azPdp.calls[0]!.body!.action as { name: string }).name).toBe('GET');
  });
});

describe('OPA Data API', () => {
  it('POSTs {input} to the configured path; {result: true} → forwarded', async () => {
    resetPdps();
    const res = await send('opa.test', '/docs/d-2', 'alice', 'PUT');
    expect(res.status).toBe(200);
    expect(opaPdp.calls).toHaveLength(1);
    expect(opaPdp.calls[0]!.path).toBe('/v1/data/ztproxy/allow');
    expect(opaPdp.calls[0]!.body).toEqual({
      input: {
        subject: { id: 'alice', issuer: ISSUER, email: null, emailVerified: false, groups: [], authTime: null, acr: null, amr: [] },
        device: null,
        client: { spiffeId: null, ip: '127.0.0.1' },
        request: { method: 'PUT', host: 'opa.test', path: '/docs/d-2', template: '/docs/{docId}', params: { docId: 'd-2' } },
        route: 'opa',
      },
    });
  });

  it('{result: false} and {result: {allow: false, reasons}} → 403, nothing forwarded', async () => {
    resetPdps();
    expect((await send('opa.test', '/docs', 'bob', 'POST')).status).toBe(403);
    expect((await send('opa.test', '/docs/secret-2', 'alice')).status).toBe(403);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('anonymous through a gate that admits it: sent with subject null; a deny asks for a login (401)', async () => {
    resetPdps();
    const res = await send('opapub.test', '/x', undefined);
    expect(res.status).toBe(401);
    expect((opaPdp.calls[0]!.body!.input as { subject: unknown }).subject).toBeNull();
    expect(stack.upstream.seen).toEqual([]);
  });

  it.each([
    ['a string', '{"result":"yes"}'],
    ['the rule undefined (no result)', '{}'],
    ['allow as a string', '{"result":{"allow":"true"}}'],
    ['reasons not a list', '{"result":{"allow":true,"reasons":"x"}}'],
    ['null', 'null'],
  ])('a malformed answer (%s) → 503 pdp-malformed-answer, never forwarded', async (_name, body) => {
    resetPdps();
    opaPdp.behave({ kind: 'raw', body });
    const res = await send('opa.test', '/docs', 'alice');
    expect(res.status).toBe(503);
    expect(logOf(res)).toMatchObject({ decision: 'error', reason: 'pdp-malformed-answer' });
    expect(stack.upstream.seen).toEqual([]);
  });
});

describe('fail closed: every PDP failure is a 503 and the upstream is never reached', () => {
  const cases: [string, Parameters<TestPdp['behave']>[0], string][] = [
    ['a 500', { kind: 'status', status: 500 }, 'pdp-bad-status'],
    ['a 404 (wrong URL)', { kind: 'status', status: 404 }, 'pdp-bad-status'],
    ['garbage JSON', { kind: 'raw', body: '{"decision": tru' }, 'pdp-malformed-answer'],
    ['{"decision": "true"} (a string)', { kind: 'raw', body: '{"decision":"true"}' }, 'pdp-malformed-answer'],
    ['{"decision": 1}', { kind: 'raw', body: '{"decision":1}' }, 'pdp-malformed-answer'],
    ['context that is not an object', { kind: 'raw', body: '{"decision":true,"context":"x"}' }, 'pdp-malformed-answer'],
    ['a JSON answer labelled text/plain', { kind: 'raw', body: '{"decision":true}', contentType: 'text/plain' }, 'pdp-malformed-answer'],
    ['a huge body (an allow padded past 64 KiB, Content-Length)', { kind: 'huge', bytes: 200_000 }, 'pdp-malformed-answer'],
    ['a huge chunked body', { kind: 'huge', bytes: 200_000, chunked: true }, 'pdp-malformed-answer'],
    ['too slow (past the timeout)', { kind: 'slow', ms: 2000 }, 'pdp-timeout'],
    ['headers, then a body that never ends', { kind: 'stall-body' }, 'pdp-timeout'],
  ];
  it.each(cases)('%s → 503', async (_name, behaviour, reason) => {
    resetPdps();
    azPdp.behave(behaviour);
    const res = await send('nc.test', '/docs', 'alice');
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toEqual({ error: 'service unavailable', requestId: res.headers['x-request-id'] });
    expect(logOf(res)).toMatchObject({ decision: 'error', reason });
    expect(stack.upstream.seen).toEqual([]);
    expect(azPdp.calls).toHaveLength(1);
    azPdp.reset();
  });

  it('the PDP is down (nothing listens) → 503 pdp-unavailable', async () => {
    const res = await send('down.test', '/x', 'alice');
    expect(res.status).toBe(503);
    expect(logOf(res)).toMatchObject({ decision: 'error', reason: 'pdp-unavailable' });
    expect(stack.upstream.seen).toEqual([]);
  });

  it('an error is never cached: the next identical request asks again and gets the real answer', async () => {
    resetPdps();
    azPdp.behave({ kind: 'status', status: 500 });
    expect((await send('az.test', '/docs/err-1', 'alice')).status).toBe(503);
    azPdp.behave({ kind: 'decide' });
    expect((await send('az.test', '/docs/err-1', 'alice')).status).toBe(200);
    expect(azPdp.calls).toHaveLength(2);
  });
});

describe('circuit breaker', () => {
  it('opens after 3 failures in a row: fails fast without calling, /readyz 503; closes when the PDP answers again', async () => {
    resetPdps();
    breakerPdp.behave({ kind: 'status', status: 500 });
    for (let i = 0; i < 3; i++) {
      const res = await send('br.test', '/docs', 'alice');
      expect(res.status).toBe(503);
      expect(logOf(res)).toMatchObject({ reason: 'pdp-bad-status' });
    }
    expect(breakerPdp.calls).toHaveLength(3);
    // Open: the PDP is not called at all, and the PDP's recovery is not noticed yet.
    breakerPdp.behave({ kind: 'decide' });
    for (let i = 0; i < 3; i++) {
      const res = await send('br.test', '/docs', 'alice');
      expect(res.status).toBe(503);
      expect(logOf(res)).toMatchObject({ decision: 'error', reason: 'pdp-circuit-open' });
      // The rest of the 1 s cool-down, rounded up: ask again then.
      expect(res.headers['retry-after']).toBe('1');
    }
    expect(breakerPdp.calls).toHaveLength(3);
    expect(stack.upstream.seen).toEqual([]);
    const readyz = await admin('/readyz');
    expect(readyz.status).toBe(503);
    expect(JSON.parse(readyz.body)).toEqual({ status: 'not ready', reason: `pdp circuit open: authzen ${breakerPdp.origin}/access/v1/evaluation` });
    const metrics = (await admin('/metrics')).body;
    expect(metrics).toContain(`ztproxy_pdp_circuit_state{pdp="authzen ${breakerPdp.origin}/access/v1/evaluation"} 2`);
    expect(metrics).toContain(`ztproxy_pdp_requests_total{pdp="authzen ${breakerPdp.origin}/access/v1/evaluation",result="pdp-circuit-open"} 3`);
    // After the cool-down (1s) one trial call goes out; its success closes the breaker.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await admin('/readyz')).status).toBe(200);
    expect((await send('br.test', '/docs', 'alice')).status).toBe(200);
    expect(breakerPdp.calls).toHaveLength(4);
    expect((await send('br.test', '/docs', 'bob')).status).toBe(200);
    expect(breakerPdp.calls).toHaveLength(5);
    expect((await admin('/metrics')).body).toContain(`ztproxy_pdp_circuit_state{pdp="authzen ${breakerPdp.origin}/access/v1/evaluation"} 0`);
    expect(stack.proxy.logs.some((l) => l.msg?.startsWith('PDP circuit open') === true)).toBe(true);
    expect(stack.proxy.logs.some((l) => l.msg?.startsWith('PDP circuit closed') === true)).toBe(true);
  });

  it('a failed trial opens it again for another cool-down', async () => {
    resetPdps();
    breakerPdp.behave({ kind: 'status', status: 500 });
    for (let i = 0; i < 3; i++) expect((await send('br.test', '/docs', 'alice')).status).toBe(503);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await send('br.test', '/docs', 'alice')).status).toBe(503); // the trial, failing
    expect(breakerPdp.calls).toHaveLength(4);
    breakerPdp.behave({ kind: 'decide' });
    const res = await send('br.test', '/docs', 'alice');
    expect(res.status).toBe(503);
    expect(logOf(res)).toMatchObject({ reason: 'pdp-circuit-open' });
    expect(breakerPdp.calls).toHaveLength(4);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await send('br.test', '/docs', 'alice')).status).toBe(200);
  });
});

describe('decision cache', () => {
  it('the same request twice → one PDP call; the second is answered from the cache', async () => {
    resetPdps();
    expect((await send('az.test', '/docs/c-1', 'alice')).status).toBe(200);
    const second = await send('az.test', '/docs/c-1', 'alice');
    expect(second.status).toBe(200);
    expect(azPdp.calls).toHaveLength(1);
    expect(stack.upstream.seen).toHaveLength(2);
    const metrics = (await admin('/metrics')).body;
    expect(metrics).toMatch(new RegExp(`ztproxy_pdp_cache_total\\{pdp="authzen ${azPdp.origin}/access/v1/evaluation",result="hit"\\} [1-9]`));
  });

  it('another user never gets a cached decision: alice allowed, then bob on the same path denied', async () => {
    resetPdps();
    expect((await send('az.test', '/docs/c-2', 'alice')).status).toBe(200);
    expect((await send('az.test', '/docs/c-2', 'bob')).status).toBe(403);
    expect(azPdp.calls).toHaveLength(2);
    expect(stack.upstream.seen).toHaveLength(1);
  });

  it('another method never gets a cached decision: GET allowed, then DELETE denied', async () => {
    resetPdps();
    expect((await send('az.test', '/docs/c-3', 'alice')).status).toBe(200);
    expect((await send('az.test', '/docs/c-3', 'alice', 'DELETE')).status).toBe(403);
    expect(azPdp.calls).toHaveLength(2);
  });

  it('another template parameter never gets a cached decision: /docs/c-4 allowed, then /docs/secret-4 denied', async () => {
    resetPdps();
    expect((await send('az.test', '/docs/c-4', 'alice')).status).toBe(200);
    expect((await send('az.test', '/docs/secret-4', 'alice')).status).toBe(403);
    expect(azPdp.calls).toHaveLength(2);
    expect(stack.upstream.seen.map((r) => r.url)).toEqual(['/docs/c-4']);
  });

  it('a cached deny stays a deny (and is not asked again)', async () => {
    resetPdps();
    expect((await send('az.test', '/docs/c-5', 'bob')).status).toBe(403);
    expect((await send('az.test', '/docs/c-5', 'bob')).status).toBe(403);
    expect(azPdp.calls).toHaveLength(1);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('identical concurrent misses → one PDP call, every request answered', async () => {
    resetPdps();
    azPdp.behave({ kind: 'slow', ms: 300 });
    const results = await Promise.all(Array.from({ length: 6 }, () => send('az.test', '/docs/c-6', 'alice')));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(azPdp.calls).toHaveLength(1);
    expect(stack.upstream.seen).toHaveLength(6);
  });
});
