/**
 * What a command's core needs from the world, handed in by the CLI layer: where things live, the
 * environment, a clock, cancellation, and a reporter for progress (the core never prints).
 */
import path from 'node:path';
import { configFor } from './config/file.js';

export interface ProgressUpdate {
  phase: string;
  bytes: number;
  /** Expected total bytes, when the kit can estimate it (drives the ETA). */
  estimate?: number;
  /** Items (restore: TOC entries) done and expected. */
  done?: number;
  total?: number;
  /** The item being worked on (restore --show-lines). */
  detail?: string;
}

export interface Reporter {
  progress(update: ProgressUpdate): void;
  /** A one-line notice (waiting for the server, …); goes to stderr unless --quiet. */
  notice(message: string): void;
}

/** Where a command's backups are read from and written to, beyond the environment's default. */
export interface StoreOptions {
  /** --remote s3://bucket/prefix and --endpoint: a remote for this run (over backup-kit.json). */
  remote?: string | undefined;
  endpoint?: string | undefined;
  /** --from-remote: read backups from the remote even where a local copy exists. */
  fromRemote?: boolean;
  /** --remote-only: keep no local copy once the upload is complete. */
  remoteOnly?: boolean;
}

export interface CommandContext {
  storeOptions?: StoreOptions;
  root: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  reporter: Reporter;
  now: () => Date;
  /**
   * The command's change can no longer be taken back (a restore's COMMIT is on its way): from
   * now on a signal is told it came too late, and the command finishes instead of stopping.
   */
  pointOfNoReturn?(what: string): void;
}

/** The backup root: BACKUP_DIR if set, else backup-kit.json's backupDir, else <root>/backups. */
export function backupRoot(ctx: Pick<CommandContext, 'root' | 'env'>): string {
  const configured = ctx.env.BACKUP_DIR || configFor(ctx.root).backupDir;
  return configured ? path.resolve(ctx.root, configured) : path.join(ctx.root, 'backups');
}

export const silentReporter: Reporter = { progress: () => undefined, notice: () => undefined };
