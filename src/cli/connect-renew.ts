// Keeping an open tunnel alive past the credentials it rode in on (issue #6 point 4):
// the proxy re-authorizes every open stream and closes it when its token or posture
// assertion expires, unless fresh ones are presented on it. Shortly before the earliest of
// them expires, `ztproxy connect` fetches fresh ones (the stored login refreshes, the token
// file is re-read, the posture command re-run) and POSTs them to /.ztproxy/streams/renew
// with the stream's X-ZT-Stream id. If that fails it says so on stderr — the proxy closes
// the stream, not the CLI.
import type { Credential, Source } from './connect-sources.ts';
import type { RenewAnswer } from './connect-http.ts';

/** How long before expiry to renew: a quarter of the credential's lifetime, at most a minute, at least a second. */
export function renewLead(credential: Credential, receivedAt: number): number {
  if (credential.expiresAt === undefined) return 0;
  const lifetime = credential.expiresAt - (credential.issuedAt ?? receivedAt);
  return Math.min(60_000, Math.max(1_000, Math.floor(lifetime / 4)));
}

/** When to renew a credential (ms since the epoch), or undefined for one that does not expire. */
export function renewAt(credential: Credential | undefined, receivedAt: number): number | undefined {
  if (credential?.expiresAt === undefined) return undefined;
  return credential.expiresAt - renewLead(credential, receivedAt);
}

/** A tunnel that closes this close to its credentials' expiry was cut for it (the proxy's clock may run a little ahead). */
const EXPIRY_SLACK_MS = 2_000;

/** Between failed attempts; a renewal keeps trying until what it renews has expired. */
export const RETRY_MS = 10_000;

export interface RenewalDeps {
  readonly token: Source | undefined;
  readonly posture: Source | undefined;
  readonly postureHeader: string;
  readonly send: (streamId: string, token: string | undefined, posture: { header: string; value: string } | undefined) => Promise<RenewAnswer>;
  /** One line on stderr (already prefixed by the caller). */
  readonly warn: (line: string) => void;
  readonly now?: () => number;
}

interface Held {
  credential: Credential;
  receivedAt: number;
}

function changed(held: Held | undefined, fresh: Credential | undefined): Credential | undefined {
  return fresh === undefined || fresh.value === held?.credential.value ? undefined : fresh;
}

export class StreamRenewal {
  readonly #streamId: string | undefined;
  readonly #deps: RenewalDeps;
  readonly #now: () => number;
  #token: Held | undefined;
  #posture: Held | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #expiryReported = false;

  constructor(streamId: string | undefined, presented: { token?: Credential | undefined; posture?: Credential | undefined }, deps: RenewalDeps) {
    this.#streamId = streamId;
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    const now = this.#now();
    this.#token = presented.token === undefined ? undefined : { credential: presented.token, receivedAt: now };
    this.#posture = presented.posture === undefined ? undefined : { credential: presented.posture, receivedAt: now };
  }

  /** The earliest expiry among what the stream rode in on (ms), or undefined. */
  expiresAt(): number | undefined {
    const times = [this.#token?.credential.expiresAt, this.#posture?.credential.expiresAt].filter((t): t is number => t !== undefined);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /** When the next renewal is due (ms), or undefined when nothing expires. */
  dueAt(): number | undefined {
    const times = [this.#token, this.#posture].map((h) => (h === undefined ? undefined : renewAt(h.credential, h.receivedAt))).filter((t): t is number => t !== undefined);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  start(): void {
    if (this.expiresAt() === undefined) return;
    if (this.#streamId === undefined) {
      this.#deps.warn(`the proxy gave this tunnel no ${'X-ZT-Stream'} id: it cannot be renewed and ends when its credentials expire (${new Date(this.expiresAt()!).toISOString()})`);
      return;
    }
    this.#schedule(this.dueAt()!);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /**
   * The tunnel closed: renewing stops. True when it closed as what it rode in on expired
   * without fresh credentials (the proxy's cut, not the service's end); a line says so
   * unless a failed renewal said it already.
   */
  closed(): boolean {
    const expires = this.expiresAt();
    const lapsed = expires !== undefined && this.#now() >= expires - EXPIRY_SLACK_MS;
    const reported = this.#expiryReported;
    this.stop();
    if (lapsed && !reported) {
      this.#deps.warn(`the tunnel ended as its credentials expired (${new Date(expires).toISOString()}) with no fresh ones presented: log in again or check --token-file / --posture-command`);
    }
    return lapsed;
  }

  #schedule(at: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    // Timers hold at most 2^31-1 ms; a later due time is reached in steps.
    const delay = Math.min(Math.max(0, at - this.#now()), 2 ** 31 - 1);
    this.#timer = setTimeout(() => void this.renewNow(), delay);
    // The relay keeps the process alive, never the renewal.
    this.#timer.unref();
  }

  /** After a failed or useless attempt: again in RETRY_MS, unless what needed renewing has expired by then. */
  #retry(why: string, quiet = false): void {
    const expires = this.expiresAt();
    const now = this.#now();
    if (expires === undefined || now >= expires) {
      this.#expiryReported = true;
      this.#deps.warn(`${why}; the tunnel's credentials expired${expires === undefined ? '' : ` at ${new Date(expires).toISOString()}`}: the proxy will close it`);
      this.stop();
      return;
    }
    if (!quiet) this.#deps.warn(`${why}; trying again (the tunnel's credentials expire at ${new Date(expires).toISOString()})`);
    this.#schedule(Math.min(now + RETRY_MS, expires));
  }

  #isDue(held: Held | undefined): boolean {
    const at = held === undefined ? undefined : renewAt(held.credential, held.receivedAt);
    return at !== undefined && at <= this.#now();
  }

  async #fresh(source: Source | undefined, what: string): Promise<Credential | undefined> {
    if (source === undefined) return undefined;
    try {
      return await source();
    } catch (err) {
      this.#deps.warn(`cannot get a fresh ${what}: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** One renewal attempt (exported for tests through the class; the timer calls it). */
  async renewNow(): Promise<void> {
    if (this.#stopped || this.#streamId === undefined) return;
    // Nothing is sent unless something changed: the stored login hands out the same token
    // until shortly before it expires (it refreshes then), a token file until someone
    // rewrites it.
    // Each only when it is due: a posture command is not re-run for a token's sake.
    const token = changed(this.#token, this.#isDue(this.#token) ? await this.#fresh(this.#deps.token, 'token') : undefined);
    const posture = changed(this.#posture, this.#isDue(this.#posture) ? await this.#fresh(this.#deps.posture, 'posture assertion') : undefined);
    if (this.#stopped) return;
    if (token === undefined && posture === undefined) {
      this.#retry('no fresh credentials to renew the tunnel with', true);
      return;
    }
    let answer: RenewAnswer;
    try {
      // A stream that rode in on a token is renewed only by its owner: the token (fresh,
      // else the one it holds, still valid) goes with every renewal, a fresh posture too.
      const proof = token?.value ?? this.#token?.credential.value;
      answer = await this.#deps.send(this.#streamId, proof, posture === undefined ? undefined : { header: this.#deps.postureHeader, value: posture.value });
    } catch (err) {
      this.#retry(`renewal failed: ${(err as Error).message}`);
      return;
    }
    if (this.#stopped) return;
    if (answer.status === 404) {
      // The stream is closed (or was never ours): nothing left to keep alive.
      this.#deps.warn(`renewal refused: the proxy no longer knows this tunnel (404${answer.requestId === undefined ? '' : `, request id ${answer.requestId}`})`);
      this.stop();
      return;
    }
    if (answer.status !== 204 && answer.status !== 200) {
      const hint = answer.status === 401 ? ' (the fresh token was refused: log in again)' : answer.status === 403 ? ' (denied by policy)' : '';
      this.#retry(`renewal refused: ${answer.status}${answer.error === undefined ? '' : ` ${answer.error}`}${answer.requestId === undefined ? '' : ` (request id ${answer.requestId})`}${hint}`);
      return;
    }
    const now = this.#now();
    const before = this.dueAt() ?? now;
    if (token !== undefined && this.#token !== undefined) this.#token = { credential: token, receivedAt: now };
    if (posture !== undefined && this.#posture !== undefined) this.#posture = { credential: posture, receivedAt: now };
    const next = this.dueAt();
    if (next === undefined) return;
    // Accepted, but nothing got fresher (the token file was not updated yet; the login
    // refreshes only near expiry): ask again soon rather than spin on a due time passed.
    if (next <= now || next <= before) this.#retry('no fresher credentials were available', true);
    else this.#schedule(next);
  }
}
