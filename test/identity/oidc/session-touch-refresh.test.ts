// The activity write-back reused within the touch interval (session-touch.test.ts) against
// the session's other lifecycle: a refresh that falls due after a write-back was kept must
// still happen (once, for the old cookie and the written-back one alike), a refused
// refresh must end both, an unreachable provider must leave both working, and a
// revocation of the user (back-channel logout) must reach the kept write-back.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OidcRejectedError, OidcUnavailableError, type OidcTokens, type RelyingParty } from '../../../src/identity/oidc/relying-party.ts';
import type { OidcConfig } from '../../../src/identity/oidc/schema.ts';
import { randomSessionKey } from '../../../src/identity/session/codec.ts';
import { SessionManager, SessionRuntime, type SessionData, type SessionResult } from '../../../src/identity/session/manager.ts';
import { SessionRevocations } from '../../../src/identity/session/revocations.ts';
import { UNIT_OIDC_CONFIG } from '../../helpers/oidc.ts';

const oidc: OidcConfig = { ...UNIT_OIDC_CONFIG, claims: [] };
const T0 = 1_900_000_000_000;
const T0S = T0 / 1000;
/** The access token lives 300 s: a refresh is due at T0 + 240 s. */
const ACCESS_TTL_S = 300;

const cookieValue = (setCookie: string) => setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));
const at = (s: number) => vi.setSystemTime(T0 + s * 1000);

describe('session write-back reuse and refresh', () => {
  let m: SessionManager;
  let runtime: SessionRuntime;
  let refreshes: string[];
  let answer: (rt: string) => Promise<OidcTokens>;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    at(0);
    runtime = new SessionRuntime(new SessionRevocations(), randomSessionKey());
    refreshes = [];
    answer = async (rt) => ({ claims: { iss: oidc.issuer, sub: 'alice', groups: ['eng', 'ops'] }, idToken: undefined, refreshToken: `${rt}+`, accessTokenExp: Math.floor(Date.now() / 1000) + ACCESS_TTL_S });
    const rp = {
      config: oidc,
      refresh: (rt: string) => {
        refreshes.push(rt);
        return answer(rt);
      },
    } as unknown as RelyingParty;
    m = new SessionManager({ session: { ttl: 3600_000, idleTimeout: 600_000, store: 'cookie', keys: undefined }, oidc, rp, runtime, policyClaims: [] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function login(): Promise<string> {
    const { setCookie } = await m.create({ claims: { iss: oidc.issuer, sub: 'alice', groups: ['eng'] }, idToken: undefined, refreshToken: 'rt0', accessTokenExp: T0S + ACCESS_TTL_S });
    return cookieValue(setCookie);
  }

  /** The old cookie written back at T0 + 200 s (idleTimeout 600 s: a write-back at most once a minute), before the refresh falls due. */
  async function touched(old: string): Promise<string> {
    at(200);
    const r = await m.resume(old);
    expect(r.ok && r.setCookie).toBeTruthy();
    expect(refreshes).toEqual([]);
    return cookieValue((r as Extract<SessionResult, { ok: true }>).setCookie!);
  }

  it('a refresh due after the write-back was kept still happens, once, for the old and the written-back cookie', async () => {
    const old = await login();
    const written = await touched(old);
    // Within the touch interval of that write-back, but the refresh is due (T0 + 240 s).
    at(245);
    const viaOld = await m.resume(old);
    const viaWritten = await m.resume(written);
    expect(refreshes).toEqual(['rt0']);
    expect(viaOld.ok && viaWritten.ok).toBe(true);
    if (!viaOld.ok || !viaWritten.ok) return;
    // The refreshed session, not the kept write-back: new claims, new refresh token.
    expect(viaOld.setCookie).toBeDefined();
    expect(cookieValue(viaOld.setCookie!)).not.toBe(written);
    expect(viaOld.session.data.rt).toBe('rt0+');
    expect(viaOld.session.subject.groups).toEqual(['eng', 'ops']);
    expect(viaWritten).toEqual(viaOld);
    // The old cookie again, still within the interval: the refresh's outcome, not the stale write-back.
    at(250);
    const later = await m.resume(old);
    expect(later.ok && later.session.data.rt).toBe('rt0+');
    expect(refreshes).toEqual(['rt0']);
  });

  it('a refused refresh ends the session for the old cookie and the kept write-back', async () => {
    const old = await login();
    const written = await touched(old);
    answer = async () => {
      throw new OidcRejectedError('invalid_grant', 'refresh token revoked');
    };
    at(245);
    expect(await m.resume(old)).toEqual({ ok: false, reason: 'session-refresh-refused' });
    expect(await m.resume(written)).toMatchObject({ ok: false });
    // Even once the refresh's shared outcome is gone, the session stays revoked.
    at(250);
    for (const cookie of [old, written]) expect(await m.resume(cookie)).toMatchObject({ ok: false });
  });

  it('an unreachable provider leaves the session working; the write-back goes on being reused', async () => {
    const old = await login();
    await touched(old);
    answer = async () => {
      throw new OidcUnavailableError('no answer');
    };
    at(245);
    const during = await m.resume(old);
    expect(during.ok && during.setCookie).toBeTruthy();
    expect(refreshes).toEqual(['rt0']);
    // The failure marker holds the refresh back for 30 s; meanwhile the old cookie is
    // answered with one write-back per interval, not a seal per request.
    const seal = vi.spyOn(m.codec, 'seal');
    at(262);
    const a = await m.resume(old);
    const b = await m.resume(old);
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    expect(b.setCookie).toBe(a.setCookie);
    expect(seal).toHaveBeenCalledTimes(1);
    expect(refreshes).toEqual(['rt0']);
  });

  it('a back-channel logout of the user reaches the kept write-back and the cookie it was written for', async () => {
    const old = await login();
    const written = await touched(old);
    at(210);
    expect((await m.resume(old)).ok).toBe(true);
    runtime.revocations.revokeSubject(oidc.issuer, 'alice', T0S + 205, (T0S + 7200) * 1000);
    for (const cookie of [old, written]) expect(await m.resume(cookie)).toEqual({ ok: false, reason: 'session-revoked' });
  });

  it('the kept write-back is the session of the cookie it was written for, with only its activity moved', async () => {
    const old = await login();
    const written = await touched(old);
    const opened = await m.codec.open<SessionData>('session', written);
    const original = await m.codec.open<SessionData>('session', old);
    expect(opened.ok && original.ok).toBe(true);
    if (!opened.ok || !original.ok) return;
    const { seen, ...rest } = opened.payload as SessionData & { use?: string };
    const { seen: seenBefore, ...restBefore } = original.payload as SessionData & { use?: string };
    expect(rest).toEqual(restBefore);
    expect([seenBefore, seen]).toEqual([T0S, T0S + 200]);
  });
});
