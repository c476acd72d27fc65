// Bearer tokens that claim to live for ever (issue #4): a signature that checks out is not
// enough when the token's time claims are nonsense. jose accepts any JSON number for
// `exp`/`iat`/`nbf`, so `exp: 1e308` — or `1e400`, which JSON.parse reads as Infinity —
// would never expire, and a ten-year token is a password nobody can rotate. Each token
// below is signed by the trusted key (a mis-configured IdP, or whoever holds a leaked
// key): every one → 401 `invalid_token`, its reason in the access log, upstream untouched.
// The boundary (exactly the issuer's maxLifetime) passes.
import { describe, expect, it } from 'vitest';
import { AUDIENCE, jwksOf, makeKey, mint, mintRawPayload, without, writeJwksFile, type TestKey } from '../helpers/jwt.ts';
import { get, type LogLine, type SimpleResponse } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

const ISS = 'https://idp.test';
/** The same keys, configured with `maxLifetime: 1h`. */
const ISS_SHORT = 'https://short.idp.test';
const DAY = 86_400;

let key: TestKey;

const nowS = (): number => Math.floor(Date.now() / 1000);

const stack = useProxyStack(async ({ upstream, onClose }) => {
  key = await makeKey('ES256', 'k1');
  const jwks = await writeJwksFile(jwksOf(key));
  onClose(() => jwks.cleanup());
  return {
    identity: {
      jwt: [
        { issuer: ISS, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] },
        { issuer: ISS_SHORT, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'], maxLifetime: '1h' },
      ],
    },
    routes: [
      { name: 'public', match: { host: 'app.test', pathPrefix: '/public' }, upstream: upstream.url, policy: { allow: { accept: true } } },
      { name: 'api', match: { host: 'app.test' }, upstream: upstream.url, policy: { allow: { authenticated: true } } },
    ],
  };
});

async function call(path: string, token: string): Promise<SimpleResponse> {
  return get(stack.proxy.port, path, { host: 'app.test', headers: { authorization: `Bearer ${token}` } });
}

function logOf(res: SimpleResponse): LogLine | undefined {
  return stack.proxy.logs.find((l) => l.msg === 'request' && l.requestId === res.headers['x-request-id']);
}

/** The claims of a good token at `now`, for issuer `iss`, with `over` applied (undefined deletes). */
function claims(now: number, over: Record<string, unknown> = {}, iss = ISS): Record<string, unknown> {
  const out: Record<string, unknown> = { iss, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 300, ...over };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

/** The payload JSON as text, with `raw` spliced in verbatim (numbers no serializer writes). */
function rawClaims(now: number, raw: string, omit: string[] = []): string {
  const base = JSON.stringify(without(claims(now), ...omit));
  return `${base.slice(0, -1)},${raw}}`;
}

async function expectRefused(token: string, reason: string): Promise<void> {
  // A public route too: a broken token never quietly becomes anonymous access.
  for (const path of ['/api/x', '/public/x']) {
    const res = await call(path, token);
    expect(res.status, path).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect(logOf(res)).toMatchObject({ status: 401, reason });
  }
  expect(stack.upstream.seen).toEqual([]);
}

describe('lifetime above the issuer\'s maximum (default 24 h)', () => {
  it('exp − iat = 24 h exactly → allowed; one second more → 401 token-lifetime-too-long', async () => {
    const now = nowS();
    const ok = await call('/api/x', await mint(key, claims(now, { exp: now + DAY })));
    expect(ok.status).toBe(200);
    expect(stack.upstream.seen).toHaveLength(1);
    stack.upstream.reset();
    await expectRefused(await mint(key, claims(now, { exp: now + DAY + 1 })), 'token-lifetime-too-long');
  });

  it('ten years, and exp: 1e308 → 401 token-lifetime-too-long / token-time-invalid', async () => {
    const now = nowS();
    await expectRefused(await mint(key, claims(now, { exp: now + 3650 * DAY })), 'token-lifetime-too-long');
    await expectRefused(await mint(key, claims(now, { exp: 1e308 })), 'token-time-invalid');
  });

  it('an old iat with a near exp is judged by exp − iat: issued 30 days ago, expiring in 5 min → 401', async () => {
    const now = nowS();
    await expectRefused(await mint(key, claims(now, { iat: now - 30 * DAY })), 'token-lifetime-too-long');
  });

  it('without iat the lifetime is exp − now: 23 h ahead → allowed, 25 h ahead → 401', async () => {
    const now = nowS();
    expect((await call('/api/x', await mint(key, claims(now, { iat: undefined, exp: now + 23 * 3600 })))).status).toBe(200);
    stack.upstream.reset();
    await expectRefused(await mint(key, claims(now, { iat: undefined, exp: now + 25 * 3600 })), 'token-lifetime-too-long');
  });

  it('maxLifetime is per issuer: 1 h exactly passes for the 1 h issuer, 2 h is refused there and fine for the 24 h one', async () => {
    const now = nowS();
    expect((await call('/api/x', await mint(key, claims(now, { exp: now + 3600 }, ISS_SHORT)))).status).toBe(200);
    expect((await call('/api/x', await mint(key, claims(now, { exp: now + 7200 }, ISS)))).status).toBe(200);
    stack.upstream.reset();
    await expectRefused(await mint(key, claims(now, { exp: now + 7200 }, ISS_SHORT)), 'token-lifetime-too-long');
  });
});

describe('time claims that are no sane NumericDate', () => {
  it.each([
    ['exp as a string', { exp: 'never' }],
    ['exp as a date string', { exp: '2030-01-01T00:00:00Z' }],
    ['exp as a boolean', { exp: true }],
    ['exp as an array', { exp: [9_999_999_999] }],
    ['exp as an object', { exp: { $numberLong: '9999999999' } }],
    ['exp null', { exp: null }],
    ['iat as a string', { iat: '0' }],
    ['iat negative', { iat: -1 }],
    ['iat as an array', { iat: [1] }],
    ['nbf as a string', { nbf: 'now' }],
    ['nbf negative', { nbf: -86_400 }],
  ])('%s → 401 token-time-invalid', async (_why, over) => {
    await expectRefused(await mint(key, claims(nowS(), over)), 'token-time-invalid');
  });

  it.each([
    ['exp: 1e400 (JSON.parse → Infinity)', '"exp":1e400', ['exp']],
    ['exp: 2^53 + 1 (not exactly representable)', '"exp":9007199254740993', ['exp']],
    ['exp beyond the year 9999', '"exp":253402300800', ['exp']],
    ['iat: 1e400', '"iat":1e400', ['iat']],
    ['iat: -1e400 (−Infinity)', '"iat":-1e400', ['iat']],
    ['exp: 1e400 without iat', '"exp":1e400', ['exp', 'iat']],
  ])('%s → 401 token-time-invalid', async (_why, raw, omit) => {
    await expectRefused(await mintRawPayload(key, rawClaims(nowS(), raw, omit)), 'token-time-invalid');
  });

  it('a fractional exp within range is a NumericDate (RFC 7519 §2) → allowed', async () => {
    const now = nowS();
    expect((await call('/api/x', await mintRawPayload(key, rawClaims(now, `"exp":${now + 300}.5`, ['exp'])))).status).toBe(200);
  });

  it('no exp at all → 401 token-missing-claim', async () => {
    await expectRefused(await mint(key, claims(nowS(), { exp: undefined })), 'token-missing-claim');
  });

  it('iat in the future → 401 token-issued-in-future', async () => {
    const now = nowS();
    await expectRefused(await mint(key, claims(now, { iat: now + 3600, exp: now + 7200 })), 'token-issued-in-future');
  });
});
