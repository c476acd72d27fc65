// `ztproxy login --via https://PROXY` and `ztproxy logout` (SPEC §2, issue #6 point 2): a
// person's CLI login as an OAuth native app (RFC 8252). The proxy says where to log in
// (/.well-known/ztproxy/cli-configuration, over TLS checked against the system CAs or
// --ca); openid-client discovers the OP (its `issuer` must be the one the proxy named)
// and runs the authorization code flow with PKCE S256, `state`, `nonce` and the RFC 9207
// `iss` check, through the system browser and a one-shot HTTP server on 127.0.0.1 at a
// random port (RFC 8252 §7.3). Tokens go to the user's config dir (credentials.ts).
import { spawn } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import * as client from 'openid-client';
import { fetch as undiciFetch, type Agent } from 'undici';
import { parseDuration } from '../basics/duration.ts';
import { escapeHtml } from '../basics/html.ts';
import { CLI_CONFIGURATION_PATH } from '../pipeline/stages/cli-configuration.ts';
import {
  configDir,
  CredentialsError,
  expiryOf,
  listLoginFiles,
  loginFilePath,
  originOfFileName,
  proxyOrigin,
  readLogin,
  withLoginLock,
  writeLogin,
  type StoredLogin,
} from './credentials.ts';
import { describeOpError, discoverOp, issuerUrlProblem, printableText, trustingAgent } from './op-client.ts';

export const LOGIN_USAGE = `usage: ztproxy login --via https://PROXY [--ca FILE] [--no-browser] [--timeout 5m]
       ztproxy logout [--via https://PROXY] [--ca FILE]
`;

const DEFAULT_TIMEOUT = '5m';
const MAX_METADATA_BYTES = 64 * 1024;
const CALLBACK_PATH = '/callback';

export interface CliIo {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
}

const PROCESS_IO: CliIo = { out: process.stdout, err: process.stderr, env: process.env };

/** A failure with a one-line reason for stderr (exit 1). */
class LoginError extends Error {}

/** What the proxy publishes for the CLI (the contract of /.well-known/ztproxy/cli-configuration). */
export interface CliMetadata {
  readonly issuer: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly resource: string | undefined;
  readonly deviceHeader: string | undefined;
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const tlsHint = code !== undefined && /CERT|SELF_SIGNED|VERIFY|ALTNAME/.test(code) ? ' — a private CA? pass it with --ca FILE' : '';
  return `${code ?? (typeof cause?.message === 'string' ? cause.message : (err as Error).message)}${tlsHint}`;
}

/** A response body as text, or undefined (and the rest not read) past `max` bytes. */
async function boundedText(res: Awaited<ReturnType<typeof undiciFetch>>, max: number): Promise<string | undefined> {
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > max) {
      await res.body.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and checks the proxy's CLI metadata; every problem is a LoginError naming the proxy. */
export async function fetchCliMetadata(origin: string, agent: Agent): Promise<CliMetadata> {
  const url = `${origin}${CLI_CONFIGURATION_PATH}`;
  let res;
  try {
    // No redirects: the metadata is the proxy's own reserved path, never somewhere else.
    res = await undiciFetch(url, { dispatcher: agent, redirect: 'error', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new LoginError(`cannot reach ${origin}: ${printableText(networkReason(err))}`);
  }
  if (res.status === 404) {
    await res.body?.cancel();
    throw new LoginError(`${origin} does not offer CLI login (its config has no identity.cli)`);
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new LoginError(`${origin} answered HTTP ${res.status} for ${CLI_CONFIGURATION_PATH}`);
  }
  const text = await boundedText(res, MAX_METADATA_BYTES);
  if (text === undefined) throw new LoginError(`${origin}: the CLI metadata is larger than ${MAX_METADATA_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new LoginError(`${origin}: the CLI metadata is not JSON`);
  }
  const o = (typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? doc : {}) as Record<string, unknown>;
  const bad = (what: string): LoginError => new LoginError(`${origin}: the CLI metadata's ${what}`);
  const { issuer, client_id: clientId, scopes, resource, device_header: deviceHeader } = o;
  if (typeof issuer !== 'string') throw bad('issuer is missing');
  const issuerProblem = issuerUrlProblem(issuer);
  if (issuerProblem !== undefined) throw bad(`issuer ${printableText(issuer)} ${issuerProblem}`);
  if (typeof clientId !== 'string' || clientId === '' || clientId.length > 256) throw bad('client_id is missing');
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string' && /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) || !scopes.includes('openid')) {
    throw bad('scopes are not a list of scope tokens including openid');
  }
  if (resource !== undefined && (typeof resource !== 'string' || resource === '')) throw bad('resource is not a string');
  if (deviceHeader !== undefined && (typeof deviceHeader !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(deviceHeader))) throw bad('device_header is not a header name');
  return { issuer, clientId, scopes: scopes as string[], resource: resource, deviceHeader: deviceHeader };
}

/** Tries $BROWSER (a `:`-separated list), then the platform's opener; false when none started. */
function openBrowser(url: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const fromEnv = (env['BROWSER'] ?? '').split(':').filter((c) => c !== '');
  const platform = process.platform === 'darwin' ? ['open'] : process.platform === 'win32' ? [] : ['xdg-open'];
  const candidates = [...fromEnv, ...platform];
  const tryNext = (i: number): Promise<boolean> => {
    const command = candidates[i];
    if (command === undefined) return Promise.resolve(false);
    return new Promise((resolve) => {
      // No shell: the URL is one argument, whatever the OP put in it.
      const child = spawn(command, [url], { detached: true, stdio: 'ignore' });
      child.once('error', () => resolve(tryNext(i + 1)));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    });
  };
  return tryNext(0);
}

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  // No script, no style from anywhere, never framed, and the code in this URL never
  // leaves as a Referer.
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

function page(res: ServerResponse, status: number, title: string, text: string): void {
  res.writeHead(status, PAGE_HEADERS);
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>\n`);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

interface Flow {
  readonly op: client.Configuration;
  readonly metadata: CliMetadata;
  readonly redirectUri: string;
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly origin: string;
}

/**
 * The loopback redirect endpoint. Only `GET /callback` with Host 127.0.0.1:<port> (a DNS
 * rebinding page reaches the port under its own host name) and this login's `state` is
 * the answer; anything else gets an error page and the login keeps waiting, so a local
 * process or web page poking the port can neither finish nor abort it. The first answer
 * with the right state ends the flow: a second one (a replay) is refused.
 */
type Tokens = Awaited<ReturnType<typeof client.authorizationCodeGrant>>;

function callbackHandler(
  flow: Flow,
  host: string,
  warn: (line: string) => void,
  /** Stores the login; the page says "Logged in" only once it is stored. */
  complete: (tokens: Tokens) => Promise<void>,
  settle: (error: Error | undefined) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  let answered = false;
  const exchange = async (res: ServerResponse, current: URL): Promise<void> => {
    let tokens: Tokens;
    try {
      tokens = await client.authorizationCodeGrant(
        flow.op,
        current,
        { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true },
        flow.metadata.resource === undefined ? undefined : { resource: flow.metadata.resource },
      );
    } catch (err) {
      page(res, 400, 'Login failed', 'The login did not complete. Return to the terminal for the reason.');
      return settle(new LoginError(`login failed: ${describeOpError(err)}`));
    }
    try {
      await complete(tokens);
    } catch (err) {
      page(res, 500, 'Login not saved', 'The login succeeded but could not be stored. Return to the terminal for the reason.');
      return settle(err instanceof Error ? err : new LoginError(String(err)));
    }
    page(res, 200, 'Logged in', `ztproxy is logged in to ${flow.origin}. You can close this tab and return to the terminal.`);
    settle(undefined);
  };
  return (req, res) => {
    if (req.headers.host !== host) return page(res, 400, 'Wrong address', 'This server only answers the ztproxy login callback.');
    const url = new URL(req.url ?? '/', `http://${host}`);
    if (url.pathname !== CALLBACK_PATH) return page(res, 404, 'Not found', 'This server only answers the ztproxy login callback.');
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      return page(res, 405, 'Method not allowed', 'This server only answers the ztproxy login callback.');
    }
    if (answered) return page(res, 400, 'Login already finished', 'This login has already been answered. Return to the terminal.');
    const state = url.searchParams.get('state');
    if (state === null || !sameSecret(state, flow.state)) {
      // Not this login's answer (CSRF, a stale tab, another process): refused, login goes on.
      warn('ztproxy login: ignored a callback that is not for this login (wrong or missing state)\n');
      return page(res, 400, 'Not this login', 'This answer does not belong to the login this terminal started. Start again with ztproxy login if needed.');
    }
    answered = true;
    // The URL as registered (never the request's Host) with the OP's parameters.
    const current = new URL(flow.redirectUri);
    current.search = url.search;
    void exchange(res, current);
  };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function readCa(file: string | undefined): Promise<Buffer | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (err) {
    throw new LoginError(`cannot read --ca ${file}: ${(err as Error).message}`);
  }
}

async function login(origin: string, ca: Buffer | undefined, noBrowser: boolean, timeoutMs: number, io: CliIo): Promise<number> {
  const agent = trustingAgent(ca);
  const server = createServer();
  try {
    const metadata = await fetchCliMetadata(origin, agent);
    let op: client.Configuration;
    try {
      op = await discoverOp(metadata.issuer, metadata.clientId, agent);
    } catch (err) {
      throw new LoginError(`OpenID Provider discovery at ${metadata.issuer} failed: ${describeOpError(err)}`);
    }
    const methods = op.serverMetadata().code_challenge_methods_supported;
    if (methods !== undefined && !methods.includes('S256')) throw new LoginError(`the OpenID Provider ${metadata.issuer} does not support PKCE S256`);
    const port = await listen(server);
    const host = `127.0.0.1:${port}`;
    const verifier = client.randomPKCECodeVerifier();
    const flow: Flow = {
      op,
      metadata,
      origin,
      redirectUri: `http://${host}${CALLBACK_PATH}`,
      state: client.randomState(),
      nonce: client.randomNonce(),
      verifier,
    };
    const authUrl = client.buildAuthorizationUrl(op, {
      redirect_uri: flow.redirectUri,
      scope: metadata.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
      ...(metadata.resource === undefined ? {} : { resource: metadata.resource }),
    });
    let done: { file: string; sub: string; email: string | undefined; refresh: boolean } | undefined;
    let timedOut = false;
    const complete = async (tokens: Tokens): Promise<void> => {
      // A code exchange still running when the time ran out must not store a login the
      // terminal already reported as failed.
      if (timedOut) throw new LoginError('login timed out');
      const claims = tokens.claims();
      if (claims === undefined) throw new LoginError('login failed: the OpenID Provider sent no ID token');
      const nowS = Math.floor(Date.now() / 1000);
      const file = await writeLogin(configDir(io.env), {
        version: 1,
        proxy: origin,
        issuer: metadata.issuer,
        clientId: metadata.clientId,
        scopes: metadata.scopes,
        resource: metadata.resource,
        subject: claims.sub,
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token,
        idToken: tokens.id_token,
        expiresAt: expiryOf(tokens.access_token, tokens.expiresIn(), nowS),
        obtainedAt: nowS,
      });
      done = { file, sub: claims.sub, email: typeof claims['email'] === 'string' ? claims['email'] : undefined, refresh: tokens.refresh_token !== undefined };
    };
    const outcome = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new LoginError(`login timed out after ${Math.round(timeoutMs / 1000)} s without an answer from the browser: run ztproxy login --via ${origin} again`));
      }, timeoutMs);
      timer.unref();
      const settle = (error: Error | undefined): void => {
        clearTimeout(timer);
        if (error === undefined) resolve();
        else reject(error);
      };
      server.on('request', callbackHandler(flow, host, (line) => io.err.write(line), complete, settle));
    });
    const opened = noBrowser ? false : await openBrowser(authUrl.href, io.env);
    io.err.write(
      opened
        ? `Opened a browser to log in to ${origin}; if it did not open, visit:\n  ${authUrl.href}\n`
        : `To log in to ${origin}, open this URL in a browser:\n  ${authUrl.href}\n`,
    );
    io.err.write(`Waiting for the browser (up to ${Math.round(timeoutMs / 1000)} s)...\n`);
    await outcome;
    const result = done!;
    const email = result.email === undefined ? '' : ` (${printableText(result.email)})`;
    io.out.write(`logged in to ${origin} as ${printableText(result.sub)}${email}; the login is stored in ${result.file}\n`);
    if (!result.refresh) io.err.write('note: the OpenID Provider gave no refresh token; log in again when the access token expires\n');
    return 0;
  } finally {
    server.close();
    server.closeAllConnections();
    await agent.close();
  }
}

/** Revokes a stored login's refresh token at its OP (RFC 7009), best effort: a line says how it went. */
async function revoke(login: StoredLogin, ca: Buffer | undefined): Promise<string> {
  if (login.refreshToken === undefined) return '';
  const agent = trustingAgent(ca);
  try {
    const op = await discoverOp(login.issuer, login.clientId, agent);
    if (op.serverMetadata().revocation_endpoint === undefined) return ` (the OpenID Provider ${login.issuer} offers no revocation; the refresh token stays valid there until it expires)`;
    await client.tokenRevocation(op, login.refreshToken, { token_type_hint: 'refresh_token' });
    return ` (refresh token revoked at ${login.issuer})`;
  } catch (err) {
    return ` (could not revoke the refresh token at ${login.issuer}: ${describeOpError(err)})`;
  } finally {
    await agent.close();
  }
}

async function logoutOne(dir: string, origin: string, ca: Buffer | undefined, io: CliIo): Promise<boolean> {
  if ((await listLoginFiles(dir)).every((f) => basename(f) !== basename(loginFilePath(dir, origin)))) return false;
  return withLoginLock(dir, origin, () => logoutLocked(dir, origin, ca, io));
}

async function logoutLocked(dir: string, origin: string, ca: Buffer | undefined, io: CliIo): Promise<boolean> {
  let login: StoredLogin | undefined;
  try {
    login = await readLogin(dir, origin);
  } catch (err) {
    if (!(err instanceof CredentialsError)) throw err;
    // A file we must not trust is not used to call anyone; it is deleted all the same.
    io.err.write(`ztproxy logout: ${err.message}\n`);
  }
  const note = login === undefined ? '' : await revoke(login, ca);
  try {
    await unlink(loginFilePath(dir, origin));
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return false;
    throw new LoginError(`cannot delete ${loginFilePath(dir, origin)}: ${(err as Error).message}`);
  }
  io.out.write(`logged out of ${origin}${note}\n`);
  return true;
}

async function logout(origin: string | undefined, ca: Buffer | undefined, io: CliIo): Promise<number> {
  const dir = configDir(io.env);
  if (origin !== undefined) {
    if (!(await logoutOne(dir, origin, ca, io))) io.out.write(`not logged in to ${origin}\n`);
    return 0;
  }
  const origins = (await listLoginFiles(dir)).map((f) => originOfFileName(basename(f))).filter((o): o is string => o !== undefined);
  let any = false;
  for (const o of origins) any = (await logoutOne(dir, o, ca, io)) || any;
  if (!any) io.out.write('not logged in anywhere\n');
  return 0;
}

function usage(io: CliIo, command: string, message: string): number {
  io.err.write(`ztproxy ${command}: ${message}\n${LOGIN_USAGE}`);
  return 2;
}

/** `ztproxy login` / `ztproxy logout`: 0 done, 1 failed (one line on stderr), 2 usage error. */
export async function runLogin(command: 'login' | 'logout', argv: string[], io: CliIo = PROCESS_IO): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options:
        command === 'login'
          ? { via: { type: 'string' }, ca: { type: 'string' }, 'no-browser': { type: 'boolean', default: false }, timeout: { type: 'string', default: DEFAULT_TIMEOUT } }
          : { via: { type: 'string' }, ca: { type: 'string' } },
    }));
  } catch (err) {
    return usage(io, command, (err as Error).message);
  }
  const v = values as { via?: string; ca?: string; 'no-browser'?: boolean; timeout?: string };
  if (command === 'login' && v.via === undefined) return usage(io, command, 'missing --via https://PROXY');
  let origin: string | undefined;
  try {
    origin = v.via === undefined ? undefined : proxyOrigin(v.via);
  } catch (err) {
    return usage(io, command, (err as Error).message);
  }
  let timeoutMs = 0;
  if (command === 'login') {
    try {
      timeoutMs = parseDuration(v.timeout ?? DEFAULT_TIMEOUT);
    } catch (err) {
      return usage(io, command, `--timeout ${(err as Error).message}`);
    }
    if (timeoutMs < 1000 || timeoutMs > 3600_000) return usage(io, command, '--timeout must be from 1s to 1h');
  }
  try {
    const ca = await readCa(v.ca);
    return command === 'login' ? await login(origin!, ca, v['no-browser'] === true, timeoutMs, io) : await logout(origin, ca, io);
  } catch (err) {
    // Our own failures, and the file system's (EACCES, ENOSPC): one line, exit 1.
    if (err instanceof LoginError || err instanceof CredentialsError || (err as { code?: unknown }).code !== undefined) {
      io.err.write(`ztproxy ${command}: ${printableText((err as Error).message, 500)}\n`);
      return 1;
    }
    throw err;
  }
}
