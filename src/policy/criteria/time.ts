// `time: {days, from, to, tz}` — the request arrives in a weekly window, in the wall
// clock of an IANA zone (UTC when absent), so "office hours in Berlin" follow daylight
// saving. `from` is inclusive and `to` exclusive (`to: "24:00"` is the end of the day).
// When from > to the window runs past midnight and belongs to the day it starts on:
// `{days: [fri], from: "22:00", to: "02:00"}` covers Friday 22:00 to Saturday 02:00,
// not the early hours of Friday.
import { z } from 'zod';
import { PolicyInputError, type Criterion, type Matcher } from '../criterion.ts';
import { objectError, presentKeys, whenObjectParsed } from '../schema-helpers.ts';
import type { PolicyInput } from '../types.ts';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const SHOWN_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const MINUTES_PER_DAY = 1440;
const MS_PER_MINUTE = 60_000;
// ECMAScript time values end at ±8.64e15 ms; Intl throws beyond that.
const MAX_TIME = 8.64e15;

const HHMM = /^(?:[01][0-9]|2[0-3]):[0-5][0-9]$/;
const HHMM_OR_END = /^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/;

function minutesOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** Resolves an IANA zone name (`Europe/Berlin`, aliases too), or undefined if unknown. */
function resolveTimeZone(tz: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

const day = z.enum(SHOWN_DAYS, { error: `expected a day: ${SHOWN_DAYS.join(', ')}` });
const schema = z
  .strictObject(
    {
      days: z.array(day).min(1, { error: 'list at least one day, or leave days out for every day' }).optional(),
      from: z.string().regex(HHMM, { error: 'expected a time HH:MM from 00:00 to 23:59' }).optional(),
      to: z.string().regex(HHMM_OR_END, { error: 'expected a time HH:MM from 00:00 to 24:00' }).optional(),
      tz: z
        .string()
        .refine((tz) => resolveTimeZone(tz) !== undefined, {
          error: (issue) => `unknown time zone ${JSON.stringify(issue.input)}; use an IANA name such as Europe/Berlin or UTC`,
        })
        .optional(),
    },
    { error: objectError('time', 'days, from, to and tz') },
  )
  .superRefine((value, ctx) => {
    if (presentKeys(value, ['days', 'from', 'to']).length === 0) {
      ctx.addIssue({ code: 'custom', message: 'time needs days, from or to (otherwise it would match always)' });
    }
    if (value.from !== undefined && value.to !== undefined && minutesOf(value.from) === minutesOf(value.to)) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'from and to are equal: the window would be empty' });
    }
  }, whenObjectParsed);

/**
 * Day of week and minute of day of an instant in one zone. Intl is only asked once per
 * UTC minute per zone: every tzdb offset since 1972 is a whole number of minutes, so
 * the wall-clock minute cannot change within one. Shared by every rule with the same zone (the engine runs on one
 * thread and reads the fields right after `at` returns).
 */
class ZoneClock {
  readonly #format: Intl.DateTimeFormat | undefined;
  #minute = Number.NaN;
  weekday = 0;
  minuteOfDay = 0;
  constructor(timeZone: string) {
    this.#format =
      timeZone === 'UTC'
        ? undefined
        : new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  }
  // Takes the input rather than `now`: a double passed to a call that is not inlined
  // is boxed, which allocated on every request (measured); a field read here does not.
  at(input: PolicyInput): this {
    const now = input.now;
    if (!(Math.abs(now) <= MAX_TIME)) throw new PolicyInputError(`time ${now} is not a valid epoch-milliseconds instant`);
    const minute = Math.floor(now / MS_PER_MINUTE);
    if (minute === this.#minute) return this;
    if (this.#format === undefined) {
      const days = Math.floor(minute / MINUTES_PER_DAY);
      this.weekday = (((days + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
      this.minuteOfDay = minute - days * MINUTES_PER_DAY;
    } else {
      let weekday = -1;
      let hour = 0;
      let min = 0;
      for (const part of this.#format.formatToParts(now)) {
        if (part.type === 'weekday') weekday = DAYS.indexOf(part.value.toLowerCase() as (typeof DAYS)[number]);
        else if (part.type === 'hour') hour = Number(part.value);
        else if (part.type === 'minute') min = Number(part.value);
      }
      if (weekday < 0) throw new Error(`Intl gave no weekday for ${now}`);
      this.weekday = weekday;
      this.minuteOfDay = hour * 60 + min;
    }
    this.#minute = minute;
    return this;
  }
}

const clocks = new Map<string, ZoneClock>();
function clockFor(timeZone: string): ZoneClock {
  let clock = clocks.get(timeZone);
  if (clock === undefined) {
    clock = new ZoneClock(timeZone);
    clocks.set(timeZone, clock);
  }
  return clock;
}

function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

class TimeMatcher implements Matcher {
  readonly #clock: ZoneClock;
  /** Bit d set: the window may start on day d (0 = Sunday). */
  readonly #days: number;
  readonly #from: number;
  readonly #to: number;
  readonly #shown: string;
  readonly #zone: string;
  constructor(value: z.output<typeof schema>) {
    const zone = resolveTimeZone(value.tz ?? 'UTC');
    if (zone === undefined) throw new TypeError(`unknown time zone ${value.tz} (config not validated by policySchema)`);
    this.#zone = zone;
    this.#clock = clockFor(zone);
    this.#days = value.days === undefined ? 0x7f : value.days.reduce((mask, d) => mask | (1 << DAYS.indexOf(d)), 0);
    this.#from = minutesOf(value.from ?? '00:00');
    this.#to = value.to === undefined ? MINUTES_PER_DAY : minutesOf(value.to);
    const days = value.days === undefined ? 'every day' : SHOWN_DAYS.filter((d) => value.days?.includes(d)).join(',');
    this.#shown = `${days} ${hhmm(this.#from)}-${hhmm(this.#to)} ${zone}`;
  }
  matches(input: PolicyInput): boolean {
    const clock = this.#clock.at(input);
    const minute = clock.minuteOfDay;
    if (this.#from < this.#to) {
      return minute >= this.#from && minute < this.#to && (this.#days & (1 << clock.weekday)) !== 0;
    }
    // Past midnight: the early part belongs to the window that began the day before.
    if (minute >= this.#from) return (this.#days & (1 << clock.weekday)) !== 0;
    if (minute < this.#to) return (this.#days & (1 << ((clock.weekday + 6) % 7))) !== 0;
    return false;
  }
  describe(input: PolicyInput, matched: boolean): string {
    const clock = this.#clock.at(input);
    const local = `${DAYS[clock.weekday]} ${hhmm(clock.minuteOfDay)} ${this.#zone}`;
    return `time ${local} is ${matched ? 'within' : 'outside'} ${this.#shown}`;
  }
}

export const time: Criterion<typeof schema> = {
  schema,
  compile: (value) => new TimeMatcher(value),
};
