/**
 * What a MySQL/MariaDB backup needs from its engine around the dump. The snapshot is the dump's
 * own: mariadb-dump --single-transaction opens one REPEATABLE READ transaction WITH CONSISTENT
 * SNAPSHOT and reads every table in it, so there is nothing to export or hold here. What that
 * transaction cannot hold still (tables of engines without MVCC: MyISAM, Aria, MEMORY, ARCHIVE,
 * CSV …) is named, so the person knows which tables may disagree with the rest.
 */
import type { BackupSnapshot, BackupTools, Client, DumpScope, ServerFacts } from '../engine.js';
import type { Target } from '../../config/target.js';
import type { Format } from '../../format/naming.js';
import { locateMySqlProgram } from './engine-tools.js';

/** How the dump takes its snapshot, recorded as the .info's snapshot.id. */
export const SINGLE_TRANSACTION = 'single-transaction';

export async function mySqlBackupTools(facts: ServerFacts, _archiveStats: boolean, env: NodeJS.ProcessEnv): Promise<BackupTools> {
  return { dump: await locateMySqlProgram('mariadb-dump', facts, env) };
}

/** Base tables of the database whose engine the dump's transaction cannot hold consistent, as `name (ENGINE)`. */
export async function nonTransactionalTables(client: Client, scope: Pick<DumpScope, 'tables' | 'excludeTables'>, database: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string; engine: string | null }>(
    `SELECT TABLE_NAME AS name, ENGINE AS engine FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') AND ENGINE IS NOT NULL AND ENGINE <> 'InnoDB'
      ORDER BY TABLE_NAME`,
  );
  const bare = (t: string) => (t.startsWith(`${database}.`) ? t.slice(database.length + 1) : t);
  const only = new Set(scope.tables.map(bare));
  const excluded = new Set(scope.excludeTables.map(bare));
  return rows.filter((r) => (only.size === 0 || only.has(r.name)) && !excluded.has(r.name)).map((r) => `${r.name} (${r.engine})`);
}

export async function openMySqlBackupSnapshot(client: Client, scope: Pick<DumpScope, 'tables' | 'excludeTables' | 'schemas'>, target: Target): Promise<BackupSnapshot> {
  const { rows } = await client.query<{ t: string }>('SELECT UTC_TIMESTAMP(6) AS t');
  const serverTime = new Date(`${rows[0]!.t.replace(' ', 'T')}Z`);
  const loose = await nonTransactionalTables(client, scope, target.database);
  const warnings = loose.length
    ? [`warning: ${loose.length === 1 ? 'table' : 'tables'} ${loose.join(', ')} ${loose.length === 1 ? 'is' : 'are'} not transactional: --single-transaction cannot hold ${loose.length === 1 ? 'it' : 'them'} still, so ${loose.length === 1 ? 'its rows' : 'their rows'} may not match the rest of the backup if written to while it runs. Convert ${loose.length === 1 ? 'it' : 'them'} to InnoDB (ALTER TABLE … ENGINE=InnoDB) for a consistent backup.`]
    : [];
  return { id: SINGLE_TRANSACTION, serverTime, largeObjects: 0, warnings, release: async () => undefined };
}

/** The mariadb client restoring each artifact into the database named on its command line. */
export function mySqlRawRestore(files: Partial<Record<Format, string>>): Partial<Record<Format, string>> {
  const out: Partial<Record<Format, string>> = {};
  const client = 'mariadb --defaults-extra-file=<option file with user, password, host> <database>';
  if (files.sql) out.sql = `${client} < ${files.sql}`;
  if (files['sql.gz']) out['sql.gz'] = `gunzip -c ${files['sql.gz']} | ${client}`;
  return out;
}
