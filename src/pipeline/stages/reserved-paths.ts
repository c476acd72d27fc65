// Stage: paths ztproxy answers itself on every host, before any route is chosen (SPEC
// §4 reserved paths), so no route — and no upstream — can shadow or forge them.
// Today: /.well-known/ztproxy/jwks.json, the keys that verify X-ZT-Assertion.
import type { RequestContext } from '../context.ts';
import { NEXT, reply, type Stage, type StageResult } from '../stage.ts';

export const JWKS_PATH = '/.well-known/ztproxy/jwks.json';

const NOT_ALLOWED = reply('method-not-allowed', 'reserved-path-method');

export const reservedPathsStage: Stage = {
  name: 'reserved-paths',
  run(ctx: RequestContext): StageResult {
    if (ctx.path !== JWKS_PATH) return NEXT;
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return NOT_ALLOWED;
    return {
      reply: {
        code: 'ok',
        details: 'assertion-jwks',
        body: ctx.snapshot.assertion.jwksJson,
        headers: { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' },
      },
    };
  },
};
