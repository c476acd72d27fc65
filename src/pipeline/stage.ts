// The stage contract (STYLE): a stage reads and fills the RequestContext and returns
// either NEXT or a local reply. A stage never throws to deny; a throw is a bug and is
// answered 500 by the runner, fail-closed.
import type { ReplyCode } from '../basics/errors.ts';
import type { RequestContext } from './context.ts';

export interface LocalReply {
  readonly code: ReplyCode;
  /** For the access log only (kebab-case reason, e.g. `encoded-slash`). */
  readonly details: string;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  /** A body of ztproxy's own (e.g. its JWKS) instead of the JSON error. */
  readonly body?: string;
}

export type StageResult = { readonly next: true } | { readonly reply: LocalReply };

export interface Stage {
  readonly name: string;
  run(ctx: RequestContext): StageResult | Promise<StageResult>;
}

export const NEXT: StageResult = Object.freeze({ next: true });

/** Replies are data; the common ones are preallocated so a denial allocates nothing. */
export function reply(code: ReplyCode, details: string): StageResult {
  return { reply: { code, details } };
}
