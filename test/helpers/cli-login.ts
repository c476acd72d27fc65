// `ztproxy login` against a real stack: the development OP with a public native CLI
// client, ztproxy publishing identity.cli and accepting the OP's API-resource access
// tokens through identity.jwt, and the real `ztproxy` command run as a child process with
// its own config dir. The OP's login form is walked by an HTTP client (test/cli) or by
// headless Chromium (test/browser).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import { cliClient } from '../../src/devop/index.ts';
import { HttpBrowser, locationOf, startLoginStack, type LoginStack, type LoginStackOptions } from './oidc.ts';

export const CLI_CLIENT_ID = 'ztproxy-cli-test';
export const API_RESOURCE = 'urn:ztproxy:api';

/** identity.cli + the identity.jwt entry that accepts the CLI's tokens, for an OP at `issuer`. */
export function cliIdentity(issuer: string, cli: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cli: { clientId: CLI_CLIENT_ID, resource: API_RESOURCE, scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'api'], ...cli },
    jwt: [{ issuer, audience: API_RESOURCE, jwksUri: `${issuer}/jwks`, algorithms: ['ES256'], requireTyp: 'at+jwt' }],
  };
}

/** A login stack whose OP also knows the CLI client, and whose /api route needs group engineering. */
export function startCliStack(opts: LoginStackOptions = {}): Promise<LoginStack> {
  return startLoginStack({
    clients: [cliClient(CLI_CLIENT_ID)],
    identity: (issuer) => cliIdentity(issuer),
    routes: [
      { name: 'api', match: { pathPrefix: '/api' }, policy: { allow: { groups: { has: 'engineering' } } } },
      { name: 'app', policy: { allow: { authenticated: true } } },
    ],
    ...opts,
  });
}

export function tempConfigDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'ztproxy-cfg-'));
}

export interface CliRun {
  readonly child: ChildProcess;
  /** Resolves with the authorization URL the command prints (it runs with --no-browser). */
  readonly authUrl: Promise<URL>;
  /** Resolves when the command exits. */
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  stdout(): string;
  stderr(): string;
}

/** Runs `ztproxy <args>` with ZTPROXY_CONFIG_DIR=`dir` (and no $BROWSER). */
export function runCli(args: string[], dir: string, env: Record<string, string> = {}): CliRun {
  const { BROWSER: _browser, ...base } = process.env;
  const child = spawn(process.execPath, ['bin/ztproxy.js', ...args], {
    env: { ...base, ZTPROXY_CONFIG_DIR: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  let onUrl: ((u: URL) => void) | undefined;
  const authUrl = new Promise<URL>((resolve) => (onUrl = resolve));
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    err += c;
    const m = /^ {2}(https?:\/\/\S+)$/m.exec(err);
    if (m?.[1] !== undefined) onUrl?.(new URL(m[1]));
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, stdout: out, stderr: err }));
  });
  return { child, authUrl, done, stdout: () => out, stderr: () => err };
}

/** Like runCli, without waiting for a browser: for commands that finish on their own. */
export async function cli(args: string[], dir: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(args, dir, env).done;
}

/**
 * Walks the OP's login form for an authorization URL with an HTTP client (redirects by
 * hand) and returns the URL the OP sends the browser back to: the CLI's loopback
 * callback with code, state and iss — not visited, so a test can tamper with it.
 */
export async function signInForCallback(stack: LoginStack, authUrl: URL, username = 'alice', password = 'alice-dev-password'): Promise<URL> {
  const browser = new HttpBrowser();
  let res = await browser.get(authUrl.href);
  for (let hops = 0; hops < 10; hops++) {
    if (res.status === 200) {
      const html = await res.text();
      const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
      if (action === undefined) throw new Error(`no login form at the OP: ${html.slice(0, 200)}`);
      res = await browser.postForm(new URL(action, stack.op.issuer).href, { username, password });
      continue;
    }
    const next = locationOf(res, stack.op.issuer);
    if (next.origin !== stack.op.issuer) return next;
    res = await browser.get(next.href);
  }
  throw new Error('the OP did not send the browser back');
}

const plain = new Agent();

/** GETs a loopback URL (the CLI's callback server) as a browser would; status and body. */
export async function visit(url: URL | string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { method, headers, redirect: 'manual', dispatcher: plain });
  return { status: res.status, body: await res.text() };
}
