// Long-lived streams (SPEC §8): WebSocket tunnels and CONNECT tunnels outlive the request
// that opened them — for hours, while the policy, the session, the token and the posture
// they were judged with change under them. Every such stream is registered here once it
// is open (the upstream accepted it and the client was told so) and leaves when its
// client socket closes. The registry is what re-authorization walks (issue #6 point 4),
// what shutdown cuts, and what the stream metrics count.
//
// A stream is closed through `close(stream, reason)`: the reason becomes its access-log
// line's `reason` (the line is written when the stream ends) and the `reason` label of
// `ztproxy_stream_closes_total`. A stream that ends by itself (either peer closed it)
// keeps the reason its relay set, or `<kind>-closed`.
//
// Re-authorization (started by the proxy with `start`): every open stream is judged
// again (./reauthorize.ts) against the current snapshot
//  - by one sweep timer every `streams.reauthorizeInterval`, walked in slices of
//    SWEEP_SLICE streams per event-loop turn so requests are not held up behind it;
//  - at once on a reload (`reauthorizeAll`: only streams whose answer changed close);
//  - at once when the credentials it rode in on stop counting — the token's `exp`, the
//    posture's end, the client certificate's notAfter, the session's absolute end —
//    through one deadline-ordered heap and one timer (not one timer per stream);
//  - at once on a session revocation (logout, back-channel logout, refused refresh) and
//    a subject's lockout ban, found through indexes by session id, provider session and
//    issuer + subject (never a scan of every stream);
//  - at once after a renewal (POST /.ztproxy/streams/renew, ./stream-renew.ts), which
//    finds the stream by its `X-ZT-Stream` id.
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { tokenIssuedBy, type Revocation } from '../identity/session/revocations.ts';
import type { RequestContext, Snapshot } from '../pipeline/context.ts';
import { judgeStream, streamDeadline, type StreamVerdict } from './reauthorize.ts';

export type StreamKind = 'websocket' | 'tunnel';

export interface OpenStream {
  /** The `X-ZT-Stream` id the client was given (random, unguessable): what a renewal names. */
  readonly id: string;
  readonly kind: StreamKind;
  /**
   * The context the stream was authorized with (its route, subject, device, session).
   * A renewal replaces its subject, token expiry and device with the fresh ones.
   */
  readonly ctx: RequestContext;
  /** The client side: destroying it ends the stream (the relay then closes the upstream side). */
  readonly socket: Duplex;
  /** Epoch ms when the stream opened. */
  readonly openedAt: number;
}

export interface ByteCounter {
  inc(bytes: number): void;
}

export interface StreamTelemetry {
  opened(kind: StreamKind): void;
  closed(kind: StreamKind, reason: string): void;
  /** ztproxy ended the stream (re-authorization, shutdown): the `stream closed` log line. */
  cut(stream: OpenStream, reason: string): void;
  /** A tunnel's byte counter for a route and direction (bound once; added to per chunk). */
  tunnelBytes?(route: string, direction: 'upstream' | 'client'): ByteCounter;
}

const NO_TELEMETRY: StreamTelemetry = { opened() {}, closed() {}, cut() {} };

/** A new stream id: 128 random bits, base64url (22 characters). */
export function newStreamId(): string {
  return randomBytes(16).toString('base64url');
}

/** The shape of an id newStreamId makes: anything else is no stream (no lookup). */
export const STREAM_ID = /^[A-Za-z0-9_-]{22}$/;

/** Streams judged per event-loop turn during a sweep (a slice of 10,000 streams costs a few ms). */
export const SWEEP_SLICE = 500;
/**
 * Remote-PDP questions a walk keeps in flight at most: 10,000 streams on a PDP route must
 * not become 10,000 concurrent calls (the PDP's breaker would open, and every stream would
 * close with pdp-error — fail closed turned into an outage by our own sweep).
 */
const MAX_PENDING_JUDGMENTS = 64;
/** setTimeout's largest delay (~24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** What the registry keeps of a stream besides what it hands out. */
interface Entry extends HeapItem {
  readonly stream: OpenStream;
  /** Epoch ms when its credentials next stop counting (Infinity: never; then not on the heap). */
  deadline: number;
  /** Its slot in the deadline heap, -1 when not on it. */
  heapIndex: number;
  /** Bumped by a renewal: a verdict still pending from before it is void. */
  generation: number;
  /** Index keys, kept to remove the entry again. */
  readonly sid: string | undefined;
  /** A renewal's token may name another provider session (the user logged in again): re-indexed then. */
  providerSessions: readonly string[];
  readonly subject: string | undefined;
}

/** What the deadline heap orders: its deadline (epoch ms) and where it sits on the heap (-1: not on it). */
export interface HeapItem {
  deadline: number;
  heapIndex: number;
}

/**
 * A binary min-heap of entries by deadline, each entry on it at most once (its
 * `heapIndex`): a renewal moves its entry, a closed stream leaves at once. Stale slots
 * left behind instead would hold every closed stream's context and socket until its
 * deadline — a token's exp (hours), a certificate's notAfter (months) — so a client
 * opening and closing streams in a loop would grow the heap without bound.
 */
export class DeadlineHeap<T extends HeapItem> {
  readonly #slots: T[] = [];

  get size(): number {
    return this.#slots.length;
  }

  peek(): T | undefined {
    return this.#slots[0];
  }

  /** Puts `entry` on the heap at `entry.deadline`, or moves it there if it is already on it. */
  set(entry: T): void {
    if (entry.heapIndex < 0) {
      entry.heapIndex = this.#slots.length;
      this.#slots.push(entry);
    }
    if (!this.#up(entry.heapIndex)) this.#down(entry.heapIndex);
  }

  remove(entry: T): void {
    const i = entry.heapIndex;
    if (i < 0) return;
    const a = this.#slots;
    const last = a.pop()!;
    entry.heapIndex = -1;
    if (last === entry) return;
    a[i] = last;
    last.heapIndex = i;
    if (!this.#up(i)) this.#down(i);
  }

  #put(i: number, entry: T): void {
    this.#slots[i] = entry;
    entry.heapIndex = i;
  }

  /** Sifts slot i up; true if it moved. */
  #up(i: number): boolean {
    const a = this.#slots;
    const entry = a[i]!;
    const start = i;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.deadline <= entry.deadline) break;
      this.#put(i, a[parent]!);
      i = parent;
    }
    this.#put(i, entry);
    return i !== start;
  }

  #down(i: number): void {
    const a = this.#slots;
    const entry = a[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const child = r < a.length && a[r]!.deadline < a[l]!.deadline ? r : l;
      if (a[child]!.deadline >= entry.deadline) break;
      this.#put(i, a[child]!);
      i = child;
    }
    this.#put(i, entry);
  }
}

function addTo<K>(index: Map<K, Set<Entry>>, key: K | undefined, entry: Entry): void {
  if (key === undefined) return;
  let set = index.get(key);
  if (set === undefined) index.set(key, (set = new Set()));
  set.add(entry);
}

function removeFrom<K>(index: Map<K, Set<Entry>>, key: K | undefined, entry: Entry): void {
  if (key === undefined) return;
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(entry);
  if (set.size === 0) index.delete(key);
}

const NONE: readonly string[] = Object.freeze([]);

/**
 * The provider sessions a stream rides on (`iss` + the OP's `sid`), for back-channel
 * logout: its session cookie's and its bearer token's `sid` claim (if the OP puts one in)
 * — both, when a request carried both: they may be two sessions at the OP (a CLI's login
 * and the browser's), and the logout of either ends the stream.
 */
function providerSessionsOf(ctx: RequestContext): readonly string[] {
  const session = ctx.session;
  const fromSession = session?.osid !== undefined ? `${session.iss}\n${session.osid}` : undefined;
  const subject = ctx.subject;
  const sid = subject?.source === 'bearer' ? subject.claims['sid'] : undefined;
  const fromToken = typeof sid === 'string' ? `${subject!.issuer}\n${sid}` : undefined;
  if (fromToken === undefined || fromToken === fromSession) return fromSession === undefined ? NONE : [fromSession];
  return fromSession === undefined ? [fromToken] : [fromSession, fromToken];
}

/** What re-authorization needs from the proxy. */
export interface ReauthorizationSource {
  /** The snapshot requests run on now. */
  snapshot(): Snapshot;
}

/** One per proxy process; it outlives snapshots (a reload re-judges the streams it holds). */
export class StreamRegistry {
  readonly #open = new Map<OpenStream, Entry>();
  readonly #byId = new Map<string, Entry>();
  readonly #bySession = new Map<string, Set<Entry>>();
  readonly #byProviderSession = new Map<string, Set<Entry>>();
  readonly #bySubject = new Map<string, Set<Entry>>();
  readonly #deadlines = new DeadlineHeap<Entry>();
  /**
   * performance.now() of the last event that can turn a stream's answer to no without
   * being found again by a later judgment of its own (a reload, a revocation, a ban): a
   * stream whose request began before it was judged by what came before, and is judged
   * again when it is registered.
   */
  #changedAt = -Infinity;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #deadlineAt = Infinity;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweepInterval = 0;
  #sweeping = false;
  #source: ReauthorizationSource | undefined;
  telemetry: StreamTelemetry = NO_TELEMETRY;

  get size(): number {
    return this.#open.size;
  }

  /** Streams waiting on the deadline heap (at most one slot per open stream); for tests. */
  get deadlinesQueued(): number {
    return this.#deadlines.size;
  }

  /** The streams open now (a live view: streams closed while iterating leave it). */
  streams(): IterableIterator<OpenStream> {
    return this.#open.keys();
  }

  /**
   * Starts re-authorization: the sweep every `streams.reauthorizeInterval` of the current
   * snapshot, and the deadlines. Before this, streams are only listed (unit tests).
   */
  start(source: ReauthorizationSource): void {
    this.#source = source;
    this.#armSweep(source.snapshot().config.streams.reauthorizeInterval);
    for (const entry of this.#open.values()) this.#schedule(entry, source.snapshot(), Date.now());
  }

  /** The snapshot requests run on now; undefined before `start` (unit tests). */
  current(): Snapshot | undefined {
    return this.#source?.snapshot();
  }

  /** Stops the timers (shutdown); streams stay listed until closed. */
  stop(): void {
    this.#source = undefined;
    clearTimeout(this.#sweepTimer);
    clearTimeout(this.#deadlineTimer);
    this.#sweepTimer = undefined;
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
  }

  /** Registers an open stream under `id` (sent to the client as X-ZT-Stream); it leaves when `socket` closes. */
  add(kind: StreamKind, ctx: RequestContext, socket: Duplex, id: string = newStreamId()): OpenStream {
    const stream: OpenStream = { id, kind, ctx, socket, openedAt: Date.now() };
    if (socket.destroyed) return stream;
    const session = ctx.session;
    const subject = ctx.subject;
    const entry: Entry = {
      stream,
      deadline: Infinity,
      heapIndex: -1,
      generation: 0,
      sid: session?.sid,
      providerSessions: providerSessionsOf(ctx),
      subject: subject === undefined ? undefined : `${subject.issuer}\n${subject.sub}`,
    };
    this.#open.set(stream, entry);
    this.#byId.set(id, entry);
    addTo(this.#bySession, entry.sid, entry);
    for (const key of entry.providerSessions) addTo(this.#byProviderSession, key, entry);
    addTo(this.#bySubject, entry.subject, entry);
    this.telemetry.opened(kind);
    socket.once('close', () => {
      if (!this.#open.delete(stream)) return;
      this.#byId.delete(id);
      removeFrom(this.#bySession, entry.sid, entry);
      for (const key of entry.providerSessions) removeFrom(this.#byProviderSession, key, entry);
      removeFrom(this.#bySubject, entry.subject, entry);
      this.#deadlines.remove(entry);
      if (ctx.details === '') ctx.details = `${kind}-closed`;
      this.telemetry.closed(kind, ctx.details);
    });
    const source = this.#source;
    if (source === undefined) return stream;
    const snapshot = source.snapshot();
    // The request was judged when it began; a reload, a logout or a ban since then (while
    // the upstream was being connected, or answered the WebSocket handshake) looked for
    // open streams and could not find this one. It is judged now against what holds now.
    if (ctx.snapshot !== snapshot || this.#changedAt >= ctx.startedAt) void this.#judge(entry, snapshot, Date.now());
    else this.#schedule(entry, snapshot, Date.now());
    return stream;
  }

  /** The open stream with this id, or undefined. */
  find(id: string): OpenStream | undefined {
    return this.#byId.get(id)?.stream;
  }

  /** Ends a stream for `reason` (kebab-case; the access log's and the close metric's reason). */
  close(stream: OpenStream, reason: string): void {
    if (stream.socket.destroyed) return;
    stream.ctx.details = reason;
    this.telemetry.cut(stream, reason);
    stream.socket.destroy();
  }

  /**
   * Ends the streams riding on these client connections for `reason`: a CRL or CA reload
   * found their certificate revoked or no longer trusted. The connections are destroyed
   * by the caller anyway; this gives the streams' close its reason (log and metric).
   */
  closeOn(sockets: readonly Duplex[], reason: string): void {
    if (sockets.length === 0 || this.#open.size === 0) return;
    const dropped = new Set<Duplex>(sockets);
    for (const stream of [...this.#open.keys()]) if (dropped.has(stream.socket)) this.close(stream, reason);
  }

  /** Ends every open stream (shutdown). */
  closeAll(reason: string): void {
    for (const stream of [...this.#open.keys()]) this.close(stream, reason);
  }

  /**
   * Judges every open stream against `snapshot` now (a reload): only those it refuses are
   * closed. Resolves once every stream was judged (remote PDPs' answers included).
   */
  reauthorizeAll(snapshot: Snapshot): Promise<void> {
    this.#changedAt = performance.now();
    if (this.#source !== undefined && snapshot.config.streams.reauthorizeInterval !== this.#sweepInterval) {
      this.#armSweep(snapshot.config.streams.reauthorizeInterval);
    }
    return new Promise((resolve) => this.#walk(snapshot, resolve));
  }

  /** Judges one stream now, after a renewal changed what it rides on; resolves with the close reason, or undefined when it stays open. */
  async renewed(stream: OpenStream, snapshot: Snapshot): Promise<StreamVerdict> {
    const entry = this.#open.get(stream);
    if (entry === undefined) return 'stream-closed';
    entry.generation++;
    // The fresh token may name another provider session: a back-channel logout of that
    // one must find the stream now, and one of the old session no longer concerns it.
    const keys = providerSessionsOf(stream.ctx);
    for (const key of entry.providerSessions) removeFrom(this.#byProviderSession, key, entry);
    entry.providerSessions = keys;
    for (const key of keys) addTo(this.#byProviderSession, key, entry);
    // Judged by the snapshot requests run on now, not the one the renewal began on: a
    // reload while the renewal verified its token has judged (or is asking a PDP about)
    // the stream, and the generation bump above voids that answer.
    const verdict = await this.#judge(entry, this.#source?.snapshot() ?? snapshot, Date.now());
    return stream.socket.destroyed && verdict === undefined ? 'stream-closed' : verdict;
  }

  /**
   * A revocation (src/identity/session/revocations.ts): the streams riding on it close
   * now — ztproxy's session (logout, refused refresh), the provider's session (back-channel
   * logout by `sid`: session cookies and bearer tokens carrying that `sid`), or the user
   * at the provider (back-channel logout by `sub`: sessions and tokens from before it).
   */
  revoked(revocation: Revocation): void {
    this.#changedAt = performance.now();
    let entries: Iterable<Entry> | undefined;
    switch (revocation.kind) {
      case 'session':
        entries = this.#bySession.get(revocation.sid);
        break;
      case 'provider-session':
        entries = this.#byProviderSession.get(`${revocation.iss}\n${revocation.osid}`);
        break;
      case 'subject':
        entries = this.#bySubject.get(`${revocation.iss}\n${revocation.sub}`);
        break;
    }
    if (entries === undefined) return;
    for (const entry of [...entries]) {
      const ctx = entry.stream.ctx;
      const session = ctx.session;
      const subject = ctx.subject;
      // A logout of the user at the provider (back channel, by `sub`) also ends the
      // streams of access tokens issued before it — the authenticate stage refuses
      // those tokens from now on too, so a cut stream cannot simply be reopened with one.
      const cut =
        revocation.kind !== 'subject' ||
        (session !== undefined && session.iat <= revocation.before) ||
        (subject?.source === 'bearer' && tokenIssuedBy(subject.claims, revocation.before));
      if (cut) this.close(entry.stream, 'session-revoked');
    }
  }

  /** A subject's lockout ban began: its streams close now (the sweep would find the ban too). */
  subjectBanned(issuer: string, sub: string): void {
    this.#changedAt = performance.now();
    const entries = this.#bySubject.get(`${issuer}\n${sub}`);
    if (entries === undefined) return;
    for (const entry of [...entries]) this.close(entry.stream, 'locked-out');
  }

  #armSweep(interval: number): void {
    clearTimeout(this.#sweepTimer);
    this.#sweepInterval = interval;
    const tick = (): void => {
      const source = this.#source;
      if (source === undefined) return;
      this.#sweepTimer = setTimeout(tick, this.#sweepInterval).unref();
      // A sweep still walking (slow PDP answers do not hold it, but 10^6 streams might)
      // is not doubled.
      if (this.#sweeping) return;
      this.#sweeping = true;
      this.#walk(source.snapshot(), () => {
        this.#sweeping = false;
      });
    };
    this.#sweepTimer = setTimeout(tick, interval).unref();
  }

  /**
   * Judges every open stream against `snapshot`, SWEEP_SLICE per event-loop turn, with at
   * most MAX_PENDING_JUDGMENTS remote-PDP questions in flight (the walk waits for answers
   * beyond that); `done` once every stream was judged and every answer came.
   */
  #walk(snapshot: Snapshot, done: () => void): void {
    // A live iterator: streams that close meanwhile are skipped, new ones are judged too.
    const it = this.#open.values();
    let pending = 0;
    let waiting = false;
    let exhausted = false;
    const settled = (): void => {
      pending--;
      if (exhausted) {
        if (pending === 0) done();
      } else if (waiting && pending < MAX_PENDING_JUDGMENTS) {
        waiting = false;
        setImmediate(slice);
      }
    };
    const slice = (): void => {
      // A reload replaced the snapshot this walk judges by: its own walk judges every
      // stream by the new one. Going on would judge the rest by a config no longer in
      // force, through PDP clients the reload has closed (pdp-error: streams cut for nothing).
      if (this.#stale(snapshot)) {
        exhausted = true;
        if (pending === 0) done();
        return;
      }
      const now = Date.now();
      for (let n = 0; n < SWEEP_SLICE; n++) {
        if (pending >= MAX_PENDING_JUDGMENTS) {
          waiting = true;
          return;
        }
        const next = it.next();
        if (next.done === true) {
          exhausted = true;
          if (pending === 0) done();
          return;
        }
        const verdict = this.#judge(next.value, snapshot, now);
        if (verdict instanceof Promise) {
          pending++;
          void verdict.finally(settled);
        }
      }
      setImmediate(slice);
    };
    slice();
  }

  /** Judges one stream; closes it on a no, else schedules its next deadline. Resolves with the verdict. */
  #judge(entry: Entry, snapshot: Snapshot, now: number): StreamVerdict | Promise<StreamVerdict> {
    const stream = entry.stream;
    if (stream.socket.destroyed) return undefined;
    let verdict: StreamVerdict | Promise<StreamVerdict>;
    try {
      verdict = judgeStream(stream, snapshot, now);
    } catch {
      // A bug in judging must not keep a stream it could not judge (fail closed).
      verdict = 'reauthorization-error';
    }
    if (verdict instanceof Promise) {
      const generation = entry.generation;
      return verdict.then(
        (v) => this.#apply(entry, generation, v, snapshot),
        () => this.#apply(entry, generation, 'reauthorization-error', snapshot),
      );
    }
    return this.#apply(entry, entry.generation, verdict, snapshot);
  }

  #apply(entry: Entry, generation: number, verdict: StreamVerdict, snapshot: Snapshot): StreamVerdict {
    // A renewal since the question was asked made the answer moot; the renewal's own judgment counts.
    if (generation !== entry.generation) return undefined;
    // An answer by a config a reload has replaced: the reload judged the stream by the new
    // one (reauthorizeAll), whose answer counts. A deadline scheduled from the old one's
    // device.maxAge or session ttl would be wrong too, so it is scheduled by the new one.
    const stale = this.#stale(snapshot);
    if (verdict !== undefined && !stale) this.close(entry.stream, verdict);
    else this.#schedule(entry, this.#source?.snapshot() ?? snapshot, Date.now());
    return stale ? undefined : verdict;
  }

  /** Has a reload replaced `snapshot` since a judgment by it began? (Never before start().) */
  #stale(snapshot: Snapshot): boolean {
    const source = this.#source;
    return source !== undefined && source.snapshot() !== snapshot;
  }

  /** Puts the stream's next deadline on the heap (or moves it there) and re-arms the one timer if it is now the earliest. */
  #schedule(entry: Entry, snapshot: Snapshot, now: number): void {
    if (this.#source === undefined || entry.stream.socket.destroyed) return;
    const at = streamDeadline(entry.stream, snapshot, now);
    if (at === entry.deadline) return;
    entry.deadline = at;
    if (at === Infinity) {
      this.#deadlines.remove(entry);
      return;
    }
    this.#deadlines.set(entry);
    if (at < this.#deadlineAt) this.#armDeadline(at, now);
  }

  #armDeadline(at: number, now: number): void {
    clearTimeout(this.#deadlineTimer);
    this.#deadlineAt = at;
    this.#deadlineTimer = setTimeout(() => this.#deadlinesDue(), Math.min(Math.max(0, at - now), MAX_TIMER_MS)).unref();
  }

  #deadlinesDue(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    const source = this.#source;
    if (source === undefined) return;
    const now = Date.now();
    const snapshot = source.snapshot();
    const heap = this.#deadlines;
    for (let entry = heap.peek(); entry !== undefined && entry.deadline <= now; entry = heap.peek()) {
      heap.remove(entry);
      entry.deadline = Infinity;
      void this.#judge(entry, snapshot, now);
    }
    const next = heap.peek();
    // A timer capped at ~24.8 days fires early: the loop above then finds nothing due and re-arms.
    if (next !== undefined && next.deadline < this.#deadlineAt) this.#armDeadline(next.deadline, now);
  }
}
