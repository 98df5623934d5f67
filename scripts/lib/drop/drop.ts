/**
 * Reset a database to empty: a backup first (type pre-drop, so `db:restore -- --latest --type
 * pre-drop` undoes it), then everything in it dropped by its engine (Engine.openDrop).
 * PostgreSQL drops every user schema and recreates public with the owner, privileges and comment
 * it had, in one transaction with a savepoint per step: a database owner who is not a superuser
 * gets everything they may drop, falls back to DROP OWNED BY CURRENT_USER for the rest, and is
 * told plainly what could not be dropped. MySQL/MariaDB commit each DROP at once, so there the
 * drop goes object by object in a fixed order and a failure part-way names what went and what
 * stayed; the pre-drop backup is the undo.
 */
import { KitError } from '../errors.js';
import { checkConsent } from '../config/confirmation.js';
import { restoreCommandLine } from '../text/restore-command.js';
import type { Target } from '../config/target.js';
import { engineForTarget } from '../engines/registry.js';
import type { DropSession, Engine } from '../engines/engine.js';
import type { StoreContext } from '../store/environment.js';
import { backup, wholeDatabaseDump } from '../backup/backup.js';

export interface DropOptions {
  skipBackup: boolean;
  /** --force (alias --yes): no prompt. */
  force: boolean;
  confirm: string | undefined;
  waitSeconds: number;
  /** How long to wait for a table lock another session holds. */
  lockTimeoutSeconds: number;
}

export interface DropUi {
  interactive: boolean;
  show(lines: string[]): void;
  confirm(target: Target): Promise<boolean>;
}

export interface DropResult {
  target: { database: string; host: string; port: number; environment: string };
  backup: { id: string; file: string } | undefined;
  dropped: string[];
  notDropped: string[];
  undo: string | undefined;
  durationMs: number;
}

/** The summary shown before anything is dropped. */
function summaryOf(contents: string, target: Target, options: DropOptions): string[] {
  return [
    `Drop:    every object in ${target.database} on ${target.host}:${target.port} (environment ${target.env}${target.protected ? ', PROTECTED' : ''})`,
    `         ${contents}`,
    `Backup:  ${options.skipBackup ? 'none (--skip-backup)' : 'a pre-drop backup is taken first'}`,
  ];
}

/** A failure in the kit's words: a lost server is 4, a lock held too long names its holder. */
async function dropFailure(engine: Engine, error: unknown, target: Target, options: DropOptions): Promise<unknown> {
  if (error instanceof KitError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const nothing = 'The drop\'s transaction was rolled back, so nothing was dropped.';
  if (engine.isLockTimeout(message)) return engine.lockTimeoutError(target, 'drop', options.lockTimeoutSeconds, nothing);
  const gone = await engine.serverGone(new KitError('RESTORE_FAILED', message), target, 'drop', 'The drop\'s transaction was not committed, so nothing was dropped');
  return gone ?? new KitError('RESTORE_FAILED', `The drop failed and was rolled back; nothing was dropped. ${engine.label} said: ${message}`, { cause: error });
}

export async function dropAll(target: Target, options: DropOptions, ctx: StoreContext, ui: DropUi): Promise<DropResult> {
  const started = ctx.now();
  if (target.protected && options.skipBackup) {
    throw new KitError('PROTECTED_TARGET', `--skip-backup is refused on the protected environment "${target.env}": dropping everything there must stay undoable.`);
  }
  const engine = engineForTarget(target);
  let session: DropSession | undefined;
  try {
    session = await engine.openDrop(target, options.waitSeconds, ctx.signal);
    const summary = summaryOf(await session.contents(), target, options);
    const consent = checkConsent(target, options, ui.interactive, {
      withoutPrompt: 'drop everything there',
      needsConfirmation: `Dropping everything in ${target.database} on ${target.host}:${target.port}`,
    });
    ui.show(summary);
    if (consent === 'ask' && !(await ui.confirm(target))) throw new KitError('NOT_CONFIRMED', 'Cancelled; nothing was dropped.');
    ctx.signal.throwIfAborted();

    let made: DropResult['backup'];
    if (!options.skipBackup) {
      ctx.reporter.progress({ phase: 'pre-drop backup', bytes: 0 });
      const result = await backup(target, wholeDatabaseDump('pre-drop', `Before dropping everything in ${target.database}`), ctx);
      made = { id: result.id, file: result.files[0]!.path };
    }
    // a signal during the backup stops here, before anything is dropped
    if (ctx.signal.aborted) throw new KitError('INTERRUPTED', `Interrupted before anything was dropped${made ? ` (the pre-drop backup ${made.id} was kept)` : ''}.`);

    ctx.reporter.progress({ phase: 'dropping', bytes: 0 });
    const { dropped, notDropped } = await session.empty(ctx.signal, options.lockTimeoutSeconds);
    return {
      target: { database: target.database, host: target.host, port: target.port, environment: target.env },
      backup: made,
      dropped,
      notDropped,
      undo: made ? restoreCommandLine({ source: { latest: true, type: 'pre-drop' }, environment: target.env, force: true, ...(target.protected ? { protectedDatabase: target.database } : {}), reach: target.reach }) : undefined,
      durationMs: ctx.now().getTime() - started.getTime(),
    };
  } catch (error) {
    await session?.abandon();
    throw await dropFailure(engine, error, target, options);
  } finally {
    await session?.close().catch(() => undefined);
  }
}


