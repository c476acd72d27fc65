// Differential test of the two forms of a compiled policy (src/policy/compile.ts):
// `decide` runs the flat program, `explain` walks the rule tree it was compiled from —
// the evaluator decide used before issue #7, which explain has always shared. On many
// seeded random policies (every criterion, nested and/or/not, deny and allow, single
// rules and lists, both path modes) and requests (anonymous, partial subjects and
// devices, missing claims, invalid source IPs and clocks that make criteria throw),
// both must give the same decision — the very same frozen object when it is not an
// error — and decide must agree with itself after other policies sharing its matchers
// were compiled. The fixture tables' policies and inputs are part of the pool.
import { describe, expect, it } from 'vitest';
import { foldPathCase } from '../../src/basics/path-case.ts';
import { compilePolicy, policySchema, type CompiledPolicy, type PolicyInput } from '../../src/policy/index.ts';
import type { Subject } from '../../src/basics/subject.ts';
import type { Device } from '../../src/basics/device.ts';
import { loadDecisionTables, toPolicyInput } from './fixtures.ts';

/** mulberry32: small, seeded, good enough to pick test cases. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CRITERIA: readonly unknown[] = [
  { accept: true },
  { authenticated: true },
  { user: ['alice', 'bob'] },
  { email: ['alice@example.com'] },
  { domain: ['example.com'] },
  { groups: { has: 'admins' } },
  { groups: { hasAny: ['eng', 'ops'] } },
  { groups: { hasAll: ['eng', 'oncall'] } },
  { claim: { name: 'acr', equals: 'mfa' } },
  { claim: { name: 'scope', has: 'read' } },
  { claim: { name: 'level', equals: 1 } },
  { claim: { name: 'level', equals: '1' } },
  { claim: { name: 'amr', has: 'otp' } },
  { spiffe: { trustDomain: 'prod.example.org' } },
  { spiffe: { id: 'spiffe://example.org/ns/prod/sa/web' } },
  { device: { managed: true } },
  { device: { minOsVersion: '14.2', osName: 'macOS' } },
  { device: { maxPatchAgeDays: 30, diskEncrypted: true } },
  { method: ['GET', 'HEAD'] },
  { method: 'POST' },
  { path: { prefix: '/admin' } },
  { path: { prefix: '/Admin' } },
  { path: { exact: '/admin' } },
  { path: { glob: '/files/*.pdf' } },
  { path: { glob: '/api/**' } },
  { host: ['*.corp.example.com'] },
  { host: 'app.example.com' },
  { sourceIp: ['10.0.0.0/8'] },
  { sourceIp: ['2001:db8::/32', '192.168.0.0/16'] },
  { time: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00', tz: 'Europe/Berlin' } },
  { time: { from: '22:00', to: '02:00' } },
  { authAge: { maxSeconds: 300 } },
];

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)] as T;
}

function randomRule(next: () => number, depth: number): unknown {
  const r = next();
  if (depth >= 3 || r < 0.55) return structuredClone(pick(next, CRITERIA));
  const children = () => Array.from({ length: 1 + Math.floor(next() * 3) }, () => randomRule(next, depth + 1));
  if (r < 0.72) return { and: children() };
  if (r < 0.89) return { or: children() };
  return { not: randomRule(next, depth + 1) };
}

function randomSide(next: () => number): unknown {
  const r = next();
  if (r < 0.2) return undefined;
  if (r < 0.35) return randomRule(next, 0);
  return Array.from({ length: 1 + Math.floor(next() * 4) }, () => randomRule(next, 0));
}

function randomPolicy(next: () => number): unknown {
  for (;;) {
    const policy: Record<string, unknown> = {};
    const allow = randomSide(next);
    const deny = randomSide(next);
    if (allow !== undefined) policy.allow = allow;
    if (deny !== undefined) policy.deny = deny;
    if (allow !== undefined || deny !== undefined) return policy;
  }
}

const NOW = Date.parse('2024-01-03T12:00:00Z');

function randomSubject(next: () => number): Subject | undefined {
  if (next() < 0.25) return undefined;
  const claims: Record<string, unknown> = {};
  if (next() < 0.5) claims.acr = pick(next, ['mfa', 'pwd']);
  if (next() < 0.5) claims.scope = pick(next, ['read write', 'reader', 'read']);
  if (next() < 0.4) claims.level = pick(next, [1, '1', 2, true]);
  return {
    source: pick(next, ['bearer', 'session'] as const),
    issuer: 'https://idp.example.com',
    sub: pick(next, ['alice', 'bob', 'carol']),
    email: pick(next, [undefined, 'alice@example.com', 'Alice@Example.com', 'x@evil-example.com']),
    emailVerified: next() < 0.7,
    groups: [...new Set(Array.from({ length: Math.floor(next() * 4) }, () => pick(next, ['eng', 'ops', 'oncall', 'admins', 'contractors'])))],
    claims,
    authTime: pick(next, [undefined, NOW / 1000 - 60, NOW / 1000 - 3600, NOW / 1000 + 3600]),
    acr: pick(next, [undefined, 'mfa']),
    amr: pick(next, [[], ['pwd'], ['pwd', 'otp']]),
  };
}

function randomDevice(next: () => number): Device | undefined {
  if (next() < 0.4) return undefined;
  const maybe = <T>(value: T): T | undefined => (next() < 0.6 ? value : undefined);
  return {
    issuer: 'device-agent.example.com',
    id: 'laptop-1',
    issuedAt: NOW / 1000 - 10,
    expiresAt: NOW / 1000 + 300,
    posture: {
      managed: maybe(next() < 0.5),
      compliant: maybe(next() < 0.5),
      os: maybe({ name: pick(next, [undefined, 'macOS', 'windows']), version: pick(next, [undefined, '14.10', '14.1', '14.2 (23C64)']) }),
      patchAgeDays: maybe(Math.floor(next() * 60)),
      diskEncrypted: maybe(next() < 0.5),
      firewall: undefined,
      edr: undefined,
      screenLock: undefined,
    },
  };
}

function randomInput(next: () => number): PolicyInput {
  return {
    method: pick(next, ['GET', 'POST', 'DELETE', 'HEAD']),
    host: pick(next, ['app.example.com', 'x.corp.example.com', 'corp.example.com', 'other.net']),
    path: pick(next, ['/', '/admin', '/admin/', '/admin/x', '/Admin/x', '/files/a.pdf', '/files/a/b.pdf', '/api/v1/orders']),
    // Not an IP address: a criterion that reads it throws, and the decision is `error`.
    sourceIp: pick(next, ['10.1.2.3', '192.168.1.1', '2001:db8::1', '::ffff:10.0.0.1', '198.51.100.7', 'not-an-ip']),
    spiffeId: pick(next, [undefined, 'spiffe://prod.example.org/ns/api', 'spiffe://example.org/ns/prod/sa/web']),
    // NaN: a clock the time criterion cannot read.
    now: pick(next, [NOW, NOW + 8 * 3600_000, NOW + 3 * 86400_000, Number.NaN]),
    subject: randomSubject(next),
    device: randomDevice(next),
  };
}

/** decide and explain agree: the same frozen Decision, or equal error decisions. */
function expectAgreement(policy: CompiledPolicy, input: PolicyInput, label: string): string {
  const decision = policy.decide(input);
  const explained = policy.explain(input).decision;
  if (decision.effect === 'error') expect(explained, label).toEqual(decision);
  else expect(explained, label).toBe(decision);
  return `${decision.effect} ${decision.reason} ${decision.rule ?? ''} ${decision.needsAuthentication}`;
}

function compile(policy: unknown, caseInsensitivePaths: boolean): CompiledPolicy {
  return compilePolicy(policySchema.parse(policy), { caseInsensitivePaths });
}

function pathFor(input: PolicyInput, caseInsensitivePaths: boolean): PolicyInput {
  if (!caseInsensitivePaths) return input;
  const folded = foldPathCase(input.path);
  return folded === undefined ? input : { ...input, path: folded };
}

describe('decide (flat program) agrees with explain (rule tree)', () => {
  const fixtureTables = loadDecisionTables();
  const fixtureInputs = fixtureTables.flatMap((t) => t.groups.flatMap((g) => g.cases.map((c) => toPolicyInput(c.input))));

  it('on 2,000 random policies × 40 requests each, both path modes', () => {
    const next = random(0x5eed7);
    const outcomes = new Set<string>();
    for (let p = 0; p < 2000; p++) {
      const config = randomPolicy(next);
      const caseInsensitive = next() < 0.3;
      const policy = compile(config, caseInsensitive);
      for (let i = 0; i < 40; i++) {
        const input = pathFor(next() < 0.15 ? pick(next, fixtureInputs) : randomInput(next), caseInsensitive);
        outcomes.add(expectAgreement(policy, input, `policy ${JSON.stringify(config)} (caseInsensitive ${caseInsensitive}), input ${JSON.stringify(input)}`).split(' ').slice(0, 2).join(' '));
      }
    }
    // The pool reached every kind of outcome, or the comparison proves less than it says.
    expect([...outcomes].sort()).toEqual(
      [
        'allow policy-allow',
        'deny no-allow-matched',
        'deny policy-deny',
        'deny policy-deny-unknown',
        'error policy-input-invalid',
      ].sort(),
    );
  });

  it('on every fixture policy × every fixture input', () => {
    let compared = 0;
    for (const table of fixtureTables) {
      for (const group of table.groups) {
        const parsed = policySchema.safeParse(group.policy);
        if (!parsed.success) continue;
        const policy = compilePolicy(parsed.data, { caseInsensitivePaths: group.caseInsensitivePaths });
        for (const input of fixtureInputs) {
          expectAgreement(policy, pathFor(input, group.caseInsensitivePaths), `${table.file} ${group.name}: ${JSON.stringify(input)}`);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });
});

describe('criteria shared between policies (internMatcher)', () => {
  it('a policy decides the same before and after others with the same criteria are compiled', () => {
    const next = random(42);
    const configs = Array.from({ length: 200 }, () => randomPolicy(next));
    const inputs = Array.from({ length: 50 }, () => randomInput(next));
    const first = configs.map((c) => compile(c, false));
    const before = first.map((p) => inputs.map((i) => p.decide(i)));
    const again = configs.map((c) => compile(c, false));
    configs.forEach((_, k) => inputs.forEach((input, j) => expect(again[k]!.decide(input)).toEqual(before[k]![j])));
  });

  it('values that plain JSON would confuse get matchers of their own', () => {
    const subject = (level: unknown): Subject => ({ source: 'bearer', issuer: 'i', sub: 'a', email: undefined, emailVerified: false, groups: [], claims: { level }, authTime: undefined, acr: undefined, amr: [] });
    const input = (level: unknown): PolicyInput => ({ method: 'GET', host: 'h', path: '/', sourceIp: '10.0.0.1', spiffeId: undefined, now: NOW, subject: subject(level) });
    const number = compile({ allow: { claim: { name: 'level', equals: 1 } } }, false);
    const text = compile({ allow: { claim: { name: 'level', equals: '1' } } }, false);
    expect(number.decide(input(1)).effect).toBe('allow');
    expect(number.decide(input('1')).effect).toBe('deny');
    expect(text.decide(input('1')).effect).toBe('allow');
    expect(text.decide(input(1)).effect).toBe('deny');
  });

  it('a path pattern is not shared between case-sensitive and case-insensitive routes', () => {
    const at = (path: string): PolicyInput => ({ method: 'GET', host: 'h', path, sourceIp: '10.0.0.1', spiffeId: undefined, now: NOW });
    const sensitive = compile({ deny: { path: { prefix: '/Admin' } }, allow: { accept: true } }, false);
    const insensitive = compile({ deny: { path: { prefix: '/Admin' } }, allow: { accept: true } }, true);
    // The pipeline hands a case-insensitive route the folded path.
    expect(insensitive.decide(at('/admin/x')).effect).toBe('deny');
    expect(sensitive.decide(at('/admin/x')).effect).toBe('allow');
    expect(sensitive.decide(at('/Admin/x')).effect).toBe('deny');
  });
});
