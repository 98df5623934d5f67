/**
 * Restores and drops take strong locks on the target's tables. An application session holding a
 * lock there must not make them wait forever (blocking the application's own queries behind
 * them): they run with a lock timeout, and when it expires the message names who held the lock.
 */
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import { connect } from './connect.js';
import { PG_TIMEOUT_MAX_MS } from './limits.js';

export const DEFAULT_LOCK_TIMEOUT_SECONDS = 30;

/** SQL that bounds every lock wait of the session that runs it. */
export function lockTimeoutSetting(seconds: number): string {
  return `SET lock_timeout = '${Math.max(1, Math.round(seconds * 1000))}ms';`;
}

/** PostgreSQL's message when a lock wait was cut short by lock_timeout. */
export function isLockTimeout(message: string): boolean {
  return /canceling statement due to lock timeout/.test(message);
}

/** Sessions other than the kit's holding locks on tables of the target database, described. */
export async function describeLockHolders(target: Target): Promise<string[]> {
  const client = await connect(target);
  try {
    const { rows } = await client.query<{ pid: number; usename: string | null; app: string; state: string | null; since: string | null; tables: string }>(
      `SELECT a.pid, a.usename, coalesce(a.application_name, '') AS app, a.state,
              to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS TZ') AS since,
              string_agg(DISTINCT l.relation::regclass::text, ', ') AS tables
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.granted AND l.locktype = 'relation'
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND a.pid <> pg_backend_pid() AND a.application_name <> 'pg-backup-kit'
          AND l.relation IN (SELECT oid FROM pg_class WHERE relkind IN ('r', 'p', 'm', 'v', 'f') AND relnamespace <> 'pg_catalog'::regnamespace)
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1`,
    );
    return rows.map((r) => `session ${r.pid} (user ${r.usename ?? '?'}${r.app ? `, application "${r.app}"` : ''}, ${r.state ?? 'unknown state'}${r.since ? `, in a transaction since ${r.since}` : ''}) holds a lock on ${r.tables}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The error for a lock wait that timed out: who held the lock, and what to do. */
export async function lockTimeoutError(target: Target, during: string, seconds: number, afterwards: string): Promise<KitError> {
  const holders = await describeLockHolders(target).catch(() => []);
  const who = holders.length ? `: ${holders.join('; ')}` : ' (the session holding it has finished since)';
  return new KitError(
    'LOCK_TIMEOUT',
    `The ${during} waited ${seconds}s for a lock on ${target.database} held by another session and stopped${who}. ${afterwards} End that session (SELECT pg_terminate_backend(pid)) or wait until it is done, then run the ${during} again; --lock-timeout <seconds> waits longer.`,
  );
}

/** --lock-timeout <seconds>: a positive number; the default when absent. */
export function parseLockTimeout(text: string | undefined, problems: string[]): number {
  if (text === undefined) return DEFAULT_LOCK_TIMEOUT_SECONDS;
  const seconds = Number(text);
  // lock_timeout is whole milliseconds (0 is "wait forever") up to INT_MAX
  if (!Number.isFinite(seconds) || seconds * 1000 < 1) {
    problems.push(`--lock-timeout takes a number of seconds of at least 0.001, got "${text}".`);
    return DEFAULT_LOCK_TIMEOUT_SECONDS;
  }
  if (seconds * 1000 > PG_TIMEOUT_MAX_MS) {
    problems.push(`--lock-timeout can be at most ${PG_TIMEOUT_MAX_MS / 1000} seconds (PostgreSQL's limit for lock_timeout), got "${text}".`);
    return DEFAULT_LOCK_TIMEOUT_SECONDS;
  }
  return seconds;
}
