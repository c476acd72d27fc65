// Loads the YAML decision tables in test/fixtures/policy/. A fixture file is checked
// against a strict schema first, so a misspelt key (`expct:`) fails loudly instead of
// turning a case into one that asserts nothing.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import type { Device } from '../../src/basics/device.ts';
import type { Subject } from '../../src/basics/subject.ts';
import type { PolicyInput } from '../../src/policy/index.ts';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'policy');

/** An ISO 8601 instant, or epoch seconds as tokens carry them. */
const epochSeconds = z.union([z.string(), z.number(), z.nan()]);

// Every field defaults to what a bare login gives: `subject: {}` is a signed-in user
// "alice" with no e-mail, no groups and no claims.
const subjectSchema = z.strictObject({
  source: z.enum(['bearer', 'session']).default('session'),
  issuer: z.string().default('https://idp.example.com'),
  sub: z.string().default('alice'),
  email: z.string().optional(),
  emailVerified: z.boolean().default(false),
  groups: z.array(z.string()).default([]),
  claims: z.record(z.string(), z.unknown()).default({}),
  authTime: epochSeconds.optional(),
  acr: z.string().optional(),
  amr: z.array(z.string()).default([]),
});

// A device as a verified posture assertion describes it; a posture field left out is
// one the assertion did not carry (unknown). `device: {}` is a device that reported nothing.
const deviceSchema = z.strictObject({
  issuer: z.string().default('device-agent.example.com'),
  id: z.string().default('laptop-1'),
  posture: z
    .strictObject({
      managed: z.boolean().optional(),
      compliant: z.boolean().optional(),
      os: z.strictObject({ name: z.string().optional(), version: z.string().optional() }).optional(),
      patchAgeDays: z.number().optional(),
      diskEncrypted: z.boolean().optional(),
      firewall: z.boolean().optional(),
      edr: z.boolean().optional(),
      screenLock: z.boolean().optional(),
    })
    .default({}),
});

const inputSchema = z.strictObject({
  method: z.string().optional(),
  host: z.string().optional(),
  path: z.string().optional(),
  sourceIp: z.string().optional(),
  spiffeId: z.string().optional(),
  /** ISO 8601 instant or epoch ms (YAML `.nan` for an invalid clock). */
  now: z.union([z.string(), z.number(), z.nan()]).optional(),
  /** Absent: an anonymous request. */
  subject: subjectSchema.optional(),
  /** Absent: no posture assertion that counts. */
  device: deviceSchema.optional(),
});

const expectSchema = z.strictObject({
  effect: z.enum(['allow', 'deny', 'error']),
  reason: z.string(),
  rule: z.string().optional(),
  needsAuthentication: z.boolean().default(false),
});

/** When given, explain's trail must be exactly this. */
const trailSchema = z.array(z.strictObject({ rule: z.string(), matched: z.boolean(), unknown: z.literal(true).optional(), detail: z.string() }));

const groupSchema = z.strictObject({
  name: z.string(),
  policy: z.unknown(),
  /**
   * Compile as for a route with `paths: caseInsensitive`; each case's path is written
   * as the request's canonical path and folded as the pipeline folds it.
   */
  caseInsensitivePaths: z.boolean().default(false),
  cases: z
    .array(
      z.strictObject({ name: z.string().optional(), input: inputSchema, expect: expectSchema, trail: trailSchema.optional() }),
    )
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
    subject: input.subject === undefined ? undefined : toSubject(input.subject),
    device: input.device === undefined ? undefined : toDevice(input.device),
  };
}

function toDevice(device: z.output<typeof deviceSchema>): Device {
  const p = device.posture;
  return {
    issuer: device.issuer,
    id: device.id,
    issuedAt: 1704283000,
    expiresAt: 1704283500,
    posture: {
      managed: p.managed,
      compliant: p.compliant,
      os: p.os === undefined ? undefined : { name: p.os.name, version: p.os.version },
      patchAgeDays: p.patchAgeDays,
      diskEncrypted: p.diskEncrypted,
      firewall: p.firewall,
      edr: p.edr,
      screenLock: p.screenLock,
    },
  };
}

function toSubject(subject: z.output<typeof subjectSchema>): Subject {
  const { authTime, ...rest } = subject;
  return {
    ...rest,
    email: subject.email,
    acr: subject.acr,
    authTime: typeof authTime === 'string' ? parseInstant(authTime) / 1000 : authTime,
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
