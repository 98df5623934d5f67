/**
 * Deep verification's one way into MySQL/MariaDB: a backup's script restored into a database that
 * exists only for this (`<db>_kit_verify_<stamp>`, marked as this process's), dumped again with
 * mariadb-dump for its statistics, and dropped whatever happens. A run killed outright leaves the
 * marked database for the next run's repairLeftovers, which drops it.
 */
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import type { Reporter } from '../../context.js';
import type { RunningProcess } from '../../proc/process.js';
import { openMySql, type MySqlClient } from './client.js';
import { loadScript, type ScriptFile } from './load.js';
import { createMarkedDatabase, dropKitDatabase, kitDatabaseName, quoteName } from './marker.js';
import { baseTables } from './objects.js';
import { repairLeftovers } from './swap.js';
import { locateMySqlTool, startMySqlTool } from './tools.js';

export interface MySqlScratchRequest {
  /** The server the scratch database is made on (its `database` is not used). */
  server: Target;
  /** The backed-up database's name, which the scratch database's name starts with. */
  database: string;
  source: ScriptFile;
  /** Unique per run, in a database name's characters. */
  stamp: string;
  reporter: Reporter;
  signal: AbortSignal;
}

/** What loaded into the scratch database (its rows by COUNT(*), and the re-dump's statistics), or why it did not load. */
export type MySqlScratchOutcome<S> = { restored: true; rows: Record<string, number>; stats: S } | { restored: false; problem: string };

/** The options of the kit's own backups, so the re-dump reads the copy as the backup read the source. */
export const REDUMP_ARGS = ['--single-transaction', '--routines', '--triggers', '--events', '--hex-blob', '--default-character-set=utf8mb4'] as const;

async function countRows(client: MySqlClient, database: string): Promise<Record<string, number>> {
  const rows: Record<string, number> = {};
  for (const table of await baseTables(client, database)) {
    const { rows: counted } = await client.query<{ n: string | number }>(`SELECT COUNT(*) AS n FROM ${quoteName(database)}.${quoteName(table)}`);
    rows[table] = Number(counted[0]!.n);
  }
  return rows;
}

function cannotCreate(server: Target, error: unknown): never {
  const code = (error as { code?: string }).code;
  if (code !== 'ER_DBACCESS_DENIED_ERROR' && code !== 'ER_ACCESS_DENIED_ERROR') throw error;
  throw new KitError('NO_CREATEDB', `--deep restores the backup into a scratch database on ${server.host}:${server.port}, and ${server.user} may not create databases (${(error as Error).message}). Grant it (GRANT CREATE, DROP ON *.* TO …), or set VERIFY_DATABASE_URL to a server where it may. The quick checks ran; nothing was changed.`);
}

/**
 * Restore the script into a fresh scratch database, count its rows, and hand mariadb-dump's
 * re-dump of it to `statisticsOf` (which reads the child's stdout to its end); then drop it.
 */
export async function restoreIntoScratch<S>(request: MySqlScratchRequest, statisticsOf: (dump: RunningProcess) => Promise<S>): Promise<MySqlScratchOutcome<S>> {
  const { server, reporter, signal } = request;
  const notice = (message: string) => reporter.notice(message);
  await repairLeftovers(server, notice);
  const client = await openMySql({ ...server, database: '' });
  const scratch = kitDatabaseName(request.database, 'kit_verify', request.stamp);
  try {
    await createMarkedDatabase(client, scratch, 'verification of', request.database, { exists: false, charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci' }).catch((error: unknown) => cannotCreate(server, error));
    reporter.progress({ phase: `restoring into ${scratch}`, bytes: 0 });
    try {
      await loadScript(server, scratch, request.source, signal, `Restoring into ${scratch}`);
    } catch (error) {
      signal.throwIfAborted();
      return { restored: false, problem: error instanceof Error ? error.message : String(error) };
    }
    const rows = await countRows(client, scratch);
    reporter.progress({ phase: `reading ${scratch} back`, bytes: 0 });
    const dump = startMySqlTool(await locateMySqlTool('mariadb-dump'), server, [...REDUMP_ARGS, scratch], { failure: 'RESTORE_FAILED', signal, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      return { restored: true, rows, stats: await statisticsOf(dump) };
    } catch (error) {
      // The dump's transaction would hold the scratch database's tables against the drop below.
      dump.stop();
      await dump.done.catch(() => undefined);
      throw error;
    }
  } finally {
    const failure = await dropKitDatabase(client, scratch);
    if (failure) notice(`could not drop the scratch database ${scratch} (${failure}); the next kit run on this host drops it, or run: DROP DATABASE ${quoteName(scratch)}`);
    await client.end();
  }
}
