// A real login stack on loopback for identity tests: the development OpenID Provider
// (oidc-provider), an upstream that records what reaches it, and ztproxy configured as
// the OP's client — plus a cookie-keeping HTTP "browser" that walks the login flow the
// way a browser would (redirects followed by hand, so each hop can be inspected).
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { Agent, fetch } from 'undici';
import { startDevOp, type DevOp } from '../../src/devop/index.ts';
import type { ClientMetadata } from 'oidc-provider';
import { makeTestPki, type TestPki } from './pki.ts';
import { startTestProxy, type TestProxy } from './proxy.ts';
import { startUpstream, type TestUpstream } from './upstream.ts';

export const CLIENT_ID = 'ztproxy-test';
export const CLIENT_SECRET = 'ztproxy-test-secret-0123456789abcdef';
export const SESSION_KEY = 'test-session-key-0123456789abcdefghijklmnop';

/** A port nothing listens on right now (the OP must know the proxy's URL before it starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts ztproxy beside an OP and an upstream already running; if the proxy cannot start,
 * those are closed before the error goes on. `close` stops all three.
 */
export async function startProxyBeside(
  config: Record<string, unknown>,
  others: { close(): Promise<void> }[],
): Promise<{ proxy: TestProxy; closeAll: () => Promise<void> }> {
  const closeOthers = async (): Promise<void> => {
    for (const o of others) await o.close();
  };
  let proxy: TestProxy;
  try {
    proxy = await startTestProxy(config);
  } catch (err) {
    await closeOthers();
    throw err;
  }
  return {
    proxy,
    closeAll: async () => {
      await proxy.close();
      await closeOthers();
    },
  };
}

export interface LoginStack {
  readonly op: DevOp;
  readonly proxy: TestProxy;
  readonly upstream: TestUpstream;
  /** https://127.0.0.1:<port> */
  readonly origin: string;
  /** The throwaway PKI whose server certificate the proxy presents (`pki.ca.certPath` trusts it). */
  readonly pki: TestPki;
  close(): Promise<void>;
}

export interface LoginStackOptions {
  /** Access token lifetime at the OP, seconds (short values exercise refresh). */
  accessTokenTtl?: number;
  /** identity.session overrides. */
  session?: Record<string, unknown>;
  /** identity.oidc overrides. */
  oidc?: Record<string, unknown>;
  /** Routes (upstream URL filled in where `upstream` is missing). Default: one route needing a login. */
  routes?: Record<string, unknown>[];
  /** Extra `identity` keys (e.g. jwt), or a function of the OP's issuer giving them. */
  identity?: Record<string, unknown> | ((opIssuer: string) => Record<string, unknown>);
  /** Register ztproxy as a public client (no secret; the OP then rotates refresh tokens). */
  publicClient?: boolean;
  /** Further top-level config keys (e.g. `lockout`). */
  config?: Record<string, unknown>;
  /** Further clients registered at the OP (e.g. the public CLI client). */
  clients?: ClientMetadata[];
}

export async function startLoginStack(opts: LoginStackOptions = {}): Promise<LoginStack> {
  const pki = await makeTestPki();
  const port = await freePort();
  const origin = `https://127.0.0.1:${port}`;
  const upstream = await startUpstream();
  const op = await startDevOp({
    accessTokenTtl: opts.accessTokenTtl,
    loopbackCa: pki.ca.certPem,
    clients: [
      {
        client_id: CLIENT_ID,
        ...(opts.publicClient ? { token_endpoint_auth_method: 'none' } : { client_secret: CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_basic' }),
        redirect_uris: [`${origin}/.ztproxy/callback`, `https://localhost:${port}/.ztproxy/callback`],
        post_logout_redirect_uris: [`${origin}/`, `https://localhost:${port}/`],
        backchannel_logout_uri: `${origin}/.ztproxy/backchannel-logout`,
        backchannel_logout_session_required: true,
      },
      ...(opts.clients ?? []),
    ],
  });
  const routes = (opts.routes ?? [{ name: 'app', policy: { allow: { authenticated: true } } }]).map((r) => ({ upstream: upstream.url, ...r }));
  const { proxy, closeAll } = await startProxyBeside(
    {
      listen: { address: `127.0.0.1:${port}`, tls: { cert: pki.server.certPath, key: pki.server.keyPath } },
      identity: {
        oidc: {
          issuer: op.issuer,
          clientId: CLIENT_ID,
          ...(opts.publicClient ? {} : { clientSecret: CLIENT_SECRET }),
          scopes: ['openid', 'email', 'profile', 'groups'],
          postLogoutRedirectUri: `${origin}/`,
          ...opts.oidc,
        },
        session: { keys: [SESSION_KEY], ...opts.session },
        ...(typeof opts.identity === 'function' ? opts.identity(op.issuer) : opts.identity),
      },
      routes,
      ...opts.config,
    },
    [op, upstream],
  );
  return { op, proxy, upstream, origin, pki, close: closeAll };
}

/**
 * One login stack for a test file: started before all tests, closed after, its upstream's
 * record cleared before each test. `set` receives it (`useLoginStack({}, (s) => (stack = s))`).
 */
export function useLoginStack(opts: LoginStackOptions, set: (stack: LoginStack) => void): void {
  let current: LoginStack | undefined;
  beforeAll(async () => {
    current = await startLoginStack(opts);
    set(current);
  });
  afterAll(async () => {
    await current?.close();
  });
  beforeEach(() => current?.upstream.reset());
}

/** An `identity.oidc` as the schema outputs it, for unit tests that build a SessionManager. */
export const UNIT_OIDC_CONFIG = Object.freeze({
  issuer: 'https://idp.example.com',
  clientId: 'ztproxy',
  clientSecret: undefined,
  scopes: ['openid'],
  postLogoutRedirectUri: undefined,
  userinfo: false,
  claims: [] as string[],
  groupsClaim: 'groups',
  timeout: 5000,
});

const insecure = new Agent({ connect: { rejectUnauthorized: false } });

export interface CookieInfo {
  readonly value: string;
  /** The whole Set-Cookie line that set it (for attribute checks). */
  readonly line: string;
}

/** A minimal browser: one cookie jar for every origin on loopback, redirects by hand. */
export class HttpBrowser {
  readonly cookies = new Map<string, CookieInfo>();
  /** Every Set-Cookie line received, in order. */
  readonly setCookieLines: string[] = [];

  async request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'text/html', ...init.headers };
    if (this.cookies.size > 0 && headers['cookie'] === undefined) {
      headers['cookie'] = [...this.cookies].map(([k, v]) => `${k}=${v.value}`).join('; ');
    }
    const res = (await fetch(url, { method: init.method ?? 'GET', headers, body: init.body, redirect: 'manual', dispatcher: insecure })) as unknown as Response;
    for (const line of res.headers.getSetCookie()) {
      this.setCookieLines.push(line);
      const pair = line.split(';', 1)[0] ?? '';
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/max-age=0/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, { value, line });
    }
    return res;
  }

  get(url: string, headers?: Record<string, string>): Promise<Response> {
    return this.request(url, { headers });
  }

  postForm(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
  }

  /** A copy with the same cookies (another tab, or an attacker who stole them). */
  clone(): HttpBrowser {
    const b = new HttpBrowser();
    for (const [k, v] of this.cookies) b.cookies.set(k, v);
    return b;
  }
}

export function locationOf(res: Response, base: string): URL {
  const loc = res.headers.get('location');
  if (loc === null) throw new Error(`status ${res.status} has no Location`);
  return new URL(loc, base);
}

/**
 * From a response that sends the browser to the OP's authorization endpoint: open the
 * login form, submit the credentials and follow the OP's redirects until one leaves the
 * OP. Returns that URL (the proxy's callback, with code, state and iss) without visiting it.
 */
export async function signInAtOp(browser: HttpBrowser, stack: LoginStack, toOp: Response, username: string, password: string): Promise<URL> {
  let res = toOp;
  let url = locationOf(res, stack.origin);
  for (let hops = 0; hops < 10 && url.origin === stack.op.issuer; hops++) {
    res = await browser.get(url.href);
    if (res.status === 200) {
      const html = await res.text();
      const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
      if (action === undefined) throw new Error(`no login form at ${url.href}`);
      res = await browser.postForm(new URL(action, stack.op.issuer).href, { username, password });
    }
    url = locationOf(res, stack.op.issuer);
  }
  if (url.origin === stack.op.issuer) throw new Error('the OP did not send the browser back');
  return url;
}

/** A full login through the proxy starting at `path`; returns the final response (the redirect back to `path`). */
export async function loginThroughProxy(
  browser: HttpBrowser,
  stack: LoginStack,
  path = '/',
  username = 'alice',
  password = 'alice-dev-password',
): Promise<Response> {
  const first = await browser.get(`${stack.origin}${path}`);
  if (first.status !== 302) throw new Error(`expected a login redirect from ${path}, got ${first.status}`);
  const login = await browser.get(locationOf(first, stack.origin).href);
  if (login.status !== 302) throw new Error(`expected /.ztproxy/login to redirect to the OP, got ${login.status}: ${await login.text()}`);
  const callback = await signInAtOp(browser, stack, login, username, password);
  return browser.get(callback.href);
}
