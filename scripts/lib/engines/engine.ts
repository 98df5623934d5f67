/**
 * The engine seam (DESIGN.md point 12, shaped after WAL-G's internal/databases/<engine>/): what a
 * database engine must answer so that backup, restore, verify, export, sql and drop stay
 * engine-blind over the shared store, crypto and retention core. PostgreSQL implements it in
 * engines/postgres/; a second engine (MySQL/MariaDB) is a sibling folder and one registry entry,
 * never a branch in domain code.
 *
 * The connection, a located tool and the server's facts are structural types both engines satisfy
 * (node-postgres's Client and the MySQL client alike); the archive, restore-plan and statistics
 * types are still PostgreSQL's, named here so that the second engine widens them in one place.
 */
import type { KitError } from '../errors.js';
import type { Target } from '../config/target.js';
import type { Readable, Writable } from 'node:stream';
import type { CommandContext, Reporter } from '../context.js';
import type { ExportColumn, ExportMetadata } from '../format/export-metadata.js';
import type { EngineName } from '../format/metadata.js';
import type { Format } from '../format/naming.js';
import type { ExtensionInfo, ServerFlavour } from '../format/metadata.js';
import type { RunningTool, SpawnToolOptions as PgSpawnToolOptions, ToolName as PgToolName } from './postgres/tools.js';
import type { MySqlToolName } from './mysql/tools.js';
import type { DumpStats, ScriptObserver } from './postgres/dump-stats.js';
import type { ScratchOutcome, ScratchRequest } from './postgres/scratch.js';
import type { Statistics } from './statistics.js';
import type { WrittenFile } from './postgres/copy.js';
import type { applyInTransaction, ApplyHooks, ScriptPlan } from './postgres/apply.js';
import type { applyBySwap, repairLeftovers, SwapPlan } from './postgres/swap.js';
import type { ExtensionUse } from './postgres/extensions.js';
import type { readArchiveData, readScript, readToc, RestoreSource, TocEntry } from './postgres/artifacts.js';

export type { EngineName } from '../format/metadata.js';
export type { RunningTool, DumpStats, ScratchOutcome, ScratchRequest, Statistics };

/**
 * A connection to the server, as domain code may use it: a query's rows, and an end. Both
 * node-postgres's Client and the MySQL client (engines/mysql/client.ts) are one.
 */
export interface Client {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows are what the SQL selects; each caller names their shape
  query<Row = any>(sql: string, params?: unknown[]): Promise<{ rows: Row[] }>;
  end(): Promise<void>;
  /** Hears the connection end (server gone, idle timeout); absent where the driver does not say. */
  once?(event: 'end', listener: () => void): unknown;
}

/** A client program of either engine. */
export type ToolName = PgToolName | MySqlToolName;

/** A client program found for a server: where it is, and its version ("17.2"; "10.11.6" for mariadb-dump's server release). */
export interface LocatedTool {
  name: ToolName;
  path: string;
  version: string;
  /** Its major version (PostgreSQL 17; MariaDB 10, MySQL 8). */
  major: number;
}

/** How a tool runs. A MySQL program takes its connection from the target (a private option file), not from env. */
export interface SpawnToolOptions extends PgSpawnToolOptions {
  target?: Target;
}

/** What the kit asks of a server before it works on it. */
export interface ServerFacts {
  versionNum: number;
  version: string;
  /** The major version: PostgreSQL 15; MariaDB 10 (10.11), MySQL 8. */
  major: number;
  databaseSize: number;
  currentUser: string;
  /** Which server of a multi-server engine (MariaDB or MySQL); absent for PostgreSQL. */
  flavour?: ServerFlavour;
  /** The release as major.minor.patch ("10.11.6"), where the version string carries more. */
  release?: string;
}
export type { ApplyHooks, ScriptPlan, SwapPlan, ExtensionUse, RestoreSource, TocEntry };

/** What of a database one backup dumps (the user's --schema/--table/--exclude-table and lock patience). */
export interface DumpScope {
  schemas: string[];
  tables: string[];
  excludeTables: string[];
  /** How long the dump tool waits for each table lock, in the tool's own syntax ("60s"). */
  lockWaitTimeout: string;
}

/** Reads a dump's stream as it is written (pushed through it) for its statistics and completeness. */
export interface StatisticsCollector {
  push(chunk: Buffer): void;
  readonly bytesSeen: number;
  /** Sections (items) seen so far, for progress. */
  readonly items: number;
  finish(): DumpStats;
}

/** The programs one backup runs, located (and judged against the server) before anything is written. */
export interface BackupTools {
  /** The dump program (pg_dump; mariadb-dump). */
  dump: LocatedTool;
  /** The program that dumps the roles, when the engine uses one (pg_dumpall). */
  roles?: LocatedTool | undefined;
  /** Reads a finished archive back for statistics (pg_restore), when asked. */
  archiveReader?: LocatedTool | undefined;
}

/** What every artifact of one backup is read from, held until all of them (and the roles) are. */
export interface BackupSnapshot {
  /** Handed to every dump and recorded in the .info: an exported snapshot, or how the dump program takes its own. */
  id: string;
  /** The server's clock at the snapshot. */
  serverTime?: Date | undefined;
  largeObjects: number;
  /** The extensions the dump creates (undefined: the engine has none). */
  extensions?: ExtensionInfo[] | undefined;
  /** What the person must be told about this backup's consistency (tables the snapshot cannot hold still). */
  warnings: string[];
  /** Lets the snapshot go, once every artifact has been read. */
  release(): Promise<void>;
}

/** The roles (users) a database needs, as the globals artifact holds them. */
export interface RolesDump {
  /** globals.sql as the kit writes it. */
  sql: string;
  /** The roles it holds, sorted (never their passwords). */
  roles: string[];
  /** Whether it carries the roles' password hashes. */
  passwords: boolean;
}

export interface RolesDumpRequest {
  tools: BackupTools;
  /** The backup's own connection (inside its snapshot, where the engine holds one). */
  client: Client;
  target: Target;
  /** The child's environment (childEnv). */
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** A notice for the person (an account that could not be read, say); never a secret in it. */
  notice(message: string): void;
}

/** One format of one backup, dumped from an exported snapshot. */
export interface DumpRequest {
  tool: LocatedTool;
  /** The database dumped: a MySQL program connects through it (a private option file), pg_dump through env. */
  target?: Target;
  format: 'plain' | 'dump' | 'tar';
  snapshot: string;
  scope: DumpScope;
  /** A file the tool writes itself (it may seek in it); without one the dump streams to stdout. */
  file?: string | undefined;
  /** The child's environment (childEnv: the connection, the password only here). */
  env: NodeJS.ProcessEnv;
}

/** How an engine's SQL is lexed and judged by db:sql's guard (sql/classify.ts holds each dialect's rules). */
export type SqlDialectName = 'postgresql' | 'mysql';

/** One statement db:sql runs, already classified and allowed by its guard. */
export interface SqlStatement {
  text: string;
  /** First word, upper-case. */
  command: string;
  /** A plain query whose rows can be streamed. */
  cursorable: boolean;
}

export interface SqlRun {
  write: boolean;
  /** Rows kept for display or --json; the rest are counted. */
  keepRows: number;
  /** The last query's rows as CSV here (header row, NULL as an empty unquoted field, '' as ""). */
  csvFile: string | undefined;
  waitSeconds: number;
  /** backup-kit.json's sql.readOnlyRole for the environment, and where it is configured. */
  readOnlyRole: { name: string; where: string } | undefined;
}

export interface SqlOutcome {
  statements: Array<{ command: string; rowCount: number | null }>;
  columns: string[];
  rows: Array<Array<string | null>>;
  totalRows: number;
  truncated: boolean;
  csvFile: string | undefined;
  /** What kept a read-only session from acting outside the database ('statements', or 'statements, role <name>'). */
  guard?: string;
}

/** One table of a table export, as the engine read it in the export's snapshot. */
export interface CsvExportTable {
  schema: string;
  table: string;
  /** Quoted for the statements of a load (`orders`, `app.users`). */
  name: string;
  columns: ExportColumn[];
  /** The server's size estimate, for progress. */
  bytes: number;
  /** The primary key's columns, in key order (none: the table has no primary key). */
  primaryKey: string[];
}

/** A differential's filter: rows whose basis column is at or after the instant `lower`, a zoneless column read in `zone`. */
export interface ChangedSince {
  column: string;
  type: string;
  /** An instant as the chain recorded it (the engine's own text). */
  lower: string;
  zone: string;
}

/**
 * What a differential chain asks of an export's snapshot, on the export's own connection: the next
 * lower bound (read at the snapshot), the zone, counts, and each table's keys in an order the kit
 * itself compares (key-merge.ts), never one the server's collation decides alone.
 */
export interface CsvChainReader {
  /** The column types a basis column may have, and how a refusal names them. */
  basisTypes: { accepts(type: string): boolean; named: string };
  /** The next differential's lower bound: the earlier of the snapshot's clock and the oldest write then running. */
  nextLowerBound: string;
  /** The zone basis columns without a zone are read in: `configured`, else the server's own. */
  timeZone(configured: string | undefined): Promise<string>;
  countRows(table: CsvExportTable, since?: ChangedSince): Promise<number>;
  /** The table's primary keys (of the changed rows only, with `since`) as CSV in the chain's key order. */
  writeKeys(table: CsvExportTable, sink: Writable, signal: AbortSignal, since?: ChangedSince): Promise<{ rows: number; bytes: number; sha256: string }>;
  /** How the kit compares two keys of the table as writeKeys writes them; one integer column is merged on bytes. */
  keyOrder(table: CsvExportTable): { compare(a: string[], b: string[]): number; oneInteger: boolean };
}

/** An export's snapshot, open on one connection: every table and schema.sql come from it. */
export interface CsvExportSession {
  facts: { version: string; versionNum: number; flavour?: ServerFlavour };
  snapshot: { id: string; takenAt: string };
  /** The session settings values were read in (metadata.json's settings). */
  settings: Record<string, string>;
  tables: CsvExportTable[];
  /** What the user should know about the snapshot (tables it cannot cover). */
  notices: string[];
  /** One table's rows (with `since`, the changed ones only) as CSV into `sink`, which is ended when done. */
  writeTable(table: CsvExportTable, sink: Writable, signal: AbortSignal, since?: ChangedSince): Promise<{ rows: number; bytes: number; sha256: string }>;
  /** Opened for a differential: what the chain reads in this snapshot. */
  chain: CsvChainReader | undefined;
  /** schema.sql into `sink` (only these tables' when given), with where its post-data part starts. */
  writeSchema(tables: string[] | undefined, sink: Writable, signal: AbortSignal): Promise<{ bytes: number; sha256: string; preDataBytes: number; tool: { path: string; version: string } }>;
  commit(): Promise<void>;
  close(): Promise<void>;
}

/** An export to load: its metadata.json and its files, each opened as it is read. */
export interface CsvImportSource {
  location: string;
  metadata: ExportMetadata;
  open(file: string): Promise<Readable>;
}

/**
 * db:export and db:import for an engine whose tables are read and loaded through the kit's own
 * connection (MySQL/MariaDB). PostgreSQL answers undefined: its exports go through psql's COPY,
 * in ranges and jobs, with differentials and large objects (export/export.ts, export/load.ts).
 */
export interface CsvExportEngine {
  open(target: Target, waitSeconds: number, onRetry: ((attempt: number, error: KitError) => void) | undefined, signal: AbortSignal, options?: { differential: boolean }): Promise<CsvExportSession>;
  /**
   * A whole export loaded into the target, with the engine's guarantees (its file says which);
   * then, in the rows' transaction, each differential of its chain in order (deleted keys, changed
   * rows upserted by primary key, each table's row count checked before COMMIT).
   */
  load(target: Target, source: CsvImportSource, reporter: Reporter, signal: AbortSignal, differentials?: CsvImportSource[]): Promise<void>;
  /** What a load cannot undo by itself, for the confirmation (MySQL: DDL commits at once). */
  caveat: string;
}

/** db:drop's hold on a database: what is in it, then everything dropped. */
export interface DropSession {
  /** What the database holds, in one line for the summary shown before anything is dropped. */
  contents(): Promise<string>;
  /** Drop every user object: what went, and what the user may not drop. */
  empty(signal: AbortSignal, lockTimeoutSeconds: number): Promise<{ dropped: string[]; notDropped: string[] }>;
  /** Undo what an unfinished empty() left open (a transaction), if anything. */
  abandon(): Promise<void>;
  close(): Promise<void>;
}

/** applyBySwap's arguments, its admin connection any Client (the engine is handed back one of its own). */
type SwapArguments = Parameters<typeof applyBySwap> extends [infer A, infer B, infer C, infer D, infer E, Client, ...infer Rest] ? [A, B, C, D, E, Client, ...Rest] : never;

export interface Engine {
  readonly name: EngineName;
  /** As people write it: "PostgreSQL". */
  readonly label: string;

  // Targets: parsing a connection URL, showing one without its secret, handing it to a child.
  targetFromUrl(url: string, source: string, env: string): Target;
  describeTarget(target: Target): string;
  /** The child's environment carrying the connection (the password travels only here). */
  childEnv(target: Target, base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;

  // The server.
  connect(target: Target): Promise<Client>;
  connectWithWait(target: Target, waitSeconds: number, onRetry?: (attempt: number, error: KitError) => void, signal?: AbortSignal): Promise<Client>;
  serverFacts(client: Client): Promise<ServerFacts>;
  /** A failed run that was really the server going away, said so; undefined when it was not. */
  serverGone(error: unknown, target: Target, during?: string, after?: string): Promise<KitError | undefined>;

  // Tools: a client program whose version fits the server, run with argument arrays. Given the
  // server's facts rather than its major version, an engine can judge the fit more finely
  // (MariaDB's major.minor); PostgreSQL needs the major only.
  locateTool(name: ToolName, server: number | ServerFacts, env?: NodeJS.ProcessEnv): Promise<LocatedTool>;
  spawnTool(tool: LocatedTool, args: string[], options: SpawnToolOptions): RunningTool;

  // Backup: the formats this engine writes, the programs and snapshot a backup needs, its roles.
  /** The backup formats this engine writes (--format names). */
  readonly formats: readonly Format[];
  /** The format of the backups the kit takes on its own account (before a restore, a drop, a migration). */
  readonly ownFormat: Format;
  /** Refuses, before anything is written, a scope the engine cannot dump (MySQL: --schema). */
  checkBackupScope(scope: Pick<DumpScope, 'tables' | 'excludeTables' | 'schemas'>, database: string): void;
  backupTools(facts: ServerFacts, archiveStats: boolean, env: NodeJS.ProcessEnv): Promise<BackupTools>;
  /** Opens the snapshot of one backup on the kit's connection; `scope` is the backup's. */
  openBackupSnapshot(client: Client, scope: Pick<DumpScope, 'tables' | 'excludeTables' | 'schemas'>, target: Target): Promise<BackupSnapshot>;
  /** The roles the database needs, for the globals artifact. */
  dumpRoles(request: RolesDumpRequest): Promise<RolesDump>;
  /** The commands that restore each artifact on a machine without the kit, after the kit's own. */
  rawRestoreCommands(files: Partial<Record<Format, string>>): Partial<Record<Format, string>>;
  /** A backup's globals artifact read through: how many accounts it creates, or what is wrong with it. */
  checkRolesScript(text: string): { accounts: number; problem?: string };
  /** Whether `db:restore --with-roles` can create this engine's accounts from its globals artifact. */
  readonly restoresRoles: boolean;

  // Dump and statistics: what a backup's producer writes, read as the engine's tools write it.
  /** The dump tool writing one format of a snapshot; a failure is said in the kit's words. */
  dump(request: DumpRequest): RunningTool;
  readonly fingerprintAlgorithm: string;
  /** Statistics (row counts, fingerprints, sequences) of a dump stream pushed through it. */
  statisticsCollector(observer?: ScriptObserver): StatisticsCollector;
  statisticsOf(running: { child: RunningTool['child']; done: Promise<void> }, signal?: AbortSignal): Promise<{ stats: DumpStats; items: number }>;
  /** Every difference between recorded statistics and a restored copy's. */
  compareStatistics(expected: Statistics, actual: Statistics): string[];

  // Restore: apply an artifact into a database, in one transaction or into a scratch database
  // swapped in by rename; and repair what a killed swap left behind.
  restoreInTransaction(
    target: Target,
    source: RestoreSource,
    plan: ScriptPlan,
    tools: Parameters<typeof applyInTransaction>[3],
    env: NodeJS.ProcessEnv,
    reporter: Parameters<typeof applyInTransaction>[5],
    signal: AbortSignal,
    hooks?: Omit<ApplyHooks, 'connection'> & { connection?: Client | undefined },
  ): Promise<void>;
  /**
   * DDL inside a transaction rolls back with it (PostgreSQL). Where it does not (MySQL), a restore
   * can never be one transaction: it always loads a fresh database and swaps it in.
   */
  readonly transactionalDdl: boolean;
  /** The client program that runs a plain SQL script into a database (psql, mariadb). */
  readonly scriptClient: ToolName;
  restoreBySwap(...args: SwapArguments): ReturnType<typeof applyBySwap>;
  /** The database a connection is in ("" for none). */
  currentDatabase(client: Client): Promise<string>;
  /** Planner statistics for restored data (PostgreSQL's ANALYZE); a failure is the caller's to report. */
  refreshPlannerStatistics(client: Client): Promise<void>;
  /** Cleans up what killed runs left on the server, through `client` when given (one of this engine's). */
  repairLeftovers(target: Target, notice: (message: string) => void, client?: Client): ReturnType<typeof repairLeftovers>;
  /** A connection to the server's own database (not the target), for a swap that renames the target. */
  adminConnection(target: Target): Promise<Client>;
  /** Refuses, before anything changes, a backup whose extensions the server cannot install. */
  checkExtensionsAvailable(client: Client, needed: ExtensionUse[], server: string, serverMajor: number): Promise<void>;
  /** The SQL a restore plan runs inside its transaction: emptying first, checks before COMMIT. */
  readonly restoreSql: {
    readonly emptyDatabase: string;
    emptyTablesForReload(tables: string[]): string;
    unlinkLargeObjects(oids: string[]): string;
    foreignKeyCheck(tables: string[]): string;
  };

  // Artifacts: an archive's table of contents and data, a script read to its end, and in words how it ends.
  readToc: typeof readToc;
  readArchiveData: typeof readArchiveData;
  readScript: typeof readScript;
  /** Where a script that is not whole stopped, in words (each engine's stats say it their way). */
  howScriptEnds(stats: Pick<DumpStats, 'bytes' | 'ending'>): string;

  // Verify: an artifact read back to its end (the middle tier), and the one way deep verify restores.
  readBack(name: string, format: Format, file: string, serverMajor: number, env: NodeJS.ProcessEnv): Promise<{ checks: string[]; problem?: string }>;
  restoreIntoScratch(request: ScratchRequest): Promise<ScratchOutcome>;

  // Export/import plumbing: a query's rows as CSV, and the session settings every load runs with.
  /** Table exports read and loaded through the kit's connection; undefined where export/ drives psql's COPY. */
  readonly csvExport: CsvExportEngine | undefined;
  copyToFile(tool: LocatedTool, env: NodeJS.ProcessEnv, snapshotId: string | undefined, copyTarget: string, file: string, signal: AbortSignal): Promise<WrittenFile & { rows: number }>;
  sessionSettingsSql(): string;
  quoteIdentifier(name: string): string;

  // db:sql: statements the guard allowed, run in one transaction of the kit's (read-only unless write).
  readonly sqlDialect: SqlDialectName;
  /** The database's tables and columns, quoted as SQL names them, for the console's completion. */
  completionNames(target: Target): Promise<{ tables: string[]; columns: string[] }>;
  runStatements(target: Target, statements: SqlStatement[], run: SqlRun, ctx: CommandContext): Promise<SqlOutcome>;

  // Emptying a database (drop, restore's clean mode) and bounding its lock waits.
  /** db:drop: a connection to the target that can say what it holds and drop it all (one transaction where the engine can). */
  openDrop(target: Target, waitSeconds: number, signal: AbortSignal): Promise<DropSession>;
  readonly emptyDatabaseSql: string;
  /** Drop every user object in one transaction: what went, and what the user may not drop. */
  emptyDatabase(client: Client, signal: AbortSignal, lockTimeoutSeconds: number): Promise<{ dropped: string[]; notDropped: string[] }>;
  readonly defaultLockTimeoutSeconds: number;
  lockTimeoutSetting(seconds: number): string;
  isLockTimeout(message: string): boolean;
  lockTimeoutError(target: Target, during: string, seconds: number, afterwards: string): Promise<KitError>;
}

/**
 * What an engine says about environments rather than about one backup: how sync knows two
 * environments are one database, how a sync's source is opened read-only, and whether the
 * engine has physical backups. Kept beside Engine (registry.ts's environmentOf) until the MySQL
 * engine's facade takes these members itself; both engines answer every one.
 */
export interface EngineEnvironment {
  /**
   * The target opened so that nothing the kit or the engine's programs run there can write
   * (PostgreSQL: default_transaction_read_only for every session). A MySQL backup only reads by
   * construction (mariadb-dump's consistent-snapshot transaction and the kit's SELECTs), and its
   * programs take no per-session setting from the target, so the target comes back as it is.
   */
  readOnly(target: Target): Target;
  /** One database on one server, as the server sees it: equal for two targets only when they reach the same database. */
  databaseIdentity(client: Client): Promise<string>;
  /** Physical backups (a base backup with archived WAL, point-in-time recovery) exist for this engine. */
  readonly physicalBackups: boolean;
  /** The client programs the kit runs for this engine's databases, as db:deps checks them. */
  readonly clientTools: readonly ToolName[];
  /** Every copy of one of them the kit would consider, in the order it considers them (db:deps lists them). */
  toolCopies(name: ToolName, env: NodeJS.ProcessEnv): Promise<ToolCopy[]>;
  /**
   * The package that brings them, as apt and brew name it, when it is one package whatever the
   * server's version (MySQL/MariaDB); absent where it is per major version (PostgreSQL's
   * postgresql-client-<major>, which db:deps plans from each server's major).
   */
  readonly clientPackage?: { apt: string; brew: string; label: string };
}

/** One copy of a client program on this machine. */
export interface ToolCopy {
  path: string;
  version: string;
  major: number;
}
