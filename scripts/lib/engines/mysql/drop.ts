/**
 * Emptying a MySQL/MariaDB database: every event, trigger, routine, view, table and sequence of
 * it, dropped one statement at a time. MySQL commits each DROP at once (DDL is not transactional
 * there), so unlike PostgreSQL's one-transaction drop this cannot be all or nothing. The order is
 * chosen so that a failure part-way leaves the least surprising state: first what runs by itself
 * (events) or on a change (triggers), then routines and views, which hold no data, and the tables
 * last (with foreign key checks off for this session, so their order does not matter). A failure
 * names what was dropped and what is still there; the pre-drop backup is the undo.
 */
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import type { DropSession } from '../engine.js';
import type { MySqlClient } from './client.js';
import { connectMySqlWithWait } from './connect.js';
import { quoteMySqlIdentifier as quoteMySqlName } from './quote.js';

interface Dropped {
  dropped: string[];
  notDropped: string[];
}

/** What to drop, in order: [kind as people say it, DROP statement's kind, query for the names]. */
const KINDS: ReadonlyArray<[string, string, string]> = [
  ['event', 'EVENT', 'SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY 1'],
  ['trigger', 'TRIGGER', 'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY 1'],
  ['procedure', 'PROCEDURE', "SELECT ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'PROCEDURE' ORDER BY 1"],
  ['function', 'FUNCTION', "SELECT ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'FUNCTION' ORDER BY 1"],
  ['view', 'VIEW', 'SELECT TABLE_NAME AS name FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY 1'],
  ['table', 'TABLE', "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY 1"],
  ['sequence', 'SEQUENCE', "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'SEQUENCE' ORDER BY 1"],
];

/** Every object of the database still there, as "kind name", in drop order. */
export async function mySqlObjects(client: MySqlClient, database: string): Promise<Array<{ kind: string; statement: string; name: string }>> {
  const out: Array<{ kind: string; statement: string; name: string }> = [];
  for (const [kind, statement, query] of KINDS) {
    const { rows } = await client.query<{ name: string }>(query, [database]);
    for (const r of rows) out.push({ kind, statement, name: r.name });
  }
  return out;
}

/** Drop everything in the connection's database; a failure throws with what went and what stayed. */
export async function emptyMySqlDatabase(client: MySqlClient, database: string, signal: AbortSignal): Promise<Dropped> {
  const objects = await mySqlObjects(client, database);
  const dropped: string[] = [];
  await client.query('SET SESSION foreign_key_checks = 0');
  try {
    for (const o of objects) {
      if (signal.aborted) throw new KitError('INTERRUPTED', partWay(dropped, objects.slice(dropped.length), 'Interrupted'));
      try {
        await client.query(`DROP ${o.statement} IF EXISTS ${quoteMySqlName(database)}.${quoteMySqlName(o.name)}`);
      } catch (error) {
        const said = (error as { sqlMessage?: string; message?: string }).sqlMessage ?? (error as Error).message;
        throw new KitError('RESTORE_FAILED', partWay(dropped, objects.slice(dropped.length), `Dropping ${o.kind} ${o.name} failed (the server said: ${said})`), { cause: error });
      }
      dropped.push(`${o.kind} ${o.name}`);
    }
  } finally {
    await client.query('SET SESSION foreign_key_checks = 1').catch(() => undefined);
  }
  return { dropped, notDropped: [] };
}

/** A drop stopped part-way, in words: MySQL commits each DROP, so what went is gone. */
function partWay(dropped: string[], left: Array<{ kind: string; name: string }>, what: string): string {
  const list = (items: string[]) => (items.length > 12 ? `${items.slice(0, 12).join(', ')} and ${items.length - 12} more` : items.join(', '));
  return `${what}. MySQL and MariaDB commit each DROP at once, so the drop stopped part-way: dropped ${dropped.length ? list(dropped) : 'nothing'}; still there: ${list(left.map((o) => `${o.kind} ${o.name}`))}. Run db:drop again to finish, or restore the pre-drop backup to undo.`;
}

/** What the database holds, counted by kind, for the summary before a drop. */
async function describeMySqlContents(client: MySqlClient, database: string): Promise<string> {
  const objects = await mySqlObjects(client, database);
  const counts = new Map<string, number>();
  for (const o of objects) counts.set(o.kind, (counts.get(o.kind) ?? 0) + 1);
  const held = [...counts].map(([kind, n]) => `${n} ${kind}${n === 1 ? '' : 's'}`).join(', ') || 'nothing';
  return `${held}; each DROP commits at once on MySQL/MariaDB (no one transaction): a failure part-way is named`;
}

/** db:drop on MySQL/MariaDB: one connection; objects dropped one by one (see the top of this file). */
export async function openMySqlDrop(target: Target, waitSeconds: number, signal: AbortSignal): Promise<DropSession> {
  const client = await connectMySqlWithWait(target, waitSeconds, undefined, signal);
  return {
    contents: () => describeMySqlContents(client, target.database),
    empty: (abort) => emptyMySqlDatabase(client, target.database, abort),
    abandon: async () => undefined,
    close: () => client.end(),
  };
}
