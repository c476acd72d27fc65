// SessionManager's refresh rules with a scripted provider (the relying party replaced by
// a stub): what a refresh keeps, replaces and schedules, and how the current ttl bounds
// sessions made under an older config.
import { describe, expect, it } from 'vitest';
import { OidcRejectedError, OidcUnavailableError, type OidcTokens, type RelyingParty } from '../../../src/identity/oidc/relying-party.ts';
import type { OidcConfig } from '../../../src/identity/oidc/schema.ts';
import { randomSessionKey } from '../../../src/identity/session/codec.ts';
import { SessionManager, SessionRuntime, type SessionData } from '../../../src/identity/session/manager.ts';
import { SessionRevocations } from '../../../src/identity/session/revocations.ts';
import { UNIT_OIDC_CONFIG } from '../../helpers/oidc.ts';

const oidc: OidcConfig = { ...UNIT_OIDC_CONFIG, claims: [] };

const now = () => Math.floor(Date.now() / 1000);

function stubRp(answers: (() => Promise<OidcTokens>)[]): { rp: RelyingParty; calls: () => number } {
  let calls = 0;
  const rp = {
    config: oidc,
    refresh: () => {
      const answer = answers[Math.min(calls, answers.length - 1)]!;
      calls++;
      return answer();
    },
  } as unknown as RelyingParty;
  return { rp, calls: () => calls };
}

function manager(rp: RelyingParty, runtime: SessionRuntime, ttl = 3600_000): SessionManager {
  return new SessionManager({ session: { ttl, idleTimeout: 600_000, store: 'cookie', keys: undefined }, oidc, rp, runtime, policyClaims: [] });
}

const login = (claims: Record<string, unknown>, refreshToken: string | undefined, accessTokenExp: number): OidcTokens => ({
  claims: { iss: oidc.issuer, sub: 'alice', ...claims },
  idToken: undefined,
  refreshToken,
  accessTokenExp,
});

function cookieValue(setCookie: string): string {
  return setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));
}

async function opened(m: SessionManager, setCookie: string): Promise<SessionData> {
  const r = await m.codec.open<SessionData>('session', cookieValue(setCookie));
  if (!r.ok) throw new Error(r.reason);
  return r.payload;
}

describe('session refresh rules', () => {
  it('keeps scheduling refreshes when the provider does not send a new refresh token', async () => {
    const runtime = new SessionRuntime(new SessionRevocations(), randomSessionKey());
    const { rp, calls } = stubRp([async () => ({ claims: { iss: oidc.issuer, sub: 'alice', groups: ['a'] }, idToken: undefined, refreshToken: undefined, accessTokenExp: now() + 300 })]);
    const m = manager(rp, runtime);
    const first = await m.create(login({ groups: ['a'] }, 'rt-1', now() - 1));
    const r = await m.resume(cookieValue(first.setCookie));
    expect(r.ok && r.setCookie).toBeTruthy();
    expect(calls()).toBe(1);
    const next = await opened(m, (r as { setCookie: string }).setCookie);
    expect(next.rt).toBe('rt-1');
    expect(next.ra).toBe(now() + 300 - 60);
  });

  it('replaces claims with a refreshed ID token (a lost group is gone) but keeps the login time', async () => {
    const runtime = new SessionRuntime(new SessionRevocations(), randomSessionKey());
    const { rp } = stubRp([async () => ({ claims: { iss: oidc.issuer, sub: 'alice', email: 'a@example.com' }, idToken: 'new', refreshToken: 'rt-2', accessTokenExp: now() + 300 })]);
    const m = manager(rp, runtime);
    const first = await m.create(login({ groups: ['admins'], auth_time: 1000, amr: ['pwd'] }, 'rt-1', now() - 1));
    // The relying party merges login-time claims (auth_time, acr, amr) itself; the
    // manager keeps what it is given: here the stub's claims, without groups.
    const r = await m.resume(cookieValue(first.setCookie));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.session.subject.groups).toEqual([]);
    expect(r.session.subject.email).toBe('a@example.com');
  });

  it('ends the session when the refreshed identity no longer fits a cookie', async () => {
    const runtime = new SessionRuntime(new SessionRevocations(), randomSessionKey());
    const groups = Array.from({ length: 300 }, (_, i) => `a-rather-long-group-name-${i}`);
    const { rp } = stubRp([async () => ({ claims: { iss: oidc.issuer, sub: 'alice', groups }, idToken: undefined, refreshToken: 'rt-2', accessTokenExp: now() + 300 })]);
    const m = manager(rp, runtime);
    const first = await m.create(login({ groups: ['a'] }, 'rt-1', now() - 1));
    expect(await m.resume(cookieValue(first.setCookie))).toEqual({ ok: false, reason: 'session-too-large' });
    // Revoked: the same cookie does not come back.
    expect(await m.resume(cookieValue(first.setCookie))).toMatchObject({ ok: false });
  });

  it('a refused refresh ends the session; an unreachable provider does not, and is retried after 30 s, not at once', async () => {
    const runtime = new SessionRuntime(new SessionRevocations(), randomSessionKey());
    const down = stubRp([async () => Promise.reject(new OidcUnavailableError('down'))]);
    const m = manager(down.rp, runtime);
    const s = await m.create(login({}, 'rt-1', now() - 1));
    const r1 = await m.resume(cookieValue(s.setCookie));
    expect(r1.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 5));
    const r2 = await m.resume(cookieValue(s.setCookie));
    expect(r2.ok).toBe(true);
    expect(down.calls()).toBe(1);
    const refused = stubRp([async () => Promise.reject(new OidcRejectedError('provider-invalid_grant', 'no'))]);
    const m2 = manager(refused.rp, new SessionRuntime(new SessionRevocations(), randomSessionKey()));
    const s2 = await m2.create(login({}, 'rt-1', now() - 1));
    expect(await m2.resume(cookieValue(s2.setCookie))).toEqual({ ok: false, reason: 'session-refresh-refused' });
  });

  it('the current ttl bounds sessions made under a longer one; revocations outlast every ttl the process had', async () => {
    const runtime = new SessionRuntime(new SessionRevocations(), randomSessionKey());
    const { rp } = stubRp([async () => Promise.reject(new Error('unused'))]);
    const long = manager(rp, runtime, 30 * 24 * 3600_000);
    const s = await long.create(login({}, undefined, now() + 3600));
    const data = await opened(long, s.setCookie);
    const old = await long.codec.seal('session', { ...data, iat: now() - 120, seen: now() }, data.exp);
    expect((await long.resume(old)).ok).toBe(true);
    const short = manager(rp, runtime, 60_000);
    expect(await short.resume(old)).toEqual({ ok: false, reason: 'session-expired' });
    expect(short.maxLifetimeMs).toBe(30 * 24 * 3600_000);
  });
});
