/** The record a verification leaves beside a backup, <id>.verify.json: its schema and its type. */
import { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import { ARTIFACT_FORMATS } from '../format/metadata.js';

export const VERIFICATION_SCHEMA = 'pg-backup-kit/verification';

export const ArtifactCheckSchema = z.object({
  file: z.string(),
  format: z.enum(ARTIFACT_FORMATS),
  ok: z.boolean(),
  checks: z.array(z.string()),
  problem: z.string().optional(),
});

export const VerificationSchema = z.object({
  schema: z.literal(VERIFICATION_SCHEMA),
  version: z.literal(1),
  id: z.string(),
  at: z.iso.datetime({ offset: true }),
  level: z.enum(['quick', 'deep']),
  ok: z.boolean(),
  artifacts: z.array(ArtifactCheckSchema),
  deep: z
    .object({ artifact: z.string(), server: z.string(), tables: z.number(), rows: z.number(), sequences: z.number(), problems: z.array(z.string()) })
    .optional(),
  /** The error code of the first failure, for the exit status. */
  failure: z.string().optional(),
});

export type ArtifactCheck = z.infer<typeof ArtifactCheckSchema>;
export type Verification = Omit<z.infer<typeof VerificationSchema>, 'failure'> & { failure?: ErrorCode };

export function verificationName(id: string): string {
  return `${id}.verify.json`;
}

/** A verification record's text, or undefined when it is not one (then the backup shows as unverified). */
export function parseVerification(text: string): Verification | undefined {
  try {
    const parsed = VerificationSchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data as Verification) : undefined;
  } catch {
    return undefined;
  }
}
