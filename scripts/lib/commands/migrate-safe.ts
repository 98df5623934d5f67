/** `db:migrate:safe`: flags and report; the work is safeMigrate(). */
import { readWait, stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { formatDuration } from '../cli/progress.js';
import { terminalUi } from './restore.js';
import { safeMigrate, type SafeMigrateOptions, type SafeMigrateResult } from '../migrate/safe.js';

export interface SafeMigrateArgs extends CommonArgs, SafeMigrateOptions {}

export const safeMigrateCommand: Command<SafeMigrateArgs, SafeMigrateResult> = {
  name: 'migrate-safe',
  synopsis: 'pnpm db:migrate:safe -- [--env <name>] [--command "<migration command>"]',
  description: `
Backs the database up (type pre-migrate), verifies that backup, then runs the migrations. If they
fail, restores exactly that backup (all-or-nothing, row counts checked) and exits non-zero saying
what was rolled back. The backup id is printed before migrating.

The migration command: --command > MIGRATE_COMMAND > backup-kit.json migrate.command >
"pnpm db:migrate". It runs with DATABASE_URL set to the target in its environment.`,
  notes: `Exit status: 0 migrated; 18 the migration failed and was rolled back; 19 the migration failed and
so did the rollback (restore by hand, as the message says); others as for db:backup/db:restore.`,
  shared: ['env', 'env-file', 'url', 'no-progress'],
  options: {
    command: { type: 'string', arg: '<command>', help: 'the migration command (run by sh; quote it)' },
    wait: { type: 'string', arg: '<seconds>', help: 'wait for the server to answer' },
  },
  parse(values, positionals, common) {
    const problems: string[] = [];
    if (positionals.length) problems.push(`db:migrate:safe takes no arguments, got ${positionals.join(' ')}; quote a command given with --command.`);
    const waitSeconds = readWait(values, problems);
    if (problems.length) throw usageError(problems, 'pnpm db:migrate:safe --');
    return { ...common, command: stringValue(values, 'command'), waitSeconds };
  },
  run(args, ctx) {
    const announce = (id: string) => {
      if (!args.quiet) process.stderr.write(`migrate-safe: pre-migrate backup ${id} taken and being verified; migrating next\n`);
    };
    return safeMigrate(ctx.target(args), args, ctx, terminalUi(true), announce);
  },
  render(result) {
    return [`Migrated in ${formatDuration(result.durationMs)} (${result.command}). Pre-migrate backup: ${result.backup.id}`];
  },
  githubOutput(result) {
    return { backup_id: result.backup.id, backup_dump: result.backup.file, backup_info: result.backup.info };
  },
  logFields(result) {
    return { backup: result.backup.id, command: result.command };
  },
};
