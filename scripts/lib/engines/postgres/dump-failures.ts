/** pg_dump's own words mapped to the kit's errors, so the message says what to do next. */
import { KitError } from '../../errors.js';

export function explainDumpFailure(stderr: string): KitError | undefined {
  const quote = lastLine(stderr);
  if (/no matching (tables|schemas|foreign servers|extensions) were found/i.test(stderr)) {
    return new KitError('NOTHING_MATCHED', `${quote}. Check the --table/--schema names (patterns are case-sensitive; quote mixed-case names, e.g. --table '"MyTable"'). No backup was written.`);
  }
  // pg_dump waits for each table lock under a statement timeout of --lock-wait-timeout.
  const lockedTable = /Query was: LOCK TABLE (.+?) IN ACCESS SHARE MODE/i.exec(stderr)?.[1];
  if (lockedTable || /could not obtain lock|canceling statement due to lock timeout/i.test(stderr)) {
    const what = lockedTable ? `could not obtain lock on table "${lockedTable}" in time` : quote;
    return new KitError('PG_DUMP_FAILED', `${what}: another session holds a conflicting lock (often a migration or ALTER TABLE). Retry when it has finished, or raise --lock-wait-timeout. No backup was written.`);
  }
  if (/No space left on device/i.test(stderr)) {
    return new KitError('DISK_FULL', `The disk filled up during the backup (${quote}). No backup was written; partial files were removed. Free space or set BACKUP_DIR to a larger disk.`);
  }
  if (/aborting because of server version mismatch/i.test(stderr)) {
    return new KitError('PG_DUMP_TOO_OLD', `${quote}. Install a pg_dump at least as new as the server, or set PG_BIN to its bin directory.`);
  }
  if (/server closed the connection|terminating connection|connection to server .* failed|could not receive data|SSL SYSCALL/i.test(stderr)) {
    return new KitError('SERVER_UNREACHABLE', `The connection to the server was lost during the backup (${quote}). No backup was written; check the server and run the backup again.`);
  }
  return undefined;
}

function lastLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const error = lines.filter((l) => /error|fatal/i.test(l)).at(-1) ?? lines.at(-1) ?? 'pg_dump failed';
  return error.replace(/\.$/, '');
}
