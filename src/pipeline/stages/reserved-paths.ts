// Stage: paths ztproxy answers itself on every host, before any route is chosen (SPEC
// §4 reserved paths), so no route — and no upstream — can shadow or forge them:
// /.well-known/ztproxy/jwks.json (the keys that verify X-ZT-Assertion),
// /.well-known/ztproxy/cli-configuration (what `ztproxy login` needs; 404 without
// identity.cli) and everything under /.ztproxy/ (login, callback, logout, back-channel
// logout — 404 for these when no OIDC login is configured — the renewal of an open
// stream's credentials, and 404 for the rest).
import type { RequestContext } from '../context.ts';
import { NEXT, reply, type LocalReply, type Stage, type StageResult } from '../stage.ts';
import { CLI_CONFIGURATION_PATH } from './cli-configuration.ts';
import { BACKCHANNEL_LOGOUT_PATH, CALLBACK_PATH, LOGIN_PATH, LOGOUT_PATH, backchannelLogout, callback, login, logout } from './login-endpoints.ts';

export const JWKS_PATH = '/.well-known/ztproxy/jwks.json';
/** Fresh credentials for an open long-lived stream (proxy/stream-renew.ts); on every host, with or without OIDC login. */
export const STREAM_RENEW_PATH = '/.ztproxy/streams/renew';
const RESERVED_PREFIX = '/.ztproxy/';

const NOT_ALLOWED = reply('method-not-allowed', 'reserved-path-method');
const NOT_FOUND = reply('not-found', 'reserved-path-unknown');

function jwks(ctx: RequestContext): StageResult {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return NOT_ALLOWED;
  return {
    reply: {
      code: 'ok',
      details: 'assertion-jwks',
      body: ctx.snapshot.assertion.jwksJson,
      headers: { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' },
    },
  };
}

const CLI_CONFIGURATION_HEADERS = Object.freeze({
  'content-type': 'application/json',
  // Briefly cacheable: it changes only with the config, and a login reads it once.
  'cache-control': 'public, max-age=60',
});

function cliConfiguration(ctx: RequestContext): StageResult {
  const body = ctx.snapshot.cliConfigurationJson;
  if (body === undefined) return NOT_FOUND;
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return NOT_ALLOWED;
  return { reply: { code: 'ok', details: 'cli-configuration', body, headers: CLI_CONFIGURATION_HEADERS } };
}

async function loginEndpoint(ctx: RequestContext): Promise<StageResult> {
  const sessions = ctx.snapshot.sessions;
  if (sessions === undefined) return NOT_FOUND;
  let local: LocalReply;
  switch (ctx.path) {
    case LOGIN_PATH:
      local = await login(ctx, sessions);
      break;
    case CALLBACK_PATH:
      local = await callback(ctx, sessions);
      sessions.count(local.details === 'login-complete' ? 'login' : 'login_failed');
      break;
    case LOGOUT_PATH:
      local = await logout(ctx, sessions);
      if (local.details === 'logout') sessions.count('logout');
      break;
    case BACKCHANNEL_LOGOUT_PATH:
      local = await backchannelLogout(ctx, sessions);
      sessions.count(local.code === 'ok' ? 'backchannel_logout' : 'backchannel_rejected');
      break;
    default:
      return NOT_FOUND;
  }
  return { reply: local };
}

/**
 * Which of ztproxy's own trees a canonical path is in, or undefined. One test for the
 * stage and for the policy tests / explain (src/cli/described-request.ts): a described
 * request to such a path must not be judged by a route that never sees it.
 */
function reservedTree(path: string): 'jwks' | 'cli' | 'ztproxy' | undefined {
  // One cheap test on the hot path: every reserved tree starts with "/.".
  if (path.charCodeAt(1) !== 46) return undefined;
  if (path === JWKS_PATH) return 'jwks';
  if (path === CLI_CONFIGURATION_PATH) return 'cli';
  if (path.startsWith(RESERVED_PREFIX)) return 'ztproxy';
  return undefined;
}

const LOGIN_ENDPOINTS: ReadonlySet<string> = new Set([LOGIN_PATH, CALLBACK_PATH, LOGOUT_PATH, BACKCHANNEL_LOGOUT_PATH]);

/**
 * What the stage would do with a reserved path, without running an endpoint (for a
 * described request): its refusal, `local` (an endpoint of ztproxy's own answers it —
 * the JWKS, a login endpoint), or undefined for a path that is not reserved.
 */
export function reservedAnswer(
  path: string,
  method: string,
  configured: { readonly login: boolean; readonly cli: boolean },
): StageResult | 'local' | undefined {
  const tree = reservedTree(path);
  if (tree === undefined) return undefined;
  if (tree === 'jwks') return method === 'GET' || method === 'HEAD' ? 'local' : NOT_ALLOWED;
  if (tree === 'cli') return !configured.cli ? NOT_FOUND : method === 'GET' || method === 'HEAD' ? 'local' : NOT_ALLOWED;
  if (path === STREAM_RENEW_PATH) return method === 'POST' ? 'local' : NOT_ALLOWED;
  return configured.login && LOGIN_ENDPOINTS.has(path) ? 'local' : NOT_FOUND;
}

export const reservedPathsStage: Stage = {
  name: 'reserved-paths',
  run(ctx: RequestContext): StageResult | Promise<StageResult> {
    const tree = reservedTree(ctx.path);
    if (tree === undefined) return NEXT;
    if (tree === 'jwks') return jwks(ctx);
    if (tree === 'cli') return cliConfiguration(ctx);
    return ctx.path === STREAM_RENEW_PATH ? ctx.snapshot.streamRenewal.run(ctx) : loginEndpoint(ctx);
  },
};
