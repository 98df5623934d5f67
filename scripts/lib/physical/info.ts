/**
 * The .info of a physical backup: the same versioned schema as every backup (`kind` tells them
 * apart), written last; a physical backup exists only when its .info does.
 */
import { INFO_SCHEMA, INFO_VERSION } from '../format/metadata.js';

export type PhysicalRole = 'base' | 'wal' | 'manifest' | 'tablespace';
export type Compression = 'lz4' | 'zstd' | 'gzip' | 'none';

export interface PhysicalArtifact {
  file: string;
  role: PhysicalRole;
  bytes: number;
  sha256: string;
}

export interface PhysicalInfo {
  schema: typeof INFO_SCHEMA;
  version: typeof INFO_VERSION;
  kind: 'physical';
  id: string;
  type: string;
  description: string;
  environment: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  server: {
    host: string;
    port: number;
    user: string;
    version: string;
    versionNum: number;
    systemIdentifier: string;
    /** Sum of the databases' sizes when the backup started: what a restore needs, roughly. */
    sizeBytes: number;
    walSegmentSize: number;
    configuredBy: string;
  };
  pgBasebackup: { path: string; version: string; compression: Compression };
  wal: {
    timeline: number;
    startLsn: string;
    stopLsn: string;
    /** The first and last segment the backup needs to become consistent (both included in it). */
    startSegment: string;
    stopSegment: string;
  };
  artifacts: PhysicalArtifact[];
  totalBytes: number;
  restore: string[];
}

export function isPhysicalInfo(value: unknown): value is PhysicalInfo {
  const v = value as Partial<PhysicalInfo> | undefined;
  return v?.schema === INFO_SCHEMA && v.kind === 'physical' && typeof v.version === 'number' && Array.isArray(v.artifacts) && typeof v.wal?.startSegment === 'string';
}

export function physicalRestoreHints(id: string, environment: string): string[] {
  const env = environment === 'default' ? '' : ` --env ${environment}`;
  return [
    `pnpm db:restore:physical -- ${id} --target-dir <new data directory>${env}`,
    `pnpm db:restore:physical -- ${id} --time '<YYYY-MM-DD HH:MM:SS+00>' --target-dir <dir>${env}`,
  ];
}
