/**
 * prod → dev in one step. sync takes a fresh backup of the source (read-only, as its engine opens
 * a source: PostgreSQL's sessions there run with default_transaction_read_only) and restores it
 * into the target with every guarantee of db:restore; refresh restores the source's newest
 * existing backup instead. The target is never the source, whatever the names say: the servers
 * are asked. Both are of one engine: a backup of one engine cannot be restored by the other.
 */
import { KitError } from '../errors.js';
import { describeTarget, resolveTarget, targetFromUrl, type Target } from '../config/target.js';
import { configFor, syncSource } from '../config/file.js';
import { engineForTarget, environmentOf } from '../engines/registry.js';
import type { CommandContext } from '../context.js';
import { backup, wholeDatabaseDump } from '../backup/backup.js';
import { selectLatest } from '../store/catalog.js';
import type { StoreContext } from '../store/environment.js';
import { restore, type RestoreOptions, type RestoreResult, type RestoreUi } from '../restore/restore.js';

export interface SyncOptions {
  from: string | undefined;
  fresh: boolean;
  type: string | undefined;
  allowProtectedTarget: boolean;
  restore: Pick<RestoreOptions, 'force' | 'confirm' | 'safetyBackup' | 'withOwner' | 'withPrivileges' | 'waitSeconds' | 'showLines' | 'lockTimeoutSeconds'>;
}

export interface SyncResult {
  source: { environment: string; database: string; host: string; port: number; backup: string; fresh: boolean };
  restore: RestoreResult;
  durationMs: number;
}

/** The source's connection: its own env file (or SOURCE_DATABASE_URL), read-only. */
export function sourceTarget(from: string, ctx: CommandContext): Target {
  const base = ctx.env.SOURCE_DATABASE_URL
    ? targetFromUrl(ctx.env.SOURCE_DATABASE_URL, 'SOURCE_DATABASE_URL', from)
    : resolveTarget({ env: from, root: ctx.root, processEnv: {} });
  return environmentOf(engineForTarget(base)).readOnly({ ...base, env: from });
}

/** Identity of a database as its server sees it: same server process and same database OID. */
async function identity(target: Target, waitSeconds: number): Promise<string> {
  const engine = engineForTarget(target);
  const client = await engine.connectWithWait(target, waitSeconds);
  try {
    return await environmentOf(engine).databaseIdentity(client);
  } finally {
    await client.end();
  }
}

/** A backup of one engine restores only into a database of the same engine: said before anything connects. */
function refuseOtherEngine(source: Target, target: Target): void {
  const from = engineForTarget(source);
  const to = engineForTarget(target);
  if (from.name === to.name) return;
  throw new KitError(
    'UNSUPPORTED_MODE',
    `The source ${source.env} is a ${from.label} database (${describeTarget(source)}) and the target ${target.env} is a ${to.label} database (${describeTarget(target)}): a backup of one engine cannot be restored into the other. Nothing was changed. Sync between environments of one engine (check packages/database/.env.${source.env} and .env.${target.env}).`,
  );
}

export async function sync(target: Target, options: SyncOptions, ctx: StoreContext, ui: RestoreUi): Promise<SyncResult> {
  const started = ctx.now();
  const from = syncSource(configFor(ctx.root), options.from);
  if (from === target.env) throw new KitError('SAME_DATABASE', `The source and the target are both the environment "${from}". Name the target with --env (for example --env dev).`);
  if (target.protected && !options.allowProtectedTarget) {
    throw new KitError('PROTECTED_TARGET', `"${target.env}" is a protected environment; syncing into it replaces its data. If that is really what you want, add --allow-protected-target (and --confirm ${target.database} without a terminal).`);
  }
  const source = sourceTarget(from, ctx);
  refuseOtherEngine(source, target);
  if ((await identity(source, options.restore.waitSeconds)) === (await identity(target, options.restore.waitSeconds))) {
    throw new KitError('SAME_DATABASE', `The source (${from}: ${describeTarget(source)}) and the target (${target.env}: ${describeTarget(target)}) are the same database on the same server. Nothing was changed; check packages/database/.env.${from} and .env.${target.env}.`);
  }

  let id: string;
  if (options.fresh) {
    ctx.reporter.notice(`backing up ${from} (${describeTarget(source)}), read-only`);
    const made = await backup(source, wholeDatabaseDump('sync', `For ${target.env}`, { waitSeconds: options.restore.waitSeconds }), ctx);
    id = made.id;
  } else {
    const { store } = ctx.environment(from);
    const dir = store.where;
    const latest = selectLatest((await store.list()).complete, options.type, ctx.now());
    if (!latest) throw new KitError('BACKUP_NOT_FOUND', `No complete backup${options.type ? ` of type ${options.type}` : ''} of ${from} in ${dir}. Take one with pnpm db:backup -- --env ${from}, or use pnpm db:sync.`);
    id = latest.id;
  }
  const restored = await restore(
    target,
    { ...options.restore, input: id, latest: false, type: undefined, from, mode: 'replace', tables: [], jobs: undefined, keepOld: false, noOwner: false },
    ctx,
    ui,
  );
  return {
    source: { environment: from, database: source.database, host: source.host, port: source.port, backup: id, fresh: options.fresh },
    restore: restored,
    durationMs: ctx.now().getTime() - started.getTime(),
  };
}
