/**
 * The .info file: a backup exists only when this does. Versioned JSON, written last and
 * atomically; the README documents every field. Never holds a password.
 */
import { restoreCommandLine } from './restore-command.js';
import type { Format } from './naming.js';
import type { SequenceState, TableStats } from './stats.js';

export const INFO_SCHEMA = 'pg-backup-kit/backup-info';
export const INFO_VERSION = 1;

/** What an artifact holds: a dump in one of the formats, or the roles it needs (globals.sql). */
export type ArtifactFormat = Format | 'globals';

export interface ArtifactInfo {
  file: string;
  format: ArtifactFormat;
  /** Size and sha256 of the file as stored (for an encrypted artifact: the age file). */
  bytes: number;
  sha256: string;
  /** An encrypted artifact's plaintext, exactly what `age -d` gives back. */
  plain?: { bytes: number; sha256: string };
}

/** How a backup was encrypted: only public keys, never a secret. */
export interface EncryptionInfo {
  method: 'age';
  recipients: string[];
  /** Where the recipients were configured (AGE_RECIPIENTS, backup-kit.json …). */
  configuredBy: string;
}

/** The roles saved with the backup (globals.sql). */
export interface RolesInfo {
  file: string;
  roles: string[];
  /** Whether globals.sql carries password hashes (the backup's user could read them). */
  passwords: boolean;
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
  /** Present when every artifact is age-encrypted. */
  encryption?: EncryptionInfo;
  roles?: RolesInfo;
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
  const kit = (file: string) => restoreCommandLine({ source: { file }, environment });
  // The kit's command first; then the raw tool, for a machine without the kit. Connection
  // details come from the environment ($DATABASE_URL), never from this file.
  const out: Partial<Record<Format, string[]>> = {};
  if (files.dump) {
    out.dump = [kit(files.dump), `pg_restore --single-transaction --exit-on-error --no-owner -d "$DATABASE_URL" ${files.dump}`];
  }
  if (files.tar) {
    out.tar = [kit(files.tar), `pg_restore --single-transaction --exit-on-error --no-owner -d "$DATABASE_URL" ${files.tar}`];
  }
  if (files.sql) out.sql = [kit(files.sql), `psql -1 -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f ${files.sql}`];
  if (files['sql.gz']) {
    out['sql.gz'] = [kit(files['sql.gz']), `gunzip -c ${files['sql.gz']} | psql -1 -v ON_ERROR_STOP=1 -d "$DATABASE_URL"`];
  }
  return out;
}

/** `sha256sum -c` format: "<hex>  <file>" per line, file names relative to the .sha256 file. */
export function sha256Manifest(artifacts: ArtifactInfo[]): string {
  return artifacts.map((a) => `${a.sha256}  ${a.file}\n`).join('');
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
