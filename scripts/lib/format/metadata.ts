/**
 * The .info file: a backup exists only when this does. Versioned JSON, written last and
 * atomically; the README documents every field. Never holds a password.
 */
import type { Format } from './naming.js';
import type { SequenceState, TableStats } from './stats.js';

export const INFO_SCHEMA = 'pg-backup-kit/backup-info';
export const INFO_VERSION = 1;

export interface ArtifactInfo {
  file: string;
  format: Format;
  bytes: number;
  sha256: string;
}

export type StatisticsSource = 'plain-stream' | 'archive' | 'none';

export interface BackupInfo {
  schema: typeof INFO_SCHEMA;
  version: typeof INFO_VERSION;
  id: string;
  type: string;
  description: string;
  environment: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  database: {
    name: string;
    host: string;
    port: number;
    user: string;
    serverVersion: string;
    serverVersionNum: number;
    sizeBytes: number;
    /** Where the connection settings came from: --url, the environment, or an env file's path. */
    configuredBy: string;
  };
  tool: { name: string; version: string; node: string };
  pgDump: { path: string; version: string };
  snapshot: { id: string; isolation: 'repeatable read' };
  scope: { tables: string[]; excludeTables: string[]; schemas: string[]; complete: boolean };
  artifacts: ArtifactInfo[];
  statistics: {
    source: StatisticsSource;
    algorithm: string;
    note: string;
    tables: Record<string, TableStats>;
    sequences: Record<string, SequenceState>;
    largeObjects: number;
    totalRows: number;
  };
  restore: Partial<Record<Format, string[]>>;
}

export function restoreInstructions(files: Partial<Record<Format, string>>, environment = 'default'): Partial<Record<Format, string[]>> {
  // Restoring into the environment the backup came from unless told otherwise: a hint without
  // --env would send a prod backup into the default (local) database.
  const env = environment === 'default' ? '' : ` --env ${environment}`;
  // The kit's command first; then the raw tool, for a machine without the kit. Connection
  // details come from the environment ($DATABASE_URL), never from this file.
  const out: Partial<Record<Format, string[]>> = {};
  if (files.dump) {
    out.dump = [`pnpm db:restore -- ${files.dump}${env}`, `pg_restore --single-transaction --exit-on-error --no-owner -d "$DATABASE_URL" ${files.dump}`];
  }
  if (files.tar) {
    out.tar = [`pnpm db:restore -- ${files.tar}${env}`, `pg_restore --single-transaction --exit-on-error --no-owner -d "$DATABASE_URL" ${files.tar}`];
  }
  if (files.sql) out.sql = [`pnpm db:restore -- ${files.sql}${env}`, `psql -1 -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f ${files.sql}`];
  if (files['sql.gz']) {
    out['sql.gz'] = [`pnpm db:restore -- ${files['sql.gz']}${env}`, `gunzip -c ${files['sql.gz']} | psql -1 -v ON_ERROR_STOP=1 -d "$DATABASE_URL"`];
  }
  return out;
}

/** `sha256sum -c` format: "<hex>  <file>" per line, file names relative to the .sha256 file. */
export function sha256Manifest(artifacts: ArtifactInfo[]): string {
  return artifacts.map((a) => `${a.sha256}  ${a.file}\n`).join('');
}

export type InfoReading =
  | { ok: true; info: BackupInfo }
  | { ok: false; kind: 'unreadable' | 'newer'; problem: string };

/** Read a .info's text: the backup's metadata, or why it cannot be trusted. Never throws. */
export function parseInfo(text: string): InfoReading {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { ok: false, kind: 'unreadable', problem: `not JSON (${(error as Error).message})` };
  }
  const info = raw as Partial<BackupInfo> | null;
  if (!info || typeof info !== 'object' || info.schema !== INFO_SCHEMA) return { ok: false, kind: 'unreadable', problem: 'not a pg-backup-kit .info' };
  if (typeof info.version === 'number' && info.version > INFO_VERSION) {
    return { ok: false, kind: 'newer', problem: `written by a newer kit (.info version ${info.version}, this kit reads ${INFO_VERSION}); upgrade the kit` };
  }
  if (info.version !== INFO_VERSION || !Array.isArray(info.artifacts) || typeof info.startedAt !== 'string' || typeof info.id !== 'string') {
    return { ok: false, kind: 'unreadable', problem: 'fields missing or of the wrong type' };
  }
  return { ok: true, info: info as BackupInfo };
}

/** The .info's text as the kit writes it. */
export function serializeInfo(info: BackupInfo): string {
  return JSON.stringify(info, null, 2) + '\n';
}
