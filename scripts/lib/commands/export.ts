/** `db:export` flags and rendering; the work itself is exportTables() in export/export.ts. */
import path from 'node:path';
import { listValue, readWait, stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { formatDuration } from '../cli/progress.js';
import { formatBytes } from '../text/units.js';
import { exportTables, type ExportOptions, type ExportResult } from '../export/export.js';

export interface ExportArgs extends CommonArgs, ExportOptions {}

export const exportCommand: Command<ExportArgs, ExportResult> = {
  name: 'export',
  synopsis: 'pnpm db:export -- [options]',
  description: `
Exports tables as CSV files any tool opens (data/<schema>.<table>.csv, with a header row),
plus schema.sql and metadata.json, all from one snapshot, into backups/<env>/backup_export_<time>/
(or one backup_export_<time>.zip): a catalog entry like any backup, listed by db:list, checked by
db:verify, pruned by db:retention and uploaded when a remote is configured.
Load it back with: pnpm db:import -- <export id | directory | .zip>`,
  shared: ['env', 'env-file', 'url', 'no-progress'],
  options: {
    table: { type: 'string', multiple: true, arg: '<pattern>', help: "only these tables (repeatable; pg_dump's pattern syntax)" },
    schema: { type: 'string', multiple: true, arg: '<pattern>', help: 'only the tables of these schemas (repeatable)' },
    'exclude-table': { type: 'string', multiple: true, arg: '<pattern>', help: 'leave these tables out (repeatable)' },
    jobs: { type: 'string', arg: '<n>', help: 'tables exported at the same time (default 4)' },
    zip: { type: 'boolean', help: 'write one <id>.zip instead of a directory' },
    differential: { type: 'boolean', help: "only rows changed since the chain's previous export, plus deleted keys (a full export starts the chain)" },
    'skip-unsuitable': { type: 'boolean', help: 'with --differential: export tables without a timestamp basis column or primary key in full' },
    'new-chain': { type: 'boolean', help: 'with --differential: take a full export that starts a new chain' },
    wait: { type: 'string', arg: '<seconds>', help: 'retry the connection until the server answers' },
  },
  parse(values, positionals, common) {
    const problems: string[] = [];
    if (positionals.length) problems.push(`db:export takes no arguments, got: ${positionals.join(' ')}.`);
    const jobsText = stringValue(values, 'jobs') ?? '4';
    const jobs = Number(jobsText);
    if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) problems.push(`--jobs takes a whole number from 1 to 64, got "${jobsText}".`);
    const waitSeconds = readWait(values, problems);
    const differential = values.differential === true;
    for (const flag of ['skip-unsuitable', 'new-chain']) if (values[flag] === true && !differential) problems.push(`--${flag} only goes with --differential.`);
    if (problems.length) throw usageError(problems, 'pnpm db:export --');
    return {
      ...common,
      tables: listValue(values, 'table'),
      schemas: listValue(values, 'schema'),
      excludeTables: listValue(values, 'exclude-table'),
      jobs,
      zip: values.zip === true,
      waitSeconds,
      differential,
      skipUnsuitable: values['skip-unsuitable'] === true,
      newChain: values['new-chain'] === true,
    };
  },
  run: (args, ctx) => exportTables(ctx.target(args), args, ctx),
  render(result) {
    const rel = path.relative(process.cwd(), result.path) || result.path;
    const chain = result.chain;
    if (chain && chain.position > 0) {
      return [
        `Differential export ${chain.position} of the chain of ${chain.base}: ${chain.changedRows} changed rows and ${chain.deletedRows} deleted keys over ${result.tables} tables, in ${formatDuration(result.durationMs)}.`,
        `  ${rel}`,
        `Restore the chain up to it with: pnpm db:import -- ${chain.base} --until ${result.id}${result.environment !== 'default' ? ` --env ${result.environment}` : ''}`,
      ];
    }
    return [
      ...(chain ? [`Full export that starts a differential chain (${chain.reason}).`] : []),
      `Exported ${result.tables} tables (${result.rows} rows, ${formatBytes(result.bytes)}) from ${result.database.name} in ${formatDuration(result.durationMs)}.`,
      `  ${rel}`,
      `Load it back with: pnpm db:import -- ${rel}${result.environment !== 'default' ? ` --env ${result.environment}` : ''}`,
    ];
  },
  githubOutput: (result) => ({ export_id: result.id, export_path: result.path }),
  logFields: (result) => ({ export: result.id, tables: result.tables, rows: result.rows, bytes: result.bytes }),
};
