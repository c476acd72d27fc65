// The session cookie stays within a browser's 4 KB: what policy does not need goes first
// (the ID token, then claims kept only for `claim` rules); a session that still does not
// fit is refused with a clear reason rather than silently truncated.
import { describe, expect, it } from 'vitest';
import { RelyingParty } from '../../../src/identity/oidc/relying-party.ts';
import type { OidcConfig } from '../../../src/identity/oidc/schema.ts';
import { randomSessionKey } from '../../../src/identity/session/codec.ts';
import { MAX_COOKIE_BYTES, SessionManager, SessionRuntime } from '../../../src/identity/session/manager.ts';
import { SessionRevocations } from '../../../src/identity/session/revocations.ts';
import { UNIT_OIDC_CONFIG } from '../../helpers/oidc.ts';

const oidc: OidcConfig = { ...UNIT_OIDC_CONFIG, claims: ['department'] };

function manager(): SessionManager {
  return new SessionManager({
    session: { ttl: 3600_000, idleTimeout: 600_000, store: 'cookie', keys: undefined },
    oidc,
    rp: new RelyingParty(oidc),
    runtime: new SessionRuntime(new SessionRevocations(), randomSessionKey()),
    policyClaims: [],
  });
}

const base = { iss: oidc.issuer, sub: 'alice', email: 'alice@example.com', email_verified: true, auth_time: 1 };
const nameAndValue = (setCookie: string) => setCookie.slice(0, setCookie.indexOf(';'));

describe('session cookie size', () => {
  it('keeps everything when it fits', async () => {
    const { data, setCookie } = await manager().create({ claims: { ...base, groups: ['a', 'b'], department: 'r&d', unrelated: 'x' }, idToken: 'id.token.here', refreshToken: 'rt', accessTokenExp: undefined });
    expect(data.idt).toBe('id.token.here');
    expect(data.c).toEqual({ email: 'alice@example.com', email_verified: true, auth_time: 1, groups: ['a', 'b'], department: 'r&d' });
    expect(Buffer.byteLength(nameAndValue(setCookie))).toBeLessThanOrEqual(MAX_COOKIE_BYTES);
  });

  it('drops the ID token, then extra claims, to stay under 4 KB', async () => {
    const idToken = 'x'.repeat(3200);
    const m = manager();
    const one = await m.create({ claims: { ...base, groups: ['a'] }, idToken, refreshToken: undefined, accessTokenExp: undefined });
    expect(one.data.idt).toBeUndefined();
    const two = await m.create({ claims: { ...base, groups: ['a'], department: 'd'.repeat(3200) }, idToken, refreshToken: undefined, accessTokenExp: undefined });
    expect(two.data.c['department']).toBeUndefined();
    expect(two.data.c['groups']).toEqual(['a']);
    expect(Buffer.byteLength(nameAndValue(two.setCookie))).toBeLessThanOrEqual(MAX_COOKIE_BYTES);
  });

  it('refuses a session that cannot fit (hundreds of groups)', async () => {
    const groups = Array.from({ length: 300 }, (_, i) => `group-with-a-long-name-${i}`);
    await expect(manager().create({ claims: { ...base, groups }, idToken: undefined, refreshToken: undefined, accessTokenExp: undefined })).rejects.toMatchObject({
      reason: 'session-too-large',
    });
  });
});
