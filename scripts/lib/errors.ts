/**
 * One error model for the whole kit. Every failure a user can cause or meet is a KitError with a
 * code; the code decides the exit status (docs/reference/exit-codes.md is generated from
 * EXIT_MEANING and errorCodeTable()) and the message says what to do about it.
 */

export const EXIT_CODES = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  CONFIG: 3,
  CONNECTION: 4,
  AUTH: 5,
  DATABASE_MISSING: 6,
  TOOLS: 7,
  STORAGE: 8,
  LOCKED: 9,
  DUMP_FAILED: 10,
  NOTHING_MATCHED: 11,
  INTEGRITY: 12,
  NOT_CONFIRMED: 13,
  RESTORE_FAILED: 14,
  VERIFY_MISMATCH: 15,
  PRECHECK: 16,
  NOT_FOUND: 17,
  MIGRATION_FAILED: 18,
  ROLLBACK_FAILED: 19,
  // Reserved for the capabilities being built now, so each owns one status:
  REMOTE: 20, // object storage: unreachable, denied, missing bucket, upload failed
  ENCRYPTION: 21, // age: no or wrong identity, decryption failed, encryption cannot run
  PHYSICAL: 22, // physical backups and recovery: pre-checks, target not reached
  WAL_ARCHIVE: 23, // the continuous WAL archive: gap, conflicting segment, stuck
  EXPORT: 24, // table exports, imports and differential chains
  INTERRUPTED: 130,
} as const;

export type ExitKind = keyof typeof EXIT_CODES;

/** What each exit status means and what to do about it: the exit-code reference is generated from this. */
export const EXIT_MEANING: Record<ExitKind, string> = {
  OK: 'success',
  INTERNAL: 'a bug in the kit: please report it with the message',
  USAGE: 'bad command line; the message names the flag and `--help` lists them',
  CONFIG: 'no or malformed connection settings, an env file (`--env-file` or the default one) that is a directory or cannot be read, a backup-kit.json that is not valid (every wrong key named at once, or a secret in it), or a malformed remote (bad `s3://` URL or endpoint, a credential in backup-kit.json, half a key pair); the message says where they are read from',
  CONNECTION: 'no server answers (down, wrong host or port, lost mid-backup); start it, fix the URL, or use `--wait`',
  AUTH: 'the server rejected the user or password',
  DATABASE_MISSING: 'the database named in the URL does not exist',
  TOOLS: 'no pg_dump/pg_restore/psql, or none new enough for the server or the archive; install the named package or set `PG_BIN`',
  STORAGE: 'the backup directory cannot take the backup; fix permissions, free space, or set `BACKUP_DIR`',
  LOCKED: 'another run holds this environment\'s lock (wait, or remove a stale lock file as the message says); or a restore or drop waited longer than `--lock-timeout` for a table lock held by another session, which the message names',
  DUMP_FAILED: 'pg_dump failed (its own message is quoted; a lock wait timeout names the table) or produced an implausible artifact',
  NOTHING_MATCHED: 'a `--table`/`--schema` pattern matched nothing',
  INTEGRITY: 'the backup file is damaged: checksum mismatch, truncated, undecodable, or not a backup at all; nothing was changed',
  NOT_CONFIRMED: 'the restore (import, destructive statement) was not confirmed: declined, no terminal and no `--force`, or a protected target without `--confirm <database>`; nothing was changed',
  RESTORE_FAILED: 'the restore failed part-way (PostgreSQL\'s message is quoted) and was rolled back; the target is unchanged',
  VERIFY_MISMATCH: 'the restored data did not match the backup\'s row counts; rolled back, the target is unchanged',
  PRECHECK: 'a pre-check failed before anything changed: roles, extensions or tables the restore (or a whole `db:import`) needs are missing, or the target server\'s version of an extension is older than the backup\'s, `--deep` may not create its scratch database, the mode does not fit the file\'s format, a plain script runs psql meta-commands or ends the restore\'s transaction itself (pg_dump writes neither), or a sync\'s source and target are the same database',
  NOT_FOUND: 'no such backup file or id, or no complete backup for `--latest`; or (`wal-fetch`, run by a restored server\'s restore_command) the WAL file asked for is not in the archive, which recovery takes as the archive\'s end',
  MIGRATION_FAILED: '`db:migrate:safe`: the migration failed and the database was restored from the pre-migrate backup (the message names it)',
  ROLLBACK_FAILED: '`db:migrate:safe`: the migration failed and so did the rollback; the message gives the command to restore by hand',
  REMOTE: 'the object store failed: unknown or unreachable endpoint (or it went away mid-upload), credentials rejected, access denied (to the bucket or one object, which is named), no such bucket, this machine\'s clock off by more than 15 minutes, or any other failure. A backup whose upload failed is kept complete locally; `pnpm db:push` uploads it later',
  ENCRYPTION: 'age encryption: recipients are configured but unusable or the `age` program cannot run (nothing was written), no identity or one that does not fit the backup, an encrypted file that fails to authenticate, or `db:keygen` refusing to overwrite an identity; nothing was changed',
  PHYSICAL: 'physical backups and recovery: a pre-check failed (the message names the setting, privilege or pg_hba.conf line to change), pg_basebackup failed (quoted), the restore target is a running server\'s or a non-empty directory, the restored server did not start (its log is quoted; a replaced directory was put back), or the recovery target lies beyond the archived WAL (nothing was opened at the wrong moment); a failed `--replace` puts the old directory back and keeps the failed one aside as `<dir>.kit-failed-<time>`, named in the message',
  WAL_ARCHIVE: 'the WAL archive: a segment could not be stored (PostgreSQL retries it), a different segment of the same name is already archived (never overwritten: find out which server writes here), segments are missing between a base backup and the newest WAL (take a new base backup), or archiving is failing or falling behind (`db:wal:status` says since when)',
  EXPORT: 'exports and the SQL console: an export\'s file is missing or differs from its metadata.json (the import rolled back), the export\'s columns differ from the target\'s (named), tables that cannot be differential (every one named; or `--skip-unsuitable`), a user that cannot see other sessions\' transactions (grant `pg_read_all_stats`; MySQL: `PROCESS`), a differential chain that is broken or a differential imported on its own (the message names the missing link or gives the `--until` command), a write in a read-only `db:sql` session (add `--write`), or the statement failed (PostgreSQL\'s message quoted)',
  INTERRUPTED: 'stopped by Ctrl-C or SIGTERM; partial files were removed',
};

/** Each code names one situation; `kind` groups codes into the exit statuses above. */
const CODE_KIND = {
  USAGE: 'USAGE',
  UNKNOWN_FLAG: 'USAGE',
  BAD_FORMAT: 'USAGE',
  BAD_ARGUMENT: 'USAGE',
  NO_DATABASE_URL: 'CONFIG',
  BAD_DATABASE_URL: 'CONFIG',
  ENV_FILE_MISSING: 'CONFIG',
  BAD_CONFIG: 'CONFIG',
  REMOTE_CONFIG: 'CONFIG',
  ENV_FILE_UNREADABLE: 'CONFIG',
  BAD_RECIPIENT: 'ENCRYPTION',
  ENCRYPTION_UNAVAILABLE: 'ENCRYPTION',
  IDENTITY_MISSING: 'ENCRYPTION',
  IDENTITY_UNREADABLE: 'ENCRYPTION',
  IDENTITY_MISMATCH: 'ENCRYPTION',
  DECRYPTION_FAILED: 'ENCRYPTION',
  KEY_EXISTS: 'ENCRYPTION',
  SERVER_UNREACHABLE: 'CONNECTION',
  UNKNOWN_HOST: 'CONNECTION',
  AUTH_FAILED: 'AUTH',
  DATABASE_MISSING: 'DATABASE_MISSING',
  PG_TOOL_MISSING: 'TOOLS',
  PG_DUMP_TOO_OLD: 'TOOLS',
  BACKUP_DIR_UNWRITABLE: 'STORAGE',
  DISK_FULL: 'STORAGE',
  INSUFFICIENT_SPACE: 'STORAGE',
  REMOTE_UNREACHABLE: 'REMOTE',
  REMOTE_CREDENTIALS: 'REMOTE',
  REMOTE_DENIED: 'REMOTE',
  REMOTE_BUCKET_MISSING: 'REMOTE',
  REMOTE_CLOCK_SKEW: 'REMOTE',
  REMOTE_FAILED: 'REMOTE',
  LOCKED: 'LOCKED',
  LOCK_TIMEOUT: 'LOCKED',
  PG_DUMP_FAILED: 'DUMP_FAILED',
  ARTIFACT_IMPLAUSIBLE: 'DUMP_FAILED',
  NOTHING_MATCHED: 'NOTHING_MATCHED',
  ARCHIVE_TOO_NEW: 'TOOLS',
  INTEGRITY_FAILED: 'INTEGRITY',
  NOT_CONFIRMED: 'NOT_CONFIRMED',
  PROTECTED_TARGET: 'NOT_CONFIRMED',
  DESTRUCTIVE_STATEMENT: 'NOT_CONFIRMED',
  RESTORE_FAILED: 'RESTORE_FAILED',
  ROW_COUNT_MISMATCH: 'VERIFY_MISMATCH',
  MISSING_ROLES: 'PRECHECK',
  MISSING_EXTENSIONS: 'PRECHECK',
  UNSUPPORTED_MODE: 'PRECHECK',
  SCRIPT_REFUSED: 'PRECHECK',
  NO_CREATEDB: 'PRECHECK',
  MISSING_TABLES: 'PRECHECK',
  SAME_DATABASE: 'PRECHECK',
  BACKUP_NOT_FOUND: 'NOT_FOUND',
  WAL_NOT_ARCHIVED: 'NOT_FOUND',
  MIGRATION_FAILED: 'MIGRATION_FAILED',
  ROLLBACK_FAILED: 'ROLLBACK_FAILED',
  PHYSICAL_PRECHECK: 'PHYSICAL',
  BASEBACKUP_FAILED: 'PHYSICAL',
  TARGET_DIR_IN_USE: 'PHYSICAL',
  RECOVERY_FAILED: 'PHYSICAL',
  RECOVERY_TARGET_NOT_REACHED: 'PHYSICAL',
  WAL_PUSH_FAILED: 'WAL_ARCHIVE',
  WAL_SEGMENT_CONFLICT: 'WAL_ARCHIVE',
  WAL_GAP: 'WAL_ARCHIVE',
  WAL_ARCHIVE_STUCK: 'WAL_ARCHIVE',
  EXPORT_DAMAGED: 'EXPORT',
  EXPORT_MISMATCH: 'EXPORT',
  DIFFERENTIAL_UNSUITABLE: 'EXPORT',
  BOUNDARY_UNSEEN: 'EXPORT',
  CHAIN_BROKEN: 'EXPORT',
  READ_ONLY: 'EXPORT',
  SQL_FAILED: 'EXPORT',
  INTERRUPTED: 'INTERRUPTED',
  INTERNAL: 'INTERNAL',
} as const satisfies Record<string, ExitKind>;

export type ErrorCode = keyof typeof CODE_KIND;

export class KitError extends Error {
  readonly code: ErrorCode;
  /** The failing tool's own words, when there are any (already redacted). */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, options: { detail?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'KitError';
    this.code = code;
    this.detail = options.detail;
  }

  get exitCode(): number {
    return EXIT_CODES[CODE_KIND[this.code]];
  }
}

export function exitCodeOf(error: unknown): number {
  return error instanceof KitError ? error.exitCode : EXIT_CODES.INTERNAL;
}

/** Every code with its exit status, for the exit-code reference and its test. */
export function errorCodeTable(): Array<{ code: ErrorCode; kind: ExitKind; exit: number }> {
  return (Object.keys(CODE_KIND) as ErrorCode[]).map((code) => ({
    code,
    kind: CODE_KIND[code],
    exit: EXIT_CODES[CODE_KIND[code]],
  }));
}
