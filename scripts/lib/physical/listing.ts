/** Physical backups as db:list shows them, in the same row shape as every other backup. */
import type { StoreContext } from '../store/environment.js';
import type { PhysicalLeftover } from '../store/physical-store.js';

export interface PhysicalListing {
  id: string;
  type: string;
  description: string;
  takenAt: string;
  ageMs: number;
  bytes: number;
  formats: string[];
  verification: { level: string; ok: boolean; at: string } | undefined;
  info: string;
  /** Which store holds it: local, remote or both. */
  store: string;
  /** The database engine it came from (physical backups: always PostgreSQL). */
  engine: string;
}

export async function listPhysical(ctx: Pick<StoreContext, 'environment'>, environment: string, now: number): Promise<{ backups: PhysicalListing[]; leftovers: Array<{ file: string; reason: string; bytes: number; kind: string }> }> {
  const repo = ctx.environment(environment).repository.physical();
  try {
    const catalog = await repo.catalog();
    const backups = await Promise.all(catalog.complete.map(async (e) => {
      const v = await repo.readVerification<{ level: string; ok: boolean; at: string }>(e);
      return {
        id: e.id,
        type: e.info.type,
        description: e.info.description,
        takenAt: e.info.startedAt,
        ageMs: now - Date.parse(e.info.startedAt),
        bytes: e.info.totalBytes,
        formats: ['physical'],
        verification: v ? { level: v.level, ok: v.ok, at: v.at } : undefined,
        info: e.infoPath,
        store: e.place,
        engine: 'postgresql',
      };
    }));
    const leftovers = catalog.leftovers.map((l: PhysicalLeftover) => ({ file: l.file, reason: `${l.reason} (physical; pnpm db:retention:physical removes it)`, bytes: l.bytes, kind: 'physical' }));
    return { backups, leftovers };
  } finally {
    repo.close();
  }
}
