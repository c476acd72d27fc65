// `ztproxy check --tests` and `explain` judge a described CONNECT as the proxy does
// (src/cli/described-request.ts shares sanitize.ts connectTarget and route-match.ts
// selectTunnel): the same target grammar, only TCP routes, method CONNECT and path `/`
// for the policy. Each case is also sent over a TLS socket to a real ztproxy with the
// same config, and the two answers must agree.
import { describe, expect, it } from 'vitest';
import { decideCase, type PolicyTestCase } from '../../src/cli/policy-tests.ts';
import { describedRequestSchema } from '../../src/cli/described-request.ts';
import { useDescribedSnapshot } from '../helpers/described-snapshot.ts';
import { useProxyStack } from '../helpers/stack.ts';
import { openTunnel, startTcpUpstream, type TcpUpstream } from '../helpers/tcp.ts';

let config: Record<string, unknown>;
let tcp: TcpUpstream;

const stack = useProxyStack(async ({ upstream, onClose }) => {
  tcp = await startTcpUpstream('echo');
  onClose(() => tcp.close());
  config = {
    routes: [
      { name: 'ssh', match: { host: 'ssh.internal', port: 22 }, upstream: tcp.url, policy: { allow: { method: ['CONNECT'] }, deny: { path: { prefix: '/admin' } } } },
      { name: 'db', match: { host: '*.db.internal', port: 5432 }, upstream: tcp.url, policy: { allow: { sourceIp: ['10.0.0.0/8'] } } },
      { name: 'web', match: { host: 'ssh.internal' }, upstream: upstream.url, policy: { allow: { accept: true } } },
    ],
  };
  return config;
});

const described = useDescribedSnapshot(stack, () => config);

function checked(request: Record<string, unknown>): { status: number | 'local'; reason: string; route?: string } {
  const c: PolicyTestCase = { name: 'x', request: describedRequestSchema.parse({ method: 'CONNECT', ...request }), expect: { decision: 'allow' } };
  const got = decideCase(described.snapshot, c);
  return { status: got.status === 'forwarded' ? 200 : (got.status as number | 'local'), reason: got.reason };
}

async function wire(target: string): Promise<number> {
  const t = await openTunnel(stack.proxy.port, target);
  t.socket.destroy();
  return t.status;
}

describe('a described CONNECT', () => {
  it.each([
    ['ssh.internal:22', 200],
    ['SSH.Internal.:22', 200],
    ['ssh.internal:2222', 404],
    ['127.1:22', 400],
    ['user@ssh.internal:22', 400],
    ['ssh.internal', 400],
    ['a.db.internal:5432', 403],
  ] as const)('%s: the check and the proxy agree (%i)', async (host, status) => {
    expect(checked({ host }).status).toBe(status);
    expect(await wire(host)).toBe(status);
  });

  it('is judged with path / (a path rule cannot be dodged) and never with an HTTP route', () => {
    expect(checked({ host: 'ssh.internal:22', path: '/admin' })).toMatchObject({ status: 400, reason: 'connect-target-not-authority-form' });
    expect(checked({ host: 'a.db.internal:5432', sourceIp: '10.1.2.3' }).status).toBe(200);
    // A GET to the TCP route's host is the HTTP route's.
    expect(checked({ method: 'GET', host: 'ssh.internal', path: '/' }).status).toBe(200);
  });
});
