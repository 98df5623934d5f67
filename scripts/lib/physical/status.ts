/**
 * `db:wal:status`: how the continuous archive is doing, from both ends: PostgreSQL's own account
 * (pg_stat_archiver, segments waiting in pg_wal) and the archive's content (last segment, gaps
 * after the oldest base backup, size, free space). `judgeArchive` is pure and decides the alarm.
 */
import type { StoreContext } from '../store/environment.js';
import type { Target } from '../config/target.js';
import { connectWithWait, type Client } from '../engines/postgres/connect.js';
import type { ArchiveUsage } from '../store/wal-archive.js';
import { findGaps, parseSegment, SEGMENT_NAME, type Gap } from './wal-names.js';
import { refuseWithoutPhysicalBackups } from './engine-check.js';

export interface ArchiverFacts {
  archiveMode: string;
  archiveCommand: string;
  archivedCount: number;
  lastArchivedWal: string | null;
  lastArchivedTime: string | null;
  failedCount: number;
  lastFailedWal: string | null;
  lastFailedTime: string | null;
  currentWal: string;
  /** Segments pg_wal holds until they are archived (.ready files), null without the right to look. */
  ready: number | null;
  walSegmentSize: number;
}

export interface WalStatus {
  environment: string;
  archiveDir: string;
  server: ArchiverFacts;
  archive: ArchiveUsage & { lastSegment: string | null; segments: number; gaps: Gap[]; oldestBackupSegment: string | null };
  /** The copy of the archive in the environment's remote store, when it has one. */
  remote: { where: string; lastSegment: string | null; segments: number; gaps: Gap[] } | null;
  lagSegments: number | null;
  problems: Array<{ code: 'WAL_ARCHIVE_STUCK' | 'WAL_GAP'; message: string }>;
}

async function readArchiver(client: Client): Promise<ArchiverFacts> {
  const { rows } = await client.query<Record<string, string | null>>(`
    SELECT current_setting('archive_mode') AS mode, current_setting('archive_command') AS command,
           archived_count::text AS archived, last_archived_wal, last_archived_time::text AS archived_at,
           failed_count::text AS failed, last_failed_wal, last_failed_time::text AS failed_at,
           CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS current,
           (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS segsize
      FROM pg_stat_archiver`);
  const r = rows[0]!;
  let ready: number | null = null;
  try {
    const q = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'`);
    ready = Number(q.rows[0]!.n);
  } catch {
    // needs pg_monitor or superuser; the rest of the report stands without it
  }
  return {
    archiveMode: r.mode!,
    archiveCommand: r.command!,
    archivedCount: Number(r.archived),
    lastArchivedWal: r.last_archived_wal ?? null,
    lastArchivedTime: r.archived_at ?? null,
    failedCount: Number(r.failed),
    lastFailedWal: r.last_failed_wal ?? null,
    lastFailedTime: r.failed_at ?? null,
    currentWal: r.current ?? '',
    ready,
    walSegmentSize: Number(r.segsize),
  };
}

export interface Thresholds {
  /** Segments waiting in pg_wal before the archive counts as falling behind. */
  maxReady: number;
}

export function judgeArchive(server: ArchiverFacts, gaps: Gap[], thresholds: Thresholds): WalStatus['problems'] {
  const problems: WalStatus['problems'] = [];
  if (server.archiveMode === 'off') {
    problems.push({ code: 'WAL_ARCHIVE_STUCK', message: `archive_mode is off: no WAL is archived, so no restore can go past a base backup. Set archive_mode = on and archive_command (see docs/06-physical-and-pitr.md) and restart the server.` });
  }
  const failedLast = server.lastFailedTime !== null && (server.lastArchivedTime === null || Date.parse(server.lastFailedTime) > Date.parse(server.lastArchivedTime));
  if (failedLast) {
    problems.push({ code: 'WAL_ARCHIVE_STUCK', message: `archive_command is failing: ${server.lastFailedWal} failed at ${server.lastFailedTime} (${server.failedCount} failures since the statistics were reset), and nothing was archived since${server.lastArchivedTime ? ` ${server.lastArchivedTime}` : ''}. pg_wal keeps every unarchived segment until the disk fills: read the server log for archive_command's message.` });
  }
  if (server.ready !== null && server.ready > thresholds.maxReady) {
    problems.push({ code: 'WAL_ARCHIVE_STUCK', message: `${server.ready} segments wait in pg_wal to be archived (more than ${thresholds.maxReady}): the archive is falling behind and pg_wal grows.` });
  }
  for (const gap of gaps) {
    problems.push({ code: 'WAL_GAP', message: `The archive misses ${gap.missing} segment(s) on timeline ${gap.timeline}: ${gap.from}${gap.missing > 1 ? ` to ${gap.to}` : ''}. Recovery cannot pass it: take a new base backup now.` });
  }
  return problems;
}

export async function walStatus(target: Target, thresholds: Thresholds, ctx: StoreContext, waitSeconds: number): Promise<WalStatus> {
  refuseWithoutPhysicalBackups(target, 'db:wal:status');
  const store = ctx.environment(target.env).repository.physical();
  try {
    const client = await connectWithWait(target, waitSeconds);
    let server: ArchiverFacts;
    try {
      server = await readArchiver(client);
    } finally {
      await client.end().catch(() => undefined);
    }
    const segmentSize = server.walSegmentSize;
    const oldest = (await store.catalog()).complete.at(-1)?.info.wal.startSegment ?? null;
    const oldestPosition = oldest ? parseSegment(oldest, segmentSize)?.number : undefined;
    // Only what a kept base backup can use matters: segments before the oldest one are history.
    const usable = (names: string[]) => names.filter((n) => SEGMENT_NAME.test(n) && (oldestPosition === undefined || parseSegment(n, segmentSize)!.number >= oldestPosition));
    const segments = usable(await store.localWal.names());
    const gaps = findGaps(segments, segmentSize);
    let remote: WalStatus['remote'] = null;
    if (store.remoteWal) {
      const there = usable(await store.remoteWal.names());
      remote = { where: store.remoteWal.where, lastSegment: there.at(-1) ?? null, segments: there.length, gaps: findGaps(there, segmentSize) };
    }
    const current = parseSegment(server.currentWal, segmentSize);
    const lastArchived = server.lastArchivedWal ? parseSegment(server.lastArchivedWal, segmentSize) : undefined;
    const lagSegments = current && lastArchived ? Math.max(0, Number(current.number - lastArchived.number) - 1) : null;
    const problems = judgeArchive(server, gaps, thresholds);
    for (const gap of remote?.gaps ?? []) {
      problems.push({ code: 'WAL_GAP', message: `The remote copy of the archive (${remote!.where}) misses ${gap.missing} segment(s) on timeline ${gap.timeline}: ${gap.from}${gap.missing > 1 ? ` to ${gap.to}` : ''}. A restore from the remote cannot pass it: take a new base backup now.` });
    }
    return {
      environment: target.env,
      archiveDir: store.wal.where,
      server,
      archive: { ...(await store.localWal.usage()), lastSegment: segments.at(-1) ?? null, segments: segments.length, gaps, oldestBackupSegment: oldest },
      remote,
      lagSegments,
      problems,
    };
  } finally {
    store.close();
  }
}
