/**
 * Which backups to keep: a pure planner with an injected clock, so every rule is tested with
 * tables of cases. Rules that always hold, whatever the policy says:
 *  - the newest complete backup is never deleted;
 *  - a backup that failed verification never counts toward a keep;
 *  - types with their own count (pre-migrate, pre-restore, …) are kept by that count only.
 * Days, weeks and months are calendar buckets in the policy's time zone, so a DST change or a
 * backup taken at 00:30 local time lands in the day a person would say.
 */
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

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The calendar date of an instant in a time zone. */
export function localDate(date: Date, timeZone: string): Parts {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(date).map((p) => [p.type, p.value]));
  return { year: Number(parts.year), month: Number(parts.month), day: Number(parts.day) };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export function dayKey(p: Parts): string {
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

export function monthKey(p: Parts): string {
  return `${p.year}-${pad(p.month)}`;
}

/** ISO 8601 week of a calendar date: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeekKey(p: Parts): string {
  const date = new Date(Date.UTC(p.year, p.month - 1, p.day));
  const weekday = (date.getUTCDay() + 6) % 7; // Monday = 0
  date.setUTCDate(date.getUTCDate() - weekday + 3); // the Thursday of this week decides its year
  const year = date.getUTCFullYear();
  const jan4 = new Date(Date.UTC(year, 0, 4)); // always in week 1
  const week = 1 + Math.round(((date.getTime() - jan4.getTime()) / 86_400_000 - 3 + ((jan4.getUTCDay() + 6) % 7)) / 7);
  return `${year}-W${pad(week)}`;
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
  const newest = newestFirst[0];
  if (newest) keep(newest, 'newest backup (always kept)');

  const counted = newestFirst.filter((b) => b.verification !== 'failed');
  const tooOld = (b: PlannedBackup) => policy.maxAgeDays !== undefined && now.getTime() - b.takenAt.getTime() > policy.maxAgeDays * 86_400_000;
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
