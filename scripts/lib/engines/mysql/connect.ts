/**
 * One connection to a MySQL/MariaDB target through openMySql, with the kit's words for a failure
 * (wrong password, no such database, no server) and, with --wait, retries while no server answers.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import { openMySql, type MySqlClient, type MySqlConnectOptions } from './client.js';

/** The target as people write it, without its password. */
export function whereMySql(target: Target): string {
  return `${target.database} on ${target.host.startsWith('/') ? target.host : `${target.host}:${target.port}`}`;
}

/** A driver or server error in the kit's words, and whether waiting could help. */
export function mySqlConnectError(error: unknown, target: Target): { error: KitError; retryable: boolean } {
  const e = error as { code?: string; errno?: number; message?: string };
  const where = whereMySql(target);
  if (e.errno === 1045 || e.code === 'ER_ACCESS_DENIED_ERROR') return { error: new KitError('AUTH_FAILED', `The server rejected user "${target.user}" for ${where}: check the user and password in DATABASE_URL.`), retryable: false };
  if (e.errno === 1049 || e.code === 'ER_BAD_DB_ERROR') return { error: new KitError('DATABASE_MISSING', `The database "${target.database}" does not exist on ${target.host}: create it (CREATE DATABASE) or fix DATABASE_URL.`), retryable: false };
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return { error: new KitError('UNKNOWN_HOST', `The host "${target.host}" is not known: fix DATABASE_URL.`), retryable: false };
  return { error: new KitError('SERVER_UNREACHABLE', `No server answers for ${where} (${e.message ?? String(error)}). Start it, fix DATABASE_URL, or pass --wait <seconds>.`), retryable: true };
}

/** Connect, retrying for up to `waitSeconds` while the server does not answer. */
export async function connectMySqlWithWait(target: Target, waitSeconds: number, onRetry?: (attempt: number, error: KitError) => void, signal?: AbortSignal, options: MySqlConnectOptions = {}): Promise<MySqlClient> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await openMySql(target, options);
    } catch (failure) {
      const { error, retryable } = mySqlConnectError(failure, target);
      if (!retryable || Date.now() >= deadline || signal?.aborted) throw error;
      onRetry?.(attempt, error);
      await sleep(Math.min(1000, Math.max(0, deadline - Date.now())), undefined, { signal }).catch(() => undefined);
    }
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
