/**
 * Every date the kit reads or prints, through date-fns: one stamp for file names, one timestamp
 * for people, one age ("3d ago"), one duration ("1:02:03"), and one strict parser for instants
 * given on the command line. Always UTC unless a time zone is asked for: file names and logs must
 * not depend on the machine's zone.
 */
// One module per function, not the package index: the index loads all of date-fns (about 20 MB
// and a tenth of a second at every start of every command).
import { TZDate, tz } from '@date-fns/tz';
import { differenceInDays } from 'date-fns/differenceInDays';
import { differenceInHours } from 'date-fns/differenceInHours';
import { differenceInMinutes } from 'date-fns/differenceInMinutes';
import { differenceInSeconds } from 'date-fns/differenceInSeconds';
import { isValid } from 'date-fns/isValid';
import { lightFormat } from 'date-fns/lightFormat';
import { parseISO } from 'date-fns/parseISO';

const UTC = tz('UTC');
const inUtc = (date: Date) => new TZDate(date.getTime(), 'UTC');

/** UTC "yyyyMMdd_HHmmss": sorts by time and never depends on the machine's time zone. */
export function formatStamp(date: Date): string {
  return lightFormat(inUtc(date), 'yyyyMMdd_HHmmss');
}

/** The one timestamp people read: "2026-11-21 14:30:22Z" (UTC, to the second). */
export function formatTimestamp(date: Date | string): string {
  return `${lightFormat(inUtc(typeof date === 'string' ? parseISO(date) : date), 'yyyy-MM-dd HH:mm:ss')}Z`;
}

/** How long ago, at the precision a person wants: "45s", "41m", "3h 05m", "12d". */
export function formatAge(then: Date | string, now: Date): string {
  const from = typeof then === 'string' ? parseISO(then) : then;
  if (from.getTime() > now.getTime()) return `in the future (${formatAge(now, from)})`;
  const seconds = differenceInSeconds(now, from);
  if (seconds < 60) return `${seconds}s`;
  const minutes = differenceInMinutes(now, from);
  if (minutes < 60) return `${minutes}m`;
  const hours = differenceInHours(now, from);
  if (hours < 24) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${differenceInDays(now, from, { in: UTC })}d`;
}

/** How long something took or will take: "0:05", "12:34", "1:02:03". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(h ? 2 : 1, '0');
  return `${h ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

// A date, or a date and time with its zone: anything else (no zone, "Nov 21 2026") is ambiguous.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?))?$/;

/**
 * An instant given by a person (--now): strict ISO 8601, a date (midnight UTC) or a date and time
 * with Z or an offset. Undefined for anything else, so the caller can say what it expected.
 */
export function parseInstant(text: string): Date | undefined {
  if (!ISO_INSTANT.test(text)) return undefined;
  const date = parseISO(text.length === 10 ? `${text}T00:00:00Z` : text);
  return isValid(date) ? date : undefined;
}
