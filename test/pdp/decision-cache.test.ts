// The decision cache and the documents it is keyed by, against a real loopback PDP
// (no proxy: the posture stage that fills in a device is another part of the chain):
// the document carries every attribute a decision may depend on, so two devices, two
// users or two SPIFFE IDs are never one cache entry — and an identical question is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Device } from '../../src/basics/device.ts';
import type { Subject } from '../../src/basics/subject.ts';
import { RemotePdp, describePdpRequest } from '../../src/pdp/index.ts';
import { remoteDocument, type RemoteRoute } from '../../src/policy/remote-input.ts';
import { TemplateMatcher } from '../../src/policy/path-templates.ts';
import type { PolicyInput } from '../../src/policy/index.ts';
import { startTestPdp, type TestPdp } from '../helpers/pdp.ts';

const subject = (sub: string): Subject => ({
  source: 'bearer', issuer: 'https://idp.test', sub, email: undefined, emailVerified: false, groups: ['eng'], claims: { sub }, authTime: undefined, acr: undefined, amr: [],
});
const device = (id: string, managed: boolean | undefined): Device => ({
  issuer: 'mdm.test', id, issuedAt: 1, expiresAt: 2,
  posture: { managed, compliant: true, os: { name: 'macOS', version: '14.2' }, patchAgeDays: 3, diskEncrypted: true, firewall: undefined, edr: undefined, screenLock: undefined },
});
const input = (over: Partial<PolicyInput> = {}): PolicyInput => ({
  method: 'GET', host: 'api.test', path: '/docs/1', sourceIp: '10.0.0.1', spiffeId: undefined, now: Date.now(), subject: subject('alice'), device: device('dev-1', true), ...over,
});
const route: RemoteRoute = { name: 'api', templates: new TemplateMatcher(['/docs/{docId}'], { fallbackId: '/' }), pathPrefix: '/' };

let pdp: TestPdp;
let remote: RemotePdp;

beforeAll(async () => {
  // Allows only a managed device: a decision that depends on the posture.
  pdp = await startTestPdp((body) => ({ decision: (body.context as { device?: { posture: { managed?: boolean } } }).device?.posture.managed === true }));
  remote = new RemotePdp({ mode: 'authzen', url: pdp.origin, timeout: 3000, cache: { ttl: 600_000, max: 1000 }, breaker: { failures: 5, coolDown: 10_000 } });
});
afterAll(async () => {
  await remote.close();
  await pdp.close();
});

async function decide(i: PolicyInput): Promise<string> {
  return (await remote.decide(i, route, 'req'))!.decision.effect;
}

describe('the decision cache never crosses devices, users or SPIFFE IDs', () => {
  it('a managed device allowed, then another device that is not managed denied — two calls', async () => {
    pdp.reset();
    expect(await decide(input())).toBe('allow');
    expect(await decide(input({ device: device('dev-2', false) }))).toBe('deny');
    expect(pdp.calls).toHaveLength(2);
    expect((pdp.calls[1]!.body!.context as { device: unknown }).device).toEqual({
      id: 'dev-2', issuer: 'mdm.test',
      posture: { managed: false, compliant: true, os: { name: 'macOS', version: '14.2' }, patchAgeDays: 3, diskEncrypted: true },
    });
  });

  it('no device at all is its own question (and an unknown posture field is absent, not false)', async () => {
    pdp.reset();
    expect(await decide(input({ device: undefined, path: '/docs/2' }))).toBe('deny');
    expect(await decide(input({ path: '/docs/2' }))).toBe('allow');
    expect(pdp.calls).toHaveLength(2);
    expect(pdp.calls[0]!.body!.context).toEqual({ issuer: 'https://idp.test', groups: ['eng'] });
  });

  it('the same question again is answered from the cache, synchronously', async () => {
    pdp.reset();
    expect(await decide(input({ path: '/docs/3' }))).toBe('allow');
    const again = remote.decide(input({ path: '/docs/3' }), route, 'req');
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toMatchObject({ source: 'cache', decision: { effect: 'allow' } });
    expect(pdp.calls).toHaveLength(1);
  });

  it('documents differ for every attribute a decision may read; the evaluation time and assertion times are not in them', () => {
    const docs = new Set([
      remoteDocument('authzen', input(), route),
      remoteDocument('authzen', input({ subject: subject('bob') }), route),
      remoteDocument('authzen', input({ method: 'PUT' }), route),
      remoteDocument('authzen', input({ path: '/docs/2' }), route),
      remoteDocument('authzen', input({ host: 'other.test' }), route),
      remoteDocument('authzen', input({ sourceIp: '10.0.0.2' }), route),
      remoteDocument('authzen', input({ spiffeId: 'spiffe://td/x' }), route),
      remoteDocument('authzen', input({ device: device('dev-1', false) }), route),
    ]);
    expect(docs.size).toBe(8);
    const later = { ...device('dev-1', true), issuedAt: 100, expiresAt: 200 };
    expect(remoteDocument('authzen', input({ now: 1, device: later }), route)).toBe(remoteDocument('authzen', input(), route));
    expect(remoteDocument('opa', input({ now: 1, device: later }), route)).toBe(remoteDocument('opa', input(), route));
  });

  it('describePdpRequest: what would be sent, without sending it (for ztproxy explain)', () => {
    const d = describePdpRequest({ mode: 'authzen', url: 'https://pdp.test/base/' }, input(), route);
    expect(d.url).toBe('https://pdp.test/base/access/v1/evaluation');
    expect(JSON.stringify(d.body)).toBe(remoteDocument('authzen', input(), route));
    expect(describePdpRequest({ mode: 'authzen', url: 'https://pdp.test' }, input({ subject: undefined }), route).body).toBeUndefined();
    expect(describePdpRequest({ mode: 'opa', url: 'http://127.0.0.1:8181/v1/data/z/allow' }, input(), route).url).toBe('http://127.0.0.1:8181/v1/data/z/allow');
  });
});
