// The ztproxy command as users run it: exit codes 0 / 1 / 2 and what it prints.
import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const dir = mkdtempSync(join(tmpdir(), 'ztproxy-cli-'));

function ztproxy(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/ztproxy.js', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function configFile(name: string, config: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, stringify(config));
  return file;
}

const good = configFile('good.yaml', {
  listen: { address: '127.0.0.1:8443', tls: { cert: 'package.json', key: 'package.json' } },
  routes: [
    {
      name: 'app',
      match: { host: 'app.example.com' },
      upstream: 'http://127.0.0.1:9000',
      policy: { allow: { spiffe: { trustDomain: 'example.org' } }, deny: { path: { prefix: '/admin' } } },
    },
  ],
});

describe('ztproxy check', () => {
  it('exits 0 on a valid config', () => {
    const r = ztproxy('check', '-c', good);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('ok (1 route)');
  });

  it('prints every problem as path.to.key: message and exits 1', () => {
    const bad = configFile('bad.yaml', { listen: { address: 'nope', tls: { cert: 'package.json', key: 'package.json' } }, routes: [{ name: 'a', upstream: 'ftp://x', policy: { allow: { metod: ['GET'] } } }] });
    const r = ztproxy('check', '-c', bad);
    expect(r.status).toBe(1);
    expect(r.stdout.trim().split('\n')).toEqual([
      'listen.address: must be host:port (e.g. 0.0.0.0:8443, [::1]:8443, :8443) with a port from 0 to 65535',
      'routes.0.upstream: scheme ftp: is not supported (http, https or tcp)',
      'routes.0.policy.allow.metod: unknown key "metod"; a rule takes exactly one of: and, or, not, accept, authenticated, user, email, domain, groups, claim, spiffe, device, method, path, host, sourceIp, time, authAge',
    ]);
  });

  it('exits 1 for a missing file and 2 for usage errors', () => {
    expect(ztproxy('check', '-c', join(dir, 'missing.yaml')).status).toBe(1);
    expect(ztproxy('check').status).toBe(2);
    expect(ztproxy('check', '--bogus').status).toBe(2);
    expect(ztproxy('frobnicate').status).toBe(2);
  });
});

describe('ztproxy explain', () => {
  it('shows the decision and the rule trail', () => {
    const r = ztproxy('explain', '-c', good, '--request', JSON.stringify({ host: 'app.example.com', path: '/admin/x', spiffeId: 'spiffe://example.org/a' }));
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.result).toMatchObject({ status: 403, route: 'app', decision: { effect: 'deny', reason: 'policy-deny', rule: 'deny.path' } });
    expect(out.result.trail[0]).toMatchObject({ rule: 'deny.path', matched: true });
  });

  it('applies the same canonicalisation and routing as the proxy', () => {
    const allowed = JSON.parse(ztproxy('explain', '-c', good, '--request', JSON.stringify({ host: 'APP.example.com.', path: '/a/./b', spiffeId: 'spiffe://example.org/a' })).stdout);
    expect(allowed.result).toMatchObject({ status: 'forwarded', canonicalPath: '/a/b', decision: { effect: 'allow' } });
    const encoded = JSON.parse(ztproxy('explain', '-c', good, '--request', JSON.stringify({ host: 'app.example.com', path: '/%2e%2e/admin' })).stdout);
    expect(encoded.result).toEqual({ status: 400, reason: 'encoded-dot-segment' });
    const none = JSON.parse(ztproxy('explain', '-c', good, '--request', JSON.stringify({ host: 'other.example.com' })).stdout);
    expect(none.result).toEqual({ status: 404, reason: 'no-route' });
  });

  it('judges identity rules for a described subject (401 without one, 403 / forwarded with one)', () => {
    const file = configFile('identity.yaml', {
      listen: { address: '127.0.0.1:8443', tls: { cert: 'package.json', key: 'package.json' } },
      routes: [{ name: 'api', upstream: 'http://127.0.0.1:9000', policy: { allow: { and: [{ authenticated: true }, { groups: { has: 'eng' } }] } } }],
    });
    const ask = (subject?: object) => JSON.parse(ztproxy('explain', '-c', file, '--request', JSON.stringify({ host: 'a.test', path: '/', ...(subject ? { subject } : {}) })).stdout).result;
    expect(ask()).toMatchObject({ status: 401, decision: { effect: 'deny', needsAuthentication: true } });
    expect(ask({ sub: 'bob', groups: ['sales'] })).toMatchObject({ status: 403 });
    expect(ask({ sub: 'alice', groups: ['eng'] })).toMatchObject({ status: 'forwarded', decision: { effect: 'allow', rule: 'allow.and' } });
  });

  it('shows what the route\'s shadowPolicy would decide, beside the enforced decision', () => {
    const file = configFile('shadow.yaml', {
      listen: { address: '127.0.0.1:8443', tls: { cert: 'package.json', key: 'package.json' } },
      routes: [{ name: 'app', upstream: 'http://127.0.0.1:9000', policy: { allow: { accept: true } }, shadowPolicy: { allow: { method: ['GET'] } } }],
    });
    const r = ztproxy('explain', '-c', file, '--request', JSON.stringify({ host: 'a.test', method: 'POST' }));
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout).result;
    expect(out).toMatchObject({ status: 'forwarded', decision: { effect: 'allow', rule: 'allow.accept' }, shadow: { decision: { effect: 'deny', reason: 'no-allow-matched' } } });
    expect(out.shadow.trail).toEqual([{ rule: 'allow.method', matched: false, detail: expect.stringContaining('POST') as string }]);
    expect(JSON.parse(ztproxy('explain', '-c', good, '--request', JSON.stringify({ host: 'app.example.com' })).stdout).result.shadow).toBeUndefined();
  });

  it('on a remote-PDP route: the gate, then the request the PDP would get (not sent)', () => {
    const file = configFile('remote.yaml', {
      listen: { address: '127.0.0.1:8443', tls: { cert: 'package.json', key: 'package.json' } },
      routes: [{ name: 'todo', upstream: 'http://127.0.0.1:9000', pdp: { mode: 'authzen', url: 'http://127.0.0.1:9/pdp' }, templates: ['/todos/{todoId}'], policy: { allow: { accept: true } } }],
    });
    const ask = (extra: object) => JSON.parse(ztproxy('explain', '-c', file, '--request', JSON.stringify({ host: 'todo.test', path: '/todos/7', method: 'PUT', ...extra })).stdout).result;
    const out = ask({ subject: { sub: 'alice' } });
    expect(out).toMatchObject({
      status: 'pdp',
      decision: { effect: 'allow', rule: 'allow.accept' },
      pdp: {
        mode: 'authzen',
        method: 'POST',
        url: 'http://127.0.0.1:9/pdp/access/v1/evaluation',
        body: { subject: { type: 'identity', id: 'alice' }, action: { name: 'PUT' }, resource: { type: 'route', id: '/todos/{todoId}', properties: { params: { todoId: '7' } } } },
      },
    });
    // Nobody cannot be described to an AuthZEN PDP: a login is asked for instead.
    expect(ask({})).toMatchObject({ status: 401, reason: 'pdp-needs-subject' });
    expect(ask({}).pdp).toBeUndefined();
  });

  it('refuses a malformed request description with exit 2', () => {
    expect(ztproxy('explain', '-c', good, '--request', '{').status).toBe(2);
    expect(ztproxy('explain', '-c', good, '--request', '{"path":"/"}').status).toBe(2);
  });
});

describe('ztproxy token', () => {
  it('mints an ES256 at+jwt that verifies against the dev issuer JWKS certs init wrote', async () => {
    const certs = join(dir, 'certs');
    expect(ztproxy('certs', 'init', '--dir', certs).status).toBe(0);
    const r = ztproxy('token', '--sub', 'alice', '--groups', 'eng,ops', '--email', 'alice@example.com', '--ttl', '10m', '--key', join(certs, 'dev-issuer.key'), '--bind-cert', join(certs, 'client.crt'));
    expect(r.status).toBe(0);
    const { jwtVerify, createLocalJWKSet } = await import('jose');
    const jwks = createLocalJWKSet(JSON.parse(readFileSync(join(certs, 'dev-issuer.jwks.json'), 'utf8')));
    const { payload, protectedHeader } = await jwtVerify(r.stdout.trim(), jwks, { issuer: 'https://dev-issuer.ztproxy.local', audience: 'https://api.ztproxy.local', algorithms: ['ES256'] });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload).toMatchObject({ sub: 'alice', groups: ['eng', 'ops'], email: 'alice@example.com', email_verified: true });
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(r.stderr).toBe('');
    const der = new X509Certificate(readFileSync(join(certs, 'client.crt'))).raw;
    expect((payload.cnf as Record<string, string>)['x5t#S256']).toBe(createHash('sha256').update(der).digest('base64url'));
  });

  it('needs --sub (2) and the key (1)', () => {
    expect(ztproxy('token').status).toBe(2);
    expect(ztproxy('token', '--sub', 'a', '--key', join(dir, 'nope.key')).status).toBe(1);
    expect(ztproxy('token', '--sub', 'a', '--ttl', 'forever').status).toBe(2);
  });

  it('--ttl above 24h still mints, with a note that the proxy refuses it by default', () => {
    const certs = join(dir, 'certs');
    expect(ztproxy('certs', 'init', '--dir', certs, '--force').status).toBe(0);
    const r = ztproxy('token', '--sub', 'a', '--ttl', '48h', '--key', join(certs, 'dev-issuer.key'));
    expect(r.status).toBe(0);
    expect(r.stdout.split('.')).toHaveLength(3);
    expect(r.stderr).toContain('maxLifetime');
  });
});

describe('ztproxy posture', () => {
  const certs = join(dir, 'posture-certs');

  it('mints an assertion the posture verifier accepts with the device-agent JWKS certs init wrote', async () => {
    expect(ztproxy('certs', 'init', '--dir', certs).status).toBe(0);
    const r = ztproxy(
      'posture', '--device', 'laptop-1', '--managed', 'true', '--compliant', 'false', '--os-name', 'macOS', '--os-version', '14.10',
      '--patch-age-days', '12', '--disk-encrypted', 'true', '--firewall', 'true', '--edr', 'false', '--screen-lock', 'true',
      '--user', 'alice', '--bind-cert', join(certs, 'client.crt'), '--ttl', '10m', '--dir', certs,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const { PostureVerifier, deviceSchema } = await import('../../src/identity/posture/index.ts');
    const verifier = await PostureVerifier.create(
      deviceSchema.parse({ issuers: [{ issuer: 'device-agent.ztproxy.local', jwksFile: join(certs, 'device-agent.jwks.json') }] }),
    );
    const thumb = createHash('sha256').update(new X509Certificate(readFileSync(join(certs, 'client.crt'))).raw).digest('base64url');
    const result = await verifier.verify(r.stdout.trim(), thumb, 'alice');
    expect(result.ok && result.device).toMatchObject({
      id: 'laptop-1',
      issuer: 'device-agent.ztproxy.local',
      posture: { managed: true, compliant: false, os: { name: 'macOS', version: '14.10' }, patchAgeDays: 12, diskEncrypted: true, firewall: true, edr: false, screenLock: true },
    });
    expect(result.ok ? result.device.expiresAt - result.device.issuedAt : 0).toBe(600);
    // Bound: another user, or no certificate, and it is no posture.
    expect(await verifier.verify(r.stdout.trim(), thumb, 'bob')).toMatchObject({ ok: false, reason: 'posture-user-mismatch' });
    expect(await verifier.verify(r.stdout.trim(), undefined, 'alice')).toMatchObject({ ok: false, reason: 'posture-cert-mismatch' });
  });

  it('leaves out every field it was not given (unknown, not false)', async () => {
    const r = ztproxy('posture', '--device', 'd', '--managed', 'true', '--dir', certs);
    expect(r.status).toBe(0);
    const { decodeJwt } = await import('jose');
    const payload = decodeJwt(r.stdout.trim());
    expect(payload.posture).toEqual({ managed: true });
    expect(payload.uid).toBeUndefined();
    expect(payload.cnf).toBeUndefined();
    expect(payload.exp! - payload.iat!).toBe(300);
  });

  it('usage errors exit 2, a missing key 1', () => {
    expect(ztproxy('posture').status).toBe(2);
    expect(ztproxy('posture', '--device', 'd', '--managed', 'yes').status).toBe(2);
    expect(ztproxy('posture', '--device', 'd', '--patch-age-days', '-3').status).toBe(2);
    expect(ztproxy('posture', '--device', 'd', '--ttl', 'forever').status).toBe(2);
    expect(ztproxy('posture', '--device', 'd', '--bogus', 'x').status).toBe(2);
    expect(ztproxy('posture', '--device', 'd', '--dir', join(dir, 'nowhere')).status).toBe(1);
  });
});
