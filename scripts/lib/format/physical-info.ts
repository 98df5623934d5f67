/**
 * The .info of a physical backup (pg_basebackup + WAL). It shares the envelope of every .info
 * (schema, version, id, times, artifacts with sha256, its own checksum) and says `kind: physical`;
 * the rest differs from a logical backup's (a cluster, not a database; WAL positions, not a
 * snapshot), so it has a schema of its own, published beside the logical one. A physical backup
 * exists only when this file does, locally and in a remote store alike.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CopiesSchema, EngineField, INFO_SCHEMA, INFO_VERSION, RUN_FIELDS } from './metadata.js';

/** Where the JSON Schema of a physical .info is published in the repository. */
export const PHYSICAL_INFO_JSON_SCHEMA_PATH = 'scripts/schema/physical-info.schema.json';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in hex');
const count = z.number().int().nonnegative();
const lsn = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, 'a WAL location such as 0/3000148');
const segment = z.string().regex(/^[0-9A-F]{24}$/, 'a WAL segment name');
const id = z.string().regex(/^backup_[a-z0-9][a-z0-9-]*_\d{8}_\d{6}(?:_\d+)?$/);

export const PHYSICAL_ROLES = ['base', 'wal', 'manifest', 'tablespace'] as const;
export const COMPRESSIONS = ['lz4', 'zstd', 'gzip', 'none'] as const;

export const PhysicalArtifactSchema = z.object({
  // <id>.<the file pg_basebackup wrote>: never a path that could reach elsewhere.
  file: z.string().regex(/^backup_[^/\\]+$/, 'a file name of the backup, without directories'),
  role: z.enum(PHYSICAL_ROLES).describe('base.tar*, pg_wal.tar* (the WAL the backup needs), backup_manifest, or <oid>.tar* (a tablespace).'),
  bytes: count,
  sha256: hex64,
});

export const PhysicalInfoSchema = z.looseObject({
  $schema: z.string().optional(),
  schema: z.literal(INFO_SCHEMA),
  version: z.literal(INFO_VERSION),
  kind: z.literal('physical'),
  engine: EngineField,
  id,
  ...RUN_FIELDS,
  server: z.object({
    host: z.string(),
    port: z.number().int().min(0).max(65535),
    user: z.string(),
    version: z.string(),
    versionNum: count,
    systemIdentifier: z.string().regex(/^\d+$/),
    sizeBytes: count.describe('Sum of the databases\' sizes when the backup started: roughly what a restore needs.'),
    walSegmentSize: z.number().int().positive(),
    configuredBy: z.string(),
  }),
  pgBasebackup: z.object({ path: z.string(), version: z.string(), compression: z.enum(COMPRESSIONS) }),
  wal: z.object({
    timeline: z.number().int().positive(),
    startLsn: lsn,
    stopLsn: lsn,
    startSegment: segment.describe('The first segment the backup needs to become consistent.'),
    stopSegment: segment.describe('The last one (both are inside the backup, in pg_wal.tar).'),
  }),
  artifacts: z.array(PhysicalArtifactSchema).min(2, 'at least base.tar and backup_manifest'),
  totalBytes: count,
  restore: z.array(z.string()),
  copies: CopiesSchema,
  checksum: hex64.optional().describe('sha256 of this JSON without the checksum field, compact, keys in file order.'),
});

export type PhysicalInfo = z.infer<typeof PhysicalInfoSchema>;
export type PhysicalArtifact = z.infer<typeof PhysicalArtifactSchema>;
export type PhysicalRole = PhysicalArtifact['role'];
export type Compression = (typeof COMPRESSIONS)[number];

export function physicalInfoJsonSchema(): Record<string, unknown> {
  return { $id: `${INFO_SCHEMA}/physical`, title: 'pg-backup-kit physical backup metadata (.info, kind physical)', ...z.toJSONSchema(PhysicalInfoSchema, { target: 'draft-2020-12', io: 'input' }) };
}

function checksumOf(fields: Record<string, unknown>): string {
  const { checksum: _ignored, ...rest } = fields;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

export type PhysicalInfoReading = { ok: true; info: PhysicalInfo } | { ok: false; problem: string };

/** A physical .info's text: the backup's metadata, or why it cannot be trusted. Never throws. */
export function parsePhysicalInfo(text: string): PhysicalInfoReading {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `is not JSON (${(error as Error).message})` };
  }
  const fields = (raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  if (fields.schema !== INFO_SCHEMA || fields.kind !== 'physical') return { ok: false, problem: 'is not the .info of a physical backup' };
  if (typeof fields.version === 'number' && fields.version > INFO_VERSION) return { ok: false, problem: `was written by a newer kit (.info version ${fields.version}): upgrade the kit` };
  if (typeof fields.checksum === 'string' && fields.checksum !== checksumOf(fields)) return { ok: false, problem: 'does not match its own checksum: it was edited or damaged' };
  const parsed = PhysicalInfoSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join('.') : '(the file)'}: ${i.message}`).join('; ');
    return { ok: false, problem: `has wrong or missing fields (${issues})` };
  }
  // Every artifact must be the backup's own file: an edited .info must not name another one.
  const foreign = parsed.data.artifacts.find((a) => !a.file.startsWith(`${parsed.data.id}.`));
  if (foreign) return { ok: false, problem: `names ${foreign.file}, which is not a file of ${parsed.data.id}` };
  return { ok: true, info: parsed.data };
}

/** The text the kit writes: sealed with its own checksum. */
export function serializePhysicalInfo(info: PhysicalInfo): string {
  const { checksum: _old, ...rest } = info;
  return JSON.stringify({ ...rest, checksum: checksumOf(rest) }, null, 2) + '\n';
}

/** `sha256sum -c` lines for the backup's files. */
export function physicalSha256Manifest(artifacts: PhysicalArtifact[]): string {
  return artifacts.map((a) => `${a.sha256}  ${a.file}\n`).join('');
}
