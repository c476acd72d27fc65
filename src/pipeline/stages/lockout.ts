// Stages: deny after repeated failures (SPEC §3 `lockout`, §4: 429 with Retry-After).
// The per-address check is the first stage of a route's chain — after sanitation and
// route match (the client address behind trusted proxies is known), before the bearer
// token's signature is checked or a PDP is asked: a banned address costs one lookup. The
// per-subject check follows authentication (the subject is known only then) and precedes
// posture and authorization; a banned subject is refused from any address.
//
// What counts as a failure is decided by the stage that refused (countFailure, called by
// the runner): a credential the authenticate stage refused (401 invalid_token), a client
// certificate that expired under `clientAuth: require` (401), and an authorization denial
// (403). Not counted: a request without credentials (401 / login redirect: a browser's
// first visit is no attack), a step-up, our own failures (503), 404s. Per subject only
// for a verified subject — a token whose signature failed names nobody, so a flood of
// forged tokens for alice never bans alice. docs/design.md "Lockout" has the rows.
import { ipKey, subjectKey, type Lockout, type LockoutKind } from '../../identity/lockout/index.ts';
import type { RequestContext } from '../context.ts';
import { NEXT, type LocalReply, type Stage, type StageResult } from '../stage.ts';

function lockedOut(ctx: RequestContext, kind: LockoutKind, leftMs: number): StageResult {
  if (leftMs <= 0) return NEXT;
  ctx.snapshot.lockout!.telemetry.refused(kind);
  // Whole seconds, rounded up: a client that waits Retry-After is never still banned.
  return { reply: { code: 'too-many-requests', details: 'locked-out', headers: { 'retry-after': String(Math.ceil(leftMs / 1000)) } } };
}

function storeFailed(ctx: RequestContext, err: unknown): StageResult {
  // A store that cannot answer (a Redis later) must not take every route down: the
  // request goes on as if no lockout were configured, and the failure is logged.
  ctx.snapshot.lockout!.telemetry.storeFailed(err);
  return NEXT;
}

function check(ctx: RequestContext, kind: LockoutKind, key: string): StageResult | Promise<StageResult> {
  const left = ctx.snapshot.lockout!.banLeft(kind, key, Date.now());
  if (typeof left === 'number') return lockedOut(ctx, kind, left);
  return left.then(
    (ms) => lockedOut(ctx, kind, ms),
    (err: unknown) => storeFailed(ctx, err),
  );
}

/**
 * The address a request counts against, or '' for none: a trusted proxy's own address
 * (a request from it without X-Forwarded-For) is never a key — it carries many clients,
 * and one of them could otherwise ban all the others (the connection guard exempts it too).
 */
function countedAddress(ctx: RequestContext): string {
  return ctx.peerTrusted && ctx.clientIp === ctx.peerIp ? '' : ctx.clientIp;
}

export const lockoutAddressStage: Stage = {
  name: 'lockout',
  run(ctx: RequestContext): StageResult | Promise<StageResult> {
    const address = countedAddress(ctx);
    return address === '' ? NEXT : check(ctx, 'ip', ipKey(address));
  },
};

export const lockoutSubjectStage: Stage = {
  name: 'lockout-subject',
  run(ctx: RequestContext): StageResult | Promise<StageResult> {
    const subject = ctx.subject;
    return subject === undefined ? NEXT : check(ctx, 'subject', subjectKey(subject));
  },
};

/** Does this refusal count against the client (and its subject)? By the stage that gave it. */
function isFailure(stage: string, reply: LocalReply): boolean {
  if (reply.code === 'unauthorized') return stage === 'authenticate' || stage === 'connection-identity';
  return reply.code === 'forbidden' && stage === 'authorize';
}

/** Counts a refusal of a route's chain as a failure of the client address and, if verified, of the subject. */
export function countFailure(ctx: RequestContext, stage: string, reply: LocalReply): void {
  const lockout = ctx.snapshot.lockout;
  if (lockout === undefined || !isFailure(stage, reply)) return;
  const subject = ctx.subject;
  // A cross-site navigation carries the session cookie (SameSite=Lax) but was chosen by
  // another site: a page could send a signed-in user's browser to a forbidden URL ten
  // times and ban them (and their address). It counts for neither.
  if (subject?.source === 'session' && ctx.req.headers['sec-fetch-site'] === 'cross-site') return;
  const now = Date.now();
  const address = countedAddress(ctx);
  if (address !== '') lockout.recordFailure('ip', ipKey(address), undefined, now);
  if (subject !== undefined) lockout.recordFailure('subject', subjectKey(subject), subject.issuer, now);
}

/**
 * The ban in force now on a request's address or subject (ms left; 0: none), asked again
 * of an open stream (proxy/reauthorize.ts) with the lockout of the snapshot it is judged
 * against: a subject banned after the stream opened — from any address — loses its
 * streams too, as it would lose its next request.
 */
export function banLeft(lockout: Lockout, ctx: RequestContext, now: number): number | Promise<number> {
  const address = countedAddress(ctx);
  const subject = ctx.subject;
  const ip = address === '' ? 0 : lockout.banLeft('ip', ipKey(address), now);
  const sub = subject === undefined ? 0 : lockout.banLeft('subject', subjectKey(subject), now);
  if (typeof ip === 'number' && typeof sub === 'number') return Math.max(ip, sub);
  return Promise.all([ip, sub]).then(([a, b]) => Math.max(a, b));
}

/**
 * Counts a refused stream renewal (proxy/stream-renew.ts: an invalid token, a stream id
 * that is not the caller's) against the client address only: guessing stream ids or
 * trying tokens there is the same attack as at any route, and the subject is unproven.
 */
export function countAddressFailure(ctx: RequestContext): void {
  const lockout = ctx.snapshot.lockout;
  const address = countedAddress(ctx);
  if (lockout !== undefined && address !== '') lockout.recordFailure('ip', ipKey(address), undefined, Date.now());
}
