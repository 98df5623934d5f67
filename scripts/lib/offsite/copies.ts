/**
 * db:push and db:pull: copy complete backups between this machine and the environment's remote.
 * Both skip a backup already present and identical on the other side (same artifacts, sizes and
 * sha256 in its .info), prove every byte they copy against the .info, and write the .info last,
 * so an interrupted copy is never taken for a backup. db:push also cleans up what interrupted
 * uploads left in the bucket.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { KitError } from '../errors.js';
import { serializeInfo, sha256Manifest, type BackupInfo } from '../format/metadata.js';
import { remoteLocation } from '../config/remote.js';
import { commitDirectory, ensurePrivateDir, PARTIAL_SUFFIX, writeFileAtomic } from '../store/files.js';
import type { StoreContext } from '../store/environment.js';
import type { Listing, StoredBackup } from '../store/store.js';
import { innerStore } from '../store/encrypting.js';
import { MirroredStore, withCopies } from '../store/s3/mirror.js';
import { choosePartSize, GrowingFileUpload } from '../store/s3/upload.js';
import { downloadVerified } from '../store/s3/download.js';

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

function mirrorOf(ctx: StoreContext, env: string | undefined, command: string): { name: string; store: MirroredStore } {
  const { name, store: opened } = ctx.environment(env);
  // Copies move stored files as they are (ciphertext, when encrypted): beneath the encryption.
  const store = innerStore(opened);
  if (!(store instanceof MirroredStore)) {
    throw new KitError('REMOTE_CONFIG', `${command} needs a remote for environment "${name}": configure one in backup-kit.json ("remote": { "url": "s3://bucket/prefix" }) or pass --remote s3://bucket/prefix.`);
  }
  return { name, store };
}

async function uploadBackup(store: MirroredStore, backup: StoredBackup): Promise<number> {
  const { bucket, journal } = store.remote;
  let bytes = 0;
  for (const a of backup.info.artifacts) {
    const copy = await store.local.localFile(backup, a.file);
    const upload = new GrowingFileUpload(bucket, a.file, copy.path, { partSize: choosePartSize(bucket.remote.partSizeBytes, a.bytes), journal, pollMs: 0 });
    try {
      await upload.finish({ bytes: a.bytes, sha256: a.sha256 });
    } catch (error) {
      await upload.abort();
      throw error;
    }
    bytes += a.bytes;
  }
  await bucket.putSmall(`${backup.id}.sha256`, sha256Manifest(backup.info.artifacts), 'text/plain');
  const info = withCopies(backup.info, { local: store.local.where, remote: remoteLocation(bucket.remote, `${backup.id}.info`) });
  await bucket.putSmall(`${backup.id}.info`, serializeInfo(info), 'application/json');
  return bytes;
}

export async function push(ctx: StoreContext, env: string | undefined, ids: string[]): Promise<CopyResult> {
  const { name, store } = mirrorOf(ctx, env, 'db:push');
  await store.remote.bucket.check('pushing backups');
  const [local, remote] = await Promise.all([store.local.list(), store.remote.list()]);
  // What interrupted uploads left: objects without an .info and recorded multipart uploads.
  const leftovers = remote.leftovers.filter((l) => l.kind === 'partial');
  await store.remote.removeLeftovers(leftovers);
  const remoteById = new Map(remote.complete.map((b) => [b.id, b]));
  const chosen = ids.length ? local.complete.filter((b) => ids.includes(b.id)) : local.complete;
  const missing = ids.filter((id) => !local.complete.some((b) => b.id === id));
  if (missing.length) throw new KitError('BACKUP_NOT_FOUND', `No complete local backup ${missing.join(', ')} in ${store.local.where}. List them with pnpm db:list.`);
  const result: CopyResult = { environment: name, from: store.local.where, to: store.remote.where, copied: [], skipped: [], cleaned: leftovers.map((l) => l.location) };
  for (const backup of [...chosen].reverse()) {
    ctx.signal.throwIfAborted();
    const there = remoteById.get(backup.id);
    if (there && sameBackup(there.info, backup.info)) {
      result.skipped.push({ id: backup.id, reason: 'already in the remote, identical' });
      continue;
    }
    ctx.reporter.notice(`uploading ${backup.id}`);
    result.copied.push({ id: backup.id, bytes: await uploadBackup(store, backup) });
  }
  return result;
}

/** Copy backups the remote holds into the local directory; one already here and identical is skipped. */
export async function pull(ctx: StoreContext, env: string | undefined, ids: string[]): Promise<CopyResult> {
  const { name, store } = mirrorOf(ctx, env, 'db:pull');
  const [local, remote] = await Promise.all([store.local.list(), store.remote.list()]);
  const result: CopyResult = { environment: name, from: store.remote.where, to: store.local.where, copied: [], skipped: [], cleaned: [] };
  for (const id of ids) {
    const backup = remote.complete.find((b) => b.id === id);
    if (!backup) throw notPullable(remote, id, store.remote.where);
    const here = local.complete.find((b) => b.id === id);
    if (here && sameBackup(here.info, backup.info)) {
      result.skipped.push({ id, reason: 'already on this machine, identical' });
      continue;
    }
    await copyDown(store, backup, ctx.signal);
    result.copied.push({ id, bytes: backup.info.artifacts.reduce((n, a) => n + a.bytes, 0) });
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

/** One remote backup into the local directory: every byte proven, the .info written last. */
async function copyDown(store: MirroredStore, backup: StoredBackup, signal: AbortSignal): Promise<void> {
  const { id } = backup;
  await ensurePrivateDir(store.local.where);
  // A directory export's files go into "<id>.partial/", renamed whole once every file is proven.
  const work = path.join(store.local.where, `${id}${PARTIAL_SUFFIX}`);
  for (const a of backup.info.artifacts) {
    signal.throwIfAborted();
    const nested = a.file.includes('/');
    const file = nested ? path.join(work, a.file.slice(id.length + 1)) : path.join(store.local.where, a.file);
    if (nested) await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await downloadVerified(store.remote.bucket, a.file, file, { bytes: a.bytes, sha256: a.sha256 }, signal);
  }
  if (existsSync(work)) {
    await rm(path.join(store.local.where, id), { recursive: true, force: true });
    await commitDirectory(work, path.join(store.local.where, id));
  }
  await writeFileAtomic(path.join(store.local.where, `${id}.sha256`), sha256Manifest(backup.info.artifacts));
  // Last: from this moment the local backup exists.
  const info = withCopies(backup.info, { local: store.local.where, remote: backup.infoLocation });
  await writeFileAtomic(path.join(store.local.where, `${id}.info`), serializeInfo(info));
}
