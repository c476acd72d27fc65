// Browser sessions (SPEC §4, issue 3): what a login leaves in the `__Host-ztproxy`
// cookie, how a request's cookie becomes a Subject, and how a session is kept alive —
// idle tracking, refresh before the access token lapses (one refresh in flight per
// session however many requests arrive), and revocation (logout, back-channel logout,
// a refused refresh). The cookie holds only what policy and the assertion need.
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Subject } from '../../basics/subject.ts';
import { subjectFromClaims } from '../jwt/subject-from-claims.ts';
import { OidcRejectedError, type OidcTokens, type RelyingParty } from '../oidc/relying-party.ts';
import type { OidcConfig } from '../oidc/schema.ts';
import { EnvelopeCodec, deriveSessionKey, type SessionKey } from './codec.ts';
import { SESSION_COOKIE, clearCookie, readCookies, setCookie } from './cookies.ts';
import type { SessionRevocations } from './revocations.ts';
import type { SessionConfig } from './schema.ts';

/** Browsers keep a cookie's name and value within 4096 bytes (RFC 6265 §6.1). */
export const MAX_COOKIE_BYTES = 4000;
/** Refresh at most this long before the access token expires. */
const REFRESH_SKEW_S = 60;
/** After a provider that did not answer, a session's refresh is tried again after this. */
const REFRESH_RETRY_MS = 30_000;
/** A refresh's outcome is kept this long for requests still carrying the cookie it replaced. */
const REFRESH_RESULT_TTL_MS = 60_000;

/** The cookie's content. Short names: the cookie has a 4 KB budget. */
export interface SessionData {
  readonly sid: string;
  readonly iss: string;
  readonly sub: string;
  /** Kept claims (email, groups, auth_time, acr, amr, and those policies name). */
  readonly c: Readonly<Record<string, unknown>>;
  /** The provider's session id (ID token `sid`), for back-channel logout. */
  readonly osid?: string | undefined;
  /** The ID token, for `id_token_hint` at logout (dropped if the cookie would be too big). */
  readonly idt?: string | undefined;
  readonly rt?: string | undefined;
  /** Epoch seconds from which a refresh is due (undefined: never). */
  readonly ra?: number | undefined;
  /** Login time and absolute end (epoch seconds). */
  readonly iat: number;
  readonly exp: number;
  /** Last activity (epoch seconds), for the idle timeout. */
  readonly seen: number;
}

export interface OpenSession {
  readonly data: SessionData;
  readonly subject: Subject;
}

/** An opened cookie, and the cookie that last wrote its activity back (reused within the touch interval). */
interface CachedSession extends OpenSession {
  touched?: { readonly session: OpenSession; readonly setCookie: string };
}

export type SessionResult =
  | { readonly ok: true; readonly session: OpenSession; readonly setCookie: string | undefined }
  | { readonly ok: false; readonly reason: string };

export type SessionEvent =
  | 'login'
  | 'login_failed'
  | 'refresh'
  | 'refresh_refused'
  | 'refresh_unavailable'
  | 'logout'
  | 'backchannel_logout'
  | 'backchannel_rejected';

/** Process-wide session state: survives config reloads, shared by every snapshot. */
export class SessionRuntime {
  readonly revocations: SessionRevocations;
  /** Used when `identity.session.keys` is not configured: one per process. */
  readonly ephemeralKey: SessionKey;
  readonly refreshes = new LRUCache<string, Promise<SessionResult>>({ max: 50_000, ttl: REFRESH_RESULT_TTL_MS });
  readonly refreshFailures = new LRUCache<string, true>({ max: 50_000, ttl: REFRESH_RETRY_MS });
  /** The longest session ttl any config of this process had: how long a revocation must last. */
  longestTtlMs = 0;
  /** Where session events (failed refreshes, provider outages) are logged; set by the proxy. */
  log: { warn(obj: object, msg: string): void } | undefined;
  /** Counts session events (metrics); set by the proxy. */
  count: ((event: SessionEvent) => void) | undefined;

  constructor(revocations: SessionRevocations, ephemeralKey: SessionKey) {
    this.revocations = revocations;
    this.ephemeralKey = ephemeralKey;
  }
}

const STANDARD_CLAIMS = ['email', 'email_verified', 'auth_time', 'acr', 'amr'];

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export interface SessionManagerOptions {
  readonly session: SessionConfig;
  readonly oidc: OidcConfig;
  readonly rp: RelyingParty;
  readonly runtime: SessionRuntime;
  /** Claim names `claim` rules read: kept in the session. */
  readonly policyClaims: readonly string[];
}

export class SessionManager {
  readonly codec: EnvelopeCodec;
  readonly rp: RelyingParty;
  readonly #opts: SessionManagerOptions;
  readonly #kept: readonly string[];
  readonly #ttlS: number;
  readonly #idleS: number;
  readonly #touchS: number;
  /** Decrypted cookies by value: a JWE decrypt per request is the cost a cache avoids. */
  readonly #opened = new LRUCache<string, CachedSession>({ max: 10_000, ttl: 60_000, ttlResolution: 0 });

  constructor(opts: SessionManagerOptions) {
    this.#opts = opts;
    this.rp = opts.rp;
    const keys = opts.session.keys?.map(deriveSessionKey) ?? [opts.runtime.ephemeralKey];
    this.codec = new EnvelopeCodec(keys);
    this.#kept = [...new Set([...STANDARD_CLAIMS, opts.oidc.groupsClaim, ...opts.oidc.claims, ...opts.policyClaims])].filter(
      (n) => n !== 'iss' && n !== 'sub',
    );
    this.#ttlS = Math.floor(opts.session.ttl / 1000);
    opts.runtime.longestTtlMs = Math.max(opts.runtime.longestTtlMs, opts.session.ttl);
    this.#idleS = Math.floor(opts.session.idleTimeout / 1000);
    // Re-issuing the cookie on every request would be noisy; activity is written back
    // at this granularity (so the idle timeout is exact to within it).
    this.#touchS = Math.max(1, Math.min(60, Math.floor(this.#idleS / 10)));
  }

  get revocations(): SessionRevocations {
    return this.#opts.runtime.revocations;
  }

  /** A new session from a finished login: a fresh id every time (no fixation). */
  async create(tokens: OidcTokens): Promise<{ data: SessionData; setCookie: string }> {
    const now = nowSeconds();
    const claims = tokens.claims;
    const sub = claims['sub'];
    const iss = claims['iss'];
    if (typeof sub !== 'string' || sub === '' || typeof iss !== 'string') throw new OidcRejectedError('id-token-claims', 'ID token lacks sub or iss');
    const osid = claims['sid'];
    const data: SessionData = {
      sid: randomBytes(16).toString('base64url'),
      iss,
      sub,
      c: this.#keep(claims),
      osid: typeof osid === 'string' ? osid : undefined,
      idt: tokens.idToken,
      rt: tokens.refreshToken,
      ra: refreshAt(tokens, tokens.refreshToken, now),
      iat: now,
      exp: now + this.#ttlS,
      seen: now,
    };
    const sealed = await this.#sealFitting(data);
    return { data: sealed.data, setCookie: sealed.setCookie };
  }

  /**
   * The session a cookie value carries, kept alive: refreshed when due, its activity
   * written back now and then (both give a new Set-Cookie). `ok: false` for a cookie that
   * is not (or no longer) a valid session — the caller treats the request as anonymous.
   */
  async resume(value: string): Promise<SessionResult> {
    let session = this.#opened.get(value);
    if (session === undefined) {
      const opened = await this.codec.open<Record<string, unknown>>('session', value);
      if (!opened.ok) return { ok: false, reason: `session-${opened.reason}` };
      const data = validData(opened.payload);
      if (data === undefined) return { ok: false, reason: 'session-malformed' };
      // A session from a provider this config no longer logs in with (the issuer was
      // changed by a reload, keys kept) is not a session of this proxy any more.
      if (!sameIssuer(data.iss, this.#opts.oidc.issuer)) return { ok: false, reason: 'session-foreign-issuer' };
      session = { data, subject: this.#subject(data) };
      this.#opened.set(value, session);
    }
    const data = session.data;
    const now = nowSeconds();
    // The current ttl applies to sessions made under a longer one (a ttl lowered by a
    // reload shortens them, and revocations, which last one current ttl, outlive them).
    if (now >= data.exp || now >= data.iat + this.#ttlS) return { ok: false, reason: 'session-expired' };
    if (now - data.seen > this.#idleS) return { ok: false, reason: 'session-idle' };
    if (this.revocations.isRevoked(data)) return { ok: false, reason: 'session-revoked' };
    if (data.ra !== undefined && data.rt !== undefined && now >= data.ra) {
      const key = `${data.sid}:${data.ra}`;
      if (!this.#opts.runtime.refreshFailures.has(key)) return this.#refreshOnce(key, data);
    }
    if (now - data.seen >= this.#touchS) {
      // A client that keeps sending the old cookie (requests in flight together, a script
      // without a cookie jar) gets the cookie already written for it: sealing a JWE per
      // request would cost more than the request. Only `seen` differs from `data`, which
      // was checked above.
      const last = session.touched;
      if (last !== undefined && now - last.session.data.seen < this.#touchS) return { ok: true, session: last.session, setCookie: last.setCookie };
      const touched: OpenSession = { data: { ...data, seen: now }, subject: session.subject };
      const setCookie = await this.#cookieFor(touched.data);
      session.touched = { session: touched, setCookie };
      return { ok: true, session: touched, setCookie };
    }
    return { ok: true, session, setCookie: undefined };
  }

  /**
   * Why a session a long-lived stream rides on no longer counts (SPEC §8), or undefined:
   * past its absolute end under the current ttl, revoked, or from a provider this config
   * no longer logs in with. The idle timeout does not apply: an open stream is activity
   * the cookie never sees. No cookie is opened (the stream kept the session's data).
   */
  streamProblem(data: SessionData, nowS: number): 'session-expired' | 'session-revoked' | undefined {
    if (nowS >= data.exp || nowS >= data.iat + this.#ttlS) return 'session-expired';
    if (this.revocations.isRevoked(data) || !sameIssuer(data.iss, this.#opts.oidc.issuer)) return 'session-revoked';
    return undefined;
  }

  /** When a session ends on its own under the current ttl (epoch ms). */
  endsAt(data: SessionData): number {
    return Math.min(data.exp, data.iat + this.#ttlS) * 1000;
  }

  /** The session in a request's Cookie header; undefined when it carries no session cookie. */
  resumeFromHeader(header: string | undefined): Promise<SessionResult> | undefined {
    if (header === undefined || !header.includes(SESSION_COOKIE)) return undefined;
    const value = readCookies(header)[SESSION_COOKIE];
    return value === undefined ? undefined : this.resume(value);
  }

  /** One refresh per session generation; concurrent (and late) requests share its outcome. */
  #refreshOnce(key: string, data: SessionData): Promise<SessionResult> {
    const refreshes = this.#opts.runtime.refreshes;
    let pending = refreshes.get(key);
    if (pending === undefined) {
      pending = this.#refresh(key, data);
      refreshes.set(key, pending);
    }
    return pending;
  }

  async #refresh(key: string, data: SessionData): Promise<SessionResult> {
    let tokens: OidcTokens;
    try {
      tokens = await this.rp.refresh(data.rt!, { sub: data.sub, claims: data.c });
    } catch (err) {
      this.warn({ err: (err as Error).message, reason: (err as { reason?: string }).reason }, 'session refresh failed');
      this.count(err instanceof OidcRejectedError ? 'refresh_refused' : 'refresh_unavailable');
      if (err instanceof OidcRejectedError) {
        // The provider ended the grant (logout elsewhere, user disabled, token revoked).
        this.revocations.revokeSession(data.sid, data.exp * 1000);
        return { ok: false, reason: 'session-refresh-refused' };
      }
      // No answer: the session goes on until it expires; the refresh is tried again in
      // 30 s (the failure marker), not when this shared outcome would expire.
      this.#opts.runtime.refreshFailures.set(key, true);
      queueMicrotask(() => this.#opts.runtime.refreshes.delete(key));
      const now = nowSeconds();
      const kept = { ...data, seen: now };
      return { ok: true, session: { data: kept, subject: this.#subject(kept) }, setCookie: await this.#cookieFor(kept) };
    }
    const now = nowSeconds();
    // Providers that rotate refresh tokens send a new one; others keep the old one valid
    // (and a response without one still schedules the next refresh with it).
    const rt = tokens.refreshToken ?? data.rt;
    const next: SessionData = {
      ...data,
      c: this.#keep(tokens.claims),
      idt: tokens.idToken ?? data.idt,
      rt,
      ra: refreshAt(tokens, rt, now),
      seen: now,
    };
    this.count('refresh');
    try {
      const sealed = await this.#sealFitting(next);
      return { ok: true, session: { data: sealed.data, subject: this.#subject(sealed.data) }, setCookie: sealed.setCookie };
    } catch (err) {
      // The renewed identity no longer fits a cookie (the user gained many groups): the
      // session ends; a new login says why.
      this.warn({ err: (err as Error).message }, 'refreshed session does not fit a cookie; session ended');
      this.revocations.revokeSession(data.sid, data.exp * 1000);
      return { ok: false, reason: 'session-too-large' };
    }
  }

  /** Ends a session here (logout); the cookie, wherever it was copied, stops working. */
  revoke(data: SessionData): void {
    this.revocations.revokeSession(data.sid, data.exp * 1000);
  }

  /**
   * Longest time (ms from now) any session could still be valid: how long a revocation
   * must last — under any ttl this process has run with (a ttl lowered and raised again
   * by reloads must not revive a revoked session).
   */
  get maxLifetimeMs(): number {
    return Math.max(this.#ttlS * 1000, this.#opts.runtime.longestTtlMs);
  }

  /** Logs a session event (a provider outage at login, a failed refresh). */
  warn(obj: object, msg: string): void {
    this.#opts.runtime.log?.warn(obj, msg);
  }

  count(event: SessionEvent): void {
    this.#opts.runtime.count?.(event);
  }

  clearCookie(): string {
    return clearCookie(SESSION_COOKIE);
  }

  #keep(claims: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const name of this.#kept) if (Object.hasOwn(claims, name) && claims[name] !== undefined) out[name] = claims[name];
    return out;
  }

  #subject(data: SessionData): Subject {
    return subjectFromClaims(
      { ...data.c, iss: data.iss, sub: data.sub },
      data.iss,
      data.sub,
      { groupsClaim: this.#opts.oidc.groupsClaim, emailClaim: 'email' },
      'session',
    );
  }

  async #cookieFor(data: SessionData): Promise<string> {
    const value = await this.codec.seal('session', data as unknown as Record<string, unknown>, data.exp);
    return setCookie(SESSION_COOKIE, value, data.exp - nowSeconds());
  }

  /**
   * Seals, dropping what can go if the cookie would pass 4 KB: first the ID token (logout
   * then goes without `id_token_hint`), then the claims kept only for `claim` rules.
   */
  async #sealFitting(data: SessionData): Promise<{ data: SessionData; setCookie: string }> {
    const candidates: SessionData[] = [data];
    if (data.idt !== undefined) candidates.push({ ...data, idt: undefined });
    const essential: Record<string, unknown> = {};
    for (const name of [...STANDARD_CLAIMS, this.#opts.oidc.groupsClaim]) if (Object.hasOwn(data.c, name)) essential[name] = data.c[name];
    candidates.push({ ...data, idt: undefined, c: essential });
    for (const candidate of candidates) {
      const cookie = await this.#cookieFor(candidate);
      const nameAndValue = cookie.slice(0, cookie.indexOf(';'));
      if (Buffer.byteLength(nameAndValue) <= MAX_COOKIE_BYTES) return { data: candidate, setCookie: cookie };
    }
    throw new OidcRejectedError('session-too-large', 'the session does not fit in a 4 KB cookie (too many groups?)');
  }
}

/** When the next refresh is due; `refreshToken` is the one the session will hold (new or kept). */
function refreshAt(tokens: OidcTokens, refreshToken: string | undefined, now: number): number | undefined {
  if (refreshToken === undefined || tokens.accessTokenExp === undefined) return undefined;
  const lifetime = Math.max(0, tokens.accessTokenExp - now);
  return tokens.accessTokenExp - Math.min(REFRESH_SKEW_S, Math.floor(lifetime / 2));
}

/** Issuer identifiers compared as URLs (`https://idp` and `https://idp/` are one issuer). */
function sameIssuer(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const optionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';
const optionalNumber = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v));

/** The payload of a cookie we sealed ourselves; checked anyway (an old format after an upgrade). */
function validData(p: Record<string, unknown>): SessionData | undefined {
  if (typeof p['sid'] !== 'string' || typeof p['iss'] !== 'string' || typeof p['sub'] !== 'string') return undefined;
  if (!isRecord(p['c']) || typeof p['iat'] !== 'number' || typeof p['exp'] !== 'number' || typeof p['seen'] !== 'number') return undefined;
  if (!optionalString(p['osid']) || !optionalString(p['idt']) || !optionalString(p['rt']) || !optionalNumber(p['ra'])) return undefined;
  return {
    sid: p['sid'],
    iss: p['iss'],
    sub: p['sub'],
    c: p['c'],
    osid: p['osid'] as string | undefined,
    idt: p['idt'] as string | undefined,
    rt: p['rt'] as string | undefined,
    ra: p['ra'] as number | undefined,
    iat: p['iat'],
    exp: p['exp'],
    seen: p['seen'],
  };
}
