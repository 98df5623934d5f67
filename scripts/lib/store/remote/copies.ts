/**
 * Copying one complete backup between the local directory and the remote, as stored (ciphertext,
 * when encrypted): every byte proven against the .info, the .sha256 and then the .info written
 * last, so an interrupted copy is never taken for a backup. Repository.copy() is the way in.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { serializeInfo, sha256Manifest } from '../../format/metadata.js';
import { commitDirectory, ensurePrivateDir, PARTIAL_SUFFIX, writeFileAtomic } from '../files.js';
import type { LocalStore } from '../local.js';
import type { StoredBackup } from '../store.js';
import { downloadVerified } from './download.js';
import { withCopies } from './mirror.js';
import type { RemoteStore } from './remote-store.js';

/** One local backup into the remote; the bytes sent. */
export async function copyUp(local: LocalStore, remote: RemoteStore, backup: StoredBackup): Promise<number> {
  const { objects, journal } = remote;
  let bytes = 0;
  for (const a of backup.info.artifacts) {
    const copy = await local.localFile(backup, a.file);
    const upload = objects.upload(a.file, copy.path, { partSize: objects.partSize(a.bytes), journal, pollMs: 0 });
    try {
      await upload.finish({ bytes: a.bytes, sha256: a.sha256 });
    } catch (error) {
      await upload.abort();
      throw error;
    }
    bytes += a.bytes;
  }
  await objects.putSmall(`${backup.id}.sha256`, sha256Manifest(backup.info.artifacts), 'text/plain');
  const info = withCopies(backup.info, { local: local.where, remote: objects.location(`${backup.id}.info`) });
  await objects.putSmall(`${backup.id}.info`, serializeInfo(info), 'application/json');
  return bytes;
}

/** One remote backup into the local directory; the bytes received. */
export async function copyDown(local: LocalStore, remote: RemoteStore, backup: StoredBackup, signal?: AbortSignal): Promise<number> {
  const { id } = backup;
  await ensurePrivateDir(local.where);
  // A directory export's files go into "<id>.partial/", renamed whole once every file is proven.
  const work = path.join(local.where, `${id}${PARTIAL_SUFFIX}`);
  for (const a of backup.info.artifacts) {
    signal?.throwIfAborted();
    const nested = a.file.includes('/');
    const file = nested ? path.join(work, a.file.slice(id.length + 1)) : path.join(local.where, a.file);
    if (nested) await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await downloadVerified(remote.objects, a.file, file, { bytes: a.bytes, sha256: a.sha256 }, signal);
  }
  if (existsSync(work)) {
    await rm(path.join(local.where, id), { recursive: true, force: true });
    await commitDirectory(work, path.join(local.where, id));
  }
  await writeFileAtomic(path.join(local.where, `${id}.sha256`), sha256Manifest(backup.info.artifacts));
  // Last: from this moment the local backup exists.
  const info = withCopies(backup.info, { local: local.where, remote: backup.infoLocation });
  await writeFileAtomic(path.join(local.where, `${id}.info`), serializeInfo(info));
  return backup.info.artifacts.reduce((n, a) => n + a.bytes, 0);
}
