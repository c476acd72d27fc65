// The time criterion against an independent formulation on many instants: local time
// from a fresh Intl call each time (the engine caches per zone and minute, and does
// UTC by arithmetic), and the window as a set of intervals on the week's minutes
// (the engine reasons about "from > to" per day).
import { describe, expect, it } from 'vitest';
import { compilePolicy, policySchema, type PolicyInput } from '../../src/policy/index.ts';
import { mulberry32 } from '../helpers/random.ts';

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
type Day = (typeof WEEKDAYS)[number];
interface Window {
  days?: Day[];
  from?: string;
  to?: string;
  tz?: string;
}

const formats = new Map<string, Intl.DateTimeFormat>();
function localWeekMinute(now: number, timeZone: string): number {
  let format = formats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', hour: 'numeric', minute: 'numeric', hourCycle: 'h23' });
    formats.set(timeZone, format);
  }
  const parts = format.formatToParts(now);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const day = WEEKDAYS.indexOf(get('weekday').toLowerCase() as Day);
  return day * 1440 + Number(get('hour')) * 60 + Number(get('minute'));
}

function referenceMatch(window: Window, now: number): boolean {
  const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));
  const from = minutes(window.from ?? '00:00');
  const to = minutes(window.to ?? '24:00');
  const length = from < to ? to - from : 1440 - from + to;
  const t = localWeekMinute(now, window.tz ?? 'UTC');
  return (window.days ?? [...WEEKDAYS]).some((d) => {
    const start = WEEKDAYS.indexOf(d) * 1440 + from;
    return (((t - start) % 10080) + 10080) % 10080 < length;
  });
}

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/St_Johns', 'Pacific/Chatham'];

describe('time windows agree with the reference', () => {
  const random = mulberry32(7);
  const hhmm = () => `${String(Math.floor(random() * 24)).padStart(2, '0')}:${String(Math.floor(random() * 60)).padStart(2, '0')}`;
  const windows: Window[] = [];
  for (let i = 0; i < 60; i++) {
    const window: Window = { tz: ZONES[i % ZONES.length] };
    if (random() < 0.7) window.days = WEEKDAYS.filter(() => random() < 0.4);
    if (window.days?.length === 0) window.days = ['wed'];
    window.from = hhmm();
    window.to = random() < 0.1 ? '24:00' : hhmm();
    if (window.from === window.to) window.to = '24:00';
    windows.push(window);
  }
  const policies = windows.map((time) => compilePolicy(policySchema.parse({ allow: { time } })));

  it('at instants clustered around minute boundaries and DST changes, zones interleaved', () => {
    const base: PolicyInput = { method: 'GET', host: 'a', path: '/', sourceIp: '192.0.2.1', spiffeId: undefined, now: 0 };
    const start = Date.UTC(2023, 0, 1);
    const span = Date.UTC(2026, 0, 1) - start;
    let checked = 0;
    let allowed = 0;
    for (let n = 0; n < 400; n++) {
      // A random minute, then instants just before, on and after its boundaries, so a
      // stale per-minute cache entry would show.
      const minute = start + Math.floor((random() * span) / 60_000) * 60_000;
      for (const now of [minute - 1, minute, minute + 59_999, minute + 60_000, minute + 15 * 60_000]) {
        for (let w = 0; w < windows.length; w++) {
          const expected = referenceMatch(windows[w] as Window, now);
          const effect = (policies[w] as ReturnType<typeof compilePolicy>).decide({ ...base, now }).effect;
          if ((effect === 'allow') !== expected) {
            expect.fail(`${JSON.stringify(windows[w])} at ${new Date(now).toISOString()}: expected ${expected}`);
          }
          checked++;
          if (expected) allowed++;
        }
      }
    }
    expect(checked).toBe(400 * 5 * 60);
    expect(allowed / checked).toBeGreaterThan(0.1);
    expect(allowed / checked).toBeLessThan(0.9);
  });

  it('around the 2024 European and American daylight saving changes', () => {
    const base: PolicyInput = { method: 'GET', host: 'a', path: '/', sourceIp: '192.0.2.1', spiffeId: undefined, now: 0 };
    const windowsAt = [
      { tz: 'Europe/Berlin', from: '01:30', to: '03:30' },
      { tz: 'America/New_York', from: '23:00', to: '02:30', days: ['sat', 'sun'] as Day[] },
    ];
    const compiled = windowsAt.map((time) => compilePolicy(policySchema.parse({ allow: { time } })));
    for (const change of [Date.UTC(2024, 2, 31, 1), Date.UTC(2024, 9, 27, 1), Date.UTC(2024, 2, 10, 7), Date.UTC(2024, 10, 3, 6)]) {
      for (let now = change - 3 * 3_600_000; now <= change + 3 * 3_600_000; now += 60_000) {
        windowsAt.forEach((window, i) => {
          const effect = (compiled[i] as ReturnType<typeof compilePolicy>).decide({ ...base, now }).effect;
          expect(effect === 'allow', `${JSON.stringify(window)} at ${new Date(now).toISOString()}`).toBe(referenceMatch(window, now));
        });
      }
    }
  });
});
