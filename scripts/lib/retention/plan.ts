/**
 * Which backups to keep: a pure planner with an injected clock, so every rule is tested with
 * tables of cases. Rules that always hold, whatever the policy says:
 *  - the newest complete backup is never deleted;
 *  - a backup that failed verification never counts toward a keep;
 *  - types with their own count (pre-migrate, pre-restore, …) are kept by that count only.
 * Days, weeks and months are calendar buckets in the policy's time zone, so a DST change or a
 * backup taken at 00:30 local time lands in the day a person would say.
 */
import { addMinutes, format, isAfter, isBefore, subDays } from 'date-fns';
import { TZDate } from '@date-fns/tz';
import type { RetentionPolicy } from '../config/retention-policy.js';

export { DEFAULT_POLICY, type RetentionPolicy } from '../config/retention-policy.js';

export interface PlannedBackup {
  id: string;
  type: string;
  takenAt: Date;
  /** Outcome of the last verification, if any. */
  verification?: 'passed' | 'failed';
}


export interface RetentionDecision {
  id: string;
  keep: boolean;
  reasons: string[];
}

interface Parts {
  year: number;
  month: number;
  day: number;
}

/** The calendar date of an instant in a time zone. */
export function localDate(date: Date, timeZone: string): Parts {
  const local = new TZDate(date.getTime(), timeZone);
  return { year: local.getFullYear(), month: local.getMonth() + 1, day: local.getDate() };
}

const asDate = (p: Parts) => new TZDate(p.year, p.month - 1, p.day, 'UTC');

export function dayKey(p: Parts): string {
  return format(asDate(p), 'yyyy-MM-dd');
}

export function monthKey(p: Parts): string {
  return format(asDate(p), 'yyyy-MM');
}

/** ISO 8601 week of a calendar date: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeekKey(p: Parts): string {
  return format(asDate(p), "RRRR-'W'II");
}

/** A backup dated this far past `now` came from a clock that was wrong. */
export const FUTURE_TOLERANCE_MINUTES = 5;

export function isFromTheFuture(takenAt: Date, now: Date): boolean {
  return isAfter(takenAt, addMinutes(now, FUTURE_TOLERANCE_MINUTES));
}

/** Keep the newest backup of each of the newest `count` buckets. */
function keepPerBucket(sorted: PlannedBackup[], count: number, key: (b: PlannedBackup) => string, label: string, keep: (b: PlannedBackup, reason: string) => void): void {
  if (count <= 0) return;
  const seen = new Set<string>();
  for (const backup of sorted) {
    const k = key(backup);
    if (seen.has(k)) continue;
    seen.add(k);
    keep(backup, `${label} ${k}`);
    if (seen.size >= count) return;
  }
}

export function planRetention(backups: PlannedBackup[], policy: RetentionPolicy, now: Date): RetentionDecision[] {
  const decisions = new Map<string, RetentionDecision>(backups.map((b) => [b.id, { id: b.id, keep: false, reasons: [] }]));
  const keep = (b: PlannedBackup, reason: string) => {
    const d = decisions.get(b.id)!;
    d.keep = true;
    d.reasons.push(reason);
  };
  // Newest first; ties broken by id so the plan never depends on input order.
  const newestFirst = [...backups].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || b.id.localeCompare(a.id));
  // A backup dated after `now` was taken under a wrong clock: it is kept (it may hold the newest
  // data) but never counts as the newest, so the real newest backup stays protected.
  const future = newestFirst.filter((b) => isFromTheFuture(b.takenAt, now));
  for (const b of future) keep(b, 'dated in the future (clock skew?): kept, not counted');
  const present = newestFirst.filter((b) => !future.includes(b));
  const newest = present[0];
  if (newest) keep(newest, 'newest backup (always kept)');

  const counted = present.filter((b) => b.verification !== 'failed');
  const tooOld = (b: PlannedBackup) => policy.maxAgeDays !== undefined && isBefore(b.takenAt, subDays(now, policy.maxAgeDays));
  const eligible = counted.filter((b) => !tooOld(b));

  for (const [type, count] of Object.entries(policy.perType)) {
    eligible.filter((b) => b.type === type).slice(0, count).forEach((b, i) => keep(b, `${type}: ${i + 1} of the newest ${count}`));
  }
  const calendar = eligible.filter((b) => !(b.type in policy.perType));
  calendar.slice(0, policy.keepLast).forEach((b, i) => keep(b, `last ${i + 1} of ${policy.keepLast}`));
  const local = (b: PlannedBackup) => localDate(b.takenAt, policy.timeZone);
  keepPerBucket(calendar, policy.daily, (b) => dayKey(local(b)), 'daily', keep);
  keepPerBucket(calendar, policy.weekly, (b) => isoWeekKey(local(b)), 'weekly', keep);
  keepPerBucket(calendar, policy.monthly, (b) => monthKey(local(b)), 'monthly', keep);

  for (const b of newestFirst) {
    const d = decisions.get(b.id)!;
    if (d.keep) continue;
    if (b.verification === 'failed') d.reasons.push('failed verification: never counts toward a keep');
    else if (tooOld(b)) d.reasons.push(`older than --max-age ${policy.maxAgeDays}d`);
    else if (b.type in policy.perType) d.reasons.push(`beyond the newest ${policy.perType[b.type]} of type ${b.type}`);
    else d.reasons.push('not the newest of any kept day, week or month');
  }
  return newestFirst.map((b) => decisions.get(b.id)!);
}

/**
 * A differential export is restored through its chain: every export it follows must stay while it
 * does. `links` maps an export's id to the ids it needs (its full export and its parent); whatever
 * the calendar policy would delete among those is kept, saying which export needs it. Pure.
 */
export function keepChainLinks(decisions: RetentionDecision[], links: ReadonlyMap<string, readonly string[]>): RetentionDecision[] {
  const byId = new Map(decisions.map((d) => [d.id, { ...d, reasons: [...d.reasons] }]));
  const pending = decisions.filter((d) => d.keep).map((d) => d.id);
  while (pending.length) {
    const id = pending.pop()!;
    for (const needed of links.get(id) ?? []) {
      const decision = byId.get(needed);
      if (!decision || decision.keep) continue;
      decision.keep = true;
      decision.reasons = [`needed by ${id} (its differential chain)`];
      pending.push(needed);
    }
  }
  return decisions.map((d) => byId.get(d.id)!);
}
