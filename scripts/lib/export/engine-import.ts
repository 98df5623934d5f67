/**
 * db:import through an engine that loads exports on its own connection (Engine.csvExport: MySQL,
 * MariaDB): the same confirmation and pre-import safety backup as every import, then the engine's
 * load, whose guarantees it states (the confirmation shows its caveat). Whole exports only for now;
 * with --until, the chain's differentials are linked and opened here and applied by the engine's load.
 */
import { KitError } from '../errors.js';
import type { Target } from '../config/target.js';
import type { CsvExportEngine, Engine } from '../engines/engine.js';
import type { StoreContext } from '../store/environment.js';
import { backup, wholeDatabaseDump } from '../backup/backup.js';
import { confirmRestore, type RestoreSummary, type RestoreUi } from '../restore/restore.js';
import type { ExportSource } from './source.js';
import { openDifferentials, type ImportOptions, type ImportResult } from './import.js';

export async function importThroughEngine(target: Target, options: ImportOptions, ctx: StoreContext, ui: RestoreUi, engine: Engine, csv: CsvExportEngine, source: ExportSource, started: Date, undo: (file: string) => string): Promise<ImportResult> {
  if (options.tables.length) throw new KitError('UNSUPPORTED_MODE', `--table imports are PostgreSQL-only for now; ${target.env} is a ${engine.label} environment. Import the whole export (without --table). Nothing was changed.`);
  const differentials = await openDifferentials(source, options.until);
  try {
    return await importChain(target, options, ctx, ui, csv, source, differentials, started, undo);
  } finally {
    for (const d of differentials) d.close();
  }
}

async function importChain(target: Target, options: ImportOptions, ctx: StoreContext, ui: RestoreUi, csv: CsvExportEngine, source: ExportSource, differentials: ExportSource[], started: Date, undo: (file: string) => string): Promise<ImportResult> {
  const meta = source.metadata;
  const last = differentials.at(-1)?.metadata;
  const summary: RestoreSummary = {
    backup: { id: meta.id, file: source.location, format: 'csv export', database: meta.database.name, takenAt: meta.snapshot.takenAt, bytes: undefined, checksum: 'sha256 of every file checked as it loads', environment: meta.database.environment },
    target: { host: target.host, port: target.port, database: target.database, environment: target.env, protected: target.protected },
    mode: `the target's contents are replaced by the export (schema and data)${last ? `, then ${differentials.length} differentials are applied, up to ${last.id} (taken ${last.chain!.upperBound})` : ''}; ${csv.caveat}`,
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
  await csv.load(target, source, ctx.reporter, ctx.signal, differentials);
  return {
    export: { id: meta.id, location: source.location, database: meta.database.name, takenAt: meta.snapshot.takenAt },
    target: summary.target,
    mode: summary.mode,
    tables: meta.tables.length,
    rows: meta.tables.reduce((n, t) => n + t.rows, 0),
    durationMs: ctx.now().getTime() - started.getTime(),
    safetyBackup: safety,
    undo: safety ? undo(safety.file) : undefined,
    differentials: differentials.map((d) => d.metadata.id),
  };
}
