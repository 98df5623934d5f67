/**
 * Verify physical backups: every file against its sha256 (read once, while it is unpacked into a
 * scratch directory), pg_verifybackup against PostgreSQL's own manifest (it reads only plain
 * directories in 15, hence the unpacking) including the WAL inside the backup, and the archive
 * holding every segment from the backup on, without a gap. --deep then recovers the copy on a
 * throw-away server and reads every table of every database.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { CommandContext } from '../context.js';
import type { StoreContext } from '../store/environment.js';
import { KitError, type ErrorCode } from '../errors.js';
import { majorOf } from '../engines/postgres/connect.js';
import { locateServerTool, runProgram } from '../proc/programs.js';
import { PgCtlControl, scratchDir } from './server-control.js';
import { chownTree, configure, unpack, type PhysicalRestoreOptions } from './restore.js';
import { proveServer, type ProofResult } from './prove.js';
import { PhysicalStore, type PhysicalEntry } from '../store/physical-store.js';
import { findGaps, missingBetween, parseSegment, SEGMENT_NAME } from './wal-names.js';

export interface PhysicalVerification {
  schema: 'pg-backup-kit/physical-verification';
  version: 1;
  id: string;
  at: string;
  level: 'quick' | 'deep';
  ok: boolean;
  checks: string[];
  problem?: string;
  failure?: ErrorCode;
  archive: { from: string; to: string | null; segments: number } | null;
  deep?: ProofResult;
}

/** Which archived segments a backup leads into, and what is missing among them. */
export function archiveCoverage(entry: PhysicalEntry, walFiles: string[]): { segments: string[]; missing: string[]; last: string | null } {
  const size = entry.info.server.walSegmentSize;
  const start = parseSegment(entry.info.wal.startSegment, size)!;
  const ours = walFiles.filter((n) => SEGMENT_NAME.test(n)).filter((n) => {
    const s = parseSegment(n, size)!;
    return s.number >= start.number && s.timeline >= start.timeline;
  });
  const sameTimeline = ours.filter((n) => parseSegment(n, size)!.timeline === start.timeline);
  const last = sameTimeline.at(-1) ?? null;
  // The backup's own segments must be archived too, then every later one up to the newest.
  const missing = last ? missingBetween(entry.info.wal.startSegment, last, new Set(sameTimeline), size) : [entry.info.wal.startSegment];
  for (const gap of findGaps(ours.filter((n) => parseSegment(n, size)!.timeline !== start.timeline), size)) missing.push(`${gap.from}..${gap.to}`);
  return { segments: ours, missing, last };
}

async function verifyOne(entry: PhysicalEntry, repo: PhysicalStore, deep: boolean, launcher: string, ctx: CommandContext): Promise<PhysicalVerification> {
  const checks: string[] = [];
  const major = majorOf(entry.info.server.versionNum);
  const control = await PgCtlControl.create(major, ctx.env, undefined);
  const scratch = await scratchDir('pgkit-verify-', control.owner());
  const dataDir = path.join(scratch, 'data');
  const record = (extra: Partial<PhysicalVerification>): PhysicalVerification => ({ schema: 'pg-backup-kit/physical-verification', version: 1, id: entry.id, at: ctx.now().toISOString(), level: deep ? 'deep' : 'quick', ok: true, checks, archive: null, ...extra });
  try {
    // Tablespaces go into the scratch directory too, and are removed with it.
    const tablespaces = await unpack(entry, repo, dataDir, ctx, (t) => path.join(scratch, `tablespace-${t.oid}`));
    checks.push('sha256 of every file', 'tar archives unpack');
    const verifier = await locateServerTool('pg_verifybackup', major, ctx.env, true);
    const manifest = await repo.artifact(entry, `${entry.id}.backup_manifest`, ctx.signal);
    try {
      // tablespace_map now points into the scratch directory; base.tar, which held it, was hashed whole.
      const ignore = tablespaces.length ? ['--ignore', 'tablespace_map'] : [];
      await runProgram(verifier, ['--manifest-path', manifest.path, ...ignore, '--quiet', dataDir], { env: ctx.env, failure: 'INTEGRITY_FAILED', signal: ctx.signal });
    } finally {
      await manifest.release();
    }
    checks.push('pg_verifybackup: every file against backup_manifest, and the WAL the backup needs');
    const coverage = archiveCoverage(entry, await archiveNames(repo, entry));
    const archive = { from: entry.info.wal.startSegment, to: coverage.last, segments: coverage.segments.length };
    if (coverage.missing.length) {
      const shown = coverage.missing.slice(0, 5).join(', ') + (coverage.missing.length > 5 ? ` and ${coverage.missing.length - 5} more` : '');
      return record({ ok: false, archive, failure: 'WAL_GAP', problem: `The WAL archive misses ${shown} after ${entry.id}: it restores only to the end of the backup, not to later moments. Check pnpm db:wal:status and take a new base backup.` });
    }
    checks.push(`WAL archive continuous from ${archive.from} to ${archive.to}`);
    if (!deep) return record({ archive });
    const options: PhysicalRestoreOptions = { id: entry.id, targetDir: dataDir, replace: undefined, target: { kind: 'immediate' }, standby: false, configFile: undefined, postInitDir: undefined, owner: undefined, keepArchiving: false, timeoutSeconds: 600, launcher, tablespaceMappings: new Map() };
    await configure(entry, repo, dataDir, undefined, options, ctx);
    const owner = control.owner();
    if (owner) for (const dir of [dataDir, ...tablespaces]) await chownTree(dir, owner.uid, owner.gid);
    const proof = await proveServer(control, dataDir, { info: entry.info, target: { kind: 'immediate' }, standby: false, postInitDir: undefined, keepArchiving: false, timeoutSeconds: 600, env: ctx.env, signal: ctx.signal, readTables: true, archivedWal: () => repo.wal.names() });
    checks.push(`recovered on a throw-away server: ${proof.databases.length} databases open, ${proof.tables} tables read`);
    // Not a loss: PostgreSQL never puts their rows in a base backup, and recovery empties them.
    if (proof.unlogged.length) checks.push(`${proof.unlogged.length} UNLOGGED table${proof.unlogged.length === 1 ? '' : 's'} recovered empty, as PostgreSQL makes them (no base backup holds their rows): ${proof.unlogged.join(', ')}`);
    return record({ archive, deep: proof });
  } catch (error) {
    if (!(error instanceof KitError) || error.code === 'INTERRUPTED') throw error;
    return record({ ok: false, failure: error.code, problem: error.message });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export interface PhysicalVerifyResult {
  environment: string;
  results: PhysicalVerification[];
  ok: boolean;
}

/**
 * The archive a restore of this backup would read: the remote's when the backup is read from
 * there (only the remote has it, or --from-remote), else the local one.
 */
async function archiveNames(repo: PhysicalStore, entry: PhysicalEntry): Promise<string[]> {
  const remoteWal = repo.remoteWal;
  const fromRemote = entry.place === 'remote' || (repo.options.fromRemote === true && entry.place === 'both');
  return remoteWal && fromRemote ? remoteWal.names() : repo.localWal.names();
}

export async function verifyPhysical(environment: string, ids: string[] | 'all', deep: boolean, launcher: string, ctx: StoreContext): Promise<PhysicalVerifyResult> {
  const repo = ctx.environment(environment).repository.physical();
  try {
    const entries = ids === 'all' ? (await repo.catalog()).complete : await Promise.all(ids.map((id) => repo.find(id)));
    if (entries.length === 0) await repo.find('latest'); // says there is none, and how to take one
    const results: PhysicalVerification[] = [];
    for (const entry of entries) {
      const result = await verifyOne(entry, repo, deep, launcher, ctx);
      await repo.writeVerification(entry, result);
      results.push(result);
    }
    return { environment, results, ok: results.every((r) => r.ok) };
  } finally {
    repo.close();
  }
}
