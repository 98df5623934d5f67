/** The shape of a retention policy and its defaults: configuration, read by the planner. */

export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
  /** Keep the newest N regardless of buckets. */
  keepLast: number;
  /** Delete anything older than this many days (the newest backup excepted). */
  maxAgeDays: number | undefined;
  /** Types kept by their own count instead of the calendar rules. */
  perType: Record<string, number>;
  timeZone: string;
}

export const DEFAULT_POLICY: RetentionPolicy = {
  daily: 7,
  weekly: 4,
  monthly: 12,
  keepLast: 0,
  maxAgeDays: undefined,
  // Exports (db:export --zip) are kept by their own count: a day's export must never take the
  // place of that day's backup in the calendar rules.
  perType: { 'pre-migrate': 10, 'pre-restore': 10, 'pre-drop': 10, export: 10 },
  timeZone: 'UTC',
};
