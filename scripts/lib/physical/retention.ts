/**
 * Retention for physical backups and their WAL: the same calendar policy as every backup
 * (planRetention), then the WAL older than the oldest kept base backup. Only a prefix of the
 * archive is ever removed, so what is kept has no gap; with no base backup nothing is removed.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { StoreContext } from '../store/environment.js';
import { planRetention, type RetentionDecision, type RetentionPolicy } from '../retention/plan.js';
import { acquireLock } from '../store/lock.js';
import { PhysicalStore, type PhysicalEntry } from '../store/physical-store.js';
import { segmentsOlderThan } from './wal-names.js';
import { isRemoteLocation } from '../config/remote.js';

export interface PhysicalRetentionPlan {
  decisions: RetentionDecision[];
  /** Archive files no kept backup needs. */
  wal: string[];
  /** The first segment kept: the oldest kept backup's start. */
  walKeptFrom: string | null;
}

export function planPhysicalRetention(entries: PhysicalEntry[], walFiles: string[], policy: RetentionPolicy, now: Date, verification: (id: string) => 'passed' | 'failed' | undefined): PhysicalRetentionPlan {
  const decisions = planRetention(entries.map((e) => {
    const v = verification(e.id);
    return { id: e.id, type: e.info.type, takenAt: new Date(e.info.startedAt), ...(v ? { verification: v } : {}) };
  }), policy, now);
  const kept = entries.filter((e) => decisions.find((d) => d.id === e.id)?.keep);
  const oldest = kept.at(-1);
  if (!oldest) return { decisions, wal: [], walKeptFrom: null };
  return { decisions, wal: segmentsOlderThan(walFiles, oldest.info.wal.startSegment, oldest.info.server.walSegmentSize), walKeptFrom: oldest.info.wal.startSegment };
}

async function verificationOf(repo: PhysicalStore, entry: PhysicalEntry): Promise<'passed' | 'failed' | undefined> {
  const record = await repo.readVerification<{ ok?: boolean }>(entry);
  if (!record) return undefined;
  return record.ok === false ? 'failed' : 'passed';
}

export interface PhysicalRetentionResult extends PhysicalRetentionPlan {
  environment: string;
  dryRun: boolean;
  now: string;
  removedLeftovers: string[];
}

/**
 * The same plan in every place the environment keeps physical backups: a backup removed is removed
 * locally and in the remote store, and the WAL older than the oldest kept backup goes from both.
 */
export async function applyPhysicalRetention(environment: string, policy: RetentionPolicy, now: Date, dryRun: boolean, ctx: Pick<StoreContext, 'environment'>): Promise<PhysicalRetentionResult> {
  const repo = ctx.environment(environment).repository.physical();
  const lock = dryRun || !existsSync(repo.backups) ? undefined : acquireLock(repo.backups, 'retention-physical', environment);
  try {
    const catalog = await repo.catalog();
    const verified = new Map<string, 'passed' | 'failed' | undefined>();
    for (const e of catalog.complete) verified.set(e.id, await verificationOf(repo, e));
    const plan = planPhysicalRetention(catalog.complete, await repo.wal.names(), policy, now, (id) => verified.get(id));
    const removedLeftovers = catalog.leftovers.map((l) => (isRemoteLocation(l.file) ? l.file : path.basename(l.file)));
    if (!dryRun) {
      // Backups first (each .info first), then the WAL only they needed.
      for (const d of plan.decisions.filter((x) => !x.keep)) await repo.remove(catalog.complete.find((e) => e.id === d.id)!);
      await repo.removeLeftovers(catalog.leftovers);
      await repo.wal.remove(plan.wal);
    }
    return { ...plan, environment, dryRun, now: now.toISOString(), removedLeftovers };
  } finally {
    lock?.release();
    repo.close();
  }
}
