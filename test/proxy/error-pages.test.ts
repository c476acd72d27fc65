// Pages for people (issue #4): a refused browser navigation gets a small HTML page with
// the same status, a strict CSP and the request id; API clients, fetch/XHR and upgrades
// keep the JSON body. Every case goes over a real TLS socket to a real proxy, and every
// refusal before the forward stage is checked to have reached no upstream.
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_LOG_REASON_SAMPLES, NAVIGATION, expectJsonError, expectPage } from '../helpers/error-pages.ts';
import { accessClaims, makeKey, mint, writeJwksFile, type TempJwksFile, type TestKey } from '../helpers/jwt.ts';
import { get, rawRequest, startTestProxy, type TestProxy } from '../helpers/proxy.ts';
import { serverTls, useProxyStack } from '../helpers/stack.ts';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'https://api.test';
const HOST = 'app.test';


let key: TestKey;
let jwks: TempJwksFile;
/** An issuer whose JWKS URL answers nothing: its tokens get 503 (fail closed). */
let deadIssuer: string;
let deadPort: number;

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function token(claims: Record<string, unknown> = {}, issuer = ISSUER): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return mint(key, accessClaims(now, { aud: AUDIENCE, groups: ['sales'], email: 'alice@example.com', ...claims }, issuer));
}

function routes(upstreamUrl: string, deadUrl: string): Record<string, unknown>[] {
  const route = (name: string, pathPrefix: string, policy: unknown, extra: Record<string, unknown> = {}) => ({
    name,
    match: { host: HOST, pathPrefix },
    upstream: upstreamUrl,
    policy,
    ...extra,
  });
  return [
    route('open', '/open', { allow: { accept: true } }),
    route('staff', '/staff', { allow: { and: [{ authenticated: true }, { groups: { has: 'engineering' } }] } }),
    route('down', '/down', { allow: { accept: true } }, { upstream: deadUrl }),
    route('slow', '/slow', { allow: { accept: true } }, { timeouts: { headers: '300ms' } }),
  ];
}

/** The proxy's config; read once the stack has its PKI and upstream. */
function proxyConfig(errorPages: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { tls: serverTls(stack.pki) },
    identity: {
      jwt: [
        { issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] },
        { issuer: deadIssuer, audience: AUDIENCE, jwksUri: `${deadIssuer}/jwks`, algorithms: ['ES256'] },
      ],
    },
    errorPages,
    routes: routes(stack.upstream.url, `http://127.0.0.1:${deadPort}`),
  };
}

const stack = useProxyStack(async ({ onClose }) => {
  key = await makeKey('ES256');
  jwks = await writeJwksFile({ keys: [key.publicJwk] });
  onClose(() => jwks.cleanup());
  deadPort = await closedPort();
  deadIssuer = `http://127.0.0.1:${deadPort}`;
  return proxyConfig();
});

interface Case {
  readonly name: string;
  readonly status: number;
  readonly path: string;
  readonly headers?: () => Promise<Record<string, string>>;
  /** The access log's reason, which the page must not show. */
  readonly reason: string;
  /** Words the page must say. */
  readonly says: RegExp;
  /** Refused before the forward stage: nothing may reach the upstream. */
  readonly forwarded?: boolean;
}

const CASES: readonly Case[] = [
  { name: 'malformed path', status: 400, path: '/open/a%2Fb', reason: 'encoded-slash', says: /could not be accepted/ },
  { name: 'no credentials', status: 401, path: '/staff/x', reason: 'authentication-required', says: /credentials/ },
  {
    name: 'invalid credentials',
    status: 401,
    path: '/staff/x',
    headers: async () => ({ authorization: `Bearer ${(await token()).slice(0, -4)}AAAA` }),
    reason: 'token-invalid-signature',
    says: /credentials sent with this request were not accepted/,
  },
  {
    name: 'policy says no',
    status: 403,
    path: '/staff/x',
    headers: async () => ({ authorization: `Bearer ${await token()}` }),
    reason: 'no-allow-matched',
    says: /not allowed/,
  },
  { name: 'no route', status: 404, path: '/nothing-here', reason: 'no-route', says: /nothing at this address/ },
  { name: 'upstream refused', status: 502, path: '/down/x', reason: 'upstream-connect-refused', says: /could not be reached/ },
  {
    name: 'JWKS unreachable (fail closed)',
    status: 503,
    path: '/staff/x',
    headers: async () => ({ authorization: `Bearer ${await token({}, deadIssuer)}` }),
    reason: 'jwks-unavailable',
    says: /could not be checked/,
  },
  { name: 'upstream too slow', status: 504, path: '/slow?ms=3000', reason: 'upstream-headers-timeout', says: /did not answer in time/, forwarded: true },
];

describe('a browser navigation gets a page', () => {
  it.each(CASES)('$status $name', async (c) => {
    const extra = c.headers ? await c.headers() : {};
    const res = await get(stack.proxy.port, c.path, { host: HOST, headers: { ...NAVIGATION, ...extra } });
    const page = expectPage(res, c.status);
    expect(page).toMatch(c.says);
    // What the access log says stays there.
    const line = stack.proxy.logs.find((l) => l.msg === 'request' && l.requestId === res.headers['x-request-id']);
    expect(line?.['reason']).toBe(c.reason);
    expect(page).not.toContain(c.reason);
    for (const internal of ACCESS_LOG_REASON_SAMPLES) expect(page).not.toContain(internal);
    if (c.forwarded !== true && c.status !== 502) expect(stack.upstream.seen).toEqual([]);
  });

  it('the same refusals keep the JSON body for an API client (Accept: application/json)', async () => {
    for (const c of CASES) {
      const extra = c.headers ? await c.headers() : {};
      const res = await get(stack.proxy.port, c.path, { host: HOST, headers: { accept: 'application/json', ...extra } });
      expectJsonError(res, c.status);
    }
  });

  it.each([
    ['fetch() from a page (Sec-Fetch-Mode: cors)', { accept: 'text/html', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' }],
    ['a same-origin XHR asking for HTML', { accept: 'text/html', 'sec-fetch-mode': 'same-origin', 'sec-fetch-dest': 'empty' }],
    ['an iframe (frame-ancestors forbids showing it anyway)', { ...NAVIGATION, 'sec-fetch-dest': 'iframe' }],
    ['an <img> or other subresource', { accept: 'text/html,*/*', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' }],
    ['curl (Accept: */*)', { accept: '*/*' }],
    ['no Accept at all', {}],
    ['a client preferring JSON', { accept: 'application/json, text/html;q=0.5' }],
    ['a client naming JSON and HTML equally', { accept: 'text/html, application/json' }],
    ['text/html refused (q=0)', { accept: 'text/html;q=0, */*' }],
    ['a q value that is not a number', { accept: 'text/html;q=abc' }],
    ['two Sec-Fetch-Mode values', { ...NAVIGATION, 'sec-fetch-mode': ['navigate', 'cors'] }],
  ])('%s keeps JSON', async (_name, headers) => {
    const res = await get(stack.proxy.port, '/nothing-here', { host: HOST, headers });
    expectJsonError(res, 404);
  });

  it('a browser without Fetch Metadata (older Safari, a test client) still gets the page', async () => {
    const res = await get(stack.proxy.port, '/nothing-here', { host: HOST, headers: { accept: 'text/html' } });
    expectPage(res, 404);
  });

  it('a form POST navigation gets the page; PUT/DELETE (never a navigation) keep JSON', async () => {
    const post = await get(stack.proxy.port, '/staff/x', {
      host: HOST,
      method: 'POST',
      headers: { ...NAVIGATION, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
    });
    expectPage(post, 401);
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      expectJsonError(await get(stack.proxy.port, '/staff/x', { host: HOST, method, headers: NAVIGATION }), 401);
    }
    expect(stack.upstream.seen).toEqual([]);
  });

  it('HEAD gets the page\'s headers only', async () => {
    const head = await get(stack.proxy.port, '/nothing-here', { host: HOST, method: 'HEAD', headers: NAVIGATION });
    const full = await get(stack.proxy.port, '/nothing-here', { host: HOST, headers: NAVIGATION });
    expect(head.status).toBe(404);
    expect(head.body).toBe('');
    expect(head.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(head.headers['content-security-policy']).toBe(full.headers['content-security-policy']);
    // The same page but for the request id (one more or fewer digit in nothing: UUIDs).
    expect(head.headers['content-length']).toBe(full.headers['content-length']);
  });

  it('the CSP style hash is the hash of the page\'s one inline style', async () => {
    const res = await get(stack.proxy.port, '/nothing-here', { host: HOST, headers: NAVIGATION });
    const style = /<style>([^<]*)<\/style>/.exec(res.body)?.[1];
    expect(style).toBeDefined();
    const hash = createHash('sha256').update(style!).digest('base64');
    expect(res.headers['content-security-policy']).toBe(`default-src 'none'; style-src 'sha256-${hash}'; frame-ancestors 'none'; base-uri 'none'`);
    expect(res.body.match(/<style/g)).toHaveLength(1);
    expect(res.body).not.toMatch(/<script|\sstyle=|\son[a-z]+=/i);
  });

  it('an anonymous page offers no sign-out and no sign-in when no login is configured', async () => {
    const res = await get(stack.proxy.port, '/staff/x', { host: HOST, headers: NAVIGATION });
    const page = expectPage(res, 401);
    expect(page).not.toMatch(/Sign out|Sign in|<form/);
  });

  it('a bearer subject is named, escaped, without a sign-out form (a token cannot be signed out)', async () => {
    const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>'`;
    const res = await get(stack.proxy.port, '/staff/x', { host: HOST, headers: { ...NAVIGATION, authorization: `Bearer ${await token({ sub: evil, email: undefined, name: evil })}` } });
    const page = expectPage(res, 403);
    expect(page).not.toContain('<script>');
    expect(page).not.toContain('<img');
    expect(page).toContain('&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(page).not.toMatch(/<form/);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a name with bidi overrides or control characters is neutralised, a long one is cut', async () => {
    const res = await get(stack.proxy.port, '/staff/x', {
      host: HOST,
      headers: { ...NAVIGATION, authorization: `Bearer ${await token({ email: undefined, name: `admin\u202Egnp.exe\u0007${'x'.repeat(5000)}` })}` },
    });
    const page = expectPage(res, 403);
    expect(page).not.toContain('\u202E');
    expect(page).not.toContain('\u0007');
    expect(page).toContain('admin\uFFFDgnp.exe\uFFFD');
    expect(page).toContain('\u2026');
  });

  it('an upgrade (WebSocket) refused keeps its JSON answer on the socket', async () => {
    const res = await rawRequest(
      stack.proxy.port,
      `GET /nothing-here HTTP/1.1\r\nHost: ${HOST}\r\nAccept: text/html\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\n` +
        'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(res.status).toBe(404);
    expect(res.text).toMatch(/Content-Type: application\/json/i);
    expect(res.text).not.toContain('<html');
  });

  it('a parser-level refusal (bad header bytes) stays JSON: it happens before any header is read', async () => {
    const res = await rawRequest(stack.proxy.port, `GET / HTTP/1.1\r\nHost: ${HOST}\r\nAccept: text/html\r\nX-Bad: a\x01b\r\n\r\n`);
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/Content-Type: application\/json/i);
  });
});

describe('errorPages.showReasons', () => {
  let debugProxy: TestProxy;
  beforeAll(async () => {
    debugProxy = await startTestProxy(proxyConfig({ showReasons: true }));
  });
  afterAll(() => debugProxy?.close());

  it('shows the access log reason, escaped, when on (and still keeps JSON for API clients)', async () => {
    const page = expectPage(await get(debugProxy.port, '/nothing-here', { host: HOST, headers: NAVIGATION }), 404);
    expect(page).toContain('Reason: <code>no-route</code>');
    const json = expectJsonError(await get(debugProxy.port, '/nothing-here', { host: HOST, headers: { accept: 'application/json' } }), 404);
    expect(JSON.stringify(json)).not.toContain('no-route');
  });

  it('is off by default', async () => {
    const page = expectPage(await get(stack.proxy.port, '/nothing-here', { host: HOST, headers: NAVIGATION }), 404);
    expect(page).not.toContain('Reason');
  });
});
