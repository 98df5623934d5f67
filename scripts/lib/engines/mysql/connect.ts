/**
 * The kit's own connections to a MySQL or MariaDB server: opened through the one client
 * (client.ts), waited for while the server is starting, and every failure said in the kit's
 * words. Also what a server is (version, flavour, the database's size) and whether a failed run
 * was really the server going away.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KitError } from '../../errors.js';
import { describeTarget, type Target } from '../../config/target.js';
import { redact } from '../../redact.js';
import type { ServerFacts } from '../engine.js';
import { openMySql, type MySqlClient } from './client.js';

interface DriverError {
  code?: string;
  errno?: number;
  message?: string;
}

/** A driver error in the kit's vocabulary; `retryable` marks a server not (yet) there. */
export function classifyMySqlConnectError(error: unknown, target: Target): { error: KitError; retryable: boolean } {
  if (error instanceof KitError) return { error, retryable: false };
  const e = (error ?? {}) as DriverError;
  const where = describeTarget(target);
  const at = target.host.startsWith('/') ? target.host : `${target.host}:${target.port}`;
  const said = redact(e.message ?? String(error));
  switch (e.code) {
    case 'ER_ACCESS_DENIED_ERROR': // 1045: user or password
    case 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR':
    case 'ER_HOST_NOT_PRIVILEGED': // 1130: this client host may not connect as that user
    case 'ER_NOT_SUPPORTED_AUTH_MODE':
      return { error: new KitError('AUTH_FAILED', `The server at ${at} rejected user "${target.user}" (${said}). Check the user and password in DATABASE_URL (${target.source}).`), retryable: false };
    case 'ER_DBACCESS_DENIED_ERROR': // 1044: the user exists, the database is not theirs
      return { error: new KitError('AUTH_FAILED', `User "${target.user}" may not use database "${target.database}" on ${at} (${said}). Grant it access, or check DATABASE_URL (${target.source}).`), retryable: false };
    case 'ER_BAD_DB_ERROR': // 1049
      return { error: new KitError('DATABASE_MISSING', `Database "${target.database}" does not exist on ${at}. Check the database name in DATABASE_URL (${target.source}), or create it first.`), retryable: false };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { error: new KitError('UNKNOWN_HOST', `Host "${target.host}" could not be resolved. Check the host in DATABASE_URL (${target.source}).`), retryable: true };
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOENT': // no socket file (yet)
    case 'EPIPE':
    case 'PROTOCOL_CONNECTION_LOST':
    case 'ER_SERVER_SHUTDOWN': // 1053
    case 'ER_CON_COUNT_ERROR': // 1040: too many connections, for now
    case 'ER_CONNECTION_KILLED':
      return { error: new KitError('SERVER_UNREACHABLE', `No MySQL/MariaDB server answers at ${at} (${said}). Start the server, check host and port in ${target.source}, or pass --wait <seconds> to wait for it.`), retryable: true };
    default:
      if (/timeout|timed out/i.test(said)) {
        return { error: new KitError('SERVER_UNREACHABLE', `Connecting to ${where} timed out. Check that the server is up and reachable, or pass --wait <seconds>.`), retryable: true };
      }
      return { error: new KitError('SERVER_UNREACHABLE', `Could not connect to ${where}: ${said}`), retryable: false };
  }
}

/** One connection to the target's database; a failure said in the kit's words. */
export async function connectMySql(target: Target): Promise<MySqlClient> {
  try {
    return await openMySql(target);
  } catch (error) {
    throw classifyMySqlConnectError(error, target).error;
  }
}

/**
 * Connect, retrying while the server is not there yet (a container still starting) for up to
 * `waitSeconds`. Errors that waiting cannot fix (bad password, missing database) fail at once.
 */
export async function connectMySqlWithWait(target: Target, waitSeconds: number, onRetry?: (attempt: number, error: KitError) => void, signal?: AbortSignal): Promise<MySqlClient> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new KitError('INTERRUPTED', `Interrupted while waiting for the server at ${target.host}:${target.port}.`);
    try {
      return await openMySql(target);
    } catch (raw) {
      const { error, retryable } = classifyMySqlConnectError(raw, target);
      if (!retryable || Date.now() >= deadline) {
        if (retryable && waitSeconds > 0) throw new KitError(error.code, `${error.message} Waited ${waitSeconds}s.`, { cause: raw });
        throw error;
      }
      onRetry?.(attempt, error);
      const pause = Math.min(2000, 250 * attempt, Math.max(0, deadline - Date.now()));
      await sleep(pause, undefined, signal ? { signal } : {}).catch(() => undefined);
    }
  }
}

/**
 * "10.11.6-MariaDB-0+deb12u1" with comment "Debian 12" → MariaDB 10.11.6; "8.0.36" with comment
 * "MySQL Community Server - GPL" → MySQL 8.0.36. Pure.
 */
export function parseServerVersion(version: string, comment: string): Pick<ServerFacts, 'versionNum' | 'major' | 'flavour' | 'release'> {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  const [major, minor, patch] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  return {
    versionNum: major * 10000 + minor * 100 + patch,
    major,
    flavour: /mariadb/i.test(version) || /mariadb/i.test(comment) ? 'MariaDB' : 'MySQL',
    ...(m ? { release: `${major}.${minor}.${patch}` } : {}),
  };
}

export async function mySqlServerFacts(client: Pick<MySqlClient, 'query'>): Promise<ServerFacts> {
  const { rows } = await client.query<{ version: string; comment: string | null; usr: string; size: string | null }>(
    `SELECT VERSION() AS version, @@version_comment AS comment, CURRENT_USER() AS usr,
            (SELECT CAST(COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS UNSIGNED) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()) AS size`,
  );
  const row = rows[0];
  if (!row) throw new KitError('INTERNAL', 'The server returned no version information.');
  return { ...parseServerVersion(row.version, row.comment ?? ''), version: row.version, databaseSize: Number(row.size ?? 0), currentUser: row.usr };
}

/**
 * A dump or client program that failed because the server went away, said so; undefined when the
 * server still answers (the program's own message stands).
 */
export async function mySqlServerGone(error: unknown, target: Target, during = 'backup', after = 'No backup was written'): Promise<KitError | undefined> {
  if (!(error instanceof KitError) || !['PG_DUMP_FAILED', 'ARTIFACT_IMPLAUSIBLE', 'RESTORE_FAILED', 'INTEGRITY_FAILED'].includes(error.code)) return undefined;
  try {
    const probe = await openMySql(target, { connectTimeoutSeconds: 5 });
    await probe.end();
    return undefined;
  } catch (raw) {
    if (!classifyMySqlConnectError(raw, target).retryable) return undefined;
    return new KitError('SERVER_UNREACHABLE', `The connection to the server was lost during the ${during} (${error.message}). ${after}; check the server and run the ${during} again.`, { cause: error, detail: error.detail });
  }
}

/**
 * Ends another connection of the kit's from a fresh one (KILL <id>): its statement stops and its
 * transaction rolls back now, rather than when the server next writes to a closed socket.
 */
export async function killMySqlConnection(target: Target, threadId: number): Promise<void> {
  const killer = await openMySql(target, { connectTimeoutSeconds: 5 }).catch(() => undefined);
  if (!killer) return;
  try {
    await killer.query(`KILL ${Number(threadId)}`).catch(() => undefined);
  } finally {
    await killer.end();
  }
}
