// A route's shadowPolicy over real sockets: evaluated beside the enforced policy on every
// request that reached authorization, on the same input, after the answer — divergences
// logged (`policy shadow divergence`) and counted, never enforced: what the enforced
// policy allows still reaches the upstream, what it denies never does.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { get, type LogLine } from '../helpers/proxy.ts';
import { startTestPdp } from '../helpers/pdp.ts';
import { useProxyStack } from '../helpers/stack.ts';

const ISS = 'https://idp.test';
const AUD = 'https://api.test';
let key: CryptoKey;

async function token(sub: string, groups: string[]): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub, groups })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(key);
}

const stack = useProxyStack(async ({ upstream, onClose }) => {
  // An AuthZEN PDP of its own mind: every PUT is allowed, nothing else.
  const pdp = await startTestPdp((body) => ({ decision: (body.action as { name?: string } | undefined)?.name === 'PUT' }));
  onClose(() => pdp.close());
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  const jwksFile = join(mkdtempSync(join(tmpdir(), 'ztproxy-shadow-')), 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  return {
    identity: { jwt: [{ issuer: ISS, audience: AUD, jwksFile, algorithms: ['ES256'] }] },
    routes: [
      {
        // Today everyone; the candidate: only GETs, never /admin.
        name: 'loosen',
        match: { host: 'loose.test' },
        upstream: upstream.url,
        policy: { allow: { accept: true } },
        shadowPolicy: { allow: { method: ['GET'] }, deny: { path: { prefix: '/admin' } } },
      },
      {
        // Today GETs only; the candidate would open it to every method.
        name: 'tighten',
        match: { host: 'tight.test' },
        upstream: upstream.url,
        policy: { allow: { method: ['GET'] } },
        shadowPolicy: { allow: { accept: true } },
      },
      {
        // The candidate asks who the caller is: it must see the same subject.
        name: 'groups',
        match: { host: 'groups.test' },
        upstream: upstream.url,
        policy: { allow: { authenticated: true } },
        shadowPolicy: { allow: { groups: { has: 'engineering' } } },
      },
      {
        // Case-insensitive route: the shadow compares the folded path, as the policy does.
        name: 'legacy',
        match: { host: 'legacy.test' },
        // The same upstream by another name: one upstream reads paths one way only.
        upstream: upstream.url.replace('127.0.0.1', 'localhost'),
        paths: 'caseInsensitive',
        policy: { allow: { accept: true } },
        shadowPolicy: { allow: { accept: true }, deny: { path: { prefix: '/Admin' } } },
      },
      {
        // The enforced decision is a remote PDP's; the candidate is an embedded policy.
        name: 'remote',
        match: { host: 'remote.test' },
        upstream: upstream.url,
        pdp: { mode: 'authzen', url: pdp.origin },
        shadowPolicy: { allow: { and: [{ groups: { has: 'engineering' } }, { method: ['GET', 'PUT'] }] } },
      },
      { name: 'plain', match: { host: 'plain.test' }, upstream: upstream.url, policy: { allow: { accept: true } } },
    ],
  };
});

function metricsText(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: stack.proxy.proxy.addresses.admin.port, path: '/metrics', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample of a counter (0 when absent). */
async function counter(name: string, labels: Record<string, string>): Promise<number> {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of (await metricsText()).split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m?.[1] === name && m[2]!.split(',').sort().join(',') === want) return Number(m[3]);
  }
  return 0;
}

const evaluations = (route: string, enforced: string, shadow: string) => counter('ztproxy_policy_shadow_evaluations_total', { route, enforced, shadow });
const divergences = (route: string, enforced: string, shadow: string) => counter('ztproxy_policy_shadow_divergences_total', { route, enforced, shadow });

async function lineFor(requestId: string, msg: string): Promise<LogLine | undefined> {
  // The access-log line comes last (after the shadow's own line): wait for it.
  const end = Date.now() + 2000;
  while (!stack.proxy.logs.some((l) => l.msg === 'request' && l.requestId === requestId)) {
    if (Date.now() > end) throw new Error(`no access-log line for ${requestId}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return stack.proxy.logs.find((l) => l.msg === msg && l.requestId === requestId);
}

const idOf = (res: { headers: Record<string, string | string[] | undefined> }) => res.headers['x-request-id'] as string;

describe('shadowPolicy', () => {
  it('enforced allow, shadow deny: the request still reaches the upstream; the divergence is logged and counted', async () => {
    const before = await divergences('loosen', 'allow', 'deny');
    const res = await get(stack.proxy.port, '/notes?secret=x', { host: 'loose.test', method: 'POST', body: 'hello' });
    expect(res.status).toBe(200);
    expect(stack.upstream.last('/notes')).toMatchObject({ method: 'POST', url: '/notes?secret=x' });
    const warn = await lineFor(idOf(res), 'policy shadow divergence');
    expect(warn).toMatchObject({
      level: 40,
      route: 'loosen',
      method: 'POST',
      host: 'loose.test',
      path: '/notes',
      enforced: 'allow',
      enforcedRule: 'allow.accept',
      policySource: 'embedded',
      shadow: 'deny',
      shadowReason: 'no-allow-matched',
    });
    expect(warn!.shadowRule).toBeUndefined();
    expect(await lineFor(idOf(res), 'request')).toMatchObject({ decision: 'allow', rule: 'allow.accept', shadowDecision: 'deny' });
    expect(await divergences('loosen', 'allow', 'deny')).toBe(before + 1);

    const admin = await get(stack.proxy.port, '/admin/users', { host: 'loose.test' });
    expect(admin.status).toBe(200);
    expect(stack.upstream.last('/admin')?.url).toBe('/admin/users');
    expect(await lineFor(idOf(admin), 'policy shadow divergence')).toMatchObject({ path: '/admin/users', enforced: 'allow', shadow: 'deny', shadowRule: 'deny.path' });
    expect(await divergences('loosen', 'allow', 'deny')).toBe(before + 2);
  });

  it('matching outcomes are counted as evaluations, not divergences, and not logged as one', async () => {
    const [evals, divs] = [await evaluations('loosen', 'allow', 'allow'), await divergences('loosen', 'allow', 'allow')];
    const res = await get(stack.proxy.port, '/notes', { host: 'loose.test' });
    expect(res.status).toBe(200);
    const line = await lineFor(idOf(res), 'request');
    expect(line).toMatchObject({ decision: 'allow', shadowDecision: 'allow', shadowRule: 'allow.method' });
    expect(await lineFor(idOf(res), 'policy shadow divergence')).toBeUndefined();
    expect(await evaluations('loosen', 'allow', 'allow')).toBe(evals + 1);
    expect(await divergences('loosen', 'allow', 'allow')).toBe(divs);
  });

  it('enforced deny, shadow allow: still refused, never forwarded; the divergence is logged and counted', async () => {
    const before = await divergences('tighten', 'deny', 'allow');
    stack.upstream.reset();
    const res = await get(stack.proxy.port, '/x', { host: 'tight.test', method: 'DELETE' });
    expect(res.status).toBe(403);
    expect(stack.upstream.seen).toEqual([]);
    expect(await lineFor(idOf(res), 'policy shadow divergence')).toMatchObject({ route: 'tighten', method: 'DELETE', enforced: 'deny', enforcedReason: 'no-allow-matched', shadow: 'allow', shadowRule: 'allow.accept' });
    expect(await divergences('tighten', 'deny', 'allow')).toBe(before + 1);
  });

  it('the shadow sees the subject the enforced policy saw, and the log names it', async () => {
    const eng = await get(stack.proxy.port, '/x', { host: 'groups.test', headers: { authorization: `Bearer ${await token('alice', ['engineering'])}` } });
    expect(eng.status).toBe(200);
    expect(await lineFor(idOf(eng), 'policy shadow divergence')).toBeUndefined();
    expect(await lineFor(idOf(eng), 'request')).toMatchObject({ subject: 'alice', shadowDecision: 'allow' });
    const sales = await get(stack.proxy.port, '/x', { host: 'groups.test', headers: { authorization: `Bearer ${await token('bob', ['sales'])}` } });
    expect(sales.status).toBe(200);
    expect(await lineFor(idOf(sales), 'policy shadow divergence')).toMatchObject({ subject: 'bob', issuer: ISS, enforced: 'allow', shadow: 'deny' });
  });

  it('beside a remote PDP: the embedded candidate is compared with the PDP\'s answer, on the same input', async () => {
    const bob = { authorization: `Bearer ${await token('bob', ['sales'])}` };
    const put = await get(stack.proxy.port, '/x', { host: 'remote.test', method: 'PUT', headers: bob, body: 'x' });
    expect(put.status).toBe(200);
    expect(await lineFor(idOf(put), 'policy shadow divergence')).toMatchObject({ route: 'remote', subject: 'bob', enforced: 'allow', policySource: 'authzen', shadow: 'deny' });
    const alice = { authorization: `Bearer ${await token('alice', ['engineering'])}` };
    const get1 = await get(stack.proxy.port, '/x', { host: 'remote.test', headers: alice });
    expect(get1.status).toBe(403);
    expect(await lineFor(idOf(get1), 'policy shadow divergence')).toMatchObject({ enforced: 'deny', shadow: 'allow', shadowRule: 'allow.and' });
    const put2 = await get(stack.proxy.port, '/x', { host: 'remote.test', method: 'PUT', headers: alice, body: 'x' });
    expect(put2.status).toBe(200);
    expect(await lineFor(idOf(put2), 'policy shadow divergence')).toBeUndefined();
    expect(await lineFor(idOf(put2), 'request')).toMatchObject({ decision: 'allow', shadowDecision: 'allow' });
  });

  it('a case-insensitive route: the shadow judges the folded path', async () => {
    const res = await get(stack.proxy.port, '/aDMIN/x', { host: 'legacy.test' });
    expect(res.status).toBe(200);
    expect(await lineFor(idOf(res), 'policy shadow divergence')).toMatchObject({ route: 'legacy', shadow: 'deny', shadowRule: 'deny.path' });
  });

  it('requests that never reached authorization are not shadow-evaluated (404, 400, 401 for a bad token)', async () => {
    const total = async () => {
      let n = 0;
      for (const line of (await metricsText()).split('\n')) if (line.startsWith('ztproxy_policy_shadow_evaluations_total{')) n += Number(line.split(' ').at(-1));
      return n;
    };
    const before = await total();
    const notFound = await get(stack.proxy.port, '/x', { host: 'nowhere.test' });
    expect(notFound.status).toBe(404);
    const bad = await get(stack.proxy.port, '/%2e%2e/admin', { host: 'loose.test' });
    expect(bad.status).toBe(400);
    const badToken = await get(stack.proxy.port, '/x', { host: 'loose.test', headers: { authorization: 'Bearer not-a-token' } });
    expect(badToken.status).toBe(401);
    for (const res of [notFound, bad, badToken]) expect((await lineFor(idOf(res), 'request'))!.shadowDecision).toBeUndefined();
    // And a route without a shadowPolicy: nothing to evaluate.
    const plain = await get(stack.proxy.port, '/x', { host: 'plain.test' });
    expect(plain.status).toBe(200);
    expect((await lineFor(idOf(plain), 'request'))!.shadowDecision).toBeUndefined();
    expect(await total()).toBe(before);
  });
});

describe('shadowPolicy and sessions', () => {
  it('the claims a shadow policy reads are kept in sessions, as the enforced policy\'s are', async () => {
    const { policyClaimNames } = await import('../../src/assembly/snapshot.ts');
    const { configSchema } = await import('../../src/config/schema.ts');
    const route = (policy: unknown, shadowPolicy?: unknown) => ({ name: 'r', upstream: 'http://127.0.0.1:1', policy, ...(shadowPolicy ? { shadowPolicy } : {}) });
    const config = configSchema.parse({
      listen: { tls: { cert: 'c', key: 'k' } },
      routes: [route({ allow: { claim: { name: 'acr', equals: 'mfa' } } }, { allow: { and: [{ claim: { name: 'department', equals: 'it' } }] } })],
    });
    expect(policyClaimNames(config.routes).sort()).toEqual(['acr', 'department']);
  });
});
