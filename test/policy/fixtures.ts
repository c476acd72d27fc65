// Loads the YAML decision tables in test/fixtures/policy/. A fixture file is checked
// against a strict schema first, so a misspelt key (`expct:`) fails loudly instead of
// turning a case into one that asserts nothing.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import type { PolicyInput } from '../../src/policy/index.ts';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'policy');

const inputSchema = z.strictObject({
  method: z.string().optional(),
  host: z.string().optional(),
  path: z.string().optional(),
  sourceIp: z.string().optional(),
  spiffeId: z.string().optional(),
  /** ISO 8601 instant or epoch ms (YAML `.nan` for an invalid clock). */
  now: z.union([z.string(), z.number(), z.nan()]).optional(),
});

const expectSchema = z.strictObject({
  effect: z.enum(['allow', 'deny', 'error']),
  reason: z.string(),
  rule: z.string().optional(),
});

const groupSchema = z.strictObject({
  name: z.string(),
  policy: z.unknown(),
  cases: z
    .array(z.strictObject({ name: z.string().optional(), input: inputSchema, expect: expectSchema }))
    .min(1),
});

export type FixtureGroup = z.output<typeof groupSchema>;
export type FixtureInput = z.output<typeof inputSchema>;

/** A Wednesday, noon UTC: the default clock of every case. */
const DEFAULT_NOW = '2024-01-03T12:00:00Z';

export function toPolicyInput(input: FixtureInput): PolicyInput {
  const now = input.now ?? DEFAULT_NOW;
  return {
    method: input.method ?? 'GET',
    host: input.host ?? 'app.example.com',
    path: input.path ?? '/',
    sourceIp: input.sourceIp ?? '192.0.2.10',
    spiffeId: input.spiffeId,
    now: typeof now === 'number' ? now : parseInstant(now),
  };
}

function parseInstant(text: string): number {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new Error(`fixture: ${JSON.stringify(text)} is not an ISO 8601 instant`);
  return ms;
}

export function loadDecisionTables(): { file: string; groups: FixtureGroup[] }[] {
  return readdirSync(FIXTURES)
    .filter((file) => file.endsWith('.yaml') && file !== 'invalid-policies.yaml')
    .sort()
    .map((file) => ({ file, groups: z.array(groupSchema).min(1).parse(parse(readFileSync(join(FIXTURES, file), 'utf8'))) }));
}
