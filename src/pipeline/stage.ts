// The stage contract (STYLE): a stage reads and fills the RequestContext and returns
// either NEXT or a local reply. A stage never throws to deny; a throw is a bug and is
// answered 500 by the runner, fail-closed. (The types live in context.ts with the
// context and snapshot they refer to; stages import them from here.)
import type { ReplyCode } from '../basics/errors.ts';
import type { StageResult } from './context.ts';

export type { LocalReply, Stage, StageResult } from './context.ts';

export const NEXT: StageResult = Object.freeze({ next: true });

/** Replies are data; the common ones are preallocated so a denial allocates nothing. */
export function reply(code: ReplyCode, details: string): StageResult {
  return { reply: { code, details } };
}
