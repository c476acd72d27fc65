// `ztproxy connect` before any socket: what it accepts as HOST:PORT, --via and --listen,
// and that a usage error exits 2 with the usage on stderr and nothing on stdout (under ssh
// stdout is the SSH stream). Files it cannot read exit 1.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isLoopback, parseHostPort, parseVia, refusalLines } from '../../src/cli/connect.ts';
import { TunnelRefused } from '../../src/cli/connect-tunnel.ts';
import { credentialOf } from '../../src/cli/connect-sources.ts';

function ztproxy(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/ztproxy.js', 'connect', ...args], { encoding: 'utf8', timeout: 20_000, input: '' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('HOST:PORT', () => {
  it.each([
    ['db.internal:5432', { host: 'db.internal', port: 5432, authority: 'db.internal:5432' }],
    ['10.0.0.9:22', { host: '10.0.0.9', port: 22, authority: '10.0.0.9:22' }],
    ['[::1]:22', { host: '::1', port: 22, authority: '[::1]:22' }],
    ['[2001:db8::1]:5432', { host: '2001:db8::1', port: 5432, authority: '[2001:db8::1]:5432' }],
  ])('%s', (text, want) => {
    expect(parseHostPort(text, 'HOST:PORT')).toEqual(want);
  });

  it.each([
    'db.internal', // no port
    'db.internal:', // empty port
    ':22',
    'db.internal:0',
    'db.internal:65536',
    'db.internal:22:33',
    '::1:22', // IPv6 without brackets
    '[not-v6]:22',
    'user@db.internal:22', // userinfo
    'db.internal/x:22',
    'db internal:22',
    'db.internal:22\r\nX-Evil: 1',
    'db%2einternal:22',
    'db.internal:+22',
    'db.internal:1e3',
  ])('refuses %j', (text) => {
    expect(() => parseHostPort(text, 'HOST:PORT')).toThrow(/HOST:PORT/);
  });

  it('takes port 0 for --listen (any free port)', () => {
    expect(parseHostPort('127.0.0.1:0', '--listen', 0).port).toBe(0);
  });
});

describe('--via', () => {
  it('takes an https origin', () => {
    expect(parseVia('https://proxy.example.com').origin).toBe('https://proxy.example.com');
    expect(parseVia('https://127.0.0.1:8443/').port).toBe('8443');
  });
  it.each(['http://proxy.example.com', 'https://user:pw@proxy.example.com', 'https://proxy.example.com/path', 'https://proxy.example.com/?q', 'proxy.example.com', 'ftp://x'])('refuses %s', (text) => {
    expect(() => parseVia(text)).toThrow(/--via/);
  });
});

describe('loopback', () => {
  it.each([['127.0.0.1', true], ['127.1.2.3', true], ['::1', true], ['localhost', true], ['0.0.0.0', false], ['::', false], ['192.168.1.5', false], ['db.internal', false]] as const)('%s → %s', (host, want) => {
    expect(isLoopback(host)).toBe(want);
  });
});

describe('the command line', () => {
  it.each([
    [[], /missing HOST:PORT/],
    [['db:5432'], /missing --via/],
    [['db:5432', 'other:1', '--via', 'https://p'], /one HOST:PORT only/],
    [['db', '--via', 'https://p'], /HOST:PORT must be/],
    [['db:5432', '--via', 'http://p'], /https:\/\//],
    [['db:5432', '--via', 'https://p', '--cert', 'c.pem'], /--cert and --key go together/],
    [['db:5432', '--via', 'https://p', '--posture', 'f', '--posture-command', 'c'], /exclude each other/],
    [['db:5432', '--via', 'https://p', '--listen', '127.0.0.1'], /--listen must be HOST:PORT/],
    [['db:5432', '--via', 'https://p', '--posture-header', 'Authorization'], /--posture-header/],
    [['db:5432', '--via', 'https://p', '--bogus'], /Unknown option/],
  ])('%j exits 2 with the usage on stderr, nothing on stdout', (args, message) => {
    const r = ztproxy(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('usage: ztproxy connect');
    expect(r.stdout).toBe('');
  });

  it('exits 1 when a named file cannot be read', () => {
    const r = ztproxy('db:5432', '--via', 'https://127.0.0.1:1', '--ca', '/nonexistent/ca.crt');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot read the CA file /nonexistent/ca.crt (ENOENT)');
    expect(r.stdout).toBe('');
  });

  it('exits 1 with the reason when the proxy cannot be reached', () => {
    const r = ztproxy('db:5432', '--via', 'https://127.0.0.1:1', '--token-file', 'package.json');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    // package.json is not one token: said before any connection is tried
    expect(r.stderr).toContain('the token file package.json is not one token');
  });

  it('is listed in ztproxy --help', () => {
    const r = spawnSync(process.execPath, ['bin/ztproxy.js', '--help'], { encoding: 'utf8' });
    expect(r.stdout).toContain('connect HOST:PORT --via https://PROXY');
  });
});

describe('refusal messages', () => {
  const target = parseHostPort('db.internal:5432', 'HOST:PORT');
  const via = 'https://proxy.example.com';
  it.each([
    [401, undefined, 'log in: ztproxy login --via https://proxy.example.com'],
    [403, undefined, 'denied by policy'],
    [404, undefined, 'no route for db.internal:5432 at https://proxy.example.com'],
    [429, 42, 'retry after 42 s'],
    [502, undefined, "could not reach db.internal:5432's service"],
    [503, undefined, 'could not decide'],
  ] as const)('%i', (status, retryAfter, hint) => {
    const lines = refusalLines(new TunnelRefused(status, 'some error', 'req-1', retryAfter), target, via, false);
    expect(lines[0]).toBe(`db.internal:5432 refused by https://proxy.example.com: ${status} ("some error", request id req-1)`);
    expect(lines[1]).toContain(hint);
  });

  it("escapes the proxy's words: a hostile error string cannot move the cursor or forge a line", () => {
    const lines = refusalLines(new TunnelRefused(403, 'x\u001b[2K\rok\nconnected', 'id\u202e', undefined), target, via, false);
    expect(lines.join('\n')).not.toMatch(/[\u001b\r\u202e]/);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('x\\u001b[2K\\rok\\nconnected');
  });
});

describe('credential expiry (read, not verified: only to know when to renew)', () => {
  it('reads exp and iat of a JWT, nothing of an opaque token', () => {
    const jwt = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"exp":2000000000,"iat":1999999000}').toString('base64url')}.`;
    expect(credentialOf(jwt)).toEqual({ value: jwt, expiresAt: 2_000_000_000_000, issuedAt: 1_999_999_000_000 });
    expect(credentialOf('opaque-token')).toEqual({ value: 'opaque-token', expiresAt: undefined, issuedAt: undefined });
  });
});
