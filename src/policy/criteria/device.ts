// `device: {managed: true, diskEncrypted: true, maxPatchAgeDays: 30, minOsVersion: "14.2",
// osName: [macOS, Windows]}` — the posture a verified device assertion reported (SPEC §6).
// Several fields in one `device:` must all hold (an `and`). A field the rule tests that
// the assertion did not carry is *unknown*, not "no" (`known` says so; compile.ts then
// neither lets an allow rule match nor lets a `not` turn it into a yes), and so is a
// request without a device at all — unless another field the device did report already
// fails the rule, which makes it definitely false. On its own, `matches` answers false
// for unknown.
// - booleans (`managed`, `compliant`, `diskEncrypted`, `firewall`, `edr`, `screenLock`)
//   compare strictly: `managed: false` asks for an unmanaged device;
// - `maxPatchAgeDays`: the reported `patchAgeDays` is at most this;
// - `minOsVersion`: dotted numeric versions compared component by component, missing
//   components read as 0 ("14.10" > "14.9", "14" == "14.0"). It must be a quoted string:
//   YAML reads an unquoted 14.10 as the number 14.1. A reported version that is not
//   dotted numeric ("14.2 (23C64)") is unknown — never guessed at;
// - `osName`: the reported `os.name` is one of the list, compared case-insensitively
//   (agents write macOS, MacOS, macos for the same system).
import { z } from 'zod';
import type { DevicePosture } from '../../basics/device.ts';
import type { Criterion, Matcher } from '../criterion.ts';
import { objectError, oneOrList, whenObjectParsed } from '../schema-helpers.ts';
import type { PolicyInput } from '../types.ts';

const BOOLEAN_FIELDS = ['managed', 'compliant', 'diskEncrypted', 'firewall', 'edr', 'screenLock'] as const;
type BooleanField = (typeof BOOLEAN_FIELDS)[number];
const ALL_KEYS = [...BOOLEAN_FIELDS, 'maxPatchAgeDays', 'minOsVersion', 'osName'] as const;

/** A dotted numeric version: up to 16 components of up to 9 digits (no overflow, no exponent). */
const VERSION = /^\d{1,9}(?:\.\d{1,9}){0,15}$/;

const bool = (key: string) => z.boolean({ error: `${key} is true or false` }).optional();

const schema = z
  .strictObject(
    {
      managed: bool('managed'),
      compliant: bool('compliant'),
      diskEncrypted: bool('diskEncrypted'),
      firewall: bool('firewall'),
      edr: bool('edr'),
      screenLock: bool('screenLock'),
      maxPatchAgeDays: z
        .number({ error: 'maxPatchAgeDays is a number of days, 0 or more' })
        .min(0, { error: 'maxPatchAgeDays is a number of days, 0 or more' })
        .max(36_500, { error: 'maxPatchAgeDays is at most 36500 (a century)' })
        .optional(),
      minOsVersion: z
        .string({
          error: (issue) =>
            typeof issue.input === 'number'
              ? `minOsVersion must be quoted ("${String(issue.input)}"): unquoted, YAML reads 14.10 as the number 14.1`
              : 'minOsVersion is a quoted dotted version such as "14.2"',
        })
        .regex(VERSION, { error: 'minOsVersion is a dotted numeric version such as "14.2" or "10.0.19045"' })
        .optional(),
      osName: oneOrList(z.string().min(1, { error: 'an OS name is not empty' }), 'an OS name such as macOS, or a list of them').optional(),
    },
    { error: objectError('device', `one or more of: ${ALL_KEYS.join(', ')}`) },
  )
  .superRefine((value, ctx) => {
    // An empty `device: {}` would match any device at all — most likely a rule left unfinished.
    if (!ALL_KEYS.some((k) => value[k] !== undefined)) ctx.addIssue({ code: 'custom', message: `device needs at least one of: ${ALL_KEYS.join(', ')}` });
  }, whenObjectParsed);

type DeviceRule = z.output<typeof schema>;

/** Components of a version that passed VERSION. */
export function parseVersion(text: string): number[] {
  return text.split('.').map(Number);
}

/**
 * Compares a reported version with a parsed minimum without allocating: -1, 0 or 1, or
 * undefined when `reported` is not a dotted numeric version.
 */
export function compareVersion(reported: string, min: readonly number[]): -1 | 0 | 1 | undefined {
  if (!VERSION.test(reported)) return undefined;
  let i = 0;
  let component = 0;
  const n = reported.length;
  while (i < n) {
    let value = 0;
    while (i < n && reported.charCodeAt(i) !== 0x2e) value = value * 10 + (reported.charCodeAt(i++) - 0x30);
    i++; // the dot
    const m = component < min.length ? min[component]! : 0;
    if (value !== m) return value > m ? 1 : -1;
    component++;
  }
  for (; component < min.length; component++) if (min[component]! > 0) return -1;
  return 0;
}

const NO_DEVICE = 'no device (the request carried no posture assertion that counts)';

class DeviceMatcher implements Matcher {
  readonly #booleans: readonly (readonly [BooleanField, boolean])[];
  readonly #maxPatchAgeDays: number | undefined;
  readonly #minOsVersion: readonly number[] | undefined;
  readonly #minOsVersionText: string | undefined;
  /** Lower-case. */
  readonly #osNames: ReadonlySet<string> | undefined;
  readonly #osNamesShown: string;

  constructor(rule: DeviceRule) {
    this.#booleans = BOOLEAN_FIELDS.filter((k) => rule[k] !== undefined).map((k) => [k, rule[k]!] as const);
    this.#maxPatchAgeDays = rule.maxPatchAgeDays;
    this.#minOsVersionText = rule.minOsVersion;
    this.#minOsVersion = rule.minOsVersion === undefined ? undefined : parseVersion(rule.minOsVersion);
    const names = rule.osName === undefined ? undefined : typeof rule.osName === 'string' ? [rule.osName] : rule.osName;
    this.#osNames = names === undefined ? undefined : new Set(names.map((n) => n.toLowerCase()));
    this.#osNamesShown = names === undefined ? '' : names.join(', ');
  }

  /**
   * Several fields are an `and` (Kleene): the rule is known when every field it names was
   * reported, or when one reported field already fails it — then it is definitely false,
   * whatever the unreported ones say.
   */
  known(input: PolicyInput): boolean {
    const device = input.device;
    if (device === undefined) return false;
    const p = device.posture;
    let unknown = false;
    const booleans = this.#booleans;
    for (let i = 0; i < booleans.length; i++) {
      const value = p[booleans[i]![0]];
      if (value === undefined) unknown = true;
      else if (value !== booleans[i]![1]) return true;
    }
    if (this.#maxPatchAgeDays !== undefined) {
      const age = p.patchAgeDays;
      if (age === undefined) unknown = true;
      else if (age > this.#maxPatchAgeDays) return true;
    }
    if (this.#minOsVersion !== undefined) {
      const version = p.os?.version;
      const cmp = version === undefined ? undefined : compareVersion(version, this.#minOsVersion);
      if (cmp === undefined) unknown = true;
      else if (cmp < 0) return true;
    }
    if (this.#osNames !== undefined) {
      const name = p.os?.name;
      if (name === undefined) unknown = true;
      else if (!this.#osNames.has(name.toLowerCase())) return true;
    }
    return !unknown;
  }

  matches(input: PolicyInput): boolean {
    const device = input.device;
    if (device === undefined) return false;
    const p = device.posture;
    const booleans = this.#booleans;
    for (let i = 0; i < booleans.length; i++) if (p[booleans[i]![0]] !== booleans[i]![1]) return false;
    if (this.#maxPatchAgeDays !== undefined && !(p.patchAgeDays !== undefined && p.patchAgeDays <= this.#maxPatchAgeDays)) return false;
    if (this.#minOsVersion !== undefined) {
      const version = p.os?.version;
      const cmp = version === undefined ? undefined : compareVersion(version, this.#minOsVersion);
      if (cmp === undefined || cmp < 0) return false;
    }
    if (this.#osNames !== undefined) {
      const name = p.os?.name;
      if (name === undefined || !this.#osNames.has(name.toLowerCase())) return false;
    }
    return true;
  }

  describe(input: PolicyInput): string {
    const device = input.device;
    if (device === undefined) return NO_DEVICE;
    const p = device.posture;
    const parts: string[] = [];
    for (const [field, want] of this.#booleans) parts.push(field + ' ' + judge(p[field], p[field] === want, `want ${want}`));
    if (this.#maxPatchAgeDays !== undefined) {
      const age = p.patchAgeDays;
      parts.push(`patchAgeDays ${judge(age, age !== undefined && age <= this.#maxPatchAgeDays, `at most ${this.#maxPatchAgeDays}`)}`);
    }
    if (this.#minOsVersion !== undefined) {
      const version = p.os?.version;
      const cmp = version === undefined ? undefined : compareVersion(version, this.#minOsVersion);
      const want = `at least ${this.#minOsVersionText}`;
      parts.push(
        version !== undefined && cmp === undefined
          ? `os.version ${JSON.stringify(version)} is not a dotted numeric version: unknown (${want})`
          : `os.version ${judge(version, cmp !== undefined && cmp >= 0, want)}`,
      );
    }
    if (this.#osNames !== undefined) {
      const name = p.os?.name;
      parts.push(`os.name ${judge(name, name !== undefined && this.#osNames.has(name.toLowerCase()), `one of ${this.#osNamesShown}`)}`);
    }
    return `device ${JSON.stringify(device.id)} of ${device.issuer}: ${parts.join('; ')}`;
  }
}

function judge(value: DevicePosture[keyof DevicePosture] | string | undefined, ok: boolean, want: string): string {
  if (value === undefined) return `not reported: unknown (${want})`;
  return `${JSON.stringify(value)} ${ok ? 'holds' : 'fails'} (${want})`;
}

export const device: Criterion<typeof schema> = {
  schema,
  compile: (value) => new DeviceMatcher(value),
};
