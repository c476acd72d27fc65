// Deny after repeated failures (SPEC §3 `lockout`, §4 429 + Retry-After), over real
// sockets. The test client (127.0.0.1) plays a trusted load balancer, so each case
// chooses its own client address with X-Forwarded-For and the cases do not share bans;
// subjects are distinct per case too. maxFailures is 3: two failures are answered
// normally, the third is answered normally and bans, the fourth request is a 429.
import { describe, expect, it } from 'vitest';
import { accessClaims, jwksOf, makeKey, mint, writeJwksFile, AUDIENCE, ISSUER, type TestKey } from '../helpers/jwt.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';
import { get, type SimpleResponse, type TestProxy } from '../helpers/proxy.ts';
import { useProxyStack } from '../helpers/stack.ts';

let key: TestKey;
let forger: TestKey;
let pdp: TestPdp;
let direct: TestProxy;
let shortBan: TestProxy;

const stack = useProxyStack(async ({ upstream, onClose, startProxy }) => {
  key = await makeKey('ES256');
  forger = await makeKey('ES256', key.kid); // same kid, a key the issuer never published
  const jwks = await writeJwksFile(jwksOf(key));
  onClose(() => jwks.cleanup());
  // The PDP allows everyone: what matters is whether it is asked.
  pdp = await startTestPdp(() => ({ decision: true }));
  onClose(() => pdp.close());
  const identity = { jwt: [{ issuer: ISSUER, audience: AUDIENCE, jwksFile: jwks.path, algorithms: ['ES256'] }] };
  const routes = [
    { name: 'api', match: { host: 'api.test' }, upstream: upstream.url, policy: { allow: { groups: { has: 'eng' } } } },
    { name: 'pdp', match: { host: 'pdp.test' }, upstream: upstream.url, pdp: { mode: 'authzen', url: pdp.origin, cache: { ttl: '0s' } } },
  ];
  const lockout = { maxFailures: 3, window: '1m', banFor: '1m' };
  // Without trusted proxies: X-Forwarded-For is ignored, the socket peer is the client.
  direct = await startProxy({ identity, lockout, routes });
  shortBan = await startProxy({ listen: { trustedProxies: ['127.0.0.1/32'] }, identity, lockout: { ...lockout, banFor: '1s' }, routes });
  return { listen: { trustedProxies: ['127.0.0.1/32'] }, identity, lockout, routes };
});

const now = (): number => Math.floor(Date.now() / 1000);
const good = (sub: string, groups: string[] = ['eng']): Promise<string> => mint(key, accessClaims(now(), { sub, groups }));
const forged = (sub: string): Promise<string> => mint(forger, accessClaims(now(), { sub, groups: ['eng'] }));

function call(ip: string, token: string | undefined, host = 'api.test', proxy: TestProxy = stack.proxy): Promise<SimpleResponse> {
  const headers: Record<string, string> = { 'x-forwarded-for': ip };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return get(proxy.port, '/x', { host, headers });
}

/** `n` requests one after another; their statuses. */
async function times(n: number, send: () => Promise<SimpleResponse>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send()).status);
  return out;
}

/** How often a stage of `proxy` has run (its duration histogram's count). */
async function stageRuns(proxy: TestProxy, stage: string): Promise<number> {
  const metric = await proxy.proxy.metrics.stageSeconds.get();
  return metric.values.find((v) => v.metricName === 'ztproxy_stage_duration_seconds_count' && v.labels.stage === stage)?.value ?? 0;
}

async function metricValue(proxy: TestProxy, name: string, labels: Record<string, string>): Promise<number> {
  const metric = proxy.proxy.metrics.registry.getSingleMetric(name);
  const values = (await metric!.get()).values;
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

describe('threshold, 429 and Retry-After', () => {
  it('bad tokens: two answered 401, the third 401 and bans, then 429 with Retry-After for a good token too', async () => {
    const bad = await forged('mallory');
    expect(await times(3, () => call('198.51.100.1', bad))).toEqual([401, 401, 401]);
    const res = await call('198.51.100.1', await good('mallory-colleague'));
    expect(res.status).toBe(429);
    const retry = Number(res.headers['retry-after']);
    expect(retry).toBeGreaterThan(55);
    expect(retry).toBeLessThanOrEqual(60);
    expect(JSON.parse(res.body)).toEqual({ error: 'too many requests', requestId: res.headers['x-request-id'] });
    expect(stack.upstream.seen).toEqual([]);
    const ban = stack.proxy.logs.find((l) => l.msg === 'lockout: banned' && l.clientIp === '198.51.100.1');
    expect(ban).toMatchObject({ kind: 'ip', failures: 3, banForSeconds: 60 });
    const refusal = stack.proxy.logs.find((l) => l.msg === 'request' && l.status === 429 && l.clientIp === '198.51.100.1');
    expect(refusal).toMatchObject({ reason: 'locked-out' });
  });

  it('N − 1 failures leave the address alone (a good request goes through)', async () => {
    const bad = await forged('x');
    expect(await times(2, () => call('198.51.100.2', bad))).toEqual([401, 401]);
    expect((await call('198.51.100.2', await good('bob'))).status).toBe(200);
  });

  it('403 denials count per address and per subject', async () => {
    const outsider = await good('carol', ['sales']);
    expect(await times(3, () => call('198.51.100.3', outsider))).toEqual([403, 403, 403]);
    expect((await call('198.51.100.3', await good('dave'))).status).toBe(429);
    // carol from another address: her subject is banned too, before authorization.
    const res = await call('198.51.100.4', await good('carol', ['eng']));
    expect(res.status).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(stack.proxy.logs.find((l) => l.msg === 'lockout: banned' && l.subject === 'carol')).toMatchObject({ kind: 'subject', issuer: ISSUER, failures: 3 });
    // ... but not the other address for someone else.
    expect((await call('198.51.100.4', await good('erin'))).status).toBe(200);
  });

  it('requests without credentials do not count (a first visit is no attack)', async () => {
    expect(await times(5, () => call('198.51.100.5', undefined))).toEqual([401, 401, 401, 401, 401]);
    expect((await call('198.51.100.5', await good('frank'))).status).toBe(200);
  });

  it('metrics: bans and refusals by kind, and the bans in force', async () => {
    expect(await metricValue(stack.proxy, 'ztproxy_lockouts_total', { kind: 'ip' })).toBeGreaterThan(0);
    expect(await metricValue(stack.proxy, 'ztproxy_lockouts_total', { kind: 'subject' })).toBeGreaterThan(0);
    expect(await metricValue(stack.proxy, 'ztproxy_lockout_refusals_total', { kind: 'ip' })).toBeGreaterThan(0);
    expect(await metricValue(stack.proxy, 'ztproxy_lockout_refusals_total', { kind: 'subject' })).toBeGreaterThan(0);
    expect(await metricValue(stack.proxy, 'ztproxy_lockout_bans', { kind: 'ip' })).toBeGreaterThan(0);
  });
});

describe('429 before any expensive work', () => {
  it('a banned address: no signature check (authenticate does not run), no policy', async () => {
    const bad = await forged('m');
    await times(3, () => call('198.51.100.10', bad));
    const authBefore = await stageRuns(stack.proxy, 'authenticate');
    const authzBefore = await stageRuns(stack.proxy, 'authorize');
    const pdpBefore = pdp.calls.length;
    expect(await times(5, async () => call('198.51.100.10', await good('gina'), 'pdp.test'))).toEqual([429, 429, 429, 429, 429]);
    expect(await stageRuns(stack.proxy, 'authenticate')).toBe(authBefore);
    expect(await stageRuns(stack.proxy, 'authorize')).toBe(authzBefore);
    expect(pdp.calls.length).toBe(pdpBefore);
    expect(stack.upstream.seen).toEqual([]);
  });

  it('a banned subject: the PDP is never asked, from any address', async () => {
    const outsider = await good('hank', ['sales']);
    await times(3, () => call('198.51.100.11', outsider));
    const pdpBefore = pdp.calls.length;
    const authzBefore = await stageRuns(stack.proxy, 'authorize');
    expect((await call('198.51.100.12', await good('hank'), 'pdp.test')).status).toBe(429);
    expect(pdp.calls.length).toBe(pdpBefore);
    expect(await stageRuns(stack.proxy, 'authorize')).toBe(authzBefore);
    // Control: someone else at that address is asked about.
    expect((await call('198.51.100.12', await good('ivan'), 'pdp.test')).status).toBe(200);
    expect(pdp.calls.length).toBe(pdpBefore + 1);
  });
});

describe('nobody is locked out by someone else', () => {
  it('forged tokens naming a user never ban that user (from another address)', async () => {
    const forgedJudy = await forged('judy');
    expect(await times(6, () => call('198.51.100.20', forgedJudy))).toEqual([401, 401, 401, 429, 429, 429]);
    expect((await call('198.51.100.21', await good('judy'))).status).toBe(200);
  });

  it('from the same address: the address is banned — everyone behind it waits, judy too (documented: the ban is of the address)', async () => {
    const forgedKim = await forged('kim');
    await times(3, () => call('198.51.100.22', forgedKim));
    expect((await call('198.51.100.22', await good('kim'))).status).toBe(429);
    // ... while kim herself is not banned: from her own address she gets in.
    expect((await call('198.51.100.23', await good('kim'))).status).toBe(200);
  });

  it('a cross-site navigation with a session does not count; a bearer token from any site does', async () => {
    const outsider = await good('liam', ['sales']);
    const headers = { 'x-forwarded-for': '198.51.100.24', 'sec-fetch-site': 'cross-site', authorization: `Bearer ${outsider}` };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(stack.proxy.port, '/x', { host: 'api.test', headers })).status);
    expect(statuses).toEqual([403, 403, 403, 429]);
  });
});

describe('IPv6 per /64, X-Forwarded-For behind trusted proxies', () => {
  it('an IPv6 client is banned with its whole /64, not the next /64', async () => {
    const bad = await forged('x');
    await times(3, () => call('2001:db8:1:2::5', bad));
    expect((await call('2001:db8:1:2:ffff::77', await good('mona'))).status).toBe(429);
    // Respelt (upper case, leading zeros) it is the same /64.
    expect((await call('2001:0DB8:0001:0002::77', await good('mona'))).status).toBe(429);
    expect((await call('2001:db8:1:3::5', await good('mona'))).status).toBe(200);
  });

  it('a spoofed left-most hop neither bans the address it names nor lets the real client escape', async () => {
    const bad = await forged('x');
    // The balancer appends the real client (198.51.100.30) to what the attacker sent.
    expect(await times(3, () => call('203.0.113.99, 198.51.100.30', bad))).toEqual([401, 401, 401]);
    expect((await call('203.0.113.99', await good('nina'))).status).toBe(200);
    expect((await call('203.0.113.50, 198.51.100.30', await good('nina'))).status).toBe(429);
  });

  it("a trusted proxy's own address (no X-Forwarded-For) is never banned: it carries many clients", async () => {
    const bad = await forged('x');
    const fromBalancer = () => get(stack.proxy.port, '/x', { host: 'api.test', headers: { authorization: `Bearer ${bad}` } });
    expect(await times(5, fromBalancer)).toEqual([401, 401, 401, 401, 401]);
    expect(stack.proxy.logs.find((l) => l.msg === 'lockout: banned' && l.clientIp === '127.0.0.1')).toBeUndefined();
  });

  it('without trusted proxies X-Forwarded-For is ignored: changing it does not escape a ban', async () => {
    const bad = await forged('x');
    await times(3, () => call('203.0.113.1', bad, 'api.test', direct));
    expect((await call('203.0.113.2', await good('oscar'), 'api.test', direct)).status).toBe(429);
    expect(direct.logs.find((l) => l.msg === 'lockout: banned')).toMatchObject({ kind: 'ip', clientIp: '127.0.0.1' });
  });
});

describe('ban expiry', () => {
  it('after banFor the address and the subject are answered normally again, and counting starts over', async () => {
    const outsider = await good('paul', ['sales']);
    expect(await times(3, () => call('198.51.100.40', outsider, 'api.test', shortBan))).toEqual([403, 403, 403]);
    const res = await call('198.51.100.40', await good('quinn'), 'api.test', shortBan);
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('1');
    await new Promise((r) => setTimeout(r, 1100));
    expect((await call('198.51.100.40', await good('quinn'), 'api.test', shortBan)).status).toBe(200);
    expect((await call('198.51.100.41', await good('paul'), 'api.test', shortBan)).status).toBe(200);
    // A fresh count: one failure does not ban again.
    expect((await call('198.51.100.40', outsider, 'api.test', shortBan)).status).toBe(403);
    expect((await call('198.51.100.40', await good('quinn'), 'api.test', shortBan)).status).toBe(200);
  });
});

describe('config reload keeps the bans', () => {
  it('a ban survives a reload of the same config', async () => {
    const bad = await forged('x');
    await times(3, () => call('198.51.100.50', bad));
    const before = stack.proxy.proxy.snapshot.version;
    expect((await stack.proxy.proxy.reload()).ok).toBe(true);
    expect(stack.proxy.proxy.snapshot.version).toBe(before + 1);
    expect((await call('198.51.100.50', await good('rita'))).status).toBe(429);
  });
});
