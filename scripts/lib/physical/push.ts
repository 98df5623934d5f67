/**
 * db:push for physical backups: every complete local physical backup the remote lacks goes up
 * (artifacts proven, .info last), and every archived WAL file the remote lacks too: what a run
 * whose upload failed left behind, or what was archived before the remote was configured.
 */
import path from 'node:path';
import type { StoreContext } from '../store/environment.js';
import { KitError } from '../errors.js';

export interface PhysicalPushResult {
  copied: Array<{ id: string; bytes: number }>;
  skipped: Array<{ id: string; reason: string }>;
  walUploaded: number;
  from: string;
  to: string;
}

/** The ids of the environment's local physical backups (to route db:push's arguments). */
export function localPhysicalIds(ctx: Pick<StoreContext, 'environment'>, environment: string): Set<string> {
  const repo = ctx.environment(environment).repository.physical();
  try {
    return new Set(repo.localCatalog().complete.map((e) => e.id));
  } finally {
    repo.close();
  }
}

export async function pushPhysical(ctx: StoreContext, environment: string, ids: string[]): Promise<PhysicalPushResult> {
  const repo = ctx.environment(environment).repository.physical();
  try {
    const remoteWal = repo.remoteWal;
    if (!repo.remote || !remoteWal) throw new KitError('REMOTE_CONFIG', `db:push needs a remote for environment "${environment}".`);
    const result: PhysicalPushResult = { copied: [], skipped: [], walUploaded: 0, from: repo.backups, to: repo.remote.where };
    const { complete } = await repo.catalog();
    const chosen = complete.filter((e) => e.place !== 'remote' && (ids.length === 0 || ids.includes(e.id)));
    for (const entry of [...chosen].reverse()) {
      ctx.signal.throwIfAborted();
      if (entry.place === 'both') {
        result.skipped.push({ id: entry.id, reason: 'already in the remote' });
        continue;
      }
      ctx.reporter.notice(`uploading ${entry.id}`);
      const uploaded = await repo.upload(entry);
      if (uploaded) await repo.rewriteLocalInfo(uploaded);
      result.copied.push({ id: entry.id, bytes: entry.info.totalBytes });
    }
    if (ids.length === 0) {
      const there = new Set(await remoteWal.names());
      for (const name of await repo.localWal.names()) {
        if (there.has(name)) continue;
        ctx.signal.throwIfAborted();
        await remoteWal.push(path.join(repo.walDir, name));
        result.walUploaded++;
      }
    }
    return result;
  } finally {
    repo.close();
  }
}
