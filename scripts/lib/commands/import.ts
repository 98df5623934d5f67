/** `db:import` flags and rendering; the work itself is importExport() in export/import.ts. */
import path from 'node:path';
import { listValue, readWait, stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { formatDuration } from '../cli/progress.js';
import { importExport, type ImportOptions, type ImportResult } from '../export/import.js';
import { terminalUi } from './restore.js';

export interface ImportArgs extends CommonArgs, ImportOptions {}

export const importCommand: Command<ImportArgs, ImportResult> = {
  name: 'import',
  synopsis: 'pnpm db:import -- <export directory | .zip | export id> [options]',
  description: `
Loads a db:export back, all-or-nothing: the target's contents are replaced by the export's
schema and rows (or, with --table, only those tables' rows), in one transaction whose row
counts and file checksums are checked before COMMIT. Asks first, and backs the target up
(type pre-import) so the import can be undone.`,
  shared: ['env', 'env-file', 'url', 'no-progress'],
  options: {
    table: { type: 'string', multiple: true, arg: '<pattern>', help: "replace only this table's rows (repeatable); its columns must match" },
    force: { type: 'boolean', help: 'no prompts (CI); a protected target also needs --confirm <database>' },
    confirm: { type: 'string', arg: '<database>', help: "the target database's name, for protected environments" },
    'no-safety-backup': { type: 'boolean', help: 'skip the pre-import backup (refused on protected targets)' },
    until: { type: 'string', arg: '<id | latest>', help: "a differential chain: load the full export given, then apply its differentials up to this one" },
    wait: { type: 'string', arg: '<seconds>', help: 'retry the connection until the server answers' },
  },
  parse(values, positionals, common) {
    const problems: string[] = [];
    if (positionals.length !== 1) problems.push(`Give one export to import (a directory, a .zip or an id), got ${positionals.length ? positionals.join(' ') : 'none'}.`);
    const waitSeconds = readWait(values, problems);
    const until = stringValue(values, 'until');
    if (until !== undefined && listValue(values, 'table').length) problems.push('--until restores a whole chain; it does not go with --table.');
    if (problems.length) throw usageError(problems, 'pnpm db:import --');
    return {
      ...common,
      input: positionals[0]!,
      tables: listValue(values, 'table'),
      force: values.force === true,
      confirm: stringValue(values, 'confirm'),
      safetyBackup: values['no-safety-backup'] !== true,
      waitSeconds,
      until,
    };
  },
  run: (args, ctx) => importExport(ctx.target(args), args, ctx, terminalUi(args.quiet || args.json)),
  render(result) {
    const rel = (p: string) => path.relative(process.cwd(), p) || p;
    const lines = [
      `Imported ${result.export.id} into ${result.target.database} on ${result.target.host}:${result.target.port} in ${formatDuration(result.durationMs)}.`,
      `  ${result.mode}`,
      `  row counts verified for ${result.tables} tables (${result.rows} rows) before commit`,
      ...(result.differentials.length ? [`  then ${result.differentials.length} differentials applied in order, each table's row count checked: ${result.differentials.join(', ')}`] : []),
    ];
    if (result.safetyBackup) lines.push(`  safety backup: ${rel(result.safetyBackup.file)}`);
    if (result.undo) lines.push(`To undo: ${result.undo}`);
    return lines;
  },
  githubOutput: (result) => ({ imported_export: result.export.id, ...(result.safetyBackup ? { safety_backup_id: result.safetyBackup.id } : {}) }),
  logFields: (result) => ({ export: result.export.id, tables: result.tables, rows: result.rows, safetyBackup: result.safetyBackup?.id }),
};
