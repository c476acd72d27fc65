// The policy schema: every bad policy in test/fixtures/policy/invalid-policies.yaml is
// refused with exactly the listed messages at exactly the listed paths, and the schema
// converts to JSON Schema, alone and embedded the way the config schema embeds it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { RULE_KEYS, policySchema } from '../../src/policy/index.ts';
import { FIXTURES } from './fixtures.ts';

const table = z
  .array(z.strictObject({ name: z.string(), policy: z.unknown(), errors: z.array(z.string()).min(1) }))
  .min(1)
  .parse(parse(readFileSync(join(FIXTURES, 'invalid-policies.yaml'), 'utf8')));

function problems(policy: unknown): string[] {
  const result = policySchema.safeParse(policy);
  if (result.success) return [];
  return result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
}

describe('invalid policies', () => {
  for (const row of table) {
    it(row.name, () => {
      expect(problems(row.policy)).toEqual(row.errors);
    });
  }
});

describe('paths as the config shows them', () => {
  // The config schema embeds policySchema at routes[].policy; issue paths must be
  // relative so that they come out as routes.0.policy.allow.and.1.method.
  const config = z.strictObject({ routes: z.array(z.strictObject({ name: z.string(), policy: policySchema })) });

  it('prefixes the route path to a deep issue', () => {
    const result = config.safeParse({
      routes: [
        { name: 'ok', policy: { allow: { accept: true } } },
        { name: 'bad', policy: { allow: { and: [{ method: 'GET' }, { method: ['GET', 7] }] } } },
      ],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'routes.1.policy.allow.and.1.method.1: Invalid input: expected string, received number',
    ]);
  });
});

describe('valid policies', () => {
  it('accepts the SPEC §7 example shapes', () => {
    const policy = parse(`
      allow:
        - accept: true
        - authenticated: true
        - user: [alice]
        - email: [alice@example.com]
        - domain: [example.com]
        - groups: { has: admins }
        - groups: { hasAny: [a, b] }
        - groups: { hasAll: [a, b] }
        - claim: { name: acr, equals: mfa }
        - claim: { name: amr, has: otp }
        - spiffe: { id: spiffe://td/ns/prod/sa/api }
        - spiffe: { trustDomain: td, pathPrefix: /ns/prod/ }
        - method: [GET, HEAD]
        - path: { prefix: /api }
        - path: { exact: /x }
        - path: { glob: "/files/*.pdf" }
        - host: [app.example.com]
        - sourceIp: [10.0.0.0/8, "2001:db8::/32"]
        - time: { days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", tz: Europe/Berlin }
        - authAge: { maxSeconds: 900 }
        - device: { managed: true, compliant: true, diskEncrypted: true, maxPatchAgeDays: 30, minOsVersion: "14.2" }
      deny:
        or:
          - path: { prefix: /admin }
    `);
    expect(problems(policy)).toEqual([]);
  });

  it('keeps the values as written (normalisation happens in the compiler)', () => {
    const parsed = policySchema.parse({ allow: { and: [{ method: 'get' }, { host: 'App.Example.com' }] } });
    expect(parsed).toEqual({ allow: { and: [{ method: 'get' }, { host: 'App.Example.com' }] } });
  });
});

describe('JSON Schema', () => {
  type Json = Record<string, unknown>;
  const jsonSchema = z.toJSONSchema(policySchema, { io: 'input' }) as Json;
  const defs = Object.values((jsonSchema.$defs ?? {}) as Record<string, Json>);
  const rule = defs.find((d) => typeof d.description === 'string' && d.description.startsWith('A policy rule'));

  it('converts, also inside a larger config schema', () => {
    expect(jsonSchema.additionalProperties).toBe(false);
    const embedded = z.strictObject({ routes: z.array(z.strictObject({ policy: policySchema })) });
    expect(() => z.toJSONSchema(embedded, { io: 'input' })).not.toThrow();
    expect(() => z.toJSONSchema(embedded, { io: 'output' })).not.toThrow();
  });

  it('describes a rule as an object with exactly one known key, recursively', () => {
    expect(rule).toBeDefined();
    expect(rule?.additionalProperties).toBe(false);
    expect(rule?.minProperties).toBe(1);
    expect(rule?.maxProperties).toBe(1);
    expect(Object.keys(rule?.properties as Json).sort()).toEqual([...RULE_KEYS].sort());
    expect(JSON.stringify((rule?.properties as Json).not)).toMatch(/"\$ref":"#\/\$defs\//);
  });

  it('lets allow be one rule or a list of rules', () => {
    const allow = (jsonSchema.properties as Record<string, Json>).allow;
    expect(allow?.anyOf).toHaveLength(2);
  });

  it('says that claim takes a name and equals or has', () => {
    const claim = (rule?.properties as Record<string, Json>).claim;
    expect(claim?.required).toEqual(['name']);
    expect(claim?.oneOf).toEqual([{ required: ['equals'] }, { required: ['has'] }]);
  });

  it('says that spiffe takes id or trustDomain', () => {
    const spiffe = (rule?.properties as Record<string, Json>).spiffe;
    expect(spiffe?.oneOf).toEqual([{ required: ['id'] }, { required: ['trustDomain'] }]);
    expect(spiffe?.dependentRequired).toEqual({ pathPrefix: ['trustDomain'] });
  });
});
