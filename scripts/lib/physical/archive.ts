/**
 * The continuous WAL archive, fed by PostgreSQL's archive_command calling `wal-push`. A segment is
 * copied under a private partial name, fsynced, and linked to its final name: link() never
 * replaces an existing file, so an archived segment is never overwritten. Finding the same name
 * again is success when the bytes are identical (PostgreSQL retries after a crash) and an error
 * when they differ (two servers writing into one archive).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statfsSync } from 'node:fs';
import { link, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { KitError } from '../errors.js';
import { BACKUP_LABEL_NAME, HISTORY_NAME, SEGMENT_NAME } from './wal-names.js';

export type PushOutcome = 'archived' | 'already-archived';

export function isArchivableName(name: string): boolean {
  return SEGMENT_NAME.test(name) || HISTORY_NAME.test(name) || BACKUP_LABEL_NAME.test(name) || /^[0-9A-F]{24}\.partial$/.test(name);
}

async function hashOf(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function fsyncPath(file: string, flags = 'r'): Promise<void> {
  const handle = await open(file, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function pushSegment(source: string, archiveDir: string): Promise<PushOutcome> {
  const name = path.basename(source);
  if (!isArchivableName(name)) {
    throw new KitError('WAL_PUSH_FAILED', `${name} is not a WAL segment, history or backup label file; archive_command must pass %p.`);
  }
  const final = path.join(archiveDir, name);
  const partial = path.join(archiveDir, `.${name}.${process.pid}.partial`);
  try {
    await mkdir(archiveDir, { recursive: true, mode: 0o700 });
    await pipeline(createReadStream(source, { highWaterMark: 1 << 20 }), createWriteStream(partial, { mode: 0o600, flags: 'wx' }));
    await fsyncPath(partial);
  } catch (error) {
    await unlink(partial).catch(() => undefined);
    const code = (error as NodeJS.ErrnoException).code ?? '';
    throw new KitError('WAL_PUSH_FAILED', `Could not archive ${name} into ${archiveDir} (${code || (error as Error).message}). PostgreSQL keeps the segment and retries; fix the archive directory (space, permissions).`, { cause: error });
  }
  try {
    await link(partial, final);
    await fsyncPath(archiveDir).catch(() => undefined);
    return 'archived';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new KitError('WAL_PUSH_FAILED', `Could not archive ${name} into ${archiveDir}: ${(error as Error).message}`, { cause: error });
    }
    const [mine, theirs] = await Promise.all([hashOf(partial), hashOf(final)]);
    if (mine === theirs) return 'already-archived';
    throw new KitError('WAL_SEGMENT_CONFLICT', `${final} already exists with different contents. It was not overwritten. Another server (or a restored copy) may be archiving into the same directory: give each cluster its own archive, then remove the wrong segment by hand.`);
  } finally {
    await unlink(partial).catch(() => undefined);
  }
}

export interface ArchiveUsage {
  files: number;
  bytes: number;
  freeBytes: number;
}

export async function archiveUsage(dir: string): Promise<ArchiveUsage> {
  let files = 0;
  let bytes = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue;
    files++;
    bytes += (await stat(path.join(dir, name)).catch(() => ({ size: 0 }))).size;
  }
  let freeBytes = 0;
  try {
    const fs = statfsSync(dir);
    freeBytes = fs.bavail * fs.bsize;
  } catch {
    // no archive yet
  }
  return { files, bytes, freeBytes };
}
