/** Physical backups as db:list shows them, in the same row shape as every other backup. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { CommandContext } from '../context.js';
import { PhysicalRepo } from './repo.js';

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
  /** Which store holds it ("local", "remote", …). */
  store: string;
}

function verificationOf(repo: PhysicalRepo, id: string): PhysicalListing['verification'] {
  const file = repo.file(`${id}.verify.json`);
  if (!existsSync(file)) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { level: string; ok: boolean; at: string };
    return { level: v.level, ok: v.ok, at: v.at };
  } catch {
    return undefined;
  }
}

export function listPhysical(ctx: Pick<CommandContext, 'root' | 'env'>, environment: string, now: number): PhysicalListing[] {
  const repo = PhysicalRepo.of(ctx, environment);
  return repo.catalog().complete.map((e) => ({
    id: e.id,
    type: e.info.type,
    description: e.info.description,
    takenAt: e.info.startedAt,
    ageMs: now - Date.parse(e.info.startedAt),
    bytes: e.info.totalBytes,
    formats: ['physical'],
    verification: verificationOf(repo, e.id),
    info: e.infoPath,
    store: 'local',
  }));
}

export function physicalLeftovers(ctx: Pick<CommandContext, 'root' | 'env'>, environment: string): Array<{ file: string; reason: string; bytes: number; kind: string }> {
  return PhysicalRepo.of(ctx, environment).catalog().leftovers.map((l) => {
    let bytes = 0;
    try {
      bytes = statSync(l.file).size;
    } catch {
      // gone meanwhile
    }
    return { file: l.file, reason: `${l.reason} (physical; pnpm db:retention:physical removes it)`, bytes, kind: 'physical' };
  });
}
