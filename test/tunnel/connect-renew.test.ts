// When `ztproxy connect` renews an open tunnel's credentials, and with what: the timing
// rules of src/cli/connect-renew.ts on a fixed clock (the end-to-end renewal against the
// proxy's /.ztproxy/streams/renew is in connect-ssh.test.ts).
import { describe, expect, it } from 'vitest';
import { renewAt, renewLead, StreamRenewal, RETRY_MS } from '../../src/cli/connect-renew.ts';
import type { Credential } from '../../src/cli/connect-sources.ts';
import type { RenewAnswer } from '../../src/cli/connect-http.ts';

const T0 = 1_800_000_000_000;
const cred = (value: string, issuedAt: number, lifetimeMs: number): Credential => ({ value, issuedAt, expiresAt: issuedAt + lifetimeMs });

describe('renewal time', () => {
  it('is a quarter of the lifetime before expiry, at most a minute, at least a second', () => {
    expect(renewLead(cred('a', T0, 3_600_000), T0)).toBe(60_000);
    expect(renewLead(cred('a', T0, 120_000), T0)).toBe(30_000);
    expect(renewLead(cred('a', T0, 2_000), T0)).toBe(1_000);
    expect(renewAt(cred('a', T0, 300_000), T0)).toBe(T0 + 240_000);
    expect(renewAt({ value: 'opaque', expiresAt: undefined, issuedAt: undefined }, T0)).toBeUndefined();
    expect(renewAt(undefined, T0)).toBeUndefined();
  });
});

interface Harness {
  renewal: StreamRenewal;
  sent: { id: string; token: string | undefined; posture: string | undefined }[];
  warnings: string[];
  clock: { now: number };
  answers: RenewAnswer[];
  tokens: (Credential | Error)[];
  postures: (Credential | Error)[];
}

function harness(presented: { token?: Credential; posture?: Credential }, streamId: string | null = 'stream-1'): Harness {
  const h: Harness = { sent: [], warnings: [], clock: { now: T0 }, answers: [], tokens: [], postures: [] } as unknown as Harness;
  const take = (list: (Credential | Error)[]) => async (): Promise<Credential | undefined> => {
    const next = list.shift();
    if (next instanceof Error) throw next;
    return next;
  };
  h.renewal = new StreamRenewal(streamId ?? undefined, presented, {
    token: take(h.tokens),
    posture: take(h.postures),
    postureHeader: 'X-Device-Posture',
    send: async (id, token, posture) => {
      h.sent.push({ id, token, posture: posture?.value });
      return h.answers.shift() ?? { status: 204, error: undefined, requestId: undefined };
    },
    warn: (l) => h.warnings.push(l),
    now: () => h.clock.now,
  });
  return h;
}

describe('a renewal', () => {
  it('sends the fresh token with the stream id, then waits for the new one to near its expiry', async () => {
    const h = harness({ token: cred('t1', T0, 300_000) });
    expect(h.renewal.dueAt()).toBe(T0 + 240_000);
    h.clock.now = T0 + 240_000;
    h.tokens.push(cred('t2', T0 + 240_000, 300_000));
    await h.renewal.renewNow();
    expect(h.sent).toEqual([{ id: 'stream-1', token: 't2', posture: undefined }]);
    expect(h.renewal.dueAt()).toBe(T0 + 480_000);
    expect(h.warnings).toEqual([]);
    h.renewal.stop();
  });

  it('renews only what is due: the posture command is not re-run for the token, the token is not fetched for the posture', async () => {
    const h = harness({ token: cred('t1', T0, 3_600_000), posture: cred('p1', T0, 300_000) });
    h.clock.now = T0 + 240_000;
    h.postures.push(cred('p2', h.clock.now, 300_000));
    h.tokens.push(cred('t-unused', h.clock.now, 3_600_000));
    await h.renewal.renewNow();
    // The token goes along as the proof of who renews (the proxy wants the stream's owner).
    expect(h.sent).toEqual([{ id: 'stream-1', token: 't1', posture: 'p2' }]);
    expect(h.tokens).toHaveLength(1);
    h.renewal.stop();
  });

  it('does not send what did not change (the stored login hands out the same token until near expiry), and tries again', async () => {
    const h = harness({ token: cred('t1', T0, 300_000) });
    h.clock.now = T0 + 240_000;
    h.tokens.push(cred('t1', T0, 300_000));
    await h.renewal.renewNow();
    expect(h.sent).toEqual([]);
    expect(h.warnings).toEqual([]);
    h.clock.now += RETRY_MS;
    h.tokens.push(cred('t2', h.clock.now, 300_000));
    await h.renewal.renewNow();
    expect(h.sent.map((s) => s.token)).toEqual(['t2']);
    h.renewal.stop();
  });

  it('says so when the proxy refuses the fresh token, and gives up once the old one expired', async () => {
    const h = harness({ token: cred('t1', T0, 300_000) });
    h.clock.now = T0 + 240_000;
    h.tokens.push(cred('t2', h.clock.now, 300_000));
    h.answers.push({ status: 401, error: 'unauthorized', requestId: 'r1' });
    await h.renewal.renewNow();
    expect(h.warnings).toHaveLength(1);
    expect(h.warnings[0]).toMatch(/^renewal refused: 401 unauthorized \(request id r1\) \(the fresh token was refused: log in again\); trying again/);
    h.clock.now = T0 + 300_000;
    h.tokens.push(cred('t3', h.clock.now, 300_000));
    h.answers.push({ status: 401, error: 'unauthorized', requestId: 'r2' });
    await h.renewal.renewNow();
    expect(h.warnings[1]).toMatch(/the tunnel's credentials expired at .*: the proxy will close it$/);
    // stopped: no more attempts
    h.clock.now += RETRY_MS;
    await h.renewal.renewNow();
    expect(h.sent).toHaveLength(2);
  });

  it('stops at 404: the proxy no longer knows the stream', async () => {
    const h = harness({ token: cred('t1', T0, 300_000) });
    h.clock.now = T0 + 240_000;
    h.tokens.push(cred('t2', h.clock.now, 300_000), cred('t3', h.clock.now, 300_000));
    h.answers.push({ status: 404, error: 'unknown stream', requestId: undefined });
    await h.renewal.renewNow();
    expect(h.warnings).toEqual(['renewal refused: the proxy no longer knows this tunnel (404)']);
    await h.renewal.renewNow();
    expect(h.sent).toHaveLength(1);
  });

  it('reports a source that fails (the posture command exited 1) and keeps trying until expiry', async () => {
    const h = harness({ posture: cred('p1', T0, 300_000) });
    h.clock.now = T0 + 240_000;
    h.postures.push(new Error('the posture command exited with 1'));
    await h.renewal.renewNow();
    expect(h.sent).toEqual([]);
    expect(h.warnings).toEqual(['cannot get a fresh posture assertion: the posture command exited with 1']);
    h.renewal.stop();
  });

  it('without a stream id from the proxy, says the tunnel cannot be renewed', () => {
    const h = harness({ token: cred('t1', T0, 300_000) }, null);
    h.renewal.start();
    expect(h.warnings[0]).toMatch(/no X-ZT-Stream id: it cannot be renewed/);
  });

  it('renews a stream without a token (a workload by its certificate) with the posture alone', async () => {
    const h = harness({ posture: cred('p1', T0, 300_000) });
    h.clock.now = T0 + 240_000;
    h.postures.push(cred('p2', h.clock.now, 300_000));
    await h.renewal.renewNow();
    expect(h.sent).toEqual([{ id: 'stream-1', token: undefined, posture: 'p2' }]);
    h.renewal.stop();
  });

  it('has nothing to do for credentials that do not expire (a client certificate only, an opaque token)', () => {
    const h = harness({ token: { value: 'opaque', expiresAt: undefined, issuedAt: undefined } });
    h.renewal.start();
    expect(h.renewal.dueAt()).toBeUndefined();
    expect(h.warnings).toEqual([]);
  });
});
