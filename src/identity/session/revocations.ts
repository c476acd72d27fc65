// Sessions ended before their cookie expires: by logout, by the provider's back-channel
// logout, or by a refresh the provider refused. The cookie itself cannot be recalled from
// the browser (or from whoever copied it), so every request checks this list. It lives
// in the proxy process, across config reloads, and an entry is kept until the longest
// session it could match has expired on its own; with several ztproxy instances, each
// keeps its own list (see docs/design.md).
export interface RevocableSession {
  readonly sid: string;
  readonly iss: string;
  readonly sub: string;
  /** The provider's session id (`sid` of the ID token), if it sent one. */
  readonly osid?: string | undefined;
  /** Epoch seconds the session was created (login). */
  readonly iat: number;
}

interface SubjectCut {
  /** Sessions created at or before this (epoch seconds) are revoked. */
  readonly before: number;
  readonly until: number;
}

/**
 * Was a token with these claims issued at or before `before` (epoch seconds)? One without
 * `iat` cannot show it was not, and counts as issued before (docs/design.md).
 */
export function tokenIssuedBy(claims: Readonly<Record<string, unknown>>, before: number): boolean {
  const iat = claims['iat'];
  return typeof iat !== 'number' || iat <= before;
}

const SWEEP_EVERY = 1024;

/**
 * A revocation as it happens, for whoever holds something a session opened (the open
 * WebSocket and CONNECT streams, SPEC §8): they are cut at once, not at their next check.
 */
export type Revocation =
  | { readonly kind: 'session'; readonly sid: string }
  | { readonly kind: 'provider-session'; readonly iss: string; readonly osid: string }
  | { readonly kind: 'subject'; readonly iss: string; readonly sub: string; /** Sessions created at or before (epoch s). */ readonly before: number };

export class SessionRevocations {
  readonly #sids = new Map<string, number>();
  readonly #providerSessions = new Map<string, number>();
  readonly #subjects = new Map<string, SubjectCut>();
  #writes = 0;
  /** Told of every revocation after it is recorded (set by the proxy; one listener). */
  onRevoked: ((revocation: Revocation) => void) | undefined;

  /** Number of entries (all kinds); for metrics and tests. */
  get size(): number {
    return this.#sids.size + this.#providerSessions.size + this.#subjects.size;
  }

  /** Ends one session; `until` (epoch ms) is when it would have expired anyway. */
  revokeSession(sid: string, until: number): void {
    this.#sids.set(sid, Math.max(until, this.#sids.get(sid) ?? 0));
    this.#written();
    this.onRevoked?.({ kind: 'session', sid });
  }

  /** Ends every session tied to the provider's session `osid` of issuer `iss`. */
  revokeProviderSession(iss: string, osid: string, until: number): void {
    const key = `${iss}\n${osid}`;
    this.#providerSessions.set(key, Math.max(until, this.#providerSessions.get(key) ?? 0));
    this.#written();
    this.onRevoked?.({ kind: 'provider-session', iss, osid });
  }

  /** Ends every session of `sub` at `iss` created at or before `before` (epoch seconds). */
  revokeSubject(iss: string, sub: string, before: number, until: number): void {
    const key = `${iss}\n${sub}`;
    const prev = this.#subjects.get(key);
    this.#subjects.set(key, { before: Math.max(before, prev?.before ?? 0), until: Math.max(until, prev?.until ?? 0) });
    this.#written();
    this.onRevoked?.({ kind: 'subject', iss, sub, before });
  }

  isRevoked(s: RevocableSession): boolean {
    if (this.#sids.size > 0 && this.#sids.has(s.sid)) return true;
    if (this.#providerSessions.size > 0 && s.osid !== undefined && this.#providerSessions.has(`${s.iss}\n${s.osid}`)) return true;
    if (this.#subjects.size > 0) {
      const cut = this.#subjects.get(`${s.iss}\n${s.sub}`);
      if (cut !== undefined && s.iat <= cut.before) return true;
    }
    return false;
  }

  /**
   * Is a bearer token cut by a revocation from the provider (back-channel logout)? Its
   * `sid` claim names the provider session, its `iat` says whether it was issued before
   * a logout of its subject (a token without `iat` could be from before). A logout at
   * ztproxy (`revokeSession`) ends ztproxy's own sessions only: no token carries that id.
   */
  isTokenRevoked(iss: string, sub: string, claims: Readonly<Record<string, unknown>>): boolean {
    if (this.#providerSessions.size === 0 && this.#subjects.size === 0) return false;
    const osid = claims['sid'];
    if (typeof osid === 'string' && this.#providerSessions.has(`${iss}\n${osid}`)) return true;
    const cut = this.#subjects.get(`${iss}\n${sub}`);
    return cut !== undefined && tokenIssuedBy(claims, cut.before);
  }

  #written(): void {
    if (++this.#writes % SWEEP_EVERY === 0) this.sweep(Date.now());
  }

  /** Drops entries whose sessions have all expired by `now` (epoch ms). */
  sweep(now: number): void {
    for (const [k, until] of this.#sids) if (until <= now) this.#sids.delete(k);
    for (const [k, until] of this.#providerSessions) if (until <= now) this.#providerSessions.delete(k);
    for (const [k, cut] of this.#subjects) if (cut.until <= now) this.#subjects.delete(k);
  }
}
