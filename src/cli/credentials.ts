// A person's stored CLI login (`ztproxy login`): one file per proxy origin in the user's
// config directory, holding the OP's tokens. The file is a bearer credential, so:
// - it is created 0600 from its first byte (open O_EXCL with the mode, then rename into
//   place: never a moment where it is world-readable, never a half-written file);
// - it is read with O_NOFOLLOW and checked on the open descriptor (a regular file, ours,
//   no group/other bits), so a symlink or a file planted by another user is refused with
//   the reason, never used (a planted token would log us in as the attacker — login CSRF);
// - a refresh runs under a lock file, because OPs rotate refresh tokens for public
//   clients and treat a reused one as theft, revoking the whole grant (RFC 9700 §4.14.2):
//   two `ztproxy connect` started together (scp, an ssh multiplex) must not both refresh.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { ZtError } from '../basics/errors.ts';
import { describeOpError, discoverOp, trustingAgent } from './op-client.ts';

/** A stored login that cannot be used; the message is one line for the user. */
export class CredentialsError extends ZtError {
  constructor(message: string, options?: ErrorOptions) {
    super('ZT_CREDENTIALS', message, options);
    this.name = 'CredentialsError';
  }
}

/**
 * Refresh this long before `exp` (at most half the token's lifetime, so a short-lived
 * token is not refreshed on every use), so it does not expire on the way to the proxy.
 */
export const REFRESH_LEEWAY_S = 30;
/**
 * A lock file older than this is left over from a crashed ztproxy and is taken over
 * (a refresh holds it for at most two OP calls of HTTP_TIMEOUT_MS each).
 */
const STALE_LOCK_MS = 60_000;
/** How long to wait for another ztproxy's refresh before giving up. */
const LOCK_WAIT_MS = 35_000;
const LOCK_POLL_MS = 100;
const MAX_FILE_BYTES = 64 * 1024;
const FILE_PREFIX = 'login-';
const FILE_SUFFIX = '.json';
const FORMAT_VERSION = 1;

export interface StoredLogin {
  readonly version: 1;
  /** The proxy's origin (https://host:port) this login is for. */
  readonly proxy: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** The RFC 8707 resource the access token was asked for, if any. */
  readonly resource: string | undefined;
  /** The ID token's `sub`: a refresh must give the same person. */
  readonly subject: string;
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
  readonly idToken: string | undefined;
  /** Epoch seconds the access token expires, null when neither the OP nor the token said. */
  readonly expiresAt: number | null;
  /** Epoch seconds the access token was received. */
  readonly obtainedAt: number;
}

export interface CredentialsOptions {
  /** Extra PEM CA bundle for the OP's TLS (besides the system CAs). */
  ca?: Buffer;
  /** The config dir; default from the environment (configDir()). */
  configDir?: string;
}

/** `$ZTPROXY_CONFIG_DIR`, else `$XDG_CONFIG_HOME/ztproxy`, else `~/.config/ztproxy`. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['ZTPROXY_CONFIG_DIR']) return env['ZTPROXY_CONFIG_DIR'];
  if (env['XDG_CONFIG_HOME']) return join(env['XDG_CONFIG_HOME'], 'ztproxy');
  return join(homedir(), '.config', 'ztproxy');
}

/** The origin of a `--via` URL: https only, no credentials; a path is ignored. */
export function proxyOrigin(proxyUrl: string): string {
  let url: URL;
  try {
    url = new URL(proxyUrl);
  } catch {
    throw new CredentialsError(`--via ${proxyUrl}: not a URL (expected https://proxy.example.com[:port])`);
  }
  if (url.protocol !== 'https:') throw new CredentialsError(`--via ${proxyUrl}: must be an https:// URL (the proxy's TLS listener)`);
  if (url.username || url.password) throw new CredentialsError(`--via ${proxyUrl}: must not carry credentials`);
  return url.origin;
}

/**
 * The file name for an (https) origin, from its host[:port]: letters, digits, `.` and `-`
 * as they are, every other byte as `_XX` (so `_` itself is escaped and two origins never
 * share a file): `login-proxy.example.com_3a8443.json`.
 */
export function loginFileName(origin: string): string {
  const escaped = Buffer.from(new URL(origin).host, 'utf8')
    .toString('latin1')
    .replace(/[^a-z0-9.-]/g, (c) => `_${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `${FILE_PREFIX}${escaped}${FILE_SUFFIX}`;
}

export function loginFilePath(dir: string, origin: string): string {
  return join(dir, loginFileName(origin));
}

const myUid = (): number | undefined => process.getuid?.();

function errCode(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

/** Why the open file `path` must not be trusted, or undefined. */
async function fileProblem(fh: FileHandle, path: string): Promise<string | undefined> {
  const st = await fh.stat();
  if (!st.isFile()) return `${path} is not a regular file`;
  const uid = myUid();
  if (uid !== undefined && st.uid !== uid) return `${path} belongs to uid ${st.uid}, not to you (uid ${uid}): someone else could have planted it`;
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    return `${path} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}: others could read or change the tokens (it must be 0600)`;
  }
  if (st.size > MAX_FILE_BYTES) return `${path} is larger than a login (${st.size} bytes)`;
  return undefined;
}

function parseLogin(text: string, path: string, origin: string): StoredLogin {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CredentialsError(`${path} is not valid JSON: delete it and run ztproxy login --via ${origin}`);
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const str = (k: string): boolean => typeof o[k] === 'string' && (o[k]).length > 0;
  const optStr = (k: string): boolean => o[k] === undefined || str(k);
  const ok =
    o['version'] === FORMAT_VERSION &&
    str('proxy') && str('issuer') && str('clientId') && str('subject') && str('accessToken') &&
    optStr('refreshToken') && optStr('idToken') && optStr('resource') &&
    Array.isArray(o['scopes']) && (o['scopes'] as unknown[]).every((s) => typeof s === 'string') &&
    (o['expiresAt'] === null || (typeof o['expiresAt'] === 'number' && Number.isFinite(o['expiresAt']))) &&
    typeof o['obtainedAt'] === 'number' && Number.isFinite(o['obtainedAt']);
  if (!ok) throw new CredentialsError(`${path} is not a ztproxy login file: delete it and run ztproxy login --via ${origin}`);
  // The file names its proxy: a login copied or renamed to another origin's file is not used there.
  if (o['proxy'] !== origin) throw new CredentialsError(`${path} holds the login for ${String(o['proxy'])}, not ${origin}: delete it and log in again`);
  return o as unknown as StoredLogin;
}

/**
 * The stored login for `origin`, undefined when there is none. Throws CredentialsError
 * (saying why) for a file that must not be used: a symlink, another user's, readable by
 * others, or not a login.
 */
export async function readLogin(dir: string, origin: string): Promise<StoredLogin | undefined> {
  const path = loginFilePath(dir, origin);
  let fh: FileHandle;
  try {
    // O_NOFOLLOW: a symlink planted at the path fails here (ELOOP) instead of being read.
    fh = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new CredentialsError(`${path} is a symbolic link: refusing it (it could point the login anywhere); delete it and run ztproxy login --via ${origin}`);
    throw new CredentialsError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const problem = await fileProblem(fh, path);
    if (problem !== undefined) throw new CredentialsError(`refusing the stored login: ${problem}; delete it and run ztproxy login --via ${origin}`);
    return parseLogin(await fh.readFile('utf8'), path, origin);
  } finally {
    await fh.close();
  }
}

/** Creates the config dir (0700) if needed; refuses one another user owns or can write to. */
async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await stat(dir);
  if (!st.isDirectory()) throw new CredentialsError(`${dir} is not a directory`);
  const uid = myUid();
  if (uid !== undefined && st.uid !== uid) throw new CredentialsError(`${dir} belongs to uid ${st.uid}, not to you: refusing to store a login there`);
  if (process.platform !== 'win32' && (st.mode & 0o022) !== 0) {
    throw new CredentialsError(`${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}): they could swap the login file; chmod 700 it`);
  }
}

/**
 * Stores a login atomically: a new temp file created with mode 0600 (O_EXCL, O_NOFOLLOW:
 * nobody else's file, never a symlink) and renamed over the old one. rename() replaces a
 * symlink planted at the path rather than writing through it.
 */
export async function writeLogin(dir: string, login: StoredLogin): Promise<string> {
  await ensureDir(dir);
  const path = loginFilePath(dir, login.proxy);
  const tmp = join(dir, `.${loginFileName(login.proxy)}.${randomBytes(8).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
  try {
    try {
      await fh.chmod(0o600);
      await fh.writeFile(`${JSON.stringify(login, null, 2)}\n`, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return path;
}

/** The stored login files in `dir` (all origins), by path. */
export async function listLoginFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => n.startsWith(FILE_PREFIX) && n.endsWith(FILE_SUFFIX)).map((n) => join(dir, n));
}

/** The origin a login file name stands for (the inverse of loginFileName), or undefined. */
export function originOfFileName(name: string): string | undefined {
  if (!name.startsWith(FILE_PREFIX) || !name.endsWith(FILE_SUFFIX)) return undefined;
  const body = name.slice(FILE_PREFIX.length, -FILE_SUFFIX.length);
  if (!/^(?:[a-z0-9.-]|_[0-9a-f]{2})*$/.test(body)) return undefined;
  return `https://${Buffer.from(body.replace(/_([0-9a-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8')}`;
}

/** Runs `fn` holding `<file>.lock` (created O_EXCL); waits while another process holds it. */
async function withLock<T>(file: string, origin: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  let fh: FileHandle | undefined;
  while (fh === undefined) {
    try {
      fh = await open(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw new CredentialsError(`cannot lock ${lock}: ${(err as Error).message}`);
      const age = await stat(lock).then((st) => Date.now() - st.mtimeMs, () => 0);
      if (age > STALE_LOCK_MS) {
        await unlink(lock).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) {
        throw new CredentialsError(`another ztproxy is refreshing the login for ${origin} (lock ${lock}); if none is running, delete the lock file`);
      }
      await sleep(LOCK_POLL_MS);
    }
  }
  try {
    await fh.writeFile(`${process.pid}\n`);
    return await fn();
  } finally {
    await fh.close();
    await unlink(lock).catch(() => undefined);
  }
}

/**
 * Runs `fn` holding the login's lock: what changes a stored login (a refresh, a logout)
 * runs one at a time, so a logout is never undone by a refresh writing back.
 */
export function withLoginLock<T>(dir: string, origin: string, fn: () => Promise<T>): Promise<T> {
  return withLock(loginFilePath(dir, origin), origin, fn);
}

function isFresh(login: StoredLogin, nowS: number): boolean {
  if (login.expiresAt === null) return true;
  const leeway = Math.min(REFRESH_LEEWAY_S, Math.max(0, login.expiresAt - login.obtainedAt) / 2);
  return login.expiresAt - nowS > leeway;
}

/** When an access token expires: the OP's `expires_in`, else the JWT's own `exp`, else unknown. */
export function expiryOf(accessToken: string, expiresIn: number | undefined, nowS: number): number | null {
  if (expiresIn !== undefined && Number.isFinite(expiresIn)) return nowS + expiresIn;
  try {
    const exp = decodeJwt(accessToken).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : null;
  } catch {
    return null; // an opaque token: refreshed only when the proxy refuses it
  }
}

const expiredMessage = (origin: string): string => `the login for ${origin} expired: run ztproxy login --via ${origin}`;

/** New tokens for a login whose access token expired, from the OP's refresh grant. */
async function refreshLogin(login: StoredLogin, ca: Buffer | undefined): Promise<StoredLogin> {
  if (login.refreshToken === undefined) throw new CredentialsError(expiredMessage(login.proxy));
  const agent = trustingAgent(ca);
  try {
    let config: client.Configuration;
    try {
      config = await discoverOp(login.issuer, login.clientId, agent);
    } catch (err) {
      throw new CredentialsError(`cannot refresh the login for ${login.proxy}: the OpenID Provider ${login.issuer} did not answer (${describeOpError(err)})`, { cause: err });
    }
    let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
    try {
      tokens = await client.refreshTokenGrant(config, login.refreshToken, login.resource === undefined ? undefined : { resource: login.resource });
    } catch (err) {
      // 4xx (invalid_grant: revoked, expired, reused): the login is over. Else an outage.
      if (err instanceof client.ResponseBodyError && err.status < 500) throw new CredentialsError(expiredMessage(login.proxy), { cause: err });
      throw new CredentialsError(`cannot refresh the login for ${login.proxy}: ${describeOpError(err)}`, { cause: err });
    }
    const sub = tokens.claims()?.sub;
    if (sub !== undefined && sub !== login.subject) {
      throw new CredentialsError(`the OpenID Provider answered the refresh for ${login.proxy} with another user (${sub}): run ztproxy login --via ${login.proxy}`);
    }
    const nowS = Math.floor(Date.now() / 1000);
    return {
      ...login,
      accessToken: tokens.access_token,
      // Rotated refresh tokens replace the old one; an OP that keeps it sends none.
      refreshToken: tokens.refresh_token ?? login.refreshToken,
      idToken: tokens.id_token ?? login.idToken,
      expiresAt: expiryOf(tokens.access_token, tokens.expiresIn(), nowS),
      obtainedAt: nowS,
    };
  } finally {
    await agent.close();
  }
}

/**
 * A valid access token for the proxy at `proxyUrl` from the stored login, refreshed
 * first when it expired (or expires within REFRESH_LEEWAY_S, or half its lifetime); undefined when not logged
 * in. Throws CredentialsError with a one-line message when the login cannot be used.
 */
export async function storedAccessToken(proxyUrl: string, opts: CredentialsOptions = {}): Promise<string | undefined> {
  const origin = proxyOrigin(proxyUrl);
  const dir = opts.configDir ?? configDir();
  const login = await readLogin(dir, origin);
  if (login === undefined) return undefined;
  if (isFresh(login, Math.floor(Date.now() / 1000))) return login.accessToken;
  return withLoginLock(dir, origin, async () => {
    // Another process may have refreshed (or logged out) while this one waited.
    const current = await readLogin(dir, origin);
    if (current === undefined) return undefined;
    if (isFresh(current, Math.floor(Date.now() / 1000))) return current.accessToken;
    const renewed = await refreshLogin(current, opts.ca);
    try {
      await writeLogin(dir, renewed);
    } catch (err) {
      if (err instanceof CredentialsError) throw err;
      throw new CredentialsError(`cannot store the refreshed login for ${origin} in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    return renewed.accessToken;
  });
}
