// POST /.ztproxy/streams/renew (issue #6 point 4; README "Long-lived streams"): fresh
// credentials for an open stream. A tunnel outlives its token and its posture assertion;
// rather than cut it at their end, the client (`ztproxy connect`) presents fresh ones on
// the side: `X-ZT-Stream: <id>` (from the stream's 200 / 101), `Authorization: Bearer
// <fresh token>` and/or a fresh posture header, over the same client-certificate
// identity if the stream had one. Accepted: the stream's subject, token expiry and device
// become the fresh ones and it is judged again at once (204, or 403 and closed when the
// fresh credentials do not pass).
//
// What an attacker could try, and the answer:
//  - someone else's stream id with their own valid token, a token of another issuer
//    with the same `sub`, a stream opened over a client certificate renewed without it,
//    a stream opened with a browser session or anonymously: 404 `unknown stream`, the
//    same answer as an id that does not exist — the endpoint tells no one which ids are
//    open. Credentials are verified before the id is looked up, so their refusal (401)
//    cannot depend on the id either.
//  - guessing ids: 128 random bits; each 404 and each refused token counts as a failure
//    of the client address under `lockout`, and a banned address gets 429 before any
//    token is verified.
//  - an invalid, expired or forged token: full verification (signature included) by the
//    snapshot's BearerVerifier; 401 `invalid_token`.
//  - replaying an older token of the same user (broader claims from before a group was
//    removed): refused when its `iat` is older than the stream's token's (401).
//  - another device's assertion (a compliant laptop keeping an unmanaged one's tunnel):
//    the fresh device must be the stream's device (same issuer and id), its assertion
//    no older, and it passes the verifier's bindings (cnf to this connection's
//    certificate, `uid` to the stream's subject); else 403, the stream unchanged.
//  - a downgraded posture: accepted as what it is — the stream is judged with it at once
//    and closed if the route needs more.
//  - renewing a closed stream: 404.
import { normalizeHeaderName } from '../basics/headers.ts';
import type { RequestContext, Snapshot } from '../pipeline/context.ts';
import { lockoutAddressStage, countAddressFailure } from '../pipeline/stages/lockout.ts';
import { readPostureHeader } from '../pipeline/stages/posture.ts';
import { NEXT, type LocalReply, type Stage, type StageResult } from '../pipeline/stage.ts';
import type { Subject } from '../basics/subject.ts';
import type { Device } from '../basics/device.ts';
import { STREAM_ID, type OpenStream, type StreamRegistry } from './streams.ts';

const INVALID_TOKEN = Object.freeze({ 'www-authenticate': 'Bearer error="invalid_token"' });
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const NO_STORE = Object.freeze({ 'cache-control': 'no-store' });

function answer(code: LocalReply['code'], details: string, headers?: Readonly<Record<string, string>>, body?: string): StageResult {
  return { reply: { code, details, ...(headers ? { headers } : {}), ...(body !== undefined ? { body } : {}) } };
}

/** The values of one header in the client's raw headers (a repeated header is ambiguous). */
function rawValues(ctx: RequestContext, lowerName: string): string[] {
  const raw = ctx.req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === lowerName.length && raw[i]!.toLowerCase() === lowerName) out.push(raw[i + 1]!);
  return out;
}

/** The 404 of the contract: `{"error":"unknown stream"}`, whether the id is unknown or someone else's. */
function unknownStream(ctx: RequestContext): StageResult {
  countAddressFailure(ctx);
  return { reply: { code: 'not-found', details: 'renew-stream-unknown', body: JSON.stringify({ error: 'unknown stream', requestId: ctx.id }) } };
}

function invalidToken(ctx: RequestContext, details: string): StageResult {
  countAddressFailure(ctx);
  return answer('unauthorized', details, INVALID_TOKEN);
}

/** Is the renewing caller the stream's owner? Subject (issuer + sub, bearer streams only) and certificate identity. */
function owns(stream: OpenStream, ctx: RequestContext, fresh: Subject | undefined): boolean {
  const opened = stream.ctx;
  const had = opened.subject;
  if (had === undefined) {
    // An anonymous stream (a route that admits devices or certificates, not users) has
    // no subject a token could match: renewed with posture only.
    if (fresh !== undefined) return false;
  } else {
    // A browser session's stream is the browser's: it reconnects; there is no token to renew.
    if (had.source !== 'bearer' || fresh === undefined) return false;
    if (fresh.issuer !== had.issuer || fresh.sub !== had.sub) return false;
  }
  const cert = opened.conn;
  if (cert.certThumbprint !== undefined) {
    // A SPIFFE workload's certificate rotates (hours); the workload is the SPIFFE ID.
    // Without one, the certificate itself is the identity.
    if (ctx.conn.clientCert !== 'verified') return false;
    if (cert.spiffeId !== undefined ? ctx.conn.spiffeId !== cert.spiffeId : ctx.conn.certThumbprint !== cert.certThumbprint) return false;
  }
  return true;
}

function iatOf(subject: Subject | undefined): number | undefined {
  const iat = subject?.claims['iat'];
  return typeof iat === 'number' ? iat : undefined;
}

/** Is the fresh token older (`iat`) than the one the stream rides on now? Without an `iat` it cannot show it is not. */
function olderToken(opened: RequestContext, fresh: Subject | undefined): boolean {
  if (fresh === undefined) return false;
  const oldIat = iatOf(opened.subject);
  const newIat = iatOf(fresh);
  return oldIat !== undefined && (newIat === undefined || newIat < oldIat);
}

function sameDevice(a: Device, b: Device): boolean {
  return a.issuer === b.issuer && a.id === b.id;
}

/** The renewal endpoint; one per snapshot (it answers with that snapshot's verifiers). */
export class StreamRenewStage implements Stage {
  readonly name = 'stream-renew';
  readonly #streams: StreamRegistry;

  constructor(streams: StreamRegistry) {
    this.#streams = streams;
  }

  async run(ctx: RequestContext): Promise<StageResult> {
    if (ctx.method !== 'POST') return answer('method-not-allowed', 'renew-method', { allow: 'POST' });
    const snapshot = ctx.snapshot;
    if (snapshot.lockout !== undefined) {
      const banned = await lockoutAddressStage.run(ctx);
      if (banned !== NEXT) return banned;
    }
    const ids = rawValues(ctx, 'x-zt-stream');
    if (ids.length !== 1) return answer('bad-request', ids.length === 0 ? 'renew-stream-id-missing' : 'renew-stream-id-several');

    // The credentials first, whatever the id: their answer must not depend on it.
    const authorization = rawValues(ctx, 'authorization');
    if (authorization.length > 1) return answer('bad-request', 'several-authorization-headers');
    let fresh: Subject | undefined;
    let freshExp: number | undefined;
    if (authorization.length === 1) {
      const match = BEARER.exec(authorization[0]!);
      if (match === null) return invalidToken(ctx, 'token-malformed');
      if (snapshot.bearer === undefined) return invalidToken(ctx, 'bearer-not-configured');
      const verified = await snapshot.bearer.verify(match[1]!, ctx.conn.certThumbprint);
      if (!verified.ok) {
        if (verified.reason === 'jwks-unavailable') return answer('service-unavailable', 'jwks-unavailable');
        return invalidToken(ctx, verified.reason);
      }
      fresh = verified.subject;
      freshExp = verified.expiresAt;
      if (snapshot.sessions?.revocations.isTokenRevoked(fresh.issuer, fresh.sub, fresh.claims) === true) return invalidToken(ctx, 'token-revoked');
    }
    const posture = snapshot.posture;
    const postureHeader = posture === undefined ? undefined : readPostureHeader(ctx.req.rawHeaders, posture.header, normalizeHeaderName(posture.header));
    const postureValue = postureHeader !== undefined && 'value' in postureHeader ? postureHeader.value : undefined;
    if (postureHeader !== undefined && 'problem' in postureHeader && postureHeader.problem !== 'posture-absent') {
      return answer('bad-request', `renew-${postureHeader.problem}`);
    }
    if (fresh === undefined && postureValue === undefined) return answer('bad-request', 'renew-nothing-fresh');

    const id = ids[0]!;
    const stream = STREAM_ID.test(id) ? this.#streams.find(id) : undefined;
    if (stream === undefined || stream.socket.destroyed || !owns(stream, ctx, fresh)) return unknownStream(ctx);
    // From here on the caller has shown it is the stream's owner.
    ctx.subject = fresh ?? stream.ctx.subject;
    const opened = stream.ctx;
    if (olderToken(opened, fresh)) return answer('unauthorized', 'renew-token-older-than-stream', INVALID_TOKEN);

    let device: Device | undefined;
    if (postureValue !== undefined) {
      // Bindings as on any request: cnf to this connection's certificate, `uid` to the stream's user.
      const result = await posture!.verify(postureValue, ctx.conn.certThumbprint, opened.subject?.sub);
      if (!result.ok) return answer('forbidden', `renew-${result.reason}`);
      device = result.device;
      const had = opened.device;
      if (had !== undefined && (!sameDevice(had, device) || device.issuedAt < had.issuedAt)) return answer('forbidden', 'renew-posture-other-device');
      // Asked again after the wait: a concurrent renewal may have moved the stream to a
      // newer token meanwhile, which this older one must not replace.
      if (olderToken(opened, fresh)) return answer('unauthorized', 'renew-token-older-than-stream', INVALID_TOKEN);
    }
    return this.#apply(ctx, snapshot, stream, fresh, freshExp, device);
  }

  async #apply(ctx: RequestContext, snapshot: Snapshot, stream: OpenStream, fresh: Subject | undefined, freshExp: number | undefined, device: Device | undefined): Promise<StageResult> {
    const opened = stream.ctx;
    if (fresh !== undefined) {
      opened.subject = fresh;
      opened.tokenExpiresAt = freshExp;
    }
    if (device !== undefined) {
      opened.device = device;
      opened.postureProblem = undefined;
    }
    const verdict = await this.#streams.renewed(stream, snapshot);
    if (verdict === 'stream-closed') return unknownStream(ctx);
    if (verdict !== undefined) return answer('forbidden', `renew-${verdict}`);
    return answer('no-content', 'stream-renewed', NO_STORE, '');
  }
}
