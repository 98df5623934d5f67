/**
 * MySQL and MariaDB behind the engine seam: one engine for both servers (the .info records which
 * one as database.flavour). A thin facade over this folder: the mysql2 client, the client
 * programs run with a private option file, mariadb-dump's SQL.
 *
 * Some members of the seam belong to PostgreSQL's archive formats (a .dump's table of contents,
 * its data read back through pg_restore): a MySQL backup is never one, so they refuse, naming why.
 * Members this engine does not serve yet refuse the same way, before anything has changed.
 */
import { KitError } from '../../errors.js';
import { childEnv, describeTarget, targetFromUrl, type Target } from '../../config/target.js';
import type { Client, Engine } from '../engine.js';
import { compareStatistics } from '../statistics.js';
import { connectMySql, connectMySqlWithWait, mySqlServerFacts, mySqlServerGone } from './connect.js';
import { locateMySqlProgram, spawnMySqlTool } from './engine-tools.js';
import { mySqlDumpArgs, startMySqlDump } from './dump.js';
import { mySqlBackupTools, mySqlRawRestore, openMySqlBackupSnapshot } from './backup.js';
import { checkMySqlRoles, dumpMySqlRoles } from './roles.js';
import { quoteMySqlIdentifier } from './quote.js';
import { mySqlCompletionNames, runMySqlStatements } from './sql.js';
import { openMySqlDrop } from './drop.js';
import { mySqlCsvExport } from './csv-export.js';
import { mySqlReadBack, mySqlRepairLeftovers, mySqlRestoreBySwap, mySqlRestoreIntoScratch } from './restore.js';
import { howMySqlScriptEnds, MYSQL_FINGERPRINT_ALGORITHM, MySqlDumpStatsCollector, mysqlStatsFromProcess, readMySqlScript } from './script.js';

/** A member of the seam that belongs to PostgreSQL's archives, which a MySQL backup never is. */
function archiveOnly(what: string): never {
  throw new KitError('UNSUPPORTED_MODE', `${what} belongs to PostgreSQL's archive formats (.dump, .tar); a MySQL/MariaDB backup is an SQL script (.sql, .sql.gz), so there is none to read.`);
}

/** A member this engine does not serve yet: refused before anything changed. */
function notYet(what: string): never {
  throw new KitError('UNSUPPORTED_MODE', `${what} is not available for MySQL/MariaDB databases in this version of the kit. Nothing was changed.`);
}

const LOCK_TIMEOUT = /Lock wait timeout exceeded|lock_wait_timeout/i;

export const mysqlEngine: Engine = {
  name: 'mysql',
  label: 'MySQL/MariaDB',
  targetFromUrl,
  describeTarget,
  childEnv,
  connect: connectMySql,
  connectWithWait: connectMySqlWithWait,
  serverFacts: mySqlServerFacts,
  serverGone: mySqlServerGone,
  locateTool: locateMySqlProgram,
  spawnTool: spawnMySqlTool,
  formats: ['sql', 'sql.gz'],
  ownFormat: 'sql.gz',
  checkBackupScope: (scope, database) => void mySqlDumpArgs(database, scope),
  backupTools: mySqlBackupTools,
  openBackupSnapshot: openMySqlBackupSnapshot,
  dumpRoles: dumpMySqlRoles,
  rawRestoreCommands: mySqlRawRestore,
  checkRolesScript: checkMySqlRoles,
  restoresRoles: false,
  dump: startMySqlDump,
  fingerprintAlgorithm: MYSQL_FINGERPRINT_ALGORITHM,
  statisticsCollector: (observer) => {
    // The seam's observer is PostgreSQL's (its statements are psql's); this engine's differs.
    if (observer) throw new KitError('INTERNAL', 'The MySQL/MariaDB statistics collector takes no PostgreSQL script observer.');
    return new MySqlDumpStatsCollector();
  },
  statisticsOf: mysqlStatsFromProcess,
  compareStatistics,
  restoreInTransaction: () => notYet('Restoring'),
  // DDL commits itself here: every restore loads a scratch database and swaps it in (swap.ts).
  scriptClient: 'mariadb',
  transactionalDdl: false,
  restoreBySwap: mySqlRestoreBySwap,
  repairLeftovers: mySqlRepairLeftovers,
  currentDatabase: async (client: Client) => (await client.query<{ d: string | null }>('SELECT DATABASE() AS d')).rows[0]?.d ?? '',
  // InnoDB recalculates persistent statistics itself once a tenth of a table has changed, as a restore's load does.
  refreshPlannerStatistics: async () => undefined,
  adminConnection: (target: Target) => connectMySql({ ...target, database: '' }),
  // MySQL has no extensions: nothing a backup needs can be missing.
  checkExtensionsAvailable: async () => undefined,
  restoreSql: {
    get emptyDatabase(): string {
      return notYet('Restoring');
    },
    emptyTablesForReload: () => notYet('Restoring'),
    unlinkLargeObjects: () => archiveOnly('Large objects'),
    foreignKeyCheck: () => notYet('Restoring'),
  },
  readToc: () => archiveOnly('A table of contents'),
  readArchiveData: () => archiveOnly('Archive data'),
  readScript: (file, gzipped, options) => readMySqlScript(file, gzipped, { ...(options?.hash !== undefined ? { hash: options.hash } : {}) }),
  howScriptEnds: howMySqlScriptEnds,
  readBack: mySqlReadBack,
  restoreIntoScratch: mySqlRestoreIntoScratch,
  copyToFile: () => notYet('Exporting through psql'),
  csvExport: mySqlCsvExport,
  sessionSettingsSql: () => notYet('Exporting'),
  quoteIdentifier: quoteMySqlIdentifier,
  get emptyDatabaseSql(): string {
    return notYet('Emptying a database');
  },
  emptyDatabase: () => notYet('Emptying a database'),
  openDrop: openMySqlDrop,
  sqlDialect: 'mysql',
  runStatements: runMySqlStatements,
  completionNames: mySqlCompletionNames,
  defaultLockTimeoutSeconds: 60,
  lockTimeoutSetting: (seconds: number) => `SET SESSION lock_wait_timeout = ${Math.max(1, Math.round(seconds))}`,
  isLockTimeout: (message: string) => LOCK_TIMEOUT.test(message),
  lockTimeoutError: async (target: Target, during: string, seconds: number, afterwards: string) =>
    new KitError('LOCK_TIMEOUT', `The ${during} waited ${seconds}s for a table lock on ${describeTarget(target)} and gave up: another session holds it (often a migration or ALTER TABLE). ${afterwards} Retry when it has finished, or raise --lock-timeout.`),
};
