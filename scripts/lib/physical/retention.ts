/**
 * Retention for physical backups and their WAL: the same calendar policy as every backup
 * (planRetention), then the WAL older than the oldest kept base backup. Only a prefix of the
 * archive is ever removed, so what is kept has no gap; with no base backup nothing is removed.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { CommandContext } from '../context.js';
import { planRetention, type RetentionDecision, type RetentionPolicy } from '../retention/plan.js';
import { acquireLock } from '../store/lock.js';
import { PhysicalRepo, type PhysicalEntry } from './repo.js';
import { segmentsOlderThan } from './wal-names.js';

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

function verificationOf(repo: PhysicalRepo, id: string): 'passed' | 'failed' | undefined {
  const file = repo.file(`${id}.verify.json`);
  if (!existsSync(file)) return undefined;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { ok?: boolean }).ok === false ? 'failed' : 'passed';
  } catch {
    return undefined;
  }
}

export interface PhysicalRetentionResult extends PhysicalRetentionPlan {
  environment: string;
  dryRun: boolean;
  now: string;
  removedLeftovers: string[];
}

export function applyPhysicalRetention(environment: string, policy: RetentionPolicy, now: Date, dryRun: boolean, ctx: Pick<CommandContext, 'root' | 'env'>): PhysicalRetentionResult {
  const repo = PhysicalRepo.of(ctx, environment);
  const lock = dryRun || !existsSync(repo.backups) ? undefined : acquireLock(repo.backups, 'retention-physical', environment);
  try {
    const catalog = repo.catalog();
    const plan = planPhysicalRetention(catalog.complete, repo.walFiles(), policy, now, (id) => verificationOf(repo, id));
    const removedLeftovers = catalog.leftovers.map((l) => path.basename(l.file));
    if (!dryRun) {
      // Backups first (each .info first), then the WAL only they needed.
      for (const d of plan.decisions.filter((x) => !x.keep)) repo.remove(catalog.complete.find((e) => e.id === d.id)!);
      for (const l of catalog.leftovers) rmSync(l.file, { recursive: true, force: true });
      for (const name of plan.wal) rmSync(path.join(repo.wal, name), { force: true });
    }
    return { ...plan, environment, dryRun, now: now.toISOString(), removedLeftovers };
  } finally {
    lock?.release();
  }
}
