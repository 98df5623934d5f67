/** The record a verification leaves beside a backup: <id>.verify.json. */
import type { ErrorCode } from '../errors.js';
import type { Format } from '../format/naming.js';

export const VERIFICATION_SCHEMA = 'pg-backup-kit/verification';

export interface ArtifactCheck {
  file: string;
  format: Format | 'zip';
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

export function verificationName(id: string): string {
  return `${id}.verify.json`;
}

/** A verification record's text, or undefined when it is not one (then the backup shows as unverified). */
export function parseVerification(text: string): Verification | undefined {
  try {
    const record = JSON.parse(text) as Verification;
    return record && record.schema === VERIFICATION_SCHEMA && typeof record.ok === 'boolean' && typeof record.at === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}
