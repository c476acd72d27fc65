// Stage: device posture (SPEC §6), after authentication (a `uid`-bound assertion is
// compared with the authenticated user) and before authorization (the policy reads
// ctx.device). Checked on every request — a cache hit re-checks the clock and the
// bindings. Nothing here ever refuses a request: no header, several headers, or an
// assertion that does not count leave ctx.device undefined, and the route's policy
// decides what no posture means (a `device` rule then denies: 403). The reason goes to
// the access log. The header itself never reaches the upstream: sanitation strips it
// under every spelling (basics/identity-headers.ts); this stage reads the client's raw
// headers.
//
// Only the exact configured name (any letter case) is read. The same name under another
// spelling (`X_Device_Posture`) is one some hop in front of an upstream could read as
// the posture header, so it counts towards "several posture headers", and alone it is
// refused too: an honest agent sends the name it was configured with.
import { normalizeHeaderName } from '../../basics/headers.ts';
import type { PostureResult, PostureVerifier } from '../../identity/posture/index.ts';
import type { RequestContext } from '../context.ts';
import { NEXT, type Stage, type StageResult } from '../stage.ts';

/** The posture header of a request, read as the posture stage reads it: its value, or why there is none. */
export type PostureHeader = { readonly value: string } | { readonly problem: 'posture-absent' | 'posture-several-headers' | 'posture-header-spelling' };

const ABSENT: PostureHeader = Object.freeze({ problem: 'posture-absent' });
const SEVERAL: PostureHeader = Object.freeze({ problem: 'posture-several-headers' });
const SPELLING: PostureHeader = Object.freeze({ problem: 'posture-header-spelling' });

/**
 * Finds the posture header in `raw` (the client's raw headers): `header` lower-case as
 * configured, `normalized` as sanitation compares names. Shared with the stream renewal
 * endpoint (proxy/stream-renew.ts), which must read a fresh assertion exactly this way.
 */
export function readPostureHeader(raw: readonly string[], header: string, normalized: string): PostureHeader {
  const len = header.length;
  let value: string | undefined;
  let count = 0;
  let exact = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Normalization maps one character to one, so only names of this length can match.
    if (name.length !== len || normalizeHeaderName(name) !== normalized) continue;
    count++;
    value = raw[i + 1]!;
    exact = name.toLowerCase() === header;
  }
  if (count === 0) return ABSENT;
  if (count > 1) return SEVERAL;
  if (!exact) return SPELLING;
  return { value: value! };
}

export class PostureStage implements Stage {
  readonly name = 'posture';
  readonly #verifier: PostureVerifier;
  /** Lower-case, as configured. */
  readonly #header: string;
  /** As sanitation compares names (`_` and `.` read as `-`). */
  readonly #normalized: string;

  constructor(verifier: PostureVerifier) {
    this.#verifier = verifier;
    this.#header = verifier.header;
    this.#normalized = normalizeHeaderName(verifier.header);
  }

  run(ctx: RequestContext): StageResult | Promise<StageResult> {
    const found = readPostureHeader(ctx.req.rawHeaders, this.#header, this.#normalized);
    if ('problem' in found) {
      ctx.postureProblem = found.problem;
      return NEXT;
    }
    const result = this.#verifier.verify(found.value, ctx.conn.certThumbprint, ctx.subject?.sub);
    // A cache hit is synchronous: the runner then awaits nothing for this stage.
    if (result instanceof Promise) return result.then((r) => record(ctx, r));
    return record(ctx, result);
  }
}

function record(ctx: RequestContext, result: PostureResult): StageResult {
  if (result.ok) ctx.device = result.device;
  else ctx.postureProblem = result.reason;
  return NEXT;
}
