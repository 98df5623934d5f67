/** `db:restore` flags, prompts and rendering; the work itself is restore() in restore.ts. */
import path from 'node:path';
import { KitError } from '../errors.js';
import { readWait, stringValue, listValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { REMOTE_OPTIONS } from '../cli/options.js';
import { DEFAULT_LOCK_TIMEOUT_SECONDS, parseLockTimeout } from '../engines/postgres/locks.js';
import { formatDuration } from '../cli/progress.js';
import { ask, isInteractive } from '../cli/prompt.js';
import { formatBytes } from '../text/units.js';
import { formatAge } from '../text/time.js';
import { describeSummary, restore, type RestoreMode, type RestoreOptions, type RestoreResult, type RestoreUi } from '../restore/restore.js';

export interface RestoreArgs extends CommonArgs, RestoreOptions {}

export function terminalUi(quiet: boolean): RestoreUi {
  return {
    interactive: isInteractive(),
    async pick(entries) {
      const now = new Date();
      const choice = await ask({
        type: 'select',
        message: 'Which backup?',
        choices: entries.slice(0, 50).map((e) => ({
          title: `${e.id}  ${e.info.type}  ${formatAge(e.info.startedAt, now)} ago  ${formatBytes(e.info.artifacts.reduce((n, a) => n + a.bytes, 0))}`,
          description: e.info.description,
          value: e.id,
        })),
      });
      return entries.find((e) => e.id === choice);
    },
    async confirm(summary) {
      if (summary.target.protected) {
        const typed = await ask({ type: 'text', message: `Type the database name (${summary.target.database}) to restore into this protected environment` });
        return typed === summary.target.database;
      }
      return (await ask({ type: 'confirm', message: `Replace data in ${summary.target.database}?`, initial: false })) === true;
    },
    show(summary) {
      if (!quiet) process.stderr.write(describeSummary(summary).join('\n') + '\n');
    },
  };
}

export const restoreCommand: Command<RestoreArgs, RestoreResult> = {
  name: 'restore',
  synopsis: 'pnpm db:restore -- [backup] [options]',
  description: `
Restores a backup into the target database, all-or-nothing: checks the backup first, asks
for confirmation, backs the target up (type pre-restore), restores, and checks row counts
before committing. A failed restore leaves the target as it was.

backup: a .dump, .tar, .sql or .sql.gz file, a backup id, or an .info file. Without one:
  --latest [--type <type>]  the newest complete backup of the target's database (of that type)
  (in a terminal)           pick from a list`,
  shared: ['env', 'env-file', 'url', 'no-progress', ...REMOTE_OPTIONS],
  options: {
    'from-remote': { type: 'boolean', help: 'take the backup from object storage: downloaded to a private temporary\nfile and checked byte for byte against .info before anything changes' },
    latest: { type: 'boolean', help: 'the newest complete backup' },
    type: { type: 'string', arg: '<type>', help: 'with --latest: the newest backup of this type' },
    'include-safety': { type: 'boolean', help: 'with --latest: also consider the safety backups the kit takes before\nit changes a database (pre-restore, pre-import, pre-drop)' },
    from: { type: 'string', arg: '<env>', help: "take the backup from that environment's backups (never touches it)" },
    force: { type: 'boolean', aliases: ['yes'], short: 'y', help: 'no prompts (CI); a protected target also needs --confirm <database>' },
    confirm: { type: 'string', arg: '<database>', help: "the target database's name, for protected environments" },
    'data-only': { type: 'boolean', help: "replace the data of the backup's tables; keep the schema" },
    'schema-only': { type: 'boolean', help: 'replace the schema; restore no data' },
    clean: { type: 'boolean', help: "drop and recreate the backup's objects; keep other objects" },
    create: { type: 'boolean', help: 'recreate the database itself (restored beside it, then swapped in)' },
    table: { type: 'string', multiple: true, arg: '<pattern>', help: 'replace the data of the matching tables only (repeatable;\nschema.table, "Quoted" names, * and ? as wildcards)' },
    jobs: { type: 'string', arg: '<n>', help: 'parallel restore into a fresh database, then swapped in' },
    'keep-old': { type: 'boolean', help: 'with --jobs/--create: keep the replaced database (its name is printed)' },
    'no-owner': { type: 'boolean', help: 'do not restore ownership (default when --from differs from --env)' },
    'with-owner': { type: 'boolean', help: 'keep ownership across environments' },
    'with-privileges': { type: 'boolean', help: 'keep privileges across environments' },
    'no-safety-backup': { type: 'boolean', help: 'skip the pre-restore backup (refused on protected targets)' },
    'with-roles': { type: 'boolean', help: "create the roles the backup needs that the target lacks (from its globals.sql); existing roles are left alone" },
    'update-roles': { type: 'boolean', help: 'with --with-roles: also set existing roles to what the backup recorded' },
    identity: { type: 'string', arg: '<file>', help: 'age identity file for an encrypted backup (default: AGE_IDENTITY_FILE)' },
    wait: { type: 'string', arg: '<seconds>', help: 'wait for the server to answer' },
    'lock-timeout': { type: 'string', arg: '<seconds>', help: `wait this long for a table lock another session holds (default ${DEFAULT_LOCK_TIMEOUT_SECONDS})` },
    'show-lines': { type: 'boolean', help: 'show the item being restored in the progress line' },
    'no-analyze': { type: 'boolean', help: 'skip the ANALYZE after the restore: autovacuum gathers the planner\nstatistics within minutes instead of before the restore returns' },
  },
  parse(values, positionals, common) {
    const problems: string[] = [];
    if (positionals.length > 1) problems.push(`Give one backup to restore, got ${positionals.length}: ${positionals.join(' ')}.`);
    const input = positionals[0];
    const latest = values.latest === true;
    if (input !== undefined && latest) problems.push('Give either a backup or --latest, not both.');
    const modes = (['data-only', 'schema-only', 'clean', 'create'] as const).filter((m) => values[m] === true);
    if (modes.length > 1) problems.push(`--${modes.join(' and --')} cannot be combined; choose one.`);
    const mode: RestoreMode = modes[0] ?? 'replace';
    const tables = listValue(values, 'table');
    if (tables.length && modes.length) problems.push(`--table replaces table data; it cannot be combined with --${modes[0]}.`);
    let jobs: number | undefined;
    const jobsText = stringValue(values, 'jobs');
    if (jobsText !== undefined) {
      jobs = Number(jobsText);
      if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) problems.push(`--jobs takes a whole number from 1 to 64, got "${jobsText}".`);
      if (tables.length || mode === 'data-only' || mode === 'schema-only' || mode === 'clean') problems.push('--jobs restores the whole database into a fresh copy; it cannot be combined with --table, --data-only, --schema-only or --clean.');
    }
    const waitSeconds = readWait(values, problems);
    const lockTimeoutSeconds = parseLockTimeout(stringValue(values, 'lock-timeout'), problems);
    if (values['no-owner'] === true && values['with-owner'] === true) problems.push('--no-owner and --with-owner contradict each other.');
    if (values['update-roles'] === true && values['with-roles'] !== true) problems.push('--update-roles changes existing roles to what the backup recorded; it goes with --with-roles.');
    if (problems.length) throw usageError(problems, 'pnpm db:restore --');
    const from = stringValue(values, 'from');
    return {
      ...common,
      input,
      latest,
      type: stringValue(values, 'type'),
      from,
      force: values.force === true,
      confirm: stringValue(values, 'confirm'),
      safetyBackup: values['no-safety-backup'] !== true,
      mode,
      tables,
      jobs,
      keepOld: values['keep-old'] === true,
      // --no-owner within one environment is a request; across environments it is the default
      withOwner: values['with-owner'] === true,
      withPrivileges: values['with-privileges'] === true,
      noOwner: values['no-owner'] === true,
      waitSeconds,
      showLines: values['show-lines'] === true,
      analyze: values['no-analyze'] !== true,
      lockTimeoutSeconds,
      withRoles: values['with-roles'] === true,
      updateRoles: values['update-roles'] === true,
      identity: stringValue(values, 'identity'),
      includeSafety: values['include-safety'] === true,
    };
  },
  run(args, ctx) {
    if (args.from !== undefined && args.env === undefined && args.url === undefined && args.envFile === undefined) {
      throw new KitError('USAGE', `--from ${args.from} names where the backup comes from; also name the target with --env <name> (for example --env dev).`);
    }
    return restore(ctx.target(args), args, ctx, terminalUi(args.quiet || args.json));
  },
  render(result) {
    const rel = (p: string) => path.relative(process.cwd(), p) || p;
    const lines = [
      `Restored ${result.backup.id} into ${result.target.database} on ${result.target.host}:${result.target.port} in ${formatDuration(result.durationMs)}.`,
      `  ${result.mode}`,
    ];
    if (result.verifiedTables) lines.push(`  row counts verified for ${result.verifiedTables} tables (${result.verifiedRows} rows) before ${result.verifiedBefore}`);
    if (result.oldDatabase) lines.push(`  the replaced database was kept as ${result.oldDatabase}`);
    if (result.safetyBackup) lines.push(`  safety backup: ${rel(result.safetyBackup.file)}`);
    if (result.undo) lines.push(`To undo: ${result.undo}`);
    return lines;
  },
  githubOutput(result) {
    return {
      restored_backup: result.backup.id,
      ...(result.safetyBackup ? { safety_backup_id: result.safetyBackup.id, safety_backup_file: result.safetyBackup.file } : {}),
    };
  },
  logFields(result) {
    return { backup: result.backup.id, mode: result.mode, safetyBackup: result.safetyBackup?.id, rows: result.verifiedRows };
  },
};
