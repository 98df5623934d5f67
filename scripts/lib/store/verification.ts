/** The record a verification leaves beside a backup: <id>.verify.json. */
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import type { ErrorCode } from '../errors.js';
import type { Format } from '../format/naming.js';
import type { CatalogEntry } from './catalog.js';

export const VERIFICATION_SCHEMA = 'pg-backup-kit/verification';

export interface ArtifactCheck {
  file: string;
  format: Format;
  ok: boolean;
  checks: string[];
  problem?: string;
}

export interface Verification {
  schema: typeof VERIFICATION_SCHEMA;
  version: 1;
  id: string;
  at: string;
  level: 'quick' | 'deep';
  ok: boolean;
  artifacts: ArtifactCheck[];
  deep?: { artifact: string; server: string; tables: number; rows: number; sequences: number; problems: string[] };
  /** The error code of the first failure, for the exit status. */
  failure?: ErrorCode;
}

export function verificationFile(entry: CatalogEntry): string {
  return path.join(entry.dir, `${entry.id}.verify.json`);
}

export function readVerification(entry: CatalogEntry): Verification | undefined {
  const file = verificationFile(entry);
  if (!existsSync(file)) return undefined;
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as Verification;
    return record.schema === VERIFICATION_SCHEMA ? record : undefined;
  } catch {
    return undefined;
  }
}
