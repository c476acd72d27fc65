// The policy engine's data: what the pipeline hands in per request and what comes back.
// Every field a criterion reads is filled by the pipeline before authorization runs.
import type { Device } from '../basics/device.ts';
import type { Subject } from '../basics/subject.ts';

/** One request as the policy sees it; filled by the pipeline from the canonical request. */
export interface PolicyInput {
  /** Uppercase HTTP method. */
  method: string;
  /** Lowercase host name, no port, no trailing dot; an IPv6 literal without brackets. */
  host: string;
  /**
   * Canonical path (unreserved characters decoded, dot segments resolved), no query;
   * case-folded (../basics/path-case.ts) on a route with `paths: caseInsensitive`.
   */
  path: string;
  /** Client IP address: IPv4 dotted or IPv6 (IPv4-mapped IPv6 is fine). */
  sourceIp: string;
  /** The single `spiffe://` URI SAN of a verified client certificate, if any. */
  spiffeId: string | undefined;
  /** Evaluation time, epoch milliseconds. */
  now: number;
  /**
   * The authenticated user (session cookie or bearer token), absent for an anonymous
   * request. Optional so that callers without an identity stage still type-check; an
   * identity criterion (authenticated, user, email, domain, groups, claim, authAge)
   * never matches without one — a non-match, not an error.
   */
  subject?: Subject | undefined;
  /**
   * The device, from a verified device-posture assertion (SPEC §6); absent when the
   * request carried none that counts. The `device` criterion never matches without one.
   */
  device?: Device | undefined;
}

/** `error` is not a denial: the engine could not evaluate (malformed input); fail closed. */
export type Effect = 'allow' | 'deny' | 'error';

/**
 * The outcome of one evaluation. Objects returned by `decide` are frozen and shared
 * between requests (the hot path allocates nothing), so never mutate one.
 *
 * `reason` (kebab-case, for the access log):
 * - `policy-allow`: an allow rule matched and no deny rule did;
 * - `policy-deny`: a deny rule matched (deny overrides allow);
 * - `policy-deny-unknown`: a deny rule could not be ruled out — it reads an attribute the
 *   request does not carry (no subject, device, certificate, claim); see compile.ts;
 * - `no-allow-matched`: no deny matched and no allow rule matched (or there is none);
 * - `policy-input-invalid`: a criterion could not read the request (e.g. a source IP
 *   that is not an IP address) — effect `error`;
 * - `policy-evaluation-failed`: a criterion threw unexpectedly — effect `error`.
 *
 * `rule` is the id of the deciding rule, e.g. `deny.or[0].path` or `allow.and`.
 *
 * `needsAuthentication` tells "unauthenticated" from "forbidden" (as Pomerium does: the
 * answer is a login — 302 or 401 — rather than a 403): true only for a `no-allow-matched`
 * deny of a request without a subject, on a policy where some allow rule references an
 * identity criterion, so that signing in might change the outcome, and for a
 * `policy-deny-unknown` of such a request whose deny rule reads the subject. False
 * otherwise, including for a matching deny rule: a deny rule denies whoever is signed in.
 */
export interface Decision {
  readonly effect: Effect;
  readonly reason: string;
  readonly rule: string | undefined;
  readonly needsAuthentication: boolean;
}

/** One evaluated rule, in evaluation order (a combinator before its children). */
export interface ExplainStep {
  rule: string;
  matched: boolean;
  /** The rule reads an attribute the request does not carry: neither matched nor not (compile.ts). */
  unknown?: true;
  /** Human text, e.g. `path /admin/x has prefix /admin`. */
  detail: string;
}

export interface Explanation {
  decision: Decision;
  trail: ExplainStep[];
}

export interface CompiledPolicy {
  /** Hot path: one call per request, allocation-free for allow/deny outcomes. */
  decide(input: PolicyInput): Decision;
  /** Same decision as `decide`, with the trail of rules evaluated to reach it. */
  explain(input: PolicyInput): Explanation;
}
