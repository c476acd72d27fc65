// Stage 2: request sanitation (SPEC §4). Rejects what is ambiguous, computes the one
// canonical request (see ../canonical.ts), and decides which client headers may go on:
// identity-bearing (the families of ../../basics/identity-headers.ts plus the top-level
// `stripHeaders`), hop-by-hop and Connection-named headers are dropped here, before any
// stage adds ztproxy's own; a route's own `stripHeaders` is applied once it is matched
// (route-match.ts).
//
// Message framing is judged first (../framing.ts): nothing else may read a request
// whose length some hop could read differently. What Node's HTTP parser (llhttp, strict
// mode) already refuses with 400 before this stage runs: invalid header-name or
// header-value bytes, obsolete line folding, and most faulty framing.
import type { RequestContext } from '../context.ts';
import { canonicalizeConnectTarget, canonicalizeHost, canonicalizeHostCached, canonicalizePath, isValidQuery, type CanonicalHost, type ConnectTarget } from '../../basics/canonical.ts';
import { framingFault } from '../framing.ts';
import { FORWARDED_HEADERS, HOP_BY_HOP, connectionTokens, normalizeHeaderName } from '../../basics/headers.ts';
import { NEXT, reply, type Stage, type StageResult } from '../stage.ts';
import { clientFromForwardedFor } from './connection-identity.ts';
import { withoutOurCookies } from '../../identity/session/cookies.ts';

const TRACE_REFUSED = reply('method-not-allowed', 'trace-not-allowed');
const CONNECT_TARGET_REFUSED: Record<string, StageResult> = {};
const CONNECT_HOST_MISMATCH = reply('bad-request', 'connect-host-mismatch');
const CONNECT_TARGET_PATH = Object.freeze({ path: '/', encodedSlash: false });
/** What a policy's `path` rule sees for a CONNECT: a tunnel has no path (docs/design.md "CONNECT targets"). */
export const CONNECT_PATH = '/';

/**
 * The reply to a method refused before any route, or undefined. Shared with the policy
 * tests and explain (src/cli/described-request.ts), so they never judge by a route's
 * policy a request the proxy refuses here. (CONNECT is judged by its target:
 * connectTarget below.)
 */
export function refusedMethod(method: string): StageResult | undefined {
  // TRACE echoes the request — headers ztproxy adds included — back to the client
  // (cross-site tracing); nginx refuses it by default too.
  if (method === 'TRACE' || method === 'TRACK') return TRACE_REFUSED;
  return undefined;
}

/**
 * A CONNECT's target (RFC 9110 §9.3.6: authority-form) in its canonical form, checked
 * against its Host header (which must name the same host and port: a Host that
 * disagrees is a second opinion on where the tunnel goes, and some hop may follow it),
 * or the 400 that refuses it. Shared with the policy tests and explain, so a described
 * CONNECT is routed by exactly this target.
 */
export function connectTarget(url: string, host: string | undefined): { target: ConnectTarget } | { refused: StageResult } {
  const parsed = canonicalizeConnectTarget(url);
  if (!parsed.ok) return { refused: (CONNECT_TARGET_REFUSED[parsed.reason] ??= reply('bad-request', parsed.reason)) };
  if (host !== undefined) {
    const h = canonicalizeHost(host);
    if (h === undefined || h.name !== parsed.target.name || h.port !== parsed.target.port) return { refused: CONNECT_HOST_MISMATCH };
  }
  return { target: parsed.target };
}

export const sanitizeStage: Stage = {
  name: 'sanitize',
  run(ctx: RequestContext): StageResult {
    const req = ctx.req;
    const method = req.method ?? '';
    const fault = framingFault(req, ctx.upgrade !== undefined);
    if (fault !== undefined) return reply('bad-request', fault);
    // RFC 9112 §6.1: no Transfer-Encoding in a response to HTTP/1.0. Node would chunk it
    // anyway for a client that sends `TE: chunked`; an HTTP/1.0 hop in front would then
    // pass the chunk-size lines on as content.
    if (req.httpVersionMinor === 0 && ctx.res) ctx.res.useChunkedEncodingByDefault = false;
    const refused = refusedMethod(method);
    if (refused !== undefined) return refused;
    const url = req.url ?? '';
    // CONNECT (a TCP tunnel, routed by its target alone) arrives only on the raw socket.
    const connect = method === 'CONNECT';
    if (connect && ctx.upgrade === undefined) return reply('bad-request', 'connect-not-allowed');
    let path: { readonly path: string; readonly encodedSlash: boolean } = CONNECT_TARGET_PATH;
    let query = '';
    if (!connect) {
      if (url === '*') return reply('bad-request', 'asterisk-form');
      // Absolute-form (`GET http://other/ HTTP/1.1`) would let the target's authority
      // disagree with Host; a reverse proxy only takes origin-form.
      if (url.charCodeAt(0) !== 47) return reply('bad-request', 'absolute-form');
      const q = url.indexOf('?');
      const rawPath = q < 0 ? url : url.slice(0, q);
      query = q < 0 ? '' : url.slice(q + 1);
      if (!isValidQuery(query)) return reply('bad-request', 'invalid-query');
      const canonical = canonicalizePath(rawPath);
      if (!canonical.ok) return reply('bad-request', canonical.reason);
      path = canonical;
    }

    // One pass over the raw headers: count Host, collect Connection tokens and the
    // forwarded headers; a second pass (below) filters.
    const raw = req.rawHeaders;
    let hostValue: string | undefined;
    let hostCount = 0;
    let connection: string[] | undefined;
    let xff: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const len = name.length;
      if (len === 4 && name.toLowerCase() === 'host') {
        hostCount++;
        hostValue = raw[i + 1];
      } else if (len === 10 && name.toLowerCase() === 'connection') {
        (connection ??= []).push(raw[i + 1]!);
      }
    }
    if (hostCount !== 1 || hostValue === undefined) return reply('bad-request', hostCount === 0 ? 'missing-host' : 'several-hosts');
    let host: CanonicalHost | undefined;
    if (connect) {
      const judged = connectTarget(url, hostValue);
      if ('refused' in judged) return judged.refused;
      host = judged.target;
      ctx.port = judged.target.port;
    } else {
      host = canonicalizeHostCached(hostValue);
      if (!host) return reply('bad-request', 'invalid-host');
    }

    const named = connection ? connectionTokens(connection) : undefined;
    const trusted = ctx.peerTrusted;
    const stripper = ctx.snapshot.headerStripper;
    const out: string[] = [];
    let cookies: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const norm = normalizeHeaderName(name);
      if (norm === 'host' || HOP_BY_HOP.has(norm)) continue;
      // Identity headers other proxies set (../../basics/identity-headers.ts), whatever
      // else the request says about them (a Connection that names one included).
      const family = stripper.familyOf(norm);
      if (family !== undefined) {
        (ctx.strippedFamilies ??= []).push(family);
        continue;
      }
      if (named?.has(norm)) continue;
      if (FORWARDED_HEADERS.has(norm)) {
        if (!trusted || norm !== name.toLowerCase()) continue;
        const value = raw[i + 1]!;
        if (norm === 'x-forwarded-for') xff = xff === undefined ? value : `${xff}, ${value}`;
        else if (norm === 'x-forwarded-proto') ctx.forwardedProto ??= value === 'http' || value === 'https' ? value : undefined;
        else if (norm === 'x-forwarded-host') ctx.forwardedHost ??= canonicalizeHost(value)?.authority;
        else out.push(name, value);
        continue;
      }
      if (norm === 'cookie') {
        // ztproxy's own cookies (the session, login flows) are read here and never
        // reach the upstream: it must not be able to replay or log them.
        const value = raw[i + 1]!;
        cookies = cookies === undefined ? value : `${cookies}; ${value}`;
        const rest = withoutOurCookies(value);
        if (rest !== '') out.push(name, rest);
        continue;
      }
      out.push(name, raw[i + 1]!);
    }
    ctx.cookieHeader = cookies;
    if (xff !== undefined) {
      const client = clientFromForwardedFor(ctx, xff);
      if (client === undefined) return reply('bad-request', 'invalid-forwarded-for');
      ctx.forwardedFor = xff;
      ctx.clientIp = client;
    }
    ctx.method = method;
    ctx.host = host.name;
    ctx.authority = host.authority;
    ctx.path = path.path;
    ctx.encodedSlash = path.encodedSlash;
    ctx.query = query;
    ctx.forwardHeaders = out;
    return NEXT;
  },
};
