// `ztproxy check -c FILE --tests DIR`: policy test files run against the config's
// compiled routes — judged through the proxy's own canonicalisation and route selection —
// with one ok / FAIL line per case, exit 1 on any failure or invalid test file, exit 2 on
// a usage error. A typo'd key must fail, never turn a case into one that asserts nothing.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildSnapshot, type AssembledSnapshot } from '../../src/assembly/snapshot.ts';
import { describedRequestSchema, resolveRequest } from '../../src/cli/described-request.ts';
import { parsePolicyTests, runPolicyTests } from '../../src/cli/policy-tests.ts';
import { parseConfig } from '../../src/config/load.ts';
import { UpstreamRegistry } from '../../src/proxy/upstream.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'ztproxy-policy-tests-'));

function ztproxy(args: string[], cwd = ROOT): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/ztproxy.js'), ...args], { encoding: 'utf8', timeout: 30_000, cwd });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A described subject stands for a verified one: the config must verify bearer tokens
// (and ask for client certificates, for a described SPIFFE ID) for one to occur.
const jwksFile = join(dir, 'jwks.json');
writeFileSync(jwksFile, JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'pGnOD1tV3fN-Op7nyty7GmbuvYS1KwJnC5y6QnZ0S8U', y: 'eiCGhtRTNzuEvxVFDeesBJrQnAr98JH9D0CJPGrSlhU', kid: 't1', alg: 'ES256' }] }));

const CONFIG = {
  listen: { address: '127.0.0.1:8443', tls: { cert: 'package.json', key: 'package.json' }, clientAuth: { mode: 'optional', ca: 'package.json' } },
  identity: { jwt: [{ issuer: 'https://idp.test', audience: 'https://api.test', jwksFile, algorithms: ['ES256'] }] },
  routes: [
    {
      name: 'wiki',
      match: { host: 'wiki.example.com' },
      upstream: 'http://127.0.0.1:9000',
      policy: {
        allow: { and: [{ groups: { has: 'engineering' } }, { claim: { name: 'acr', equals: 'mfa' } }, { authAge: { maxSeconds: 900 } }] },
        deny: { or: [{ path: { prefix: '/admin' } }] },
      },
    },
    { name: 'wiki-api', match: { host: 'wiki.example.com', pathPrefix: '/api' }, upstream: 'http://127.0.0.1:9000', policy: { allow: { spiffe: { trustDomain: 'example.org' } } } },
    {
      name: 'any-sub',
      match: { host: '*.example.com' },
      upstream: 'http://127.0.0.1:9000',
      policy: { allow: { accept: true } },
      shadowPolicy: { allow: { method: ['GET'] } },
    },
    {
      // A remote AuthZEN PDP decides after a gate that admits anyone; never called by a test.
      name: 'todo',
      match: { host: 'todo.test' },
      upstream: 'http://127.0.0.1:9000',
      pdp: { mode: 'authzen', url: 'http://127.0.0.1:9' },
      templates: ['/todos/{todoId}'],
      policy: { allow: { accept: true }, deny: { method: ['DELETE'] } },
      shadowPolicy: { allow: { groups: { has: 'api-users' } } },
    },
    {
      name: 'office',
      match: { host: 'office.test' },
      upstream: 'http://127.0.0.1:9000',
      policy: { allow: { and: [{ sourceIp: ['10.0.0.0/8'] }, { time: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00', tz: 'UTC' } }] } },
    },
  ],
};

const configFile = join(dir, 'config.yaml');
writeFileSync(configFile, stringify(CONFIG));

/** A directory holding the given test files. */
function testsDir(name: string, files: Record<string, unknown>): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [file, content] of Object.entries(files)) writeFileSync(join(d, file), typeof content === 'string' ? content : stringify(content));
  return d;
}

const alice = { sub: 'alice', email: 'alice@example.com', groups: ['engineering'], claims: { acr: 'mfa' }, authAge: 300 };

const PASSING = [
  {
    name: 'engineers read the wiki with a recent MFA login',
    request: { subject: alice, method: 'get', host: 'WIKI.example.com.', path: '/docs/./x', sourceIp: '10.1.2.3', time: '2026-12-03T10:00:00Z' },
    expect: { decision: 'allow', route: 'wiki', rule: 'allow.and', status: 'forwarded' },
  },
  // A fresh login would pass: the bearer caller gets the step-up 401, not a 403 (as on the wire).
  { name: 'a stale login is not enough', request: { subject: { ...alice, authAge: 3600 }, host: 'wiki.example.com' }, expect: { decision: 'deny', reason: 'step-up-required', status: 401 } },
  { name: 'a stale login that a fresh one would not fix either', request: { subject: { ...alice, groups: [], authAge: 3600 }, host: 'wiki.example.com' }, expect: { decision: 'deny', reason: 'no-allow-matched', status: 403 } },
  { name: 'anonymous is asked to log in', request: { host: 'wiki.example.com', path: '/docs' }, expect: { decision: 'deny', status: 401 } },
  { name: 'admin is denied to engineers too', request: { subject: alice, host: 'wiki.example.com', path: '/docs/../admin/x' }, expect: { decision: 'deny', rule: 'deny.or[0].path', status: 403 } },
  { name: 'the longest prefix picks the API route', request: { host: 'wiki.example.com', path: '/api/v1', spiffeId: 'spiffe://example.org/a' }, expect: { route: 'wiki-api', decision: 'allow' } },
  { name: 'a prefix matches whole segments', request: { host: 'wiki.example.com', path: '/apix', subject: alice }, expect: { route: 'wiki' } },
  { name: 'an exact host keeps its requests: no fallback to the wildcard', request: { host: 'wiki.example.com', path: '/x' }, expect: { route: 'wiki', decision: 'deny' } },
  { name: 'the wildcard host', request: { host: 'blog.example.com' }, expect: 'allow' },
  { name: 'its candidate policy would refuse a POST', request: { host: 'blog.example.com', method: 'POST' }, expect: { decision: 'allow', shadow: 'deny' } },
  { name: 'a route without a shadow policy', request: { host: 'office.test' }, expect: { shadow: 'none' } },
  { name: 'a remote route: the PDP decides, and is not guessed', request: { host: 'todo.test', path: '/todos/7', subject: alice }, expect: { decision: 'pdp', status: 'pdp', rule: 'allow.accept', shadow: 'deny' } },
  { name: 'a remote route: its gate denies without asking', request: { host: 'todo.test', method: 'DELETE', path: '/todos/7', subject: alice }, expect: { decision: 'deny', rule: 'deny.method', status: 403 } },
  { name: 'an AuthZEN PDP is not asked about nobody', request: { host: 'todo.test', path: '/todos/7' }, expect: { decision: 'deny', reason: 'pdp-needs-subject', status: 401 } },
  { name: 'no route is a deny', request: { host: 'nowhere.test' }, expect: { route: 'none', decision: 'deny', reason: 'no-route', status: 404 } },
  { name: 'an encoded dot segment is refused', request: { host: 'wiki.example.com', path: '/%2e%2e/admin' }, expect: { status: 400, reason: 'encoded-dot-segment' } },
  { name: 'office hours from the office', request: { host: 'office.test', sourceIp: '10.9.9.9', time: '2026-12-03T10:00:00Z' }, expect: 'allow' },
  { name: 'not at night', request: { host: 'office.test', sourceIp: '10.9.9.9', time: '2026-12-03T22:00:00Z' }, expect: 'deny' },
  { name: 'a source IP that is no IP fails closed', request: { host: 'office.test', sourceIp: 'nope', time: '2026-12-03T10:00:00Z' }, expect: { decision: 'error', status: 503 } },
];

describe('ztproxy check --tests (the command)', () => {
  it('runs every case: one ok line each, a summary, exit 0', () => {
    const tests = testsDir('passing', { 'wiki.yaml': PASSING, 'more.yml': [{ name: 'one more', request: { host: 'blog.example.com' }, expect: { route: 'any-sub' } }], 'notes.txt': 'not a test file' });
    const r = ztproxy(['check', '-c', configFile, '--tests', tests]);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`${configFile}: ok (5 routes)`);
    // Files in name order, cases in file order.
    expect(lines.slice(1, -1)).toEqual([
      `ok   ${join(tests, 'more.yml')} › one more`,
      ...PASSING.map((c) => `ok   ${join(tests, 'wiki.yaml')} › ${c.name}`),
    ]);
    expect(lines.at(-1)).toBe(`${PASSING.length + 1} passed, 0 failed`);
    expect(r.status).toBe(0);
  });

  it('a failing case: FAIL line with expected, got and the rule trail; exit 1', () => {
    const tests = testsDir('failing', {
      'a.yaml': [
        { name: 'passes', request: { host: 'blog.example.com' }, expect: 'allow' },
        { name: 'admin for engineers', request: { subject: alice, host: 'wiki.example.com', path: '/admin' }, expect: 'allow' },
        { name: 'wrong rule', request: { subject: alice, host: 'wiki.example.com' }, expect: { rule: 'allow.or' } },
        { name: 'no route expected, but there is one', request: { host: 'blog.example.com' }, expect: { route: 'none' } },
        { name: 'anonymous', request: { host: 'wiki.example.com', path: '/docs' }, expect: 'allow' },
        { name: 'the shadow allows a GET', request: { host: 'blog.example.com' }, expect: { shadow: 'deny' } },
        { name: 'a PDP answer is never assumed', request: { host: 'todo.test', path: '/todos/1', subject: alice }, expect: 'allow' },
      ],
    });
    const r = ztproxy(['check', '-c', configFile, '--tests', tests]);
    expect(r.status).toBe(1);
    const file = join(tests, 'a.yaml');
    expect(r.stdout).toContain(`ok   ${file} › passes\n`);
    expect(r.stdout).toContain(
      [
        `FAIL ${file} › admin for engineers`,
        '     expected: decision allow',
        '     got:      decision deny, route wiki, rule deny.or[0].path, reason policy-deny, status 403',
        '     trail:',
        '       match    deny.or: deny.or[0].path matched',
        '       match    deny.or[0].path: path /admin has prefix /admin',
      ].join('\n'),
    );
    expect(r.stdout).toContain(`FAIL ${file} › wrong rule\n     expected: rule allow.or\n     got:      decision allow, route wiki, rule allow.and,`);
    expect(r.stdout).toContain(`FAIL ${file} › no route expected, but there is one\n     expected: route none\n     got:      decision allow, route any-sub`);
    // A rule over an attribute the request lacks is neither matched nor not (three-valued logic).
    expect(r.stdout).toContain(`FAIL ${file} › anonymous\n`);
    expect(r.stdout).toMatch(/\n {7}unknown {2}allow\.and\[0\]\.groups: /);
    expect(r.stdout).toContain(`FAIL ${file} › the shadow allows a GET\n     expected: shadow deny\n     got:      decision allow, route any-sub, rule allow.accept, reason policy-allow, status forwarded, shadow allow\n`);
    expect(r.stdout).toContain(`FAIL ${file} › a PDP answer is never assumed\n     expected: decision allow\n     got:      decision pdp, route todo, rule allow.accept, reason pdp-decides, status pdp, shadow deny\n`);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('1 passed, 6 failed');
  });

  it('an invalid test file fails the run with file:index.key errors; the valid files still run', () => {
    const tests = testsDir('invalid', {
      'a-good.yaml': [{ name: 'fine', request: { host: 'blog.example.com' }, expect: 'allow' }],
      'b-typos.yaml': [
        { name: 'typo in request', request: { host: 'wiki.example.com', subjct: { sub: 'alice' } }, expect: 'deny' },
        { name: 'typo in expect', request: { host: 'wiki.example.com' }, expect: { decison: 'allow' } },
        { name: 'typo in subject', request: { host: 'wiki.example.com', subject: { sub: 'alice', group: ['engineering'] } }, expect: 'allow' },
        { name: 'typo in device', request: { host: 'wiki.example.com', device: { id: 'd', manged: true } }, expect: 'deny' },
        { name: 'a decision that does not exist', request: { host: 'wiki.example.com' }, expect: 'permit' },
        { name: 'unquoted version', request: { host: 'wiki.example.com', device: { id: 'd', os: { version: 14.1 } } }, expect: 'deny' },
        { request: { host: 'wiki.example.com' }, expect: 'deny' },
        { name: 'no expectation', request: { host: 'wiki.example.com' } },
        { name: 'no route cannot be allowed', request: { host: 'x.test' }, expect: { route: 'none', decision: 'allow' } },
        { name: 'forged\nok   line', request: { host: 'x.test' }, expect: 'deny' },
      ],
      'c-dup.yaml': '- name: a\n  name: b\n  request: {host: x}\n  expect: deny\n',
      'd-dup-names.yaml': [
        { name: 'same', request: { host: 'x.test' }, expect: 'deny' },
        { name: 'same', request: { host: 'y.test' }, expect: 'deny' },
      ],
      'e-empty.yaml': '',
      'f-map.yaml': { name: 'not a list', request: { host: 'x' }, expect: 'deny' },
    });
    const r = ztproxy(['check', '-c', configFile, '--tests', tests]);
    expect(r.status).toBe(1);
    const at = (file: string) => join(tests, file);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toContain(`ok   ${at('a-good.yaml')} › fine`);
    expect(lines.filter((l) => l.startsWith(at('b-typos.yaml')))).toEqual([
      `${at('b-typos.yaml')}:0.request.subjct: unknown key`,
      `${at('b-typos.yaml')}:1.expect.decison: unknown key`,
      `${at('b-typos.yaml')}:1.expect: name at least one of decision, route, rule, reason, status, shadow`,
      `${at('b-typos.yaml')}:2.request.subject.group: unknown key`,
      `${at('b-typos.yaml')}:3.request.device.manged: unknown key`,
      `${at('b-typos.yaml')}:4.expect.decision: Invalid option: expected one of "allow"|"deny"|"error"|"pdp"`,
      `${at('b-typos.yaml')}:5.request.device.os.version: must be a quoted string ("14.3"): YAML reads 14.10 as the number 14.1`,
      `${at('b-typos.yaml')}:6.name: is required`,
      `${at('b-typos.yaml')}:7.expect: is required`,
      `${at('b-typos.yaml')}:8.expect.decision: a request no route matches is denied (404): decision must be deny`,
      `${at('b-typos.yaml')}:9.name: must be one line without control characters`,
    ]);
    expect(lines.find((l) => l.startsWith(at('c-dup.yaml')))).toMatch(/^.*c-dup\.yaml:2:3: Map keys must be unique/);
    expect(lines).toContain(`${at('d-dup-names.yaml')}:1.name: duplicate name (also case 0)`);
    expect(lines).toContain(`${at('e-empty.yaml')}:(root): must be a list of test cases (- name: ..., request: {...}, expect: allow)`);
    expect(lines).toContain(`${at('f-map.yaml')}:(root): must be a list of test cases (- name: ..., request: {...}, expect: allow)`);
    expect(lines.at(-1)).toBe('1 passed, 0 failed, 15 problems in test files');
  });

  it('a tests directory that is missing or holds no test file fails (exit 1): CI must not pass by running nothing', () => {
    const missing = ztproxy(['check', '-c', configFile, '--tests', join(dir, 'nope')]);
    expect(missing.status).toBe(1);
    expect(missing.stdout).toContain(`${join(dir, 'nope')}: cannot read the tests directory (ENOENT)`);
    const empty = testsDir('empty', { 'readme.md': '# nothing' });
    const none = ztproxy(['check', '-c', configFile, '--tests', empty]);
    expect(none.status).toBe(1);
    expect(none.stdout).toContain(`${empty}: no test files (*.yaml, *.yml)`);
    expect(none.stdout.trim().split('\n').at(-1)).toBe('0 passed, 0 failed, 1 problem in test files');
  });

  it('usage errors exit 2; an invalid config exits 1 without running tests', () => {
    expect(ztproxy(['check', '-c', configFile, '--tests']).status).toBe(2);
    expect(ztproxy(['check', '-c', configFile, '--tests', '']).status).toBe(2);
    expect(ztproxy(['check', '--tests', dir]).status).toBe(2);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, stringify({ ...CONFIG, routes: [{ name: 'x', upstream: 'http://127.0.0.1:9', policy: { allow: { acept: true } } }] }));
    const r = ztproxy(['check', '-c', bad, '--tests', testsDir('for-bad', { 'a.yaml': PASSING })]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^routes\.0\.policy\.allow\.acept: unknown key/);
    expect(r.stdout).not.toContain('passed');
  });

  it('the demo config passes its own tests (config/tests)', () => {
    // The demo config names certs/ relative to the working directory: run where certs init wrote them.
    const cwd = mkdtempSync(join(tmpdir(), 'ztproxy-demo-tests-'));
    expect(ztproxy(['certs', 'init', '--dir', join(cwd, 'certs')]).status).toBe(0);
    const r = ztproxy(['check', '-c', join(ROOT, 'config/ztproxy.yaml'), '--tests', join(ROOT, 'config/tests')], cwd);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.stdout).toMatch(/\n[1-9]\d* passed, 0 failed\n$/);
    expect(r.status).toBe(0);
  });
});

describe('policy tests in process', () => {
  let snapshot: AssembledSnapshot;
  const registry = new UpstreamRegistry();
  beforeAll(async () => {
    const { config, errors } = parseConfig(stringify(CONFIG), ROOT);
    expect(errors).toEqual([]);
    snapshot = await buildSnapshot(config!, 1, registry);
  });
  afterAll(() => registry.destroyAll());

  it('a described device becomes the PolicyInput device: unknown fields stay undefined, fresh at the request time', () => {
    const request = describedRequestSchema.parse({
      host: 'blog.example.com',
      time: '2026-12-03T10:00:00Z',
      device: { id: 'mac-1', managed: true, diskEncrypted: false, os: { name: 'macOS', version: '14.3' }, patchAgeDays: 3 },
    });
    const resolved = resolveRequest(snapshot, request);
    expect(resolved.kind).toBe('routed');
    if (resolved.kind !== 'routed') return;
    const at = Date.parse('2026-12-03T10:00:00Z') / 1000;
    expect(resolved.input.device).toEqual({
      issuer: 'described',
      id: 'mac-1',
      issuedAt: at,
      expiresAt: at + 300,
      posture: {
        managed: true,
        compliant: undefined,
        os: { name: 'macOS', version: '14.3' },
        patchAgeDays: 3,
        diskEncrypted: false,
        firewall: undefined,
        edr: undefined,
        screenLock: undefined,
      },
    });
    expect(resolveRequest(snapshot, describedRequestSchema.parse({ host: 'blog.example.com' }))).toMatchObject({ input: { device: undefined, subject: undefined } });
  });

  it('authAge is counted back from the request time; authTime and authAge together are refused', () => {
    const resolved = resolveRequest(snapshot, describedRequestSchema.parse({ host: 'blog.example.com', time: '2026-12-03T10:00:00Z', subject: { sub: 'a', authAge: 300 } }));
    expect(resolved).toMatchObject({ input: { subject: { authTime: Date.parse('2026-12-03T10:00:00Z') / 1000 - 300 } } });
    expect(describedRequestSchema.safeParse({ host: 'x', subject: { sub: 'a', authAge: 1, authTime: '2026-12-03T10:00:00Z' } }).success).toBe(false);
  });

  it('runPolicyTests counts passes and failures and writes one line per case', () => {
    const parsed = parsePolicyTests('t.yaml', stringify([...PASSING, { name: 'wrong', request: { host: 'nowhere.test' }, expect: 'allow' }]));
    expect(parsed.errors).toEqual([]);
    const lines: string[] = [];
    expect(runPolicyTests(snapshot, [parsed.tests!], (l) => lines.push(l))).toEqual({ passed: PASSING.length, failed: 1 });
    expect(lines.filter((l) => l.startsWith('ok'))).toHaveLength(PASSING.length);
    expect(lines.slice(-3)).toEqual(['FAIL t.yaml › wrong', '     expected: decision allow', '     got:      decision deny, route none, rule (none), reason no-route, status 404']);
  });
});
