/**
 * The environment variables the kit reads, for the configuration reference. A unit test reads
 * the sources for every variable they look up and fails when one is in neither list.
 */

export interface VariableDoc {
  /** The variable, and the other spellings read as the same setting. */
  names: readonly string[];
  meaning: string;
  default: string;
}

export const KIT_VARIABLES: readonly VariableDoc[] = [
  { names: ['DATABASE_URL'], meaning: 'the connection: `postgresql://` (libpq URL form), or `mysql://` / `mariadb://` for MySQL and MariaDB; see docs on where the connection comes from', default: 'read from packages/database/.env' },
  { names: ['DB_HOST', 'DB_PORT', 'DB_USER', 'DB_USERNAME', 'DB_PASSWORD', 'DB_DATABASE', 'DB_NAME'], meaning: 'the connection as discrete variables, when there is no DATABASE_URL', default: 'unset' },
  { names: ['DB_ENGINE'], meaning: 'the engine the discrete variables connect to: `postgresql`, or `mysql` (also `mariadb`) for MySQL and MariaDB (port 3306, user root by default)', default: '`postgresql`' },
  { names: ['SOURCE_DATABASE_URL'], meaning: 'the source of `db:sync` (instead of `packages/database/.env.<from>`)', default: 'unset' },
  { names: ['VERIFY_DATABASE_URL'], meaning: "server for `db:verify --deep`'s scratch database", default: "the environment's server" },
  { names: ['BACKUP_DIR'], meaning: 'backup root; each environment gets a subdirectory (wins over backupDir)', default: '`backups`' },
  { names: ['LOG_FILE'], meaning: 'the run log (wins over logFile)', default: '`backups/<command>.log`' },
  { names: ['PG_BIN'], meaning: 'the only directory to take `pg_dump`/`pg_restore`/`psql` from', default: 'searched: PATH and the usual install directories' },
  { names: ['PG_SERVER_BIN'], meaning: 'the directory of `initdb`/`pg_ctl` for `pnpm demo` and physical restores that start a server', default: 'searched' },
  { names: ['PGPASSFILE'], meaning: "libpq's password file, for a connection without a password", default: '`~/.pgpass`' },
  { names: ['PROGRESS_INTERVAL'], meaning: 'seconds between progress lines without a terminal', default: '`10`' },
  { names: ['MIGRATE_COMMAND'], meaning: "`db:migrate:safe`'s migration command (wins over migrate.command)", default: '`pnpm db:migrate`' },
  { names: ['NOTIFY_URL'], meaning: 'webhook posted to when a command fails (wins over notify.url)', default: 'unset' },
  { names: ['GITHUB_OUTPUT'], meaning: 'set by GitHub Actions: commands append their key=value results to it', default: 'unset' },
  { names: ['DEBUG'], meaning: "when set, a failing tool's full stderr is printed after the message", default: 'unset' },
  { names: ['AGE_RECIPIENTS'], meaning: 'age public keys to encrypt backups to (commas or spaces); wins over the config file', default: 'unset' },
  { names: ['AGE_RECIPIENTS_FILE'], meaning: 'a file of age public keys, one per line', default: 'unset' },
  { names: ['AGE_IDENTITY_FILE'], meaning: 'the age identity (secret key) file for restoring and verifying encrypted backups', default: 'unset' },
  { names: ['AGE_BIN'], meaning: 'the `age` program to run', default: '`age` on `PATH`' },
  { names: ['XDG_CONFIG_HOME'], meaning: '`db:keygen` writes the identity under it (`pg-backup-kit/`)', default: '`~/.config`' },
  { names: ['EXPORT_RANGE_BYTES'], meaning: '`db:export`: a table at least twice this size on disk is copied in ranges of this size, at most `--jobs` at once (PostgreSQL 14+)', default: '`33554432` (32 MiB)' },
  { names: ['BACKUP_REMOTE'], meaning: '`s3://bucket/prefix` when neither `--remote` nor backup-kit.json names one', default: 'unset' },
  { names: ['AWS_ACCESS_KEY_ID', 'AWS_ACCESS_KEY'], meaning: "the remote's access key", default: 'unset' },
  { names: ['AWS_SECRET_ACCESS_KEY', 'AWS_SECRET_KEY'], meaning: "the remote's secret key", default: 'unset' },
  { names: ['AWS_SESSION_TOKEN'], meaning: 'a session token for temporary credentials', default: 'unset' },
  { names: ['AWS_PROFILE'], meaning: 'a profile of the AWS shared configuration, instead of keys', default: 'unset' },
  { names: ['AWS_REGION', 'AWS_DEFAULT_REGION'], meaning: "the remote's region", default: '`us-east-1`' },
  { names: ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'], meaning: "the remote's endpoint, when neither `--endpoint` nor backup-kit.json names one", default: 'AWS' },
];

/**
 * Variables the sources mention that are not settings: what the kit sets for its children or for
 * a library, what every program inherits, and hooks its own tests use.
 */
export const NOT_SETTINGS: readonly string[] = [
  'PATH', 'HOME', 'LANG',
  // set for child tools from the target (never read from the user's environment: removed first)
  'PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE', 'PGOPTIONS', 'PGAPPNAME', 'PGCONNECT_TIMEOUT',
  'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
  // the test harness's hooks, and the counts a run reports for the benchmark (proc/trace.ts)
  'KIT_EXIT_CHECK', 'KIT_EXIT_CHECK_LEAK', 'PGKIT_TEST_PAUSE', 'BACKUP_KIT_LAUNCHER', 'KIT_TRACE',
];
