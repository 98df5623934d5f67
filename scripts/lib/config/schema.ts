/**
 * The schema of backup-kit.json: every key, its type, and a message that says what is wanted.
 * The TypeScript types of the configuration are derived from it.
 */
import { z } from 'zod';

const WHOLE = 'must be a whole number ≥ 0';
const wholeNumber = z.number({ error: WHOLE }).int({ error: WHOLE }).nonnegative({ error: WHOLE });
const text = (what: string) => z.string({ error: `must be ${what}` }).min(1, { error: `must be ${what}` });
const flag = z.boolean({ error: 'must be true or false' });

/**
 * What the configuration reference says about a key: its meaning and, where the kit has one, its
 * default (text for people, as the reference shows it). Parsing never reads either.
 */
function doc<T extends z.ZodType>(schema: T, description: string, fallback?: string): T {
  return schema.meta({ description, ...(fallback === undefined ? {} : { kitDefault: fallback }) });
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export const RetentionConfigSchema = z.strictObject({
  daily: doc(wholeNumber, 'keep the newest backup of each of this many days', '`7`').optional(),
  weekly: doc(wholeNumber, 'keep the newest backup of each of this many weeks', '`4`').optional(),
  monthly: doc(wholeNumber, 'keep the newest backup of each of this many months', '`12`').optional(),
  keepLast: doc(wholeNumber, 'keep the newest N backups whatever their dates', '`0`').optional(),
  maxAgeDays: doc(wholeNumber, 'delete anything older than this many days (the newest backup excepted)', 'no limit').optional(),
  perType: doc(
    z.record(z.string(), wholeNumber, { error: 'must be an object like { "pre-migrate": 10 }' }),
    'backup types kept by their own count instead of the calendar rules, like { "pre-migrate": 10 }',
    '10 each of pre-migrate, pre-restore, pre-drop and export',
  ).optional(),
  timeZone: doc(text('a time zone such as Europe/Berlin').refine(isTimeZone, { error: 'is not a time zone (e.g. Europe/Berlin)' }), 'the zone days, weeks and months are counted in', '`UTC`').optional(),
});

export const EncryptionConfigSchema = z.strictObject(
  {
    recipients: doc(z.array(z.string({ error: 'must be an age public key' }), { error: 'must be a list of age public keys' }), 'age public keys backups are encrypted to (never a secret key)', 'none: not encrypted').optional(),
    recipientsFile: doc(text('a path'), 'a file of age public keys, one per line, relative to the repository root').optional(),
  },
  { error: 'must be an object like { "recipients": ["age1…"] }' },
);

const share = z.number({ error: 'must be a number above 0 and at most 1' }).gt(0, { error: 'must be a number above 0 and at most 1' }).lte(1, { error: 'must be a number above 0 and at most 1' });

/** db:export --differential: which column tells a changed row, and when a chain ends. */
export const DifferentialConfigSchema = z.strictObject(
  {
    basis: doc(
      z.record(z.string(), text('a column name'), { error: 'must be an object like { "app.orders": "modified_at" }' }),
      'per table ("schema.table", as db:export names it), the basis column of db:export --differential',
      '`updated_at`',
    ).optional(),
    maxChain: doc(wholeNumber, 'differentials after a full export before the next export is full by itself', '`7`').optional(),
    maxShare: doc(share, "a differential with more changed rows than this share of the full export's is taken full instead", '`0.5`').optional(),
    timeZone: doc(
      text('a time zone such as Europe/Berlin').refine(isTimeZone, { error: 'is not a time zone (e.g. Europe/Berlin)' }),
      'the zone `timestamp` (without time zone) basis columns are written in',
      "the database's `TimeZone`",
    ).optional(),
  },
  { error: 'must be an object like { "basis": { "app.orders": "modified_at" }, "maxChain": 7 }' },
);

/** db:sql and the console's sql: the role read-only sessions run as (config/sql-role.ts). */
export const SqlConfigSchema = z.strictObject(
  { readOnlyRole: doc(text('a role name'), 'the role db:sql (and the console\'s sql) runs read-only sessions as (SET LOCAL ROLE)', "none: the connection's own user").optional() },
  { error: 'must be an object like { "readOnlyRole": "kit_reader" }' },
);

export const EnvironmentConfigSchema = z.strictObject(
  {
    protected: doc(flag, 'whether this environment needs a typed confirmation (wins over the protected list)').optional(),
    sql: SqlConfigSchema.optional(),
    /** config/remote.ts checks the inside. */
    remote: doc(z.unknown(), 'offsite copies for this environment, as the top-level remote').optional(),
    encryption: doc(EncryptionConfigSchema, 'the top-level encryption for this environment only; { "recipients": [] } switches it off').optional(),
  },
  { error: 'must be an object like { "protected": true }' },
);

export const ConfigSchema = z.strictObject(
  {
    $comment: z.unknown().optional(),
    $schema: z.unknown().optional(),
    backupDir: doc(text('a directory path'), 'backup root (BACKUP_DIR overrides)', '`backups`').optional(),
    logFile: doc(text('a file path'), "run log; {command} becomes the command's name (LOG_FILE overrides)", '`backups/<command>.log`').optional(),
    protected: doc(z.array(text('an environment name'), { error: 'must be a list of environment names' }), 'environments that need a typed confirmation', '`["prod", "production"]`').optional(),
    sync: z
      .strictObject({ from: doc(text('an environment name'), 'where db:sync and db:refresh take data from when --from is not given', '`prod`').optional() }, { error: 'must be an object like { "from": "prod" }' })
      .optional(),
    retention: RetentionConfigSchema.optional(),
    migrate: z
      .strictObject({ command: doc(text('a command line'), "the application's migration command for db:migrate:safe (MIGRATE_COMMAND overrides)", '`pnpm db:migrate`').optional() }, { error: 'must be an object like { "command": "pnpm db:migrate" }' })
      .optional(),
    notify: z
      .strictObject(
        {
          url: doc(text('a URL'), 'webhook posted to when a command fails (NOTIFY_URL overrides)', 'none').optional(),
          onSuccess: doc(flag, 'also post when a command succeeds', '`false`').optional(),
        },
        { error: 'must be an object like { "url": "https://…" }' },
      )
      .optional(),
    /** config/remote.ts checks the inside. */
    remote: doc(
      z.unknown(),
      'offsite copies for every environment unless one sets its own: { "url": "s3://bucket/prefix" } (or "file:///a/mounted/directory") with optional endpoint, region, forcePathStyle, partSizeMiB (8), connectTimeoutSeconds (10), requestTimeoutSeconds (60), attempts (3) and retention (the remote\'s own counts)',
      'none',
    ).optional(),
    encryption: doc(EncryptionConfigSchema, 'encrypt every backup with age to these recipients (AGE_RECIPIENTS overrides)').optional(),
    export: z.strictObject({ differential: DifferentialConfigSchema.optional() }, { error: 'must be an object like { "differential": { "maxChain": 7 } }' }).optional(),
    sql: SqlConfigSchema.optional(),
    environments: doc(z.record(z.string(), EnvironmentConfigSchema, { error: 'must be an object of environment names' }), 'per-environment settings, by environment name').optional(),
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
