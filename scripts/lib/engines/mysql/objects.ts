/**
 * A database's objects other than tables (routines, views, triggers, events), read with SHOW
 * CREATE and made again elsewhere. RENAME TABLE moves tables between databases but none of these:
 * a view cannot change database, a table with triggers refuses to, and routines and events belong
 * to their database. The swap therefore carries them as text, with the session settings each was
 * created under (sql_mode, client character set and collation, an event's time zone), as
 * mariadb-dump does.
 */
import type { MySqlClient } from './client.js';
import { quoteName } from './marker.js';

export type ObjectKind = 'FUNCTION' | 'PROCEDURE' | 'VIEW' | 'TRIGGER' | 'EVENT';

export interface DatabaseObject {
  kind: ObjectKind;
  name: string;
  /** The CREATE statement as SHOW CREATE gives it (unqualified: read with the database current). */
  create: string;
  sqlMode: string | undefined;
  charset: string;
  collation: string;
  timeZone: string | undefined;
}

/** In the order they are made: routines before the views that call them, triggers and events last. */
const KINDS: ObjectKind[] = ['FUNCTION', 'PROCEDURE', 'VIEW', 'TRIGGER', 'EVENT'];

function listQuery(kind: ObjectKind): string {
  switch (kind) {
    case 'FUNCTION':
    case 'PROCEDURE':
      return `SELECT ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = '${kind}' ORDER BY ROUTINE_NAME`;
    case 'VIEW':
      return 'SELECT TABLE_NAME AS name FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME';
    case 'TRIGGER':
      // Made again in this order, triggers of one table and timing keep their ACTION_ORDER.
      return 'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER';
    case 'EVENT':
      return 'SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME';
  }
}

const CREATE_COLUMN: Record<ObjectKind, string> = {
  FUNCTION: 'Create Function',
  PROCEDURE: 'Create Procedure',
  VIEW: 'Create View',
  TRIGGER: 'SQL Original Statement',
  EVENT: 'Create Event',
};

/** The base tables of a database, by name. */
export async function baseTables(client: MySqlClient, database: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    [database],
  );
  return rows.map((r) => r.name);
}

/**
 * Every routine, view, trigger and event of `database`. The client's current database becomes
 * `database`, so SHOW CREATE VIEW names the view's tables without it and the text fits any database.
 */
export async function readObjects(client: MySqlClient, database: string): Promise<DatabaseObject[]> {
  await client.query(`USE ${quoteName(database)}`);
  const objects: DatabaseObject[] = [];
  for (const kind of KINDS) {
    const { rows: names } = await client.query<{ name: string }>(listQuery(kind), [database]);
    for (const { name } of names) {
      const { rows } = await client.query<Record<string, string | null>>(`SHOW CREATE ${kind} ${quoteName(name)}`);
      const row = rows[0];
      const create = row?.[CREATE_COLUMN[kind]];
      // SHOW CREATE gives no text to a user without the privilege to see it: refuse rather than lose the object.
      if (!row || !create) throw new Error(`SHOW CREATE ${kind} ${quoteName(name)} in ${quoteName(database)} gave no definition; the user needs the privileges to read it`);
      objects.push({
        kind,
        name,
        create,
        sqlMode: row.sql_mode ?? undefined,
        charset: row.character_set_client ?? 'utf8mb4',
        collation: row.collation_connection ?? 'utf8mb4_general_ci',
        timeZone: row.time_zone ?? undefined,
      });
    }
  }
  return objects;
}

/** The "KIND name" of every routine, view, trigger and event of `database`. */
export async function objectKeys(client: MySqlClient, database: string): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const kind of KINDS) {
    const { rows } = await client.query<{ name: string }>(listQuery(kind), [database]);
    for (const { name } of rows) keys.add(`${kind} ${name}`);
  }
  return keys;
}

/** Drop the objects of the given kinds (all by default) from `database`. */
export async function dropObjects(client: MySqlClient, database: string, kinds: ObjectKind[] = KINDS): Promise<void> {
  for (const kind of [...kinds].reverse()) {
    const { rows } = await client.query<{ name: string }>(listQuery(kind), [database]);
    for (const { name } of rows) await client.query(`DROP ${kind} IF EXISTS ${quoteName(database)}.${quoteName(name)}`);
  }
}

/**
 * Make the objects in `database`, each under its own session settings. A view may read another
 * view: one that fails for a missing table is tried again after the rest, until a round makes
 * nothing new.
 */
export async function createObjects(client: MySqlClient, database: string, objects: DatabaseObject[]): Promise<void> {
  await client.query(`USE ${quoteName(database)}`);
  const saved = (await client.query<Record<string, string>>('SELECT @@SESSION.sql_mode AS m, @@SESSION.time_zone AS z')).rows[0]!;
  try {
    let pending = objects;
    for (;;) {
      const failed: Array<{ object: DatabaseObject; error: unknown }> = [];
      for (const object of pending) {
        await createOne(client, object).catch((error: unknown) => failed.push({ object, error }));
      }
      if (failed.length === 0) return;
      if (failed.length === pending.length || !failed.every((f) => f.object.kind === 'VIEW')) {
        const first = failed[0]!;
        throw new Error(`could not make ${first.object.kind.toLowerCase()} ${quoteName(first.object.name)}: ${first.error instanceof Error ? first.error.message : String(first.error)}`);
      }
      pending = failed.map((f) => f.object);
    }
  } finally {
    await client.query('SET SESSION sql_mode = ?, SESSION time_zone = ?, NAMES utf8mb4', [saved.m, saved.z]).catch(() => undefined);
  }
}

async function createOne(client: MySqlClient, object: DatabaseObject): Promise<void> {
  const settings: string[] = ['character_set_client = ?', 'collation_connection = ?'];
  const values: unknown[] = [object.charset, object.collation];
  if (object.sqlMode !== undefined) settings.push('sql_mode = ?'), values.push(object.sqlMode);
  if (object.timeZone !== undefined) settings.push('time_zone = ?'), values.push(object.timeZone);
  await client.query(`SET ${settings.map((s) => `SESSION ${s}`).join(', ')}`, values);
  await client.query(object.create);
}
