/**
 * The continuous WAL archive as PostgreSQL drives it: archive_command runs `wal-push` for each
 * finished file, restore_command (when the archive has a remote) runs `wal-fetch`. Where the
 * files live, and the never-overwrite rule, belong to the store (store/wal-archive.ts).
 */
import path from 'node:path';
import { KitError } from '../errors.js';
import type { PushOutcome, WalArchive } from '../store/wal-archive.js';
import { BACKUP_LABEL_NAME, HISTORY_NAME, SEGMENT_NAME } from './wal-names.js';

export type { PushOutcome };

export function isArchivableName(name: string): boolean {
  return SEGMENT_NAME.test(name) || HISTORY_NAME.test(name) || BACKUP_LABEL_NAME.test(name) || /^[0-9A-F]{24}\.partial$/.test(name);
}

export async function pushSegment(source: string, archive: WalArchive): Promise<PushOutcome> {
  const name = path.basename(source);
  if (!isArchivableName(name)) {
    throw new KitError('WAL_PUSH_FAILED', `${name} is not a WAL segment, history or backup label file; archive_command must pass %p.`);
  }
  return archive.push(source);
}

/** restore_command's side: the file PostgreSQL asks for, written to the path it names. */
export async function fetchSegment(name: string, dest: string, archive: WalArchive): Promise<void> {
  if (!isArchivableName(name)) throw new KitError('BAD_ARGUMENT', `${name} is not a WAL segment, history or backup label file; restore_command must pass %f and %p.`);
  if ((await archive.fetch(name, dest)) === 'missing') {
    // Normal at the end of the archive and for history files that were never made.
    throw new KitError('WAL_NOT_ARCHIVED', `${name} is not in the archive (${archive.where}).`);
  }
}
