/**
 * db:import: an export loaded back with restore's guarantees. The export is checked first (every
 * listed file present; each file's sha256 checked as it streams), the target's columns compared
 * (--table), then restore's own confirmation (typed database name on protected targets, --force
 * and --confirm without a terminal), restore's safety backup, and one transaction whose row
 * counts are checked before COMMIT.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { KitError } from '../errors.js';
import { childEnv, type Target } from '../config/target.js';
import { connectWithWait, serverFacts, type Client } from '../engines/postgres/connect.js';
import { checkExtensionsAvailable } from '../engines/postgres/extensions.js';
import { locateTool } from '../engines/postgres/tools.js';
import { ensurePrivateDir } from '../store/files.js';
import { backupRoot } from '../context.js';
import type { StoreContext } from '../store/environment.js';
import { stemOf } from '../format/naming.js';
import { restoreCommandLine } from '../text/restore-command.js';
import { pull } from '../offsite/copies.js';
import { backup, wholeDatabaseDump } from '../backup/backup.js';
import { engineFor, engineForTarget } from '../engines/registry.js';
import type { Engine } from '../engines/engine.js';
import { importThroughEngine } from './engine-import.js';
import { confirmRestore, type RestoreSummary, type RestoreUi } from '../restore/restore.js';
import { EMPTY_DATABASE, emptyTablesForReload, foreignKeyCheck } from '../engines/postgres/restore-sql.js';
import type { ExportTable } from '../format/export-metadata.js';
import { openExport, type ExportSource } from './source.js';
import { loadInTransaction, type LoadPlan } from './load.js';
import { selectTables } from './select.js';
import { applyDifferentials, chainUntil, openChain } from './chain-restore.js';
import type { Reporter } from '../context.js';

export interface ImportOptions {
  input: string;
  tables: string[];
  force: boolean;
  confirm: string | undefined;
  safetyBackup: boolean;
  waitSeconds: number;
  /** A differential chain: the full export given, then its differentials up to this id (or "latest"). */
  until: string | undefined;
}

export interface ImportResult {
  export: { id: string; location: string; database: string; takenAt: string };
  target: RestoreSummary['target'];
  mode: string;
  tables: number;
  rows: number;
  durationMs: number;
  safetyBackup: { id: string; file: string } | undefined;
  undo: string | undefined;
  /** --until: the differentials applied after the full export, in order. */
  differentials: string[];
}

/** The columns each chosen table has on the target, against the export's: every difference named. */
export async function columnDifferences(client: Client, tables: ExportTable[]): Promise<string[]> {
  const problems: string[] = [];
  for (const t of tables) {
    const { rows } = await client.query<{ name: string; type: string }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum`,
      [t.name],
    );
    if (rows.length === 0) {
      problems.push(`${t.name} does not exist on the target`);
      continue;
    }
    const missing = t.columns.filter((c) => !rows.some((r) => r.name === c.name)).map((c) => c.name);
    const extra = rows.filter((r) => !t.columns.some((c) => c.name === r.name)).map((r) => r.name);
    const retyped = t.columns.filter((c) => rows.some((r) => r.name === c.name && r.type !== c.type)).map((c) => `${c.name} (${c.type} in the export, ${rows.find((r) => r.name === c.name)!.type} on the target)`);
    const parts = [
      missing.length ? `the export has columns the target lacks: ${missing.join(', ')}` : '',
      extra.length ? `the target has columns the export lacks: ${extra.join(', ')}` : '',
      retyped.length ? `types differ: ${retyped.join(', ')}` : '',
    ].filter(Boolean);
    if (parts.length) problems.push(`${t.name}: ${parts.join('; ')}`);
  }
  return problems;
}

function chooseImportTables(source: ExportSource, wanted: string[]): ExportTable[] {
  if (wanted.length === 0) return source.metadata.tables;
  const { chosen, unmatched } = selectTables(source.metadata.tables, { tables: wanted, schemas: [], excludeTables: [] });
  if (unmatched.length) {
    throw new KitError('MISSING_TABLES', `The export has no table matching ${unmatched.join(', ')} (it has ${source.metadata.tables.map((t) => t.name).join(', ') || 'no tables'}). Nothing was changed.`);
  }
  return chosen;
}

/**
 * Before a partial reload: the tables emptied, except an extension's configuration table, of
 * which only the rows its filter keeps are the user's (and in the export); the extension's own
 * rows stay.
 */
export function emptyForReload(tables: ExportTable[]): string {
  const filtered = tables.filter((t) => t.extensionFilter);
  const whole = emptyTablesForReload(tables.filter((t) => !t.extensionFilter).map((t) => t.name));
  if (filtered.length === 0) return whole;
  const deletes = filtered.map((t) => `DELETE FROM ${t.name} ${t.extensionFilter};`).join('\n');
  return `${whole || 'SET LOCAL session_replication_role = replica;'}\n${deletes}`;
}

function planLoad(tables: ExportTable[], full: boolean, differentials: ExportSource[], reporter: Reporter): LoadPlan {
  const names = tables.map((t) => t.name);
  if (differentials.length) {
    return { tables, full, prelude: EMPTY_DATABASE, checks: foreignKeyCheck(names), after: (stdin) => applyDifferentials(differentials, stdin, reporter) };
  }
  return full
    ? { tables, full, prelude: EMPTY_DATABASE, checks: '' }
    : { tables, full, prelude: emptyForReload(tables), checks: foreignKeyCheck(names) };
}

/** --until: the chain's differentials, opened; a differential given alone is refused. */
export async function openDifferentials(source: ExportSource, until: string | undefined): Promise<ExportSource[]> {
  const chain = source.metadata.chain;
  if (until === undefined) {
    if (chain && chain.position > 0) {
      throw new KitError('CHAIN_BROKEN', `${source.metadata.id} is a differential (${chain.position} of the chain of ${chain.base}): it holds only changed rows. Import its chain: pnpm db:import -- ${chain.base} --until ${source.metadata.id}. Nothing was changed.`);
    }
    return [];
  }
  return openChain(await chainUntil(source, until));
}

/**
 * An export named by its id that only the environment's remote holds is downloaded first, as
 * db:pull does it (every byte proven against its .info, the .info written last), then imported
 * from this machine like any other. With --until, so are the chain's differentials that only the
 * remote holds (each one's .info names its chain's full export), so the chain is whole here.
 */
async function pullWhatOnlyTheRemoteHas(input: string, until: string | undefined, ctx: StoreContext, target: Target, envDir: string): Promise<void> {
  if (stemOf(input) !== input) return;
  const { repository } = ctx.environment(target.env);
  const [local, remote] = [repository.place('local'), repository.place('remote')];
  if (!local || !remote) return;
  const ids: string[] = [];
  if (![path.resolve(ctx.root, input), path.join(envDir, input), path.join(envDir, `${input}.zip`)].some((p) => existsSync(p))) {
    ctx.reporter.notice(`${input} is not on this machine: downloading it from ${remote.where} first (as pnpm db:pull does)`);
    ids.push(input);
  }
  if (until !== undefined) {
    const [here, there] = await Promise.all([local.backups.list(), remote.backups.list()]);
    const ours = new Set(here.complete.map((e) => e.id));
    for (const member of there.complete.filter((e) => e.info.chain?.base === input && !ours.has(e.id))) {
      ctx.reporter.notice(`${member.id}, a differential of ${input}'s chain, is not on this machine: downloading it from ${remote.where} first`);
      ids.push(member.id);
    }
  }
  if (ids.length) await pull(ctx, target.env, ids);
}

export async function importExport(target: Target, options: ImportOptions, ctx: StoreContext, ui: RestoreUi): Promise<ImportResult> {
  const started = ctx.now();
  const envDir = path.join(backupRoot(ctx), target.env);
  await ensurePrivateDir(envDir);
  await pullWhatOnlyTheRemoteHas(options.input, options.until, ctx, target, envDir);
  let client: Client | undefined;
  let source: ExportSource | undefined;
  let differentials: ExportSource[] = [];
  try {
    source = await openExport(options.input, ctx.root, envDir);
    const meta = source.metadata;
    const engine = engineForTarget(target);
    refuseOtherEngine(meta.engine ?? 'postgresql', engine, target);
    if (engine.csvExport) return await importThroughEngine(target, options, ctx, ui, engine, engine.csvExport, source, started, (file) => undoCommand(file, target, ctx.root));
    differentials = await openDifferentials(source, options.until);
    const last = differentials.at(-1)?.metadata;
    const full = options.tables.length === 0;
    const tables = chooseImportTables(source, options.tables);
    client = await connectWithWait(target, options.waitSeconds, (attempt, error) => ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`), ctx.signal);
    const facts = await serverFacts(client);
    if (full) await checkExtensionsAvailable(client, meta.extensions ?? [], `${target.host}:${target.port}`, facts.major);
    if (!full) {
      const problems = await columnDifferences(client, tables);
      if (problems.length) {
        throw new KitError('EXPORT_MISMATCH', `The export's tables do not match the target's:\n  ${problems.join('\n  ')}\nMigrate the target to the export's schema first (or import the whole export into an empty database). Nothing was changed.`);
      }
    }
    const summary: RestoreSummary = {
      backup: { id: meta.id, file: source.location, format: 'csv export', database: meta.database.name, takenAt: meta.snapshot.takenAt, bytes: undefined, checksum: 'sha256 of every file checked as it loads', environment: meta.database.environment },
      target: { host: target.host, port: target.port, database: target.database, environment: target.env, protected: target.protected },
      mode: last
        ? `the target's contents are replaced by the export (schema and data), then ${differentials.length} differentials are applied, up to ${last.id} (taken ${last.chain!.upperBound})`
        : full ? 'the target\'s contents are replaced by the export (schema and data)' : `rows of ${tables.map((t) => t.name).join(', ')} replaced`,
      safetyBackup: options.safetyBackup,
    };
    await confirmRestore(summary, options, target, ui);
    ctx.signal.throwIfAborted();
    let safety: ImportResult['safetyBackup'];
    if (options.safetyBackup) {
      ctx.reporter.progress({ phase: 'safety backup of the target', bytes: 0 });
      const made = await backup(target, wholeDatabaseDump('pre-import', `Before importing ${meta.id}`, { stats: 'auto' }), ctx);
      safety = { id: made.id, file: made.files[0]!.path };
    }
    await client.end();
    client = undefined;
    const psql = await locateTool('psql', facts.major, ctx.env);
    await loadInTransaction(psql, childEnv(target, ctx.env), source, planLoad(tables, full, differentials, ctx.reporter), ctx.reporter, ctx.signal);
    client = await connectWithWait(target, 0);
    await client.query('ANALYZE').catch((error: Error) => ctx.reporter.notice(`ANALYZE failed (${error.message}); run it yourself for good query plans`));
    return {
      export: { id: meta.id, location: source.location, database: meta.database.name, takenAt: meta.snapshot.takenAt },
      target: summary.target,
      mode: summary.mode,
      tables: tables.length,
      rows: tables.reduce((n, t) => n + t.rows, 0),
      durationMs: ctx.now().getTime() - started.getTime(),
      safetyBackup: safety,
      undo: safety ? undoCommand(safety.file, target, ctx.root) : undefined,
      differentials: differentials.map((d) => d.metadata.id),
    };
  } catch (error) {
    throw (await engineForTarget(target).serverGone(error, target, 'import', 'The import\'s transaction was not committed, so the target is unchanged')) ?? error;
  } finally {
    source?.close();
    for (const d of differentials) d.close();
    await client?.end().catch(() => undefined);
  }
}

/** An export is loaded only by the engine that made it: its CSV, types and schema.sql are that engine's. */
function refuseOtherEngine(made: string, engine: Engine, target: Target): void {
  if (made === engine.name) return;
  const label = (() => {
    try {
      return engineFor(made).label;
    } catch {
      return made;
    }
  })();
  throw new KitError('EXPORT_MISMATCH', `This export was taken from a ${label} database and ${target.env} is a ${engine.label} environment: its schema.sql and CSV values are ${label}'s. Import it into a ${label} environment. Nothing was changed.`);
}

function undoCommand(file: string, target: Target, root: string): string {
  return restoreCommandLine({ source: { file }, environment: target.env, force: true, ...(target.protected ? { protectedDatabase: target.database } : {}), root, reach: target.reach });
}
