/** `db:sync` (fresh backup of the source, then restore) and `db:refresh` (newest existing backup). */
import { KitError } from '../errors.js';
import { readWait, stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { DEFAULT_LOCK_TIMEOUT_SECONDS, parseLockTimeout } from '../engines/postgres/locks.js';
import { formatDuration } from '../cli/progress.js';
import { terminalUi } from './restore.js';
import { sync, type SyncOptions, type SyncResult } from '../sync/sync.js';

export interface SyncArgs extends CommonArgs, SyncOptions {}

function syncCommand(name: 'sync' | 'refresh'): Command<SyncArgs, SyncResult> {
  const fresh = name === 'sync';
  return {
    name,
    synopsis: `pnpm db:${name} -- --env <target> [--from <source>] [options]`,
    description: `
${fresh ? 'Takes a fresh backup of the source environment (read-only) and restores it into the target.' : "Restores the source environment's newest existing backup into the target."}
The target gets every guarantee of db:restore: the backup is checked first, you confirm, the
target is backed up, the restore is all-or-nothing. Owners and privileges are skipped, since
roles differ between environments. The source is only read${fresh ? '' : ' (from its backups on disk)'}.`,
    shared: ['env', 'env-file', 'url', 'no-progress'],
    options: {
      from: { type: 'string', arg: '<source>', help: 'where the data comes from (default: backup-kit.json sync.from, else prod)' },
      ...(fresh ? {} : { type: { type: 'string', arg: '<type>', help: 'the newest backup of this type' } as const }),
      force: { type: 'boolean', aliases: ['yes'], short: 'y', help: 'no prompts; a protected target also needs --confirm' },
      confirm: { type: 'string', arg: '<database>', help: "the target database's name, for protected environments" },
      'allow-protected-target': { type: 'boolean', help: 'required to sync into a protected environment at all' },
      'no-safety-backup': { type: 'boolean', help: 'skip the pre-restore backup of the target (refused on protected targets)' },
      'with-owner': { type: 'boolean', help: 'keep ownership' },
      'with-privileges': { type: 'boolean', help: 'keep privileges' },
      wait: { type: 'string', arg: '<seconds>', help: 'wait for the servers to answer' },
      'lock-timeout': { type: 'string', arg: '<seconds>', help: `wait this long for a table lock another session holds (default ${DEFAULT_LOCK_TIMEOUT_SECONDS})` },
      'show-lines': { type: 'boolean', help: 'show the item being restored in the progress line' },
    },
    parse(values, positionals, common) {
      const problems: string[] = [];
      if (positionals.length) problems.push(`db:${name} takes no arguments, got ${positionals.join(' ')}.`);
      if (common.env === undefined && common.url === undefined && common.envFile === undefined) problems.push(`Name the target environment with --env (for example: pnpm db:${name} -- --from prod --env dev).`);
      if (fresh && values.type !== undefined) problems.push('--type chooses among existing backups; it belongs to db:refresh.');
      const waitSeconds = readWait(values, problems);
      const lockTimeoutSeconds = parseLockTimeout(stringValue(values, 'lock-timeout'), problems);
      if (problems.length) throw usageError(problems, `pnpm db:${name} --`);
      return {
        ...common,
        from: stringValue(values, 'from'),
        fresh,
        type: stringValue(values, 'type'),
        allowProtectedTarget: values['allow-protected-target'] === true,
        restore: {
          force: values.force === true,
          confirm: stringValue(values, 'confirm'),
          safetyBackup: values['no-safety-backup'] !== true,
          withOwner: values['with-owner'] === true,
          withPrivileges: values['with-privileges'] === true,
          waitSeconds,
          showLines: values['show-lines'] === true,
          lockTimeoutSeconds,
        },
      };
    },
    run(args, ctx) {
      if (args.from !== undefined && args.from === args.env) throw new KitError('SAME_DATABASE', `--from and --env are both "${args.from}".`);
      return sync(ctx.target(args), args, ctx, terminalUi(args.quiet || args.json));
    },
    render(result) {
      const r = result.restore;
      return [
        `${fresh ? 'Synced' : 'Refreshed'} ${r.target.database} (${r.target.environment}) from ${result.source.environment} (${result.source.database} on ${result.source.host}:${result.source.port}) in ${formatDuration(result.durationMs)}.`,
        `  source backup: ${result.source.backup}${result.source.fresh ? ' (taken now, read-only)' : ' (newest existing)'}`,
        `  ${r.mode}`,
        ...(r.verifiedTables ? [`  ${r.verifiedTables} tables, ${r.verifiedRows} rows, verified before ${r.verifiedBefore}`] : []),
        ...(r.undo ? [`To undo: ${r.undo}`] : []),
      ];
    },
    logFields(result) {
      return { source: result.source.environment, backup: result.source.backup, target: result.restore.target.environment, rows: result.restore.verifiedRows };
    },
  };
}

export const dbSyncCommand = syncCommand('sync');
export const dbRefreshCommand = syncCommand('refresh');
