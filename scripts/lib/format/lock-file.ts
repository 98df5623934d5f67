/** The lock file of an environment directory (`.lock`): who holds it, checked when read. */
import { z } from 'zod';

export const LOCK_SCHEMA = 'pg-backup-kit/lock';

export const LockOwnerSchema = z.object({
  /** Absent in locks written by kits before the schema was named. */
  schema: z.literal(LOCK_SCHEMA).optional(),
  pid: z.number().int().positive(),
  host: z.string().min(1),
  command: z.string(),
  startedAt: z.string(),
  /** Makes each record unique, so a holder recognises its own lock. */
  token: z.string().optional(),
});

export type LockOwner = z.infer<typeof LockOwnerSchema>;

/** The owner recorded in a lock file's text, or undefined when it is not a lock record. */
export function parseLockOwner(text: string): LockOwner | undefined {
  try {
    const parsed = LockOwnerSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
