// The CONNECT target grammar (src/basics/canonical.ts canonicalizeConnectTarget): the one
// canonical form a TCP route is looked up by, and a reason for every other spelling. The
// wire tests (refusals.test.ts) send each attack through ztproxy; this table pins the
// canonical forms themselves.
import { describe, expect, it } from 'vitest';
import { canonicalizeConnectTarget } from '../../src/basics/canonical.ts';
import { TunnelRouter } from '../../src/pipeline/router.ts';

describe('canonicalizeConnectTarget', () => {
  it.each([
    ['ssh.internal:22', 'ssh.internal:22'],
    ['SSH.Internal:22', 'ssh.internal:22'],
    ['ssh.internal.:22', 'ssh.internal:22'],
    ['xn--pen-7ha.internal:7', 'xn--pen-7ha.internal:7'],
    ['10.0.0.9:22', '10.0.0.9:22'],
    // The root dot on a dotted quad: the same address to every parser (WHATWG URL too), so the same key.
    ['10.0.0.9.:22', '10.0.0.9:22'],
    ['[::1]:22', '[::1]:22'],
    ['[0:0:0:0:0:0:0:1]:22', '[::1]:22'],
    ['[2001:DB8:0:0:0:0:0:1]:443', '[2001:db8::1]:443'],
    ['db_1.internal:5432', 'db_1.internal:5432'],
    ['a:65535', 'a:65535'],
  ])('%s → %s', (raw, authority) => {
    const r = canonicalizeConnectTarget(raw);
    expect(r.ok && r.target.authority).toBe(authority);
  });

  it.each([
    ['', 'connect-target-empty'],
    ['a'.repeat(301), 'connect-target-too-long'],
    ['é.internal:22', 'connect-target-non-ascii'],
    ['a b:22', 'connect-target-invalid-character'],
    ['a\t:22', 'connect-target-invalid-character'],
    ['http://a:22', 'connect-target-not-authority-form'],
    ['a:22/', 'connect-target-not-authority-form'],
    ['u@a:22', 'connect-target-userinfo'],
    ['a%2e:22', 'connect-target-percent-escape'],
    ['[::1]', 'connect-target-no-port'],
    ['[::1]22', 'connect-target-no-port'],
    ['[::g]:22', 'connect-target-invalid-ipv6'],
    ['[1.2.3.4]:22', 'connect-target-invalid-ipv6'],
    ['[::ffff:10.0.0.1]:22', 'connect-target-ipv4-in-ipv6'],
    ['[::a00:1]:22', 'connect-target-ipv4-in-ipv6'],
    ['a', 'connect-target-no-port'],
    ['a:', 'connect-target-no-port'],
    [':22', 'connect-target-invalid-host'],
    ['.:22', 'connect-target-invalid-host'],
    ['a::22', 'connect-target-invalid-host'],
    ['-a:22', 'connect-target-invalid-host'],
    ['10.0.9:22', 'connect-target-ipv4-not-dotted-quad'],
    ['10.0.0.09:22', 'connect-target-ipv4-not-dotted-quad'],
    ['0xa.0.0.9:22', 'connect-target-ipv4-not-dotted-quad'],
    ['a.0x1:22', 'connect-target-ipv4-not-dotted-quad'],
    ['256.0.0.1:22', 'connect-target-ipv4-not-dotted-quad'],
    ['a:022', 'connect-target-invalid-port'],
    ['a:0', 'connect-target-invalid-port'],
    ['a:+22', 'connect-target-invalid-port'],
    ['a:65536', 'connect-target-invalid-port'],
    ['a:123456', 'connect-target-invalid-port'],
  ])('%j → %s', (raw, reason) => {
    const r = canonicalizeConnectTarget(raw);
    expect(r.ok ? r.target.authority : r.reason).toBe(reason);
  });
});

describe('TunnelRouter', () => {
  const route = (host: string, tcpPort: number) => ({ host, tcpPort, name: `${host}:${tcpPort}` });
  const router = new TunnelRouter([route('ssh.internal', 22), route('*.db.internal', 5432), route('*.internal', 5432), route('10.0.0.9', 22), route('::1', 7), route('*.0.1', 22)]);
  it.each([
    ['ssh.internal', 22, 'ssh.internal:22'],
    ['ssh.internal', 2222, undefined],
    ['a.db.internal', 5432, '*.db.internal:5432'],
    ['a.b.db.internal', 5432, '*.db.internal:5432'],
    ['x.internal', 5432, '*.internal:5432'],
    ['db.internal', 5432, '*.internal:5432'],
    ['internal', 5432, undefined],
    ['a.db.internal', 5433, undefined],
    ['10.0.0.9', 22, '10.0.0.9:22'],
    ['1.0.0.9', 22, undefined],
    // A wildcard the config refuses (its suffix is numeric) must still not take an IPv4 literal.
    ['10.0.0.1', 22, undefined],
    ['::1', 7, '::1:7'],
  ] as const)('%s port %i → %s', (host, port, name) => {
    expect(router.route(host, port)?.name).toBe(name);
  });
});
