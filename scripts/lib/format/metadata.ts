/**
 * The .info file: a backup exists only when this does. Versioned JSON, written last and
 * atomically; docs/10-how-it-works.md documents every field. Never holds a password.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { FORMATS, type Format } from './naming.js';
import { restoreCommandLine } from '../text/restore-command.js';

export const INFO_SCHEMA = 'pg-backup-kit/backup-info';
export const INFO_VERSION = 1;
/**
 * The database engines a backup can come from. A .info without `engine` was written before the
 * field existed, when PostgreSQL was the only engine, so it reads as 'postgresql'. 'mysql' is one
 * engine for MySQL and MariaDB: which of the two served the backup is database.flavour.
 */
export const ENGINE_NAMES = ['postgresql', 'mysql'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];
export const DEFAULT_ENGINE: EngineName = 'postgresql';
/** The servers behind engine mysql: the .info says which, as a restore and a tool fit depend on it. */
export const SERVER_FLAVOURS = ['MariaDB', 'MySQL'] as const;
export type ServerFlavour = (typeof SERVER_FLAVOURS)[number];
/** `engine` in every kind of .info: absent (an older kit) means PostgreSQL. */
export const EngineField = z.enum(ENGINE_NAMES).default(DEFAULT_ENGINE).describe('The database engine the backup came from. Absent in backups of older kits, which are PostgreSQL.');
/** Where the JSON Schema of .info is published in the repository (generated from InfoSchema). */
export const INFO_JSON_SCHEMA_PATH = 'scripts/schema/backup-info.schema.json';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in hex');
const count = z.number().int().nonnegative();
/** A file name in the backup's own directory: never a path that could reach elsewhere. */
const fileName = z.string().regex(/^[^/\\]+$/, 'a file name without directories').refine((n) => n !== '.' && n !== '..', 'a file name');
const timestamp = z.iso.datetime({ offset: true });
/**
 * An artifact's name: a file beside the .info, or a file inside the backup's own directory
 * ("<id>/data/public.t.csv", a directory export). Relative, without "." or ".." segments.
 */
const artifactName = z
  .string()
  .regex(/^[^/\\]+(?:\/[^/\\]+)*$/, 'a file name, or a path inside the backup\'s own directory')
  .refine((n) => n.split('/').every((s) => s !== '.' && s !== '..'), 'a path without . or .. segments');

/**
 * What an artifact holds: a dump in one of the formats, the roles it needs (globals.sql), a table
 * export's zip, or one file of a directory export.
 */
export const ARTIFACT_FORMATS = [...FORMATS, 'globals', 'zip', 'export-file'] as const;

export const ArtifactInfoSchema = z.object({
  file: artifactName,
  // 'zip': a table export (db:export --zip), whose own metadata.json lists every file inside it;
  // 'export-file': one file of a directory export (<id>/metadata.json, <id>/data/*.csv, …)
  format: z.enum(ARTIFACT_FORMATS),
  bytes: count.describe('Size of the file as stored (for an encrypted artifact: the age file).'),
  sha256: hex64.describe('sha256 of the file as stored.'),
  plain: z.object({ bytes: count, sha256: hex64 }).optional().describe('An encrypted artifact\'s plaintext: exactly what age -d gives back.'),
});

/** How a backup was encrypted: public keys only, never a secret. */
export const EncryptionInfoSchema = z.object({
  method: z.literal('age'),
  recipients: z.array(z.string().regex(/^age1[0-9a-z]+$/)).min(1),
  configuredBy: z.string().describe('Where the recipients were configured (AGE_RECIPIENTS, backup-kit.json …).'),
});

/** The roles saved with the backup (globals.sql). */
export const RolesInfoSchema = z.object({
  file: fileName,
  roles: z.array(z.string()),
  passwords: z.boolean().describe('Whether globals.sql carries password hashes (the backup\'s user could read them).'),
});

/** An extension the backup's CREATE EXTENSION statements install, as the source had it. */
export const ExtensionInfoSchema = z.object({
  name: z.string().min(1),
  version: z.string().describe('pg_extension.extversion in the source database.'),
  schema: z.string(),
});

export const StatisticsSourceSchema = z.enum(['plain-stream', 'archive', 'none']);

export const TableStatsSchema = z.object({ rows: count, fingerprint: z.string() });
export const SequenceStateSchema = z.object({ value: z.string(), isCalled: z.boolean() });

/** What every kind of .info says about the run that made it, in this order. */
export const RUN_FIELDS = {
  type: z.string().min(1),
  description: z.string(),
  environment: z.string().min(1),
  startedAt: timestamp,
  finishedAt: timestamp,
  durationMs: count,
};

/** Where each copy of a backup lives; the same in every kind of .info. */
export const CopiesSchema = z
  .object({ local: z.string().optional(), remote: z.string().optional() })
  .optional()
  .describe('Where each copy lives: the local directory and/or the s3:// location of the remote .info.');

/**
 * The .info, version 1. Other capabilities add their own fields next to these (the object is
 * loose: unknown fields pass through untouched); the fields below must always hold.
 */
export const InfoSchema = z.looseObject({
  $schema: z.string().optional().describe('The JSON Schema of this file, for editors.'),
  schema: z.literal(INFO_SCHEMA),
  version: z.literal(INFO_VERSION),
  engine: EngineField,
  id: z.string().regex(/^backup_[a-z0-9][a-z0-9-]*_\d{8}_\d{6}(?:_\d+)?$/),
  ...RUN_FIELDS,
  database: z.object({
    name: z.string(),
    host: z.string(),
    port: z.number().int().min(0).max(65535),
    user: z.string(),
    serverVersion: z.string(),
    serverVersionNum: count,
    sizeBytes: count,
    /** Where the connection settings came from: --url, the environment, or an env file's path. */
    configuredBy: z.string(),
    flavour: z
      .enum(SERVER_FLAVOURS)
      .optional()
      .describe('Which server of the engine served the backup: MariaDB or MySQL for engine mysql (their dumps differ). Absent for PostgreSQL.'),
  }),
  tool: z.object({ name: z.string(), version: z.string(), node: z.string() }),
  pgDump: z.object({ path: z.string(), version: z.string() }).describe('The dump program that wrote the backup (pg_dump; mariadb-dump or mysqldump for engine mysql) and its version.'),
  snapshot: z.object({
    id: z.string(),
    isolation: z.literal('repeatable read'),
    /** The server's clock when the snapshot was taken: a second opinion on when the backup was taken. */
    takenAt: timestamp.optional(),
  }),
  scope: z.object({ tables: z.array(z.string()), excludeTables: z.array(z.string()), schemas: z.array(z.string()), complete: z.boolean() }),
  artifacts: z.array(ArtifactInfoSchema).min(1, 'at least one artifact'),
  encryption: EncryptionInfoSchema.optional().describe('Present when every artifact is age-encrypted.'),
  roles: RolesInfoSchema.optional(),
  extensions: z
    .array(ExtensionInfoSchema)
    .optional()
    .describe('The extensions the backup creates (none when --table or --schema narrowed it, as pg_dump then writes none): a restore checks the target server offers each, at this version or newer. Absent in backups of older kits.'),
  statistics: z.object({
    source: StatisticsSourceSchema,
    algorithm: z.string(),
    note: z.string(),
    tables: z.record(z.string(), TableStatsSchema),
    sequences: z.record(z.string(), SequenceStateSchema),
    largeObjects: count,
    totalRows: count,
  }),
  restore: z.partialRecord(z.enum(FORMATS), z.array(z.string())),
  chain: z
    .object({ base: z.string(), parent: z.string() })
    .optional()
    .describe('A differential export: the chain\'s full export and the export it follows. Retention keeps both while this one is kept.'),
  copies: CopiesSchema,
  checksum: hex64.optional().describe('sha256 of this JSON without the checksum field, compact, keys in file order: protects the .info itself.'),
});

export type ArtifactInfo = z.infer<typeof ArtifactInfoSchema>;
export type ArtifactFormat = ArtifactInfo['format'];
export type EncryptionInfo = z.infer<typeof EncryptionInfoSchema>;
export type RolesInfo = z.infer<typeof RolesInfoSchema>;
export type ExtensionInfo = z.infer<typeof ExtensionInfoSchema>;
export type StatisticsSource = z.infer<typeof StatisticsSourceSchema>;
export type BackupInfo = z.infer<typeof InfoSchema>;

/** The JSON Schema of .info, as published in the repository. */
export function infoJsonSchema(): Record<string, unknown> {
  return { $id: INFO_SCHEMA, title: 'pg-backup-kit backup metadata (.info)', ...z.toJSONSchema(InfoSchema, { target: 'draft-2020-12', io: 'input' }) };
}

/**
 * How to restore each artifact of a backup: the kit's command first; then the raw tool, for a
 * machine without the kit (PostgreSQL's unless the engine gives its own). Connection details come
 * from the environment ($DATABASE_URL, an option file), never from this file.
 */
export function restoreInstructions(files: Partial<Record<Format, string>>, environment = 'default', raw: Partial<Record<Format, string>> = postgresRawRestore(files)): Partial<Record<Format, string[]>> {
  // Restoring into the environment the backup came from unless told otherwise: a hint without
  // --env would send a prod backup into the default (local) database.
  const kit = (file: string) => restoreCommandLine({ source: { file }, environment });
  const out: Partial<Record<Format, string[]>> = {};
  for (const format of ['dump', 'tar', 'sql', 'sql.gz'] as const) {
    const file = files[format];
    const command = raw[format];
    if (file) out[format] = command ? [kit(file), command] : [kit(file)];
  }
  return out;
}

/** PostgreSQL's own programs restoring each artifact, in one transaction. */
export function postgresRawRestore(files: Partial<Record<Format, string>>): Partial<Record<Format, string>> {
  const out: Partial<Record<Format, string>> = {};
  if (files.dump) out.dump = `pg_restore --single-transaction --exit-on-error --no-owner -d "$DATABASE_URL" ${files.dump}`;
  if (files.tar) out.tar = `pg_restore --single-transaction --exit-on-error --no-owner -d "$DATABASE_URL" ${files.tar}`;
  if (files.sql) out.sql = `psql -1 -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f ${files.sql}`;
  if (files['sql.gz']) out['sql.gz'] = `gunzip -c ${files['sql.gz']} | psql -1 -v ON_ERROR_STOP=1 -d "$DATABASE_URL"`;
  return out;
}

/** `sha256sum -c` format: "<hex>  <file>" per line, file names relative to the .sha256 file. */
export function sha256Manifest(artifacts: ArtifactInfo[]): string {
  return artifacts.map((a) => `${a.sha256}  ${a.file}\n`).join('');
}

export type InfoReading =
  | { ok: true; info: BackupInfo }
  | { ok: false; kind: 'unreadable' | 'newer'; problem: string };

function checksumOf(fields: Record<string, unknown>): string {
  const { checksum: _ignored, ...rest } = fields;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(the file)'}: ${i.message}`)
    .join('; ');
}

/** Read a .info's text: the backup's metadata, or why it cannot be trusted. Never throws. */
export function parseInfo(text: string): InfoReading {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { ok: false, kind: 'unreadable', problem: `is not JSON (${(error as Error).message})` };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw) || (raw as { schema?: unknown }).schema !== INFO_SCHEMA) {
    return { ok: false, kind: 'unreadable', problem: 'is not a pg-backup-kit .info' };
  }
  const fields = raw as Record<string, unknown>;
  if (fields.kind === 'physical') {
    return { ok: false, kind: 'unreadable', problem: 'is the .info of a physical backup (pg_basebackup): restore it with pnpm db:restore:physical, verify it with pnpm db:verify:physical' };
  }
  if (typeof fields.version === 'number' && fields.version > INFO_VERSION) {
    return { ok: false, kind: 'newer', problem: `was written by a newer kit (.info version ${fields.version}; this kit reads version ${INFO_VERSION}): upgrade the kit` };
  }
  if (typeof fields.checksum === 'string' && fields.checksum !== checksumOf(fields)) {
    return { ok: false, kind: 'unreadable', problem: 'does not match its own checksum: it was edited or damaged' };
  }
  const parsed = InfoSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, kind: 'unreadable', problem: `has wrong or missing fields (${describeIssues(parsed.error)})` };
  return { ok: true, info: parsed.data };
}

/** The .info's text as the kit writes it: sealed with its own checksum. */
export function serializeInfo(info: BackupInfo): string {
  const { checksum: _old, ...rest } = info;
  return JSON.stringify({ ...rest, checksum: checksumOf(rest) }, null, 2) + '\n';
}

/** Restore instructions for an encrypted backup: decrypt with age first, then the same commands. */
export function encryptedRestoreInstructions(plain: Partial<Record<Format, string[]>>, artifacts: ArtifactInfo[]): Partial<Record<Format, string[]>> {
  const out: Partial<Record<Format, string[]>> = {};
  for (const [format, lines] of Object.entries(plain) as Array<[Format, string[]]>) {
    const stored = artifacts.find((a) => a.format === format)?.file;
    if (!stored) continue;
    const plainName = stored.replace(/\.age$/, '');
    out[format] = [
      `${lines[0]!.replace(plainName, stored)} --identity <identity file>`,
      `age -d -i <identity file> -o ${plainName} ${stored}`,
      ...lines.slice(1),
    ];
  }
  return out;
}
