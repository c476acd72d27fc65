// A described subject, device or SPIFFE ID stands for one the proxy verified. With a config
// that verifies none (no identity.jwt / oidc, no device block, clientAuth off) every real
// caller is anonymous: a policy test judged on a described caller would pass `allow` while
// the proxy answers 401 to everyone. Such a case fails, whatever it expects.
import { describe, expect, it } from 'vitest';
import { describedRequestSchema } from '../../src/cli/described-request.ts';
import { decideCase, runPolicyTests, type PolicyTestCase } from '../../src/cli/policy-tests.ts';
import { get } from '../helpers/proxy.ts';
import { useDescribedSnapshot } from '../helpers/described-snapshot.ts';
import { useProxyStack } from '../helpers/stack.ts';

let config: Record<string, unknown>;
const stack = useProxyStack(({ upstream }) => {
  config = {
    routes: [
      { name: 'eng', match: { host: 'eng.test' }, upstream: upstream.url, policy: { allow: { groups: { has: 'eng' } } } },
      { name: 'mesh', match: { host: 'mesh.test' }, upstream: upstream.url, policy: { allow: { spiffe: { trustDomain: 'example.org' } } } },
    ],
  };
  return config;
});

const described = useDescribedSnapshot(stack, () => config);

const testCase = (name: string, request: Record<string, unknown>): PolicyTestCase => ({ name, request: describedRequestSchema.parse(request), expect: { decision: 'allow' } });

describe('a described caller the config can never see', () => {
  it('fails the case (the proxy answers every real caller as anonymous)', async () => {
    const res = await get(stack.proxy.port, '/', { host: 'eng.test', headers: { authorization: 'Bearer x' } });
    expect(res.status).toBe(401);
    expect(stack.upstream.seen).toHaveLength(0);
    const cases = [
      testCase('engineer', { host: 'eng.test', subject: { sub: 'alice', groups: ['eng'] } }),
      testCase('session', { host: 'eng.test', subject: { sub: 'alice', groups: ['eng'], source: 'session' } }),
      testCase('workload', { host: 'mesh.test', spiffeId: 'spiffe://example.org/a' }),
      testCase('device', { host: 'eng.test', device: { id: 'd1', compliant: true } }),
    ];
    const lines: string[] = [];
    expect(runPolicyTests(described.snapshot, [{ file: 't.yaml', cases }], (l) => lines.push(l))).toEqual({ passed: 0, failed: 4 });
    expect(lines.filter((l) => l.startsWith('     cannot occur: '))).toEqual([
      '     cannot occur: subject: the config verifies no bearer token (identity.jwt lists no issuer), so no request is ever authenticated by one',
      '     cannot occur: subject: the config has no browser login (identity.oidc), so no request ever has a session',
      '     cannot occur: spiffeId: listen.clientAuth is off, so no request ever carries a client certificate',
      '     cannot occur: device: the config has no device block, so no request ever has posture',
    ]);
  });

  it('an anonymous case still runs as before', () => {
    const got = decideCase(described.snapshot, testCase('anonymous', { host: 'eng.test' }));
    expect(got).toMatchObject({ decision: 'deny', status: 401 });
    expect(got.problem).toBeUndefined();
  });
});
