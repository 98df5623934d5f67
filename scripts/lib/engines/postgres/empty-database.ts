import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import type { DropSession } from '../engine.js';
import { connectWithWait, type Client } from './connect.js';
import { EMPTY_DATABASE_FUNCTION } from './restore-sql.js';
import { lockTimeoutSetting } from './locks.js';

/**
 * Empty the database in one transaction (see EMPTY_DATABASE_FUNCTION). An interruption while it
 * runs closes the connection, so the server rolls everything back; one that arrives after it
 * rolls back instead of committing.
 */
export async function emptyDatabase(client: Client, signal: AbortSignal, lockTimeoutSeconds: number): Promise<{ dropped: string[]; notDropped: string[] }> {
  const stop = () => client.connection.stream.destroy();
  signal.addEventListener('abort', stop, { once: true });
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL client_min_messages = warning');
    await client.query(lockTimeoutSetting(lockTimeoutSeconds).replace('SET', 'SET LOCAL'));
    await client.query(EMPTY_DATABASE_FUNCTION);
    const { rows: steps } = await client.query<{ what: string; done: boolean; problem: string | null }>('SELECT * FROM pg_temp.kit_empty_database(false)');
    const { rows: remaining } = await client.query<{ what: string }>(
      `SELECT format('%s %I.%I', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'relation' END, n.nspname, c.relname) AS what
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        ORDER BY 1`,
    );
    await client.query('DROP FUNCTION IF EXISTS pg_temp.kit_empty_database(boolean)'); // DROP OWNED may have taken it
    signal.throwIfAborted();
    await client.query('COMMIT');
    const named = (what: string) => (what === 'objects owned by the current user' ? 'everything else owned by the current user' : what);
    const dropped = steps.filter((s) => s.done && s.what !== 'large objects').map((s) => named(s.what));
    const failures = steps.filter((s) => !s.done).map((s) => `${s.what}: ${s.problem}`);
    const notDropped = remaining.length ? [...remaining.map((r) => `${r.what} (not yours to drop)`), ...failures] : failures.filter((f) => !f.startsWith('schema '));
    return { dropped, notDropped };
  } catch (error) {
    if (signal.aborted) throw new KitError('INTERRUPTED', 'Interrupted while dropping: the transaction was rolled back and nothing was dropped.');
    throw error;
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

/** Schemas and their table counts, for the summary shown before anything is dropped. */
async function describeContents(client: Client): Promise<string> {
  const { rows: schemas } = await client.query<{ nspname: string; tables: string }>(
    `SELECT n.nspname, (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p'))::text AS tables
       FROM pg_namespace n
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY n.nspname`,
  );
  return `schemas ${schemas.map((s) => `${s.nspname} (${s.tables} tables)`).join(', ') || 'none'}; public is recreated empty`;
}

/** db:drop on PostgreSQL: one connection, and everything dropped in one transaction on it. */
export async function openDrop(target: Target, waitSeconds: number, signal: AbortSignal): Promise<DropSession> {
  const client = await connectWithWait(target, waitSeconds, undefined, signal);
  return {
    contents: () => describeContents(client),
    empty: (abort, lockTimeoutSeconds) => emptyDatabase(client, abort, lockTimeoutSeconds),
    abandon: async () => void (await client.query('ROLLBACK').catch(() => undefined)),
    close: () => client.end(),
  };
}
