/** Errors from writing a backup's files, in the kit's vocabulary (one exit code each). */
import { KitError } from '../errors.js';

export function storageError(error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new KitError('DISK_FULL', 'The disk filled up during the backup. No backup was written; partial files were removed. Free space or set BACKUP_DIR to a larger disk.', { cause: error });
  }
  if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') {
    return new KitError('BACKUP_DIR_UNWRITABLE', `Writing the backup failed (${code}). Fix the backup directory's permissions or set BACKUP_DIR.`, { cause: error });
  }
  return error;
}
