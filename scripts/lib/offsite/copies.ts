/**
 * db:push and db:pull: copy complete backups between this machine and the environment's remote.
 * Both skip a backup already present and identical on the other side (same artifacts, sizes and
 * sha256 in its .info), prove every byte they copy against the .info, and write the .info last,
 * so an interrupted copy is never taken for a backup. db:push also cleans up what interrupted
 * uploads left in the bucket.
 */
import { KitError } from '../errors.js';
import type { BackupInfo } from '../format/metadata.js';
import type { StoreContext } from '../store/environment.js';
import type { Place, Repository } from '../store/repository.js';
import type { Listing } from '../store/store.js';

export interface CopyResult {
  environment: string;
  from: string;
  to: string;
  copied: Array<{ id: string; bytes: number }>;
  skipped: Array<{ id: string; reason: string }>;
  cleaned: string[];
}

/** Same artifacts, sizes and hashes: nothing to copy. Pure. */
export function sameBackup(a: BackupInfo, b: BackupInfo): boolean {
  const key = (info: BackupInfo) => info.artifacts.map((x) => `${x.file} ${x.bytes} ${x.sha256}`).sort().join('\n');
  return a.id === b.id && key(a) === key(b);
}

/** The environment's two places; refused when it has no remote. */
function placesOf(ctx: StoreContext, env: string | undefined, command: string): { name: string; repository: Repository; local: Place; remote: Place } {
  const { name, repository } = ctx.environment(env);
  const local = repository.place('local');
  const remote = repository.place('remote');
  if (!local || !remote) {
    throw new KitError('REMOTE_CONFIG', `${command} needs a remote for environment "${name}": configure one in backup-kit.json ("remote": { "url": "s3://bucket/prefix" }) or pass --remote s3://bucket/prefix.`);
  }
  return { name, repository, local, remote };
}

export async function push(ctx: StoreContext, env: string | undefined, ids: string[]): Promise<CopyResult> {
  const places = placesOf(ctx, env, 'db:push');
  const { name, repository } = places;
  await places.remote.check('pushing backups');
  const [local, remote] = await Promise.all([places.local.backups.list(), places.remote.backups.list()]);
  // What interrupted uploads left: objects without an .info and recorded multipart uploads.
  const leftovers = remote.leftovers.filter((l) => l.kind === 'partial');
  await places.remote.backups.removeLeftovers(leftovers);
  const remoteById = new Map(remote.complete.map((b) => [b.id, b]));
  const chosen = ids.length ? local.complete.filter((b) => ids.includes(b.id)) : local.complete;
  const missing = ids.filter((id) => !local.complete.some((b) => b.id === id));
  if (missing.length) throw new KitError('BACKUP_NOT_FOUND', `No complete local backup ${missing.join(', ')} in ${places.local.where}. List them with pnpm db:list.`);
  const result: CopyResult = { environment: name, from: places.local.where, to: places.remote.where, copied: [], skipped: [], cleaned: leftovers.map((l) => l.location) };
  for (const backup of [...chosen].reverse()) {
    ctx.signal.throwIfAborted();
    const there = remoteById.get(backup.id);
    if (there && sameBackup(there.info, backup.info)) {
      result.skipped.push({ id: backup.id, reason: 'already in the remote, identical' });
      continue;
    }
    ctx.reporter.notice(`uploading ${backup.id}`);
    result.copied.push({ id: backup.id, bytes: await repository.copy(backup, 'local', 'remote') });
  }
  return result;
}

/** Copy backups the remote holds into the local directory; one already here and identical is skipped. */
export async function pull(ctx: StoreContext, env: string | undefined, ids: string[]): Promise<CopyResult> {
  const places = placesOf(ctx, env, 'db:pull');
  const { name, repository } = places;
  const [local, remote] = await Promise.all([places.local.backups.list(), places.remote.backups.list()]);
  const result: CopyResult = { environment: name, from: places.remote.where, to: places.local.where, copied: [], skipped: [], cleaned: [] };
  for (const id of ids) {
    const backup = remote.complete.find((b) => b.id === id);
    if (!backup) throw notPullable(remote, id, places.remote.where);
    const here = local.complete.find((b) => b.id === id);
    if (here && sameBackup(here.info, backup.info)) {
      result.skipped.push({ id, reason: 'already on this machine, identical' });
      continue;
    }
    result.copied.push({ id, bytes: await repository.copy(backup, 'remote', 'local', ctx.signal) });
  }
  return result;
}

/** Why an id cannot be pulled: a backup whose .info the bucket holds but cannot vouch for is named as such. */
function notPullable(remote: Listing, id: string, where: string): KitError {
  const info = remote.leftovers.find((l) => l.id === id && l.name === `${id}.info`);
  if (info) return new KitError('INTEGRITY_FAILED', `Backup ${id} in ${where} cannot be pulled: ${info.reason}. Its files were not copied; pull another backup, or repair the .info from another copy.`);
  if (remote.leftovers.some((l) => l.id === id)) return new KitError('BACKUP_NOT_FOUND', `Backup ${id} in ${where} is not complete (it has no .info: an upload that did not finish). Pull another backup; pnpm db:list shows them.`);
  return new KitError('BACKUP_NOT_FOUND', `No backup ${id} in ${where}. List them with pnpm db:list.`);
}
