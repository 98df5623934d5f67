/**
 * db:migrate:safe — backup (pre-migrate) → quick verify → migrate → on failure, restore exactly
 * that backup, all-or-nothing, and fail loudly saying what was rolled back. The migration command
 * is the application's own; the kit only needs its exit status.
 */
import path from 'node:path';
import { KitError } from '../errors.js';
import { runToExit } from '../proc/process.js';
import { restoreCommandLine } from '../text/restore-command.js';
import { targetUrl, type Target } from '../config/target.js';
import { configFor } from '../config/file.js';
import type { CommandContext } from '../context.js';
import type { StoreContext } from '../store/environment.js';
import { backup, wholeDatabaseDump } from '../backup/backup.js';
import { verifyBackup } from '../verify/verify.js';
import { restore, type RestoreUi } from '../restore/restore.js';

export interface SafeMigrateOptions {
  command: string | undefined;
  waitSeconds: number;
}

export interface SafeMigrateResult {
  backup: { id: string; file: string; info: string };
  command: string;
  durationMs: number;
}

export function migrationCommand(options: SafeMigrateOptions, ctx: CommandContext): string {
  return options.command ?? ctx.env.MIGRATE_COMMAND ?? configFor(ctx.root).migrate?.command ?? 'pnpm db:migrate';
}

/** The application's own migration command: it prints for people and carries no data. */
async function runMigration(command: string, target: Target, ctx: CommandContext): Promise<number> {
  // Its output is progress for people: it goes to stderr, keeping stdout for the kit's result.
  // Its connection is this target's, in its environment only. Ctrl-C stops it, and everything it
  // started (pnpm, node, the migration tool): it leads a process group the kit stops as a whole,
  // and kills as a whole should the kit itself be killed.
  const out = await runToExit('/bin/sh', ['-c', command], { cwd: ctx.root, env: { ...ctx.env, DATABASE_URL: targetUrl(target) }, signal: ctx.signal, stdio: ['ignore', process.stderr, process.stderr], name: 'the migration command', ownGroup: true });
  return out.code;
}

export async function safeMigrate(target: Target, options: SafeMigrateOptions, ctx: StoreContext, ui: RestoreUi, announce: (id: string) => void): Promise<SafeMigrateResult> {
  const started = ctx.now();
  const command = migrationCommand(options, ctx);
  const made = await backup(target, wholeDatabaseDump('pre-migrate', `Before: ${command}`, { waitSeconds: options.waitSeconds }), ctx);
  announce(made.id);
  const { store } = ctx.environment(target.env);
  const entry = (await store.list()).complete.find((e) => e.id === made.id);
  if (!entry) throw new KitError('INTEGRITY_FAILED', `The pre-migrate backup ${made.id} cannot be found in ${store.where} right after it was taken; nothing was migrated.`);
  const check = await verifyBackup(store, entry, { deep: false, artifact: undefined }, undefined, ctx.env, ctx.reporter, ctx.signal, ctx.now());
  if (!check.ok) {
    throw new KitError('INTEGRITY_FAILED', `The pre-migrate backup ${made.id} failed verification (${check.artifacts.find((a) => !a.ok)?.problem}); nothing was migrated.`);
  }
  ctx.reporter.notice(`migrating: ${command}`);
  const code = await runMigration(command, target, ctx);
  if (code === 0) return { backup: { id: made.id, file: made.files[0]!.path, info: made.info }, command, durationMs: ctx.now().getTime() - started.getTime() };

  ctx.reporter.notice(`the migration failed (exit ${code}); restoring ${made.id}`);
  try {
    const restored = await restore(
      target,
      {
        input: made.id,
        latest: false,
        type: undefined,
        from: undefined,
        // the user asked for this rollback by running migrate:safe; it must not wait for a prompt
        force: true,
        confirm: target.database,
        safetyBackup: true,
        mode: 'replace',
        tables: [],
        jobs: undefined,
        keepOld: false,
        withOwner: false,
        withPrivileges: false,
        noOwner: false,
        waitSeconds: options.waitSeconds,
        showLines: false,
      },
      ctx,
      ui,
    );
    const kept = restored.safetyBackup ? ` The half-migrated state was saved as ${path.basename(restored.safetyBackup.file)} for inspection.` : '';
    throw new KitError('MIGRATION_FAILED', `The migration failed (\`${command}\` exited with ${code}). Rolled back: ${target.database} was restored from ${made.id}, its state before the migration, and its row counts were verified.${kept}`);
  } catch (error) {
    if (error instanceof KitError && error.code === 'MIGRATION_FAILED') throw error;
    throw new KitError('ROLLBACK_FAILED', `The migration failed (\`${command}\` exited with ${code}) AND restoring ${made.id} failed: ${error instanceof Error ? error.message : String(error)} The database may be half-migrated. Restore it by hand: ${restoreCommandLine({ source: { file: made.files[0]!.path }, environment: target.env, force: true, protectedDatabase: target.database, root: ctx.root, reach: target.reach })}`);
  }
}
