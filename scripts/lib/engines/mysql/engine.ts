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
import type { Engine, LocatedTool, ServerFacts, SpawnToolOptions, ToolName } from '../engine.js';
import { compareStatistics } from '../statistics.js';
import { connectMySql, connectMySqlWithWait, mySqlServerFacts, mySqlServerGone } from './connect.js';
import { locateMySqlTool, startMySqlTool, type MySqlToolName } from './tools.js';
import { mySqlToolOf, type MySqlLocatedTool } from './located.js';
import { dumpToolProblem, majorMinor } from './fit.js';
import { startMySqlDump } from './dump.js';
import { quoteMySqlIdentifier } from './quote.js';
import { mySqlCompletionNames, runMySqlStatements } from './sql.js';
import { openMySqlDrop } from './drop.js';
import { mySqlCsvExport } from './csv-export.js';


const MYSQL_TOOLS: readonly string[] = ['mariadb-dump', 'mariadb'] satisfies MySqlToolName[];

function ownTool(name: ToolName): MySqlToolName {
  if (!MYSQL_TOOLS.includes(name)) throw new KitError('INTERNAL', `The MySQL/MariaDB engine has no program ${name}.`);
  return name as MySqlToolName;
}

/**
 * The program, judged against the server when its facts are given: a dump program older than the
 * server, or of the other flavour, is refused with the package to install.
 */
export async function locateMySqlProgram(name: ToolName, server: number | ServerFacts, env?: NodeJS.ProcessEnv): Promise<MySqlLocatedTool> {
  const tool = await locateMySqlTool(ownTool(name), env);
  if (typeof server !== 'number' && server.flavour && name === 'mariadb-dump') {
    const problem = dumpToolProblem(tool.path, tool, { flavour: server.flavour, release: server.release });
    if (problem) throw new KitError('PG_DUMP_TOO_OLD', problem);
  }
  return { ...tool, version: tool.release ?? tool.versionLine, major: majorMinor(tool.release)?.[0] ?? 0 };
}

function spawnMySqlTool(tool: LocatedTool, args: string[], options: SpawnToolOptions) {
  if (!options.target) throw new KitError('INTERNAL', `${tool.name} needs its target for the connection (a private option file).`);
  const { target, ...rest } = options;
  return startMySqlTool(mySqlToolOf(tool), target, args, rest);
}

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
  dump: startMySqlDump,
  get fingerprintAlgorithm(): string {
    return notYet('Per-table statistics of a MySQL dump');
  },
  statisticsCollector: () => notYet('Per-table statistics of a MySQL dump'),
  statisticsOf: () => notYet('Per-table statistics of a MySQL dump'),
  compareStatistics,
  restoreInTransaction: () => notYet('Restoring'),
  restoreBySwap: () => notYet('Restoring'),
  repairLeftovers: async () => undefined, // nothing of this engine's restores can be left behind yet
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
  readScript: () => notYet('Reading a MySQL dump back'),
  howScriptEnds: () => notYet('Reading a MySQL dump back'),
  readBack: () => notYet('Verifying a MySQL backup'),
  restoreIntoScratch: () => notYet('Verifying a MySQL backup'),
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
