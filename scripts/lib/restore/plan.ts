/**
 * What a restore will do, decided before anything changes: a pure function of the mode, the
 * backup's tables and recorded row counts, and where the backup comes from. It chooses
 * pg_restore's own options (so pg_restore does what it can itself), the SQL the kit runs first
 * inside the restore's transaction, the checks run before COMMIT, and the row counts each table
 * must then hold.
 */
import { KitError } from '../errors.js';
import type { Format } from '../format/naming.js';
import type { Engine } from '../engines/engine.js';
import { engineFor } from '../engines/registry.js';
import { chooseTables, dataEntryIds, largeObjectOids } from './tables.js';
import type { TocEntry } from './source.js';

export type RestoreMode = 'replace' | 'clean' | 'create' | 'data-only' | 'schema-only';

export interface PlanInput {
  mode: RestoreMode;
  /** --table patterns (pg_dump's syntax: schema.table, "Quoted", * and ?). */
  tables: string[];
  jobs: number | undefined;
  noOwner: boolean;
  withOwner: boolean;
  withPrivileges: boolean;
  /** The backup comes from another environment (owners and privileges may not exist here). */
  crossEnvironment: boolean;
  /** The backup's tables (quotable qualified names) and the rows it recorded for each. */
  archiveTables: string[];
  recordedRows: Record<string, number>;
  /** The archive's table of contents (pg_restore --list); empty for a script. */
  toc: TocEntry[];
  lockTimeoutSeconds: number;
}

export interface RestorePlan {
  /** Restored into a fresh database and swapped in (--jobs, --create). */
  creating: boolean;
  /** pg_restore options for the mode and for ownership; the transaction options are added where it runs. */
  pgRestoreArgs: string[];
  /** Only these archive entries (dump ids), given to pg_restore as a --use-list file. */
  restoreList: number[] | undefined;
  /** SQL run first inside the restore's transaction. */
  prelude: string;
  /** SQL run last, before COMMIT. */
  checks: string;
  /** Rows each table must hold before COMMIT. */
  expectedRows: Record<string, number>;
  /** Tables that must already exist on the target (their data is replaced). */
  mustExist: string[];
  dropOwnership: boolean;
  dropPrivileges: boolean;
}

/** Formats usable for a mode, best first. pg_restore's selective modes need an archive. */
export function formatsFor(options: Pick<PlanInput, 'mode' | 'tables' | 'jobs'>): Format[] {
  if (options.jobs !== undefined) return ['dump'];
  if (options.mode === 'replace' || options.mode === 'create') {
    if (options.tables.length === 0) return ['dump', 'tar', 'sql.gz', 'sql'];
  }
  return ['dump', 'tar'];
}

type ModePart = Pick<RestorePlan, 'pgRestoreArgs' | 'prelude' | 'checks' | 'mustExist'> & { restoreList?: number[]; counted: (table: string) => boolean };

/**
 * --table: the chosen tables' data entries only (never pg_restore's -t, which matches a bare
 * name in any schema), reloaded like --data-only, and their row counts checked.
 */
function tablesPart(input: PlanInput, sql: Engine['restoreSql']): ModePart {
  const chosen = chooseTables(input.archiveTables, input.tables);
  const counted = new Set(chosen);
  return {
    pgRestoreArgs: ['--data-only'],
    restoreList: dataEntryIds(input.toc, input.archiveTables, chosen),
    prelude: sql.emptyTablesForReload(chosen),
    checks: sql.foreignKeyCheck(chosen),
    mustExist: chosen,
    counted: (t) => counted.has(t),
  };
}

/** The mode's own part: pg_restore options, prelude, checks, and which tables count. */
function modePart(input: PlanInput, sql: Engine['restoreSql']): ModePart {
  const all = () => true;
  if (input.tables.length) return tablesPart(input, sql);
  switch (input.mode) {
    case 'data-only': {
      const prelude = [sql.emptyTablesForReload(input.archiveTables), sql.unlinkLargeObjects(largeObjectOids(input.toc))].filter(Boolean).join('\n');
      return { pgRestoreArgs: ['--data-only'], prelude, checks: sql.foreignKeyCheck(input.archiveTables), mustExist: input.archiveTables, counted: all };
    }
    case 'schema-only':
      return { pgRestoreArgs: ['--schema-only'], prelude: sql.emptyDatabase, checks: '', mustExist: [], counted: () => false };
    case 'clean':
      return { pgRestoreArgs: ['--clean', '--if-exists'], prelude: '', checks: '', mustExist: [], counted: all };
    case 'create':
      return { pgRestoreArgs: [], prelude: '', checks: '', mustExist: [], counted: all };
    case 'replace':
      // into a fresh database (--jobs) there is nothing to empty
      return { pgRestoreArgs: [], prelude: input.jobs === undefined ? sql.emptyDatabase : '', checks: '', mustExist: [], counted: all };
  }
}

/** `engine`: the target's, whose SQL the plan runs (the default engine when none is given). */
/**
 * An engine whose DDL commits itself restores only by loading the whole backup into a fresh
 * database and swapping it in: what needs a transaction around part of a database is refused.
 */
export function refuseSwapOnly(input: Pick<PlanInput, 'mode' | 'tables' | 'jobs'> & { withRoles?: boolean | undefined }, engine: Engine): void {
  if (input.withRoles && !engine.restoresRoles) {
    throw new KitError('UNSUPPORTED_MODE', `--with-roles is not available for ${engine.label} databases yet: the kit saves their users and grants in the backup's globals.sql but does not create them. Create the accounts first (mariadb < globals.sql, as its header says), then restore without --with-roles. Nothing was changed.`);
  }
  if (engine.transactionalDdl) return;
  const refused = input.tables.length ? '--table' : input.jobs !== undefined ? '--jobs' : input.mode === 'replace' || input.mode === 'create' ? undefined : `--${input.mode}`;
  if (refused) {
    throw new KitError('UNSUPPORTED_MODE', `${refused} is not available for ${engine.label} databases: their DDL is not transactional, so the kit restores a whole backup into a fresh database and swaps its tables in with one RENAME TABLE, and has no safe way to change only part of a database. Restore the whole backup (without ${refused}). Nothing was changed.`);
  }
}

function swapOnlyPlan(input: PlanInput, engine: Engine): RestorePlan {
  refuseSwapOnly(input, engine);
  return { creating: true, pgRestoreArgs: [], restoreList: undefined, prelude: '', checks: '', expectedRows: { ...input.recordedRows }, mustExist: [], dropOwnership: false, dropPrivileges: false };
}

export function planRestore(input: PlanInput, engine: Engine = engineFor()): RestorePlan {
  if (!engine.transactionalDdl) return swapOnlyPlan(input, engine);
  if (input.mode === 'create' && input.jobs === undefined && input.tables.length) {
    throw new KitError('UNSUPPORTED_MODE', '--create recreates the whole database; it cannot be combined with --table.');
  }
  const part = modePart(input, engine.restoreSql);
  const dropOwnership = input.noOwner || (input.crossEnvironment && !input.withOwner);
  const dropPrivileges = input.crossEnvironment && !input.withPrivileges;
  return {
    creating: input.mode === 'create' || input.jobs !== undefined,
    pgRestoreArgs: [...part.pgRestoreArgs, ...(dropOwnership ? ['--no-owner'] : []), ...(dropPrivileges ? ['--no-privileges'] : [])],
    restoreList: part.restoreList,
    prelude: `SET client_min_messages = warning;\n${engine.lockTimeoutSetting(input.lockTimeoutSeconds)}\n${part.prelude}`,
    checks: part.checks,
    expectedRows: Object.fromEntries(Object.entries(input.recordedRows).filter(([t]) => part.counted(t))),
    mustExist: part.mustExist,
    dropOwnership,
    dropPrivileges,
  };
}

/** For the confirmation: with --table, `tables` are the tables the patterns chose, so `*.log` shows what it means. */
export function describeMode(options: Pick<PlanInput, 'mode' | 'tables' | 'jobs'>): string {
  if (options.tables.length) return `data of ${options.tables.join(', ')} replaced`;
  const base = {
    replace: 'full restore: the target\'s contents are replaced',
    clean: 'the backup\'s objects are dropped and recreated; other objects stay',
    create: 'the database is recreated from the backup',
    'data-only': 'the data of the backup\'s tables is replaced; the schema stays',
    'schema-only': 'the schema is replaced; no data is restored',
  }[options.mode];
  return options.jobs !== undefined ? `${base} (${options.jobs} parallel jobs into a fresh database, swapped in)` : base;
}
