/**
 * PostgreSQL behind the engine seam: a thin facade over the modules of this folder, which hold
 * everything PostgreSQL-specific (libpq targets, pg_dump/pg_restore/psql, COPY, pg_dump's SQL).
 */
import { childEnv, describeTarget, targetFromUrl } from '../../config/target.js';
import type { Client, Engine } from '../engine.js';
import { compareStatistics } from '../statistics.js';
import { connect, connectWithWait, serverFacts } from './connect.js';
import { locateTool, spawnTool, type ToolName } from './tools.js';
import { KitError } from '../../errors.js';
import { DumpStatsCollector, FINGERPRINT_ALGORITHM, statsFromProcess } from './dump-stats.js';
import { readBack, restoreIntoScratch } from './scratch.js';
import { copyToFile } from './copy.js';
import { startDump } from './dump.js';
import { applyInTransaction } from './apply.js';
import { adminConnection, applyBySwap, repairLeftovers } from './swap.js';
import { checkExtensionsAvailable } from './extensions.js';
import { howScriptEnds, readArchiveData, readScript, readToc } from './artifacts.js';
import { sessionSettingsSql } from './snapshot.js';
import { ident } from './quote.js';
import { EMPTY_DATABASE, EMPTY_DATABASE_FUNCTION, emptyTablesForReload, foreignKeyCheck, unlinkLargeObjects } from './restore-sql.js';
import { emptyDatabase, openDrop } from './empty-database.js';
import { DEFAULT_LOCK_TIMEOUT_SECONDS, isLockTimeout, lockTimeoutError, lockTimeoutSetting } from './locks.js';
import { serverGoneError } from './server-gone.js';
import { completionNames, runStatements } from './sql.js';
import { backupTools, dumpPostgresRoles, openBackupSnapshot } from './backup.js';
import { checkPostgresRoles } from './roles.js';
import { FORMATS } from '../../format/naming.js';
import { postgresRawRestore } from '../../format/metadata.js';

const PG_TOOLS: readonly string[] = ['pg_dump', 'pg_dumpall', 'pg_restore', 'psql'] satisfies ToolName[];

/** A program name asked of this engine is one of PostgreSQL's: another engine's is a bug, said so. */
function ownTool(name: string): ToolName {
  if (!PG_TOOLS.includes(name)) throw new KitError('INTERNAL', `The PostgreSQL engine has no program ${name}.`);
  return name as ToolName;
}

export const postgresEngine: Engine = {
  name: 'postgresql',
  label: 'PostgreSQL',
  targetFromUrl,
  describeTarget,
  childEnv,
  connect,
  connectWithWait,
  serverFacts,
  serverGone: serverGoneError,
  locateTool: (name, server, env) => locateTool(ownTool(name), typeof server === 'number' ? server : server.major, env),
  spawnTool,
  formats: FORMATS,
  ownFormat: 'dump',
  checkBackupScope: () => undefined,
  backupTools,
  openBackupSnapshot,
  dumpRoles: dumpPostgresRoles,
  rawRestoreCommands: postgresRawRestore,
  checkRolesScript: checkPostgresRoles,
  restoresRoles: true,
  dump: startDump,
  fingerprintAlgorithm: FINGERPRINT_ALGORITHM,
  statisticsCollector: (observer) => new DumpStatsCollector(observer),
  statisticsOf: statsFromProcess,
  compareStatistics,
  restoreInTransaction: applyInTransaction,
  scriptClient: 'psql',
  transactionalDdl: true,
  restoreBySwap: applyBySwap,
  repairLeftovers,
  currentDatabase: async (client: Client) => (await client.query<{ d: string }>('SELECT current_database() AS d')).rows[0]!.d,
  refreshPlannerStatistics: async (client: Client) => {
    await client.query('ANALYZE');
  },
  adminConnection,
  checkExtensionsAvailable,
  restoreSql: { emptyDatabase: EMPTY_DATABASE, emptyTablesForReload, unlinkLargeObjects, foreignKeyCheck },
  readToc,
  readArchiveData,
  readScript,
  howScriptEnds,
  readBack,
  restoreIntoScratch,
  copyToFile,
  // db:export drives psql's COPY itself (ranges, jobs, differentials, large objects): export/export.ts
  csvExport: undefined,
  sessionSettingsSql,
  quoteIdentifier: ident,
  sqlDialect: 'postgresql',
  runStatements,
  completionNames,
  emptyDatabaseSql: EMPTY_DATABASE_FUNCTION,
  emptyDatabase,
  openDrop,
  defaultLockTimeoutSeconds: DEFAULT_LOCK_TIMEOUT_SECONDS,
  lockTimeoutSetting,
  isLockTimeout,
  lockTimeoutError,
};
