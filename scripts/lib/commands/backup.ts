/** `db:backup` flags, checks and rendering; the work itself is backup() in backup.ts. */
import path from 'node:path';
import { KitError } from '../errors.js';
import { listValue, readWait, stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { REMOTE_OPTIONS } from '../cli/options.js';
import { formatDuration } from '../cli/progress.js';
import { backup, type BackupOptions, type BackupResult } from '../backup/backup.js';
import { formatBytes } from '../text/units.js';
import { FORMATS, isValidType, parseFormats } from '../format/naming.js';
import { PG_TIMEOUT_MAX_MS } from '../engines/postgres/limits.js';
import { isRemoteLocation } from '../config/remote.js';

export interface BackupArgs extends CommonArgs, BackupOptions {}

const DEFAULT_DESCRIPTIONS: Record<string, string> = {
  manual: 'Manual backup',
  auto: 'Automated backup',
  'pre-migrate': 'Before migrations',
};

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000 };

/**
 * What is wrong with a --lock-wait-timeout, or undefined. pg_dump hands it to the server as a
 * timeout in whole milliseconds: 0 (or less than 1 ms, rounded to 0) means "wait forever", the
 * opposite of what a timeout promises, and more than INT_MAX ms fails inside pg_dump.
 */
export function lockWaitTimeoutProblem(text: string): string | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|min|h)?$/.exec(text);
  if (!m) return `--lock-wait-timeout takes a duration such as 30s, 2min or 5000 (ms), got "${text}".`;
  const ms = Number(m[1]) * DURATION_MS[m[2] ?? 'ms']!;
  if (ms < 1) return `--lock-wait-timeout must be at least 1ms (pg_dump would take 0 as "wait forever"), got "${text}".`;
  if (ms > PG_TIMEOUT_MAX_MS) return `--lock-wait-timeout can be at most ${PG_TIMEOUT_MAX_MS}ms (PostgreSQL's limit, about 596h), got "${text}".`;
  return undefined;
}

export const backupCommand: Command<BackupArgs, BackupResult> = {
  name: 'backup',
  synopsis: 'pnpm db:backup -- [type] [description] [options]',
  description: `
Takes a consistent backup (one snapshot) in every requested format, with checksums and
per-table statistics, into backups/<env>/.

Arguments:
  type                      backup type used in the file name (default: manual); a-z, 0-9, -
  description               free text stored in the .info file`,
  notes: 'Exit status: 0 on success; otherwise see docs/reference/exit-codes.md.',
  shared: ['env', 'env-file', 'url', 'no-progress', ...REMOTE_OPTIONS],
  options: {
    'keep-local': { type: 'boolean', help: 'with a remote: keep the local copy too (the default)' },
    'remote-only': { type: 'boolean', help: 'with a remote: delete the local copy once the upload is complete' },
    type: { type: 'string', arg: '<type>', help: 'the backup type, instead of the first argument (db:backup:auto uses it)' },
    description: { type: 'string', arg: '<text>', help: 'the description, instead of the second argument' },
    format: { type: 'string', multiple: true, arg: '<list>', help: "sql, sql.gz, dump, tar (comma-separated; default: all four).\nMySQL/MariaDB: sql and sql.gz only (the default there); dump and tar are refused" },
    table: { type: 'string', multiple: true, arg: '<pattern>', help: 'only these tables (pg_dump pattern syntax; MySQL: table names)' },
    'exclude-table': { type: 'string', multiple: true, arg: '<pattern>', help: 'leave these tables out' },
    schema: { type: 'string', multiple: true, arg: '<pattern>', help: 'only these schemas (PostgreSQL only)' },
    wait: { type: 'string', arg: '<seconds>', help: 'retry the connection until the server answers (default: 0)' },
    'lock-wait-timeout': { type: 'string', arg: '<t>', help: 'give up if a table lock is not granted in time (default: 60s)' },
    'gzip-level': { type: 'string', arg: '<1-9>', help: 'compression of .sql.gz (default: 6)' },
    stats: { type: 'string', arg: '<auto|archive>', help: "without sql/sql.gz: 'archive' reads the archive back to record row\ncounts and fingerprints (default auto: recorded when a plain format is made)" },
    'skip-space-check': { type: 'boolean', help: 'do not compare free disk space with the database size' },
  },
  parse(values, positionals, common) {
    const problems: string[] = [];
    // With --type (as db:backup:auto and db:backup:pre-migrate use it) the only argument left
    // is the description.
    const flagType = stringValue(values, 'type');
    const [typeArg, descriptionArg] = flagType === undefined ? positionals : [flagType, ...positionals];
    if (positionals.length > (flagType === undefined ? 2 : 1)) problems.push(`Too many arguments: expected at most [type] [description], got ${positionals.length}. Quote a description that has spaces.`);
    const type = typeArg ?? 'manual';
    if (!isValidType(type)) problems.push(`Backup type "${type}" is not allowed: use lower-case letters, digits and "-" (for example manual, auto, pre-migrate).`);
    const description = stringValue(values, 'description') ?? descriptionArg ?? DEFAULT_DESCRIPTIONS[type] ?? `${type} backup`;
    const { formats, unknown } = parseFormats(listValue(values, 'format'));
    if (unknown.length) problems.push(`Unknown --format ${unknown.join(', ')}: choose from ${FORMATS.join(', ')}.`);
    else if (listValue(values, 'format').length && formats.length === 0) problems.push(`--format needs at least one of ${FORMATS.join(', ')}.`);
    const waitSeconds = readWait(values, problems);
    const lockWaitTimeout = stringValue(values, 'lock-wait-timeout') ?? '60s';
    const lockWaitProblem = lockWaitTimeoutProblem(lockWaitTimeout);
    if (lockWaitProblem) problems.push(lockWaitProblem);
    const gzipText = stringValue(values, 'gzip-level') ?? '6';
    const gzipLevel = Number(gzipText);
    if (!Number.isInteger(gzipLevel) || gzipLevel < 1 || gzipLevel > 9) problems.push(`--gzip-level takes 1 to 9, got "${gzipText}".`);
    const stats = stringValue(values, 'stats') ?? 'auto';
    if (stats !== 'auto' && stats !== 'archive') problems.push(`--stats takes auto or archive, got "${stats}".`);
    if (values['keep-local'] === true && values['remote-only'] === true) problems.push('--keep-local and --remote-only contradict each other: choose one.');
    if (problems.length) {
      const onlyFormat = problems.length === 1 && unknown.length > 0;
      const error = usageError(problems, 'pnpm db:backup --');
      throw onlyFormat ? new KitError('BAD_FORMAT', error.message) : error;
    }
    return {
      ...common,
      type,
      description,
      formats,
      formatsDefaulted: listValue(values, 'format').length === 0,
      tables: listValue(values, 'table'),
      excludeTables: listValue(values, 'exclude-table'),
      schemas: listValue(values, 'schema'),
      waitSeconds,
      lockWaitTimeout: lockWaitTimeout.replace(/\s+/g, ''),
      gzipLevel,
      skipSpaceCheck: values['skip-space-check'] === true,
      stats: stats === 'archive' ? 'archive' : 'auto',
    };
  },
  run: (args, ctx) => backup(ctx.target(args), args, ctx),
  render(result) {
    const rel = (p: string) => (isRemoteLocation(p) ? p : path.relative(process.cwd(), p) || p);
    const width = Math.max(...result.files.map((f) => rel(f.path).length));
    return [
      `Backup ${result.id} of ${result.database.name} (${result.environment}) complete in ${formatDuration(result.durationMs)}: ${formatBytes(result.totalBytes)}, ${statisticsSummary(result.statistics)}.`,
      ...result.files.map((f) => `  ${rel(f.path).padEnd(width)}  ${formatBytes(f.bytes).padStart(9)}  sha256 ${f.sha256.slice(0, 12)}…`),
      `  ${rel(result.info)}`,
      ...(result.copies?.remote ? [`  uploaded: ${result.copies.remote}${result.copies.local ? '' : ' (no local copy kept: --remote-only)'}`] : []),
      `Restore with: ${result.restoreCommand}`,
    ];
  },
  githubOutput(result) {
    const out: Record<string, string> = {
      backup_id: result.id,
      backup_dir: result.dir,
      backup_info: result.info,
      backup_files: result.files.map((f) => f.path).join('\n'),
    };
    for (const f of result.files) out[`backup_${f.format.replace('.', '_')}`] = f.path;
    return out;
  },
  logFields(result) {
    return { id: result.id, bytes: result.totalBytes, formats: result.files.map((f) => f.format), rows: result.statistics.totalRows };
  },
};

/** Counts only when they were taken: a backup without them says so instead of "0 tables, 0 rows". */
function statisticsSummary(statistics: BackupResult['statistics']): string {
  if (statistics.source === 'none') return 'no per-table statistics recorded (add --stats archive to record them; verify computes them from the archive)';
  return `${statistics.tables} tables, ${statistics.totalRows} rows`;
}
