import { describe, expect, it } from 'vitest';
import { humanAge } from '../../lib/commands/list.js';
import { DEFAULT_POLICY, dayKey, isoWeekKey, keepChainLinks, localDate, monthKey, planRetention, type PlannedBackup, type RetentionPolicy } from '../../lib/retention/plan.js';

const policy = (overrides: Partial<RetentionPolicy>): RetentionPolicy => ({ ...DEFAULT_POLICY, daily: 0, weekly: 0, monthly: 0, perType: {}, ...overrides });
const b = (id: string, iso: string, type = 'auto', verification?: 'passed' | 'failed'): PlannedBackup => ({ id, type, takenAt: new Date(iso), ...(verification ? { verification } : {}) });
const kept = (backups: PlannedBackup[], p: RetentionPolicy, now = '2026-11-21T12:00:00Z') =>
  planRetention(backups, p, new Date(now)).filter((d) => d.keep).map((d) => d.id).sort();

/** One backup a day at 02:00 UTC for `days` days ending on 2026-11-21. */
function daily(days: number, type = 'auto'): PlannedBackup[] {
  return Array.from({ length: days }, (_, i) => {
    const at = new Date(Date.UTC(2026, 10, 21 - i, 2));
    return b(`d${String(i).padStart(3, '0')}`, at.toISOString(), type);
  });
}

describe('calendar buckets', () => {
  it.each([
    ['2026-11-21T23:30:00Z', 'UTC', '2026-11-21'],
    ['2026-11-21T23:30:00Z', 'Europe/Berlin', '2026-11-22'],
    ['2026-11-01T03:30:00Z', 'America/New_York', '2026-10-31'],
    ['2026-03-29T00:30:00Z', 'Europe/Berlin', '2026-03-29'], // 01:30 CET, half an hour before the clocks go forward
    ['2026-03-29T01:30:00Z', 'Europe/Berlin', '2026-03-29'], // 03:30 CEST, after
    ['2026-11-01T05:30:00Z', 'America/New_York', '2026-11-01'], // 01:30 EDT
    ['2026-11-01T06:30:00Z', 'America/New_York', '2026-11-01'], // 01:30 EST, the same wall time an hour later
  ])('%s in %s is the day %s', (iso, tz, day) => {
    expect(dayKey(localDate(new Date(iso), tz))).toBe(day);
  });

  it.each([
    [2026, 1, 1, '2026-W01'],
    [2025, 12, 29, '2026-W01'],
    [2021, 1, 3, '2020-W53'],
    [2020, 12, 31, '2020-W53'],
    [2026, 11, 15, '2026-W46'], // a Sunday
    [2026, 11, 16, '2026-W47'], // the Monday after
  ])('%i-%i-%i is in ISO week %s', (year, month, day, week) => {
    expect(isoWeekKey({ year, month, day })).toBe(week);
  });

  it('names months by the local calendar', () => {
    expect(monthKey(localDate(new Date('2026-11-01T03:00:00Z'), 'America/Los_Angeles'))).toBe('2026-10');
  });
});

describe('planRetention', () => {
  it.each([
    ['daily 7 of 30 daily backups', daily(30), policy({ daily: 7 }), 7],
    ['weekly 4 of 30 daily backups', daily(30), policy({ weekly: 4 }), 4],
    ['monthly 12 of 400 daily backups', daily(400), policy({ monthly: 12 }), 12],
    ['the default policy over 400 days (7 days, 2 more weeks, 11 more months)', daily(400), { ...DEFAULT_POLICY }, 7 + 2 + 11],
    ['keep-last 3 with nothing else', daily(10), policy({ keepLast: 3 }), 3],
    ['an empty directory', [], policy({ daily: 7 }), 0],
  ])('%s keeps %i', (_label, backups, p, count) => {
    expect(kept(backups, p)).toHaveLength(count);
  });

  it('keeps the newest backup of each day when there are many in one day', () => {
    const backups = [b('a', '2026-11-21T01:00:00Z'), b('b', '2026-11-21T13:00:00Z'), b('c', '2026-11-21T09:00:00Z'), b('d', '2026-11-20T23:00:00Z')];
    expect(kept(backups, policy({ daily: 2 }), '2026-11-21T14:00:00Z')).toEqual(['b', 'd']);
  });

  it('counts days that have backups, so gaps do not shrink what is kept', () => {
    const backups = [b('nov21', '2026-11-21T02:00:00Z'), b('nov10', '2026-11-10T02:00:00Z'), b('oct01', '2026-10-01T02:00:00Z'), b('sep01', '2026-09-01T02:00:00Z')];
    expect(kept(backups, policy({ daily: 3 }))).toEqual(['nov10', 'nov21', 'oct01']);
  });

  it('buckets days in the policy\'s time zone', () => {
    // 23:30 UTC on the 20th is already the 21st in Berlin, the same day as the 10:00 UTC backup
    const backups = [b('late', '2026-11-20T23:30:00Z'), b('morning', '2026-11-21T10:00:00Z'), b('prev', '2026-11-20T10:00:00Z')];
    expect(kept(backups, policy({ daily: 2, timeZone: 'UTC' }))).toEqual(['late', 'morning']);
    expect(kept(backups, policy({ daily: 2, timeZone: 'Europe/Berlin' }))).toEqual(['morning', 'prev']);
  });

  it('treats both 01:30s of a DST fall-back night as one day', () => {
    const backups = [b('edt', '2026-11-01T05:30:00Z'), b('est', '2026-11-01T06:30:00Z'), b('before', '2026-10-31T05:30:00Z')];
    expect(kept(backups, policy({ daily: 2, timeZone: 'America/New_York' }))).toEqual(['before', 'est']);
  });

  it('keeps typed backups by their own count and leaves them out of the calendar', () => {
    const backups = [...daily(3), ...Array.from({ length: 12 }, (_, i) => b(`m${String(i).padStart(2, '0')}`, new Date(Date.UTC(2026, 10, 21, 3, i)).toISOString(), 'pre-migrate'))];
    const result = kept(backups, policy({ daily: 2, perType: { 'pre-migrate': 10 } }));
    expect(result.filter((id) => id.startsWith('m'))).toHaveLength(10);
    expect(result).not.toContain('m00');
    expect(result.filter((id) => id.startsWith('d'))).toEqual(['d000', 'd001']);
  });

  it('never deletes the newest backup, whatever max-age or verification say', () => {
    const backups = [b('old-newest', '2025-01-01T00:00:00Z', 'auto', 'failed'), b('older', '2024-12-01T00:00:00Z')];
    const plan = planRetention(backups, policy({ maxAgeDays: 30, monthly: 12 }), new Date('2026-11-21T00:00:00Z'));
    expect(plan).toEqual([
      { id: 'old-newest', keep: true, reasons: ['newest backup (always kept)'] },
      { id: 'older', keep: false, reasons: ['older than --max-age 30d'] },
    ]);
  });

  it('does not let a failed backup satisfy a keep', () => {
    const backups = [b('failed', '2026-11-21T02:00:00Z', 'auto', 'failed'), b('good', '2026-11-20T02:00:00Z', 'auto', 'passed'), b('older', '2026-11-19T02:00:00Z')];
    const plan = planRetention([b('newest', '2026-11-21T03:00:00Z'), ...backups], policy({ daily: 2 }), new Date('2026-11-21T12:00:00Z'));
    expect(plan.find((d) => d.id === 'failed')).toEqual({ id: 'failed', keep: false, reasons: ['failed verification: never counts toward a keep'] });
    expect(plan.filter((d) => d.keep).map((d) => d.id)).toEqual(['newest', 'good']);
  });

  it('gives the same plan whatever order the backups come in', () => {
    const backups = daily(40);
    const shuffled = [...backups].reverse();
    expect(planRetention(shuffled, DEFAULT_POLICY, new Date('2026-11-21T12:00:00Z'))).toEqual(planRetention(backups, DEFAULT_POLICY, new Date('2026-11-21T12:00:00Z')));
  });

  it('says why each backup is kept or deleted', () => {
    const plan = planRetention(daily(10), policy({ daily: 2, weekly: 2 }), new Date('2026-11-21T12:00:00Z'));
    expect(plan[0]!.reasons).toEqual(['newest backup (always kept)', 'daily 2026-11-21', 'weekly 2026-W47']);
    expect(plan[1]!.reasons).toEqual(['daily 2026-11-20']);
    expect(plan[6]!.reasons).toEqual(['weekly 2026-W46']); // Sunday the 15th, the newest of its week
    expect(plan[9]!.reasons).toEqual(['not the newest of any kept day, week or month']);
  });
});

describe('keepChainLinks', () => {
  const decide = (keep: Record<string, boolean>) => Object.entries(keep).map(([id, k]) => ({ id, keep: k, reasons: [k ? 'newest' : 'older than the policy'] }));
  // full ← d1 ← d2 ← d3: only d3 is kept by the calendar
  const links = new Map([
    ['d1', ['full', 'full']],
    ['d2', ['full', 'd1']],
    ['d3', ['full', 'd2']],
  ]);

  it('keeps every export a kept differential follows, transitively, and says which one needs it', () => {
    const out = keepChainLinks(decide({ full: false, d1: false, d2: false, d3: true, other: false }), links);
    expect(out.map((d) => [d.id, d.keep])).toEqual([['full', true], ['d1', true], ['d2', true], ['d3', true], ['other', false]]);
    expect(out.find((d) => d.id === 'd2')!.reasons).toEqual(['needed by d3 (its differential chain)']);
  });

  it('lets a whole chain go when nothing in it is kept, and leaves the calendar\'s own keeps alone', () => {
    expect(keepChainLinks(decide({ full: false, d1: false, d2: false, d3: false }), links).every((d) => !d.keep)).toBe(true);
    const kept = keepChainLinks(decide({ full: true, d1: false, d2: false, d3: false }), links);
    expect(kept.map((d) => d.keep)).toEqual([true, false, false, false]);
    expect(kept[0]!.reasons).toEqual(['newest']);
  });
});

describe('ages in db:list', () => {
  it.each([
    [5_000, '5s'],
    [41 * 60_000, '41m'],
    [3 * 3_600_000 + 5 * 60_000, '3h 05m'],
    [12 * 86_400_000 + 1, '12d'],
  ])('%i ms is %s', (ms, text) => {
    expect(humanAge(ms)).toBe(text);
  });
});
