// Attacks on `ztproxy login`, each sent over a real socket to the CLI's loopback
// callback server or through what the proxy and the OP publish: a callback with a wrong
// or missing state (login CSRF), from another Host (DNS rebinding), path or method; a
// replayed callback; an OP error; a mix-up (RFC 9207 `iss` of another OP); a proxy whose
// metadata names an issuer the discovery document disagrees with; metadata that names
// a plain-http issuer. None of them finishes a login or stores a token.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readdir } from 'node:fs/promises';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { API_RESOURCE, CLI_CLIENT_ID, runCli, signInForCallback, startCliStack, tempConfigDir, visit, type CliRun } from '../helpers/cli-login.ts';
import type { LoginStack } from '../helpers/oidc.ts';
import { get, startTestProxy } from '../helpers/proxy.ts';

let stack: LoginStack;
const servers: Server[] = [];
beforeAll(async () => {
  stack = await startCliStack();
});
beforeEach(() => stack?.upstream.reset());
afterAll(async () => {
  for (const s of servers) s.close();
  await stack?.close();
});

function login(dir: string, via = stack.origin): CliRun {
  return runCli(['login', '--via', via, '--ca', stack.pki.ca.certPath, '--no-browser', '--timeout', '60s'], dir);
}

async function storedFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.json'));
}

/** A GET sent byte for byte, with the Host header given (fetch would set its own). */
function rawStatus(url: URL, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.end(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    let text = '';
    socket.setEncoding('utf8').on('data', (c: string) => (text += c));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}

function listenOn(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('the loopback callback server', () => {
  it('refuses wrong or missing state, another Host, path or method — and the login goes on to complete', async () => {
    const dir = await tempConfigDir();
    const run = login(dir);
    const authUrl = await run.authUrl;
    const redirect = new URL(authUrl.searchParams.get('redirect_uri')!);
    expect(redirect.hostname).toBe('127.0.0.1');
    expect(redirect.port).not.toBe('');
    expect(authUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authUrl.searchParams.get('nonce')).toMatch(/^[\w-]{20,}$/);
    expect(authUrl.searchParams.get('resource')).toBe(API_RESOURCE);
    const callback = await signInForCallback(stack, authUrl);
    const state = callback.searchParams.get('state')!;

    const wrongState = new URL(callback);
    wrongState.searchParams.set('state', `${state.slice(0, -1)}x`);
    const noState = new URL(callback);
    noState.searchParams.delete('state');
    expect((await visit(wrongState)).status).toBe(400);
    expect((await visit(noState)).status).toBe(400);
    // A page on attacker.example that resolves to 127.0.0.1 (DNS rebinding) sends its own Host.
    expect(await rawStatus(callback, `attacker.example:${redirect.port}`)).toBe(400);
    expect((await visit(new URL(`/other${callback.search}`, callback))).status).toBe(404);
    expect((await visit(callback, {}, 'POST')).status).toBe(405);
    expect(await storedFiles(dir)).toEqual([]);
    expect(run.stderr()).toContain('ignored a callback that is not for this login (wrong or missing state)');

    const page = await visit(callback);
    expect(page.status).toBe(200);
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(await storedFiles(dir)).toHaveLength(1);
  });

  it('answers a replayed callback once: the second is refused while the first finishes', async () => {
    const dir = await tempConfigDir();
    const run = login(dir);
    const callback = await signInForCallback(stack, await run.authUrl);
    const codes = stack.op.grants['authorization_code'] ?? 0;
    const [a, b] = await Promise.all([visit(callback), visit(callback)]);
    expect([a.status, b.status].sort()).toEqual([200, 400]);
    expect([a.body, b.body].join()).toContain('already been answered');
    expect((await run.done).code).toBe(0);
    expect(stack.op.grants['authorization_code'] ?? 0).toBe(codes + 1);
  });

  it("ends the login with the OP's error= when the state is right", async () => {
    const dir = await tempConfigDir();
    const run = login(dir);
    const authUrl = await run.authUrl;
    const denied = new URL(authUrl.searchParams.get('redirect_uri')!);
    denied.search = new URLSearchParams({ error: 'access_denied', error_description: 'user said no\x1b[31m', state: authUrl.searchParams.get('state')!, iss: stack.op.issuer }).toString();
    expect((await visit(denied)).status).toBe(400);
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ztproxy login: login failed: access_denied: user said no');
    expect(r.stderr).not.toContain('\x1b');
    expect(await storedFiles(dir)).toEqual([]);
  });

  it('refuses a mix-up: the right state and code with another issuer as iss (RFC 9207); the code is never redeemed', async () => {
    const dir = await tempConfigDir();
    const run = login(dir);
    const callback = await signInForCallback(stack, await run.authUrl);
    expect(callback.searchParams.get('iss')).toBe(stack.op.issuer);
    const codes = stack.op.grants['authorization_code'] ?? 0;
    callback.searchParams.set('iss', 'https://attacker.example');
    expect((await visit(callback)).status).toBe(400);
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ztproxy login: login failed: .*unexpected "iss"/m);
    expect(stack.op.grants['authorization_code'] ?? 0).toBe(codes);
    expect(await storedFiles(dir)).toEqual([]);
  });
});

describe('what the proxy publishes', () => {
  it('a proxy without identity.cli answers 404, and login says it offers no CLI login', async () => {
    const proxy = await startTestProxy({
      listen: { tls: { cert: stack.pki.server.certPath, key: stack.pki.server.keyPath } },
      routes: [{ name: 'all', upstream: stack.upstream.url, policy: { allow: { accept: true } } }],
    });
    try {
      for (const method of ['GET', 'POST']) {
        expect((await get(proxy.port, '/.well-known/ztproxy/cli-configuration', { method })).status).toBe(404);
      }
      expect(stack.upstream.seen).toEqual([]);
      const r = await login(await tempConfigDir(), `https://127.0.0.1:${proxy.port}`).done;
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`ztproxy login: https://127.0.0.1:${proxy.port} does not offer CLI login (its config has no identity.cli)\n`);
    } finally {
      await proxy.close();
    }
  });

  it("refuses an issuer whose discovery document names another issuer (the proxy's metadata cannot send the login elsewhere)", async () => {
    // An "issuer" that serves the real OP's discovery document (issuer: the real OP).
    const doc = await (await fetch(`${stack.op.issuer}/.well-known/openid-configuration`)).text();
    const fakePort = await listenOn(createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(doc)));
    const fakeIssuer = `http://127.0.0.1:${fakePort}`;
    const proxy = await startTestProxy({
      listen: { tls: { cert: stack.pki.server.certPath, key: stack.pki.server.keyPath } },
      identity: {
        cli: { issuer: fakeIssuer, clientId: CLI_CLIENT_ID },
        jwt: [{ issuer: fakeIssuer, audience: API_RESOURCE, jwksUri: `${stack.op.issuer}/jwks`, algorithms: ['ES256'] }],
      },
      routes: [{ name: 'all', upstream: stack.upstream.url, policy: { allow: { accept: true } } }],
    });
    try {
      const r = await login(await tempConfigDir(), `https://127.0.0.1:${proxy.port}`).done;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^ztproxy login: OpenID Provider discovery at ${fakeIssuer} failed: .*issuer`));
      expect(r.stderr).not.toContain('open this URL');
    } finally {
      await proxy.close();
    }
  });

  it('refuses metadata naming a plain-http issuer, missing a client id, or too large', async () => {
    let body = '';
    const port = await listenOn(
      createHttpsServer({ cert: stack.pki.server.certPem, key: stack.pki.server.keyPem }, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body)),
    );
    body = JSON.stringify({ issuer: 'http://op.attacker.example', client_id: 'x', scopes: ['openid'] });
    let r = await login(await tempConfigDir(), `https://127.0.0.1:${port}`).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the CLI metadata's issuer http:\/\/op\.attacker\.example must use https/);
    body = JSON.stringify({ issuer: stack.op.issuer, scopes: ['openid'] });
    r = await login(await tempConfigDir(), `https://127.0.0.1:${port}`).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the CLI metadata's client_id is missing");
    body = JSON.stringify({ issuer: stack.op.issuer, client_id: 'x', scopes: ['openid'], padding: 'x'.repeat(200_000) });
    r = await login(await tempConfigDir(), `https://127.0.0.1:${port}`).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the CLI metadata is larger than 65536 bytes');
  });
});
