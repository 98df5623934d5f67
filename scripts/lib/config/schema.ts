/**
 * The schema of backup-kit.json: every key, its type, and a message that says what is wanted.
 * The TypeScript types of the configuration are derived from it.
 */
import { z } from 'zod';

const WHOLE = 'must be a whole number ≥ 0';
const wholeNumber = z.number({ error: WHOLE }).int({ error: WHOLE }).nonnegative({ error: WHOLE });
const text = (what: string) => z.string({ error: `must be ${what}` }).min(1, { error: `must be ${what}` });
const flag = z.boolean({ error: 'must be true or false' });

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export const RetentionConfigSchema = z.strictObject({
  daily: wholeNumber.optional(),
  weekly: wholeNumber.optional(),
  monthly: wholeNumber.optional(),
  keepLast: wholeNumber.optional(),
  maxAgeDays: wholeNumber.optional(),
  perType: z.record(z.string(), wholeNumber, { error: 'must be an object like { "pre-migrate": 10 }' }).optional(),
  timeZone: text('a time zone such as Europe/Berlin').refine(isTimeZone, { error: 'is not a time zone (e.g. Europe/Berlin)' }).optional(),
});

export const EncryptionConfigSchema = z.strictObject(
  {
    /** age public keys that backups are encrypted to (never a secret key). */
    recipients: z.array(z.string({ error: 'must be an age public key' }), { error: 'must be a list of age public keys' }).optional(),
    /** A file of recipients, one per line, relative to the repository root. */
    recipientsFile: text('a path').optional(),
  },
  { error: 'must be an object like { "recipients": ["age1…"] }' },
);

const share = z.number({ error: 'must be a number above 0 and at most 1' }).gt(0, { error: 'must be a number above 0 and at most 1' }).lte(1, { error: 'must be a number above 0 and at most 1' });

/** db:export --differential: which column tells a changed row, and when a chain ends. */
export const DifferentialConfigSchema = z.strictObject(
  {
    /** Per table ("schema.table", as db:export names it): the basis column; default updated_at. */
    basis: z.record(z.string(), text('a column name'), { error: 'must be an object like { "app.orders": "modified_at" }' }).optional(),
    /** Differentials after a full export before the next is full by itself (default 7). */
    maxChain: wholeNumber.optional(),
    /** A differential larger than this share of the full export's rows is taken full instead (default 0.5). */
    maxShare: share.optional(),
    /** The zone `timestamp without time zone` basis columns are written in (default: the database's TimeZone). */
    timeZone: text('a time zone such as Europe/Berlin').refine(isTimeZone, { error: 'is not a time zone (e.g. Europe/Berlin)' }).optional(),
  },
  { error: 'must be an object like { "basis": { "app.orders": "modified_at" }, "maxChain": 7 }' },
);

/** db:sql and the console's sql: the role read-only sessions run as (config/sql-role.ts). */
export const SqlConfigSchema = z.strictObject(
  { readOnlyRole: text('a role name').optional() },
  { error: 'must be an object like { "readOnlyRole": "kit_reader" }' },
);

export const EnvironmentConfigSchema = z.strictObject(
  {
    protected: flag.optional(),
    sql: SqlConfigSchema.optional(),
    /** Offsite copies (config/remote.ts checks the inside). */
    remote: z.unknown().optional(),
    /** Overrides the top-level encryption; { "recipients": [] } switches it off. */
    encryption: EncryptionConfigSchema.optional(),
  },
  { error: 'must be an object like { "protected": true }' },
);

export const ConfigSchema = z.strictObject(
  {
    $comment: z.unknown().optional(),
    $schema: z.unknown().optional(),
    /** Backup root (BACKUP_DIR overrides). */
    backupDir: text('a directory path').optional(),
    /** Run log file; {command} is replaced by the command's name (LOG_FILE overrides). */
    logFile: text('a file path').optional(),
    /** Environments that need a typed confirmation; default: prod and production. */
    protected: z.array(text('an environment name'), { error: 'must be a list of environment names' }).optional(),
    /** Where db:sync and db:refresh take data from when --from is not given. */
    sync: z.strictObject({ from: text('an environment name').optional() }, { error: 'must be an object like { "from": "prod" }' }).optional(),
    retention: RetentionConfigSchema.optional(),
    /** The application's migration command for db:migrate:safe (MIGRATE_COMMAND overrides). */
    migrate: z.strictObject({ command: text('a command line').optional() }, { error: 'must be an object like { "command": "pnpm db:migrate" }' }).optional(),
    /** Webhook for failure (and optionally success) notices (NOTIFY_URL overrides). */
    notify: z.strictObject({ url: text('a URL').optional(), onSuccess: flag.optional() }, { error: 'must be an object like { "url": "https://…" }' }).optional(),
    /** Offsite copies for every environment unless one sets its own (config/remote.ts). */
    remote: z.unknown().optional(),
    /** Encrypt every backup with age to these recipients (AGE_RECIPIENTS overrides). */
    encryption: EncryptionConfigSchema.optional(),
    /** Table exports (db:export): differential chains. */
    export: z.strictObject({ differential: DifferentialConfigSchema.optional() }, { error: 'must be an object like { "differential": { "maxChain": 7 } }' }).optional(),
    /** db:sql: read-only sessions SET ROLE to this role, one without server-program or server-file rights. */
    sql: SqlConfigSchema.optional(),
    /** Per-environment overrides. */
    environments: z.record(z.string(), EnvironmentConfigSchema, { error: 'must be an object of environment names' }).optional(),
  },
  { error: 'must hold one JSON object of settings, like { "backupDir": "backups" }' },
);

export type KitConfig = z.infer<typeof ConfigSchema>;
export type EnvironmentConfig = z.infer<typeof EnvironmentConfigSchema>;
export type EncryptionConfig = z.infer<typeof EncryptionConfigSchema>;
export type DifferentialConfig = z.infer<typeof DifferentialConfigSchema>;

export const TOP_LEVEL_KEYS = Object.keys(ConfigSchema.shape).filter((k) => !k.startsWith('$'));

/** Every problem of a parsed file, each naming its key: "backupDir must be a directory path". */
export function configProblems(error: z.ZodError): string[] {
  return error.issues.flatMap((issue) => {
    const where = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => (where ? `${where}.${key} is unknown` : `unknown setting "${key}" (known: ${TOP_LEVEL_KEYS.join(', ')})`));
    }
    return [where ? `${where} ${issue.message}` : `the file ${issue.message}`];
  });
}
