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
    const raw = ctx.req.rawHeaders;
    const len = this.#header.length;
    let value: string | undefined;
    let count = 0;
    let exact = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      // Normalization maps one character to one, so only names of this length can match.
      if (name.length !== len || normalizeHeaderName(name) !== this.#normalized) continue;
      count++;
      value = raw[i + 1]!;
      exact = name.toLowerCase() === this.#header;
    }
    if (count === 0) {
      ctx.postureProblem = 'posture-absent';
      return NEXT;
    }
    if (count > 1) {
      ctx.postureProblem = 'posture-several-headers';
      return NEXT;
    }
    if (!exact) {
      ctx.postureProblem = 'posture-header-spelling';
      return NEXT;
    }
    const result = this.#verifier.verify(value!, ctx.conn.certThumbprint, ctx.subject?.sub);
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
