/**
 * UNLOGGED tables in a physical backup. PostgreSQL writes no WAL for them and pg_basebackup copies
 * none of their rows; recovery resets them to empty. That is how the server is meant to work, so
 * a backup names them (the user learns it before needing the rows) and a recovered copy that
 * holds them empty is not a loss.
 */
import type { Target } from '../config/target.js';
import { connect, type Client } from '../engines/postgres/connect.js';

/** Tables (plain and partitions) whose rows no base backup holds, named as SQL would write them. */
export const UNLOGGED_TABLES_SQL = `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relpersistence = 'u' AND c.relkind = 'r' ORDER BY n.nspname, c.relname`;

export interface UnloggedTables {
  /** "database: schema.table", every database the server lets one connect to. */
  tables: string[];
  /** Databases that could not be looked into, with the reason. */
  unchecked: string[];
}

/** The UNLOGGED tables one open connection's database holds, as "database: schema.table". */
export async function unloggedIn(client: Client, database: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(UNLOGGED_TABLES_SQL);
  return rows.map((r) => `${database}: ${r.name}`);
}

/** Every database of the cluster, each through a connection of its own (the target's is reused). */
export async function findUnloggedTables(target: Target, client: Client): Promise<UnloggedTables> {
  const databases = (await client.query<{ d: string }>('SELECT datname AS d FROM pg_database WHERE datallowconn ORDER BY 1')).rows.map((r) => r.d);
  const found: UnloggedTables = { tables: [], unchecked: [] };
  for (const database of databases) {
    if (database === target.database) {
      found.tables.push(...(await unloggedIn(client, database)));
      continue;
    }
    let other: Client | undefined;
    try {
      other = await connect({ ...target, database });
      found.tables.push(...(await unloggedIn(other, database)));
    } catch (error) {
      found.unchecked.push(`${database} (${(error as Error).message})`);
    } finally {
      await other?.end().catch(() => undefined);
    }
  }
  return found;
}

/** What a backup's report says about them: nothing when there are none. Pure. */
export function unloggedNotice(found: UnloggedTables): string[] {
  const lines: string[] = [];
  if (found.tables.length) {
    lines.push(
      `Note: ${found.tables.length} UNLOGGED table${found.tables.length === 1 ? '' : 's'}: PostgreSQL copies none of their rows into a base backup, and a restore gives them back empty (make them LOGGED, or back their rows up with pnpm db:backup, if you need them):`,
      ...found.tables.map((t) => `    ${t}`),
    );
  }
  if (found.unchecked.length) lines.push(`Note: could not look for UNLOGGED tables in ${found.unchecked.join('; ')}.`);
  return lines;
}
