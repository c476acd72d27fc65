// The decision audit (issue #5 point 6): every decision is logged — on the request's one
// access-log line — with who (subject, device id, SPIFFE id), what (route, method, path),
// the outcome, the rule or the PDP's reasons, the policy source and its latency; and no
// token, cookie or assertion ever appears in any log line, for a request carrying all of them.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot, type AssembledSnapshot } from '../../src/assembly/snapshot.ts';
import type { Device } from '../../src/basics/device.ts';
import { parseConfig } from '../../src/config/load.ts';
import { recordRequest } from '../../src/pipeline/access-log.ts';
import { RequestContext } from '../../src/pipeline/context.ts';
import { UpstreamRegistry } from '../../src/proxy/upstream.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { NO_TLS_IDENTITY } from '../../src/tls/peer-identity.ts';
import { get, type LogLine } from '../helpers/proxy.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';
import { useProxyStack } from '../helpers/stack.ts';

const ISS = 'https://idp.test';
const AUD = 'https://api.test';
let key: CryptoKey;
let deviceKey: CryptoKey;
let pdp: TestPdp;

async function token(sub: string, groups: string[]): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub, groups, email: `${sub}@example.com`, email_verified: true })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(key);
}

const stack = useProxyStack(async ({ pki, upstream, onClose }) => {
  // An AuthZEN PDP deciding by a table of its own: alice may, anyone else may not (with its reasons).
  pdp = await startTestPdp((body) =>
    (body.subject as { id?: string } | undefined)?.id === 'alice' ? { decision: true } : { decision: false, context: { reason_admin: { en: 'not-owner' } } },
  );
  onClose(() => pdp.close());
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  const device = await generateKeyPair('ES256', { extractable: true });
  deviceKey = device.privateKey;
  const dir = mkdtempSync(join(tmpdir(), 'ztproxy-audit-'));
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  const deviceJwks = join(dir, 'device.json');
  writeFileSync(deviceJwks, JSON.stringify({ keys: [{ ...(await exportJWK(device.publicKey)), kid: 'agent-1', alg: 'ES256', use: 'sig' }] }));
  return {
    listen: { clientAuth: { mode: 'optional', ca: pki.ca.certPath } },
    identity: { jwt: [{ issuer: ISS, audience: AUD, jwksFile, algorithms: ['ES256'] }] },
    device: { issuers: [{ issuer: 'device-agent.test', jwksFile: deviceJwks }] },
    routes: [
      { name: 'todo', match: { host: 'todo.test' }, upstream: upstream.url, pdp: { mode: 'authzen', url: pdp.origin }, templates: ['/todos/{todoId}'] },
      {
        name: 'api',
        match: { host: 'api.test' },
        upstream: upstream.url,
        policy: { allow: { and: [{ authenticated: true }, { groups: { has: 'eng' } }, { device: { managed: true } }] }, deny: { path: { prefix: '/admin' } } },
      },
    ],
  };
});

const lineFor = async (requestId: string): Promise<LogLine> => {
  const end = Date.now() + 2000;
  for (;;) {
    const line = stack.proxy.logs.find((l) => l.msg === 'request' && l.requestId === requestId);
    if (line) return line;
    if (Date.now() > end) throw new Error(`no access-log line for ${requestId}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('decision audit over real sockets (embedded engine)', () => {
  it('an allowed request: subject, SPIFFE id, route, method, path, outcome, rule, source and latency; no secret in any line', async () => {
    const bearer = await token('alice', ['eng']);
    // A valid posture assertion from the configured device agent.
    const t = Math.floor(Date.now() / 1000);
    const posture = await new SignJWT({ posture: { managed: true, patchAgeDays: 3 } })
      .setProtectedHeader({ alg: 'ES256', kid: 'agent-1' })
      .setIssuer('device-agent.test')
      .setSubject('mac-1')
      .setIssuedAt(t)
      .setExpirationTime(t + 300)
      .sign(deviceKey);
    const cookie = '__Host-ztproxy=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..c2VjcmV0LXNlc3Npb24tY29va2ll.c2VjcmV0; app_session=app-cookie-secret-value';
    const clientCert = stack.pki.clients.valid;
    const logsBefore = stack.proxy.logs.length;
    const res = await get(stack.proxy.port, '/items/42?access_token=query-token-secret', {
      host: 'api.test',
      method: 'PUT',
      headers: { authorization: `Bearer ${bearer}`, cookie, 'x-device-posture': posture },
      tls: { cert: clientCert.certPem, key: clientCert.keyPem },
    });
    expect(res.status).toBe(200);
    const assertion = stack.upstream.last('/items')!.headers['x-zt-assertion'] as string;
    expect(assertion).toMatch(/^ey/);
    const line = await lineFor(res.headers['x-request-id'] as string);
    expect(line).toMatchObject({
      route: 'api',
      method: 'PUT',
      path: '/items/42',
      status: 200,
      subject: 'alice',
      issuer: ISS,
      spiffeId: stack.pki.spiffeId,
      deviceId: 'mac-1',
      posture: 'valid',
      decision: 'allow',
      reason: 'policy-allow',
      rule: 'allow.and',
      policySource: 'embedded',
    });
    expect(typeof (line.durations as Record<string, unknown>).policy).toBe('number');
    expect(line.policyReasons).toBeUndefined();
    // The device's id, never its posture claims.
    expect(JSON.stringify(line)).not.toContain('patchAgeDays');

    const logged = JSON.stringify(stack.proxy.logs.slice(logsBefore));
    const secrets = [
      bearer,
      ...bearer.split('.'),
      posture,
      ...posture.split('.'),
      assertion,
      assertion.split('.')[2]!,
      'c2VjcmV0LXNlc3Npb24tY29va2ll',
      'app-cookie-secret-value',
      'query-token-secret',
    ];
    for (const secret of secrets) expect(logged.includes(secret), `a log line holds ${secret.slice(0, 20)}…`).toBe(false);
  });

  it('a denial: the deciding rule and the source; a 401 before policy has neither', async () => {
    const denied = await get(stack.proxy.port, '/admin/x', { host: 'api.test', headers: { authorization: `Bearer ${await token('alice', ['eng'])}` } });
    expect(denied.status).toBe(403);
    expect(await lineFor(denied.headers['x-request-id'] as string)).toMatchObject({
      subject: 'alice',
      path: '/admin/x',
      decision: 'deny',
      reason: 'policy-deny',
      rule: 'deny.path',
      policySource: 'embedded',
    });
    const badToken = await get(stack.proxy.port, '/x', { host: 'api.test', headers: { authorization: 'Bearer not-a-token' } });
    expect(badToken.status).toBe(401);
    const line = await lineFor(badToken.headers['x-request-id'] as string);
    expect(line).toMatchObject({ decision: 'none', status: 401 });
    expect(line.policySource).toBeUndefined();
    expect(line.rule).toBeUndefined();
  });
});

describe('decision audit of a remote PDP over real sockets', () => {
  it('the source (authzen, then cache), the PDP reasons and the latency, for an allow and a deny', async () => {
    const bob = await token('bob', ['eng']);
    const first = await get(stack.proxy.port, '/todos/7', { host: 'todo.test', method: 'DELETE', headers: { authorization: `Bearer ${bob}` } });
    expect(first.status).toBe(403);
    const line = await lineFor(first.headers['x-request-id'] as string);
    expect(line).toMatchObject({ route: 'todo', subject: 'bob', method: 'DELETE', path: '/todos/7', decision: 'deny', policySource: 'authzen', policyReasons: ['not-owner'] });
    expect(typeof (line.durations as Record<string, unknown>).policy).toBe('number');
    // The same request again: answered by the decision cache, and logged as such.
    const again = await get(stack.proxy.port, '/todos/7', { host: 'todo.test', method: 'DELETE', headers: { authorization: `Bearer ${bob}` } });
    expect(again.status).toBe(403);
    expect(await lineFor(again.headers['x-request-id'] as string)).toMatchObject({ decision: 'deny', policySource: 'cache', policyReasons: ['not-owner'] });
    const alice = await get(stack.proxy.port, '/todos/7', { host: 'todo.test', headers: { authorization: `Bearer ${await token('alice', ['eng'])}` } });
    expect(alice.status).toBe(200);
    const allowed = await lineFor(alice.headers['x-request-id'] as string);
    expect(allowed).toMatchObject({ subject: 'alice', decision: 'allow', policySource: 'authzen' });
    expect(allowed.policyReasons).toBeUndefined();
  });
});

describe('decision audit of what the posture stage and a remote PDP leave on the context', () => {
  const registry = new UpstreamRegistry();
  let snapshot: AssembledSnapshot;
  beforeAll(async () => {
    const { config, errors } = parseConfig(
      stringify({
        listen: { address: '127.0.0.1:0', tls: { cert: 'package.json', key: 'package.json' } },
        routes: [{ name: 'todo', upstream: 'http://127.0.0.1:9', policy: { allow: { accept: true } } }],
      }),
      process.cwd(),
    );
    expect(errors).toEqual([]);
    snapshot = await buildSnapshot(config!, 1, registry);
  });
  afterAll(() => registry.destroyAll());

  it('logs the device id, the PDP source and its reasons with the decision', () => {
    const lines: LogLine[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as LogLine);
        done();
      },
    });
    const log = createLogger('info', sink);
    const ctx = new RequestContext('req-1', snapshot, new IncomingMessage(new Socket()), undefined, undefined);
    const device: Device = {
      issuer: 'agent',
      id: 'mac-1',
      issuedAt: 0,
      expiresAt: 1,
      posture: { managed: true, compliant: true, os: undefined, patchAgeDays: 3, diskEncrypted: true, firewall: undefined, edr: undefined, screenLock: undefined },
    };
    ctx.route = snapshot.routes[0];
    ctx.conn = { ...NO_TLS_IDENTITY, clientCert: 'verified', spiffeId: 'spiffe://td/ns/prod/sa/api' };
    ctx.method = 'DELETE';
    ctx.host = 'todo.test';
    ctx.path = '/todos/7';
    ctx.status = 403;
    ctx.device = device;
    ctx.subject = { source: 'bearer', issuer: ISS, sub: 'bob', email: undefined, emailVerified: false, groups: [], claims: {}, authTime: undefined, acr: undefined, amr: [] };
    ctx.decision = Object.freeze({ effect: 'deny', reason: 'pdp-deny', rule: undefined, needsAuthentication: false });
    ctx.policySource = 'cache';
    ctx.policyReasons = ['not-owner', 'todo-7-belongs-to-alice'];
    ctx.timings.policy = 0.042;
    recordRequest(ctx, log, new Metrics());
    log.flush();
    const line = lines.find((l) => l.msg === 'request');
    expect(line).toMatchObject({
      requestId: 'req-1',
      route: 'todo',
      method: 'DELETE',
      path: '/todos/7',
      status: 403,
      subject: 'bob',
      deviceId: 'mac-1',
      spiffeId: 'spiffe://td/ns/prod/sa/api',
      decision: 'deny',
      reason: 'pdp-deny',
      policySource: 'cache',
      policyReasons: ['not-owner', 'todo-7-belongs-to-alice'],
      durations: { policy: 0.042 },
    });
    // The device's posture is the assertion's content: only its id is logged.
    expect(JSON.stringify(line)).not.toContain('patchAgeDays');
  });
});
