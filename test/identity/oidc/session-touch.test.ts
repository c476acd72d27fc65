// Activity write-back (the "touch"): a client that keeps sending the cookie it had gets the
// one cookie already written for it within the touch interval, not a JWE sealed per
// request; every check on the session still runs on each request.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RelyingParty } from '../../../src/identity/oidc/relying-party.ts';
import type { OidcConfig } from '../../../src/identity/oidc/schema.ts';
import { randomSessionKey } from '../../../src/identity/session/codec.ts';
import { SessionManager, SessionRuntime, type SessionData } from '../../../src/identity/session/manager.ts';
import { SessionRevocations } from '../../../src/identity/session/revocations.ts';
import { UNIT_OIDC_CONFIG } from '../../helpers/oidc.ts';

const oidc: OidcConfig = { ...UNIT_OIDC_CONFIG, claims: [] };
const T0 = 1_900_000_000_000;
/** idleTimeout 600 s → activity written back at most once a minute. */
const TOUCH_S = 60;

function cookieValue(setCookie: string): string {
  return setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));
}

describe('session activity write-back', () => {
  let m: SessionManager;
  let runtime: SessionRuntime;
  let seals: number;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    runtime = new SessionRuntime(new SessionRevocations(), randomSessionKey());
    m = new SessionManager({ session: { ttl: 3600_000, idleTimeout: 600_000, store: 'cookie', keys: undefined }, oidc, rp: { config: oidc } as unknown as RelyingParty, runtime, policyClaims: [] });
    seals = 0;
    const seal = m.codec.seal.bind(m.codec);
    m.codec.seal = (...args) => {
      seals++;
      return seal(...args);
    };
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function login(): Promise<string> {
    const { setCookie } = await m.create({ claims: { iss: oidc.issuer, sub: 'alice', groups: ['eng'] }, idToken: undefined, refreshToken: undefined, accessTokenExp: T0 / 1000 + 3600 });
    return cookieValue(setCookie);
  }

  it('writes activity back once per interval for a client that keeps the old cookie', async () => {
    const old = await login();
    seals = 0;
    expect(await m.resume(old)).toMatchObject({ ok: true, setCookie: undefined });

    vi.setSystemTime(T0 + (TOUCH_S + 1) * 1000);
    const a = await m.resume(old);
    const b = await m.resume(old);
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    expect(a.setCookie).toBeDefined();
    expect(b.setCookie).toBe(a.setCookie);
    expect(seals).toBe(1);
    expect(a.session.data.seen).toBe(T0 / 1000 + TOUCH_S + 1);
    const written = await m.codec.open<SessionData>('session', cookieValue(a.setCookie!));
    expect(written.ok && written.payload.seen).toBe(T0 / 1000 + TOUCH_S + 1);

    // A whole interval after that write, the old cookie gets a newer one.
    vi.setSystemTime(T0 + (2 * TOUCH_S + 2) * 1000);
    const c = await m.resume(old);
    expect(c.ok && c.setCookie).toBeTruthy();
    expect(c.ok && c.setCookie).not.toBe(a.setCookie);
    expect(seals).toBe(2);
  });

  it('still refuses a revoked, idle or expired session whose write-back is cached', async () => {
    const old = await login();
    vi.setSystemTime(T0 + (TOUCH_S + 1) * 1000);
    const a = await m.resume(old);
    expect(a.ok && a.setCookie).toBeTruthy();
    if (!a.ok) return;
    runtime.revocations.revokeSession(a.session.data.sid, T0 / 1000 + 7200);
    expect(await m.resume(old)).toEqual({ ok: false, reason: 'session-revoked' });

    // Logged in at T0 + 61 s; touched (and the write-back cached) a minute later.
    const other = await login();
    vi.setSystemTime(T0 + (2 * TOUCH_S + 2) * 1000);
    const touched = await m.resume(other);
    expect(touched.ok && touched.setCookie).toBeTruthy();
    // The old cookie's own `seen` bounds it: idle 600 s after it, whatever was written back.
    vi.setSystemTime(T0 + (TOUCH_S + 1 + 601) * 1000);
    expect(await m.resume(other)).toEqual({ ok: false, reason: 'session-idle' });
    vi.setSystemTime(T0 + (TOUCH_S + 1 + 3601) * 1000);
    expect((await m.resume(other)).ok).toBe(false);
  });
});
