/**
 * One error model for the whole kit. Every failure a user can cause or meet is a KitError with a
 * code; the code decides the exit status (documented in the README's exit code table) and the
 * message says what to do about it.
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

/** Every code with its exit status, for the README table and its test. */
export function errorCodeTable(): Array<{ code: ErrorCode; kind: ExitKind; exit: number }> {
  return (Object.keys(CODE_KIND) as ErrorCode[]).map((code) => ({
    code,
    kind: CODE_KIND[code],
    exit: EXIT_CODES[CODE_KIND[code]],
  }));
}
