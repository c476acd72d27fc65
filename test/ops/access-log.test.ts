// The access log (SPEC §8) over real sockets: exactly one JSON line per request, keyed by
// the X-Request-Id the client got, with route, method, host, the path without its query,
// status, client IP, decision, reason (and the deciding rule) and stage durations — and
// never a token, cookie or secret, whichever way the request ended.
import { describe, expect, it } from 'vitest';
import { get, openRoute, rawRequest, type LogLine } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

/** Credentials in every form a client sends them; none may reach a log line. */
const SECRET_HEADERS = {
  authorization: 'Bearer secret-bearer-token',
  cookie: 's=secret-session; __Host-ztproxy=secret-cookie',
  'x-device-posture': 'secret-posture-assertion',
  'proxy-authorization': 'Basic c2VjcmV0OnNlY3JldA==secret',
};

const stack = useProxyStack(({ upstream }) => ({
  routes: [
    openRoute(upstream.url, { name: 'app', match: { host: 'localhost' } }),
    {
      name: 'guarded',
      match: { host: 'guarded.test' },
      upstream: upstream.url,
      policy: { allow: { accept: true }, deny: { path: { prefix: '/admin' } } },
    },
    { name: 'closed', match: { host: 'closed.test' }, upstream: upstream.url, policy: { allow: { method: ['POST'] } } },
    openRoute('http://127.0.0.1:1', { name: 'down', match: { host: 'down.test' } }),
  ],
}));

const requestLines = (): LogLine[] => stack.proxy.logs.filter((l) => l.msg === 'request');

/** The single access-log line for a request id (waits for it; fails on two). */
async function lineFor(requestId: string): Promise<LogLine> {
  const end = Date.now() + 2000;
  for (;;) {
    const lines = requestLines().filter((l) => l.requestId === requestId);
    if (lines.length > 0) {
      // Give a duplicate a moment to show up before asserting there is none.
      await new Promise((r) => setTimeout(r, 50));
      const again = requestLines().filter((l) => l.requestId === requestId);
      expect(again).toHaveLength(1);
      return again[0]!;
    }
    if (Date.now() > end) throw new Error(`no access-log line with requestId ${requestId}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function requestId(headers: Record<string, string | string[] | undefined>): string {
  const id = headers['x-request-id'];
  expect(typeof id).toBe('string');
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return id as string;
}

describe('access log', () => {
  it('logs a forwarded request once, with the request id the client saw and the path without its query', async () => {
    const res = await get(stack.proxy.port, '/items/42?token=secret-query-token&q=1', { headers: SECRET_HEADERS });
    expect(res.status).toBe(200);
    const line = await lineFor(requestId(res.headers));
    expect(line).toMatchObject({
      level: 30,
      route: 'app',
      method: 'GET',
      host: 'localhost',
      path: '/items/42',
      status: 200,
      clientIp: '127.0.0.1',
      decision: 'allow',
      reason: 'policy-allow',
      rule: 'allow.accept',
    });
    const d = line.durations as Record<string, unknown>;
    for (const k of ['total', 'policy', 'upstream'] as const) {
      expect([k, typeof d[k]]).toEqual([k, 'number']);
      expect(d[k] as number).toBeGreaterThanOrEqual(0);
    }
    expect(d.total as number).toBeGreaterThanOrEqual(d.upstream as number);
    expect(typeof line.time).toBe('number');
    // The upstream did get the query: only the log leaves it out.
    expect(stack.upstream.last('/items')!.url).toBe('/items/42?token=secret-query-token&q=1');
  });

  it('logs the canonical path (what policy saw), not the raw one', async () => {
    const res = await get(stack.proxy.port, '/a/./b/../c//d?x=secret-x');
    expect(res.status).toBe(200);
    expect(await lineFor(requestId(res.headers))).toMatchObject({ path: '/a/c/d', status: 200 });
  });

  it('no route: 404 with reason no-route, no decision, no upstream time', async () => {
    stack.upstream.reset();
    const res = await get(stack.proxy.port, '/x?token=secret-404', { host: 'nowhere.test', headers: SECRET_HEADERS });
    expect(res.status).toBe(404);
    const line = await lineFor(requestId(res.headers));
    expect(line).toMatchObject({ method: 'GET', host: 'nowhere.test', path: '/x', status: 404, decision: 'none', reason: 'no-route', clientIp: '127.0.0.1' });
    expect(line.route).toBeUndefined();
    expect((line.durations as Record<string, unknown>).upstream).toBeUndefined();
    expect(typeof (line.durations as Record<string, unknown>).total).toBe('number');
    expect(stack.upstream.seen).toEqual([]);
  });

  it('policy deny: 403 with reason policy-deny and the deciding rule; policy timed, upstream not', async () => {
    stack.upstream.reset();
    const res = await get(stack.proxy.port, '/admin/users?token=secret-403', { host: 'guarded.test', headers: SECRET_HEADERS });
    expect(res.status).toBe(403);
    const line = await lineFor(requestId(res.headers));
    expect(line).toMatchObject({ route: 'guarded', host: 'guarded.test', path: '/admin/users', status: 403, decision: 'deny', reason: 'policy-deny', rule: 'deny.path' });
    const d = line.durations as Record<string, unknown>;
    expect(typeof d.policy).toBe('number');
    expect(d.upstream).toBeUndefined();
    expect(stack.upstream.seen).toEqual([]);
  });

  it('no allow rule matched: 403 with reason no-allow-matched', async () => {
    const res = await get(stack.proxy.port, '/x', { host: 'closed.test', method: 'DELETE' });
    expect(res.status).toBe(403);
    expect(await lineFor(requestId(res.headers))).toMatchObject({ route: 'closed', method: 'DELETE', status: 403, decision: 'deny', reason: 'no-allow-matched' });
  });

  it('upstream down: 502 with an upstream reason and the decision that let it through', async () => {
    const res = await get(stack.proxy.port, '/x?token=secret-502', { host: 'down.test', headers: SECRET_HEADERS });
    expect(res.status).toBe(502);
    expect(await lineFor(requestId(res.headers))).toMatchObject({ route: 'down', status: 502, decision: 'allow', reason: 'upstream-connect-refused', path: '/x' });
  });

  it('a request refused by sanitation (400) is logged once with its reason', async () => {
    const res = await rawRequest(stack.proxy.port, 'GET /a%2Fb?token=secret-400 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer secret-400-bearer\r\n\r\n');
    expect(res.status).toBe(400);
    const id = /\r\nx-request-id: ([0-9a-f-]{36})\r\n/i.exec(res.text)?.[1];
    expect(id).toBeDefined();
    const line = await lineFor(id!);
    expect(line).toMatchObject({ status: 400, decision: 'none' });
    expect(typeof line.reason).toBe('string');
    expect(line.reason).not.toBe('');
  });

  it('a request the HTTP parser refuses is logged once too, without its bytes', async () => {
    const res = await rawRequest(stack.proxy.port, 'GET /x?token=secret-parser HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer secret-parser\r\nBad Header: secret\r\n\r\n');
    expect(res.status).toBe(400);
    const id = /\r\nx-request-id: ([0-9a-f-]{36})\r\n/i.exec(res.text)?.[1];
    expect(id).toBeDefined();
    const line = await lineFor(id!);
    expect(line).toMatchObject({ status: 400, decision: 'none' });
    expect(String(line.reason)).toMatch(/^parser-/);
  });

  it('a POST with a body logs method and status; the body is not logged', async () => {
    const res = await get(stack.proxy.port, '/form?token=secret-post', { method: 'POST', body: 'password=secret-password', headers: { ...SECRET_HEADERS, 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(200);
    expect(await lineFor(requestId(res.headers))).toMatchObject({ method: 'POST', path: '/form', status: 200 });
  });

  it('keep-alive: several requests on one connection give one line each', async () => {
    const before = requestLines().length;
    const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: localhost\r\nCookie: s=secret-ka\r\n\r\n`;
    const res = await rawRequest(stack.proxy.port, req('/ka/1') + req('/ka/2?token=secret-ka') + req('/ka/3').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    const ids = [...res.text.matchAll(/\r\nx-request-id: ([0-9a-f-]{36})\r\n/gi)].map((m) => m[1]!);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    const lines = await Promise.all(ids.map(lineFor));
    expect(lines.map((l) => [l.path, l.status])).toEqual([['/ka/1', 200], ['/ka/2', 200], ['/ka/3', 200]]);
    expect(requestLines().length - before).toBe(3);
  });

  it('every request made so far has exactly one line, and no request line lacks an id', () => {
    const lines = requestLines();
    const ids = lines.map((l) => l.requestId);
    expect(ids.every((id) => typeof id === 'string' && id !== '')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('no token, cookie, posture assertion, password or query secret appears in any log line', () => {
    expect(requestLines().length).toBeGreaterThanOrEqual(12);
    const all = JSON.stringify(stack.proxy.logs);
    expect(all).not.toContain('secret');
    expect(all).not.toContain('c2VjcmV0');
    expect(all).not.toContain('token=');
    expect(all).not.toContain('Bearer');
  });
});
