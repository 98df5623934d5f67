/**
 * `wal-push` (what archive_command runs for each segment), `wal-fetch` (restore_command's, when
 * the archive has a remote) and `db:wal:status` (the archive's
 * health; exit 23 and the webhook when it is stuck, has a gap or is off).
 */
import path from 'node:path';
import { KitError } from '../errors.js';
import { failWithReport, readWait, stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { REMOTE_OPTIONS } from '../cli/options.js';
import { formatBytes } from '../text/units.js';
import { fetchSegment, pushSegment, type PushOutcome } from '../physical/archive.js';
import { PhysicalStore } from '../store/physical-store.js';
import { withStores } from '../store/environment.js';
import { walStatus, type WalStatus } from '../physical/status.js';
import type { CommandContext } from '../context.js';

export interface WalPushArgs extends CommonArgs {
  segment: string;
  project: string | undefined;
}

/**
 * The environment's physical store, in the project archive_command names (not the cwd): the
 * repository of that project's environment. Opening it reads the configuration and nothing else
 * (no lock, no connection): archive_command runs this for every segment and must stay fast.
 */
function storeOf(args: { project: string | undefined; env?: string | undefined }, ctx: CommandContext): PhysicalStore {
  const root = args.project ? path.resolve(args.project) : ctx.root;
  return withStores({ ...ctx, root }).environment(args.env ?? 'default').repository.physical();
}

export const walPushCommand: Command<WalPushArgs, { segment: string; outcome: PushOutcome; archive: string }> = {
  name: 'wal-push',
  synopsis: 'node <project>/scripts/kit.mjs wal-push %p --project <project> [--env <name>]',
  description: `
Run by PostgreSQL's archive_command for each finished WAL segment (never by hand):
  archive_command = 'node /srv/app/scripts/kit.mjs wal-push %p --project /srv/app --env prod'
Copies the segment into backups/<env>/wal/ under a temporary name, fsyncs it and links it to
its own name: an archived segment is never overwritten. With a remote (backup-kit.json), the
segment is also uploaded to <prefix>/<env>/wal/, and archive_command succeeds only when both
hold it. The same segment again is success; a different one of that name is an error (exit 23)
and PostgreSQL keeps it and retries.`,
  shared: ['env', ...REMOTE_OPTIONS],
  options: { project: { type: 'string', arg: '<dir>', help: 'the application directory (backup-kit.json, backups/); default: cwd' } },
  parse(values, positionals, common) {
    if (positionals.length !== 1) throw usageError(['wal-push takes the segment path (%p in archive_command).'], 'wal-push');
    return { ...common, segment: positionals[0]!, project: stringValue(values, 'project') };
  },
  async run(args, ctx) {
    await PhysicalStore.refuseWithoutEncryption({ root: args.project ? path.resolve(args.project) : ctx.root, env: ctx.env }, args.env ?? 'default', 'the WAL archive');
    const store = storeOf(args, ctx);
    try {
      // %p is relative to the data directory, which is archive_command's working directory.
      const outcome = await pushSegment(path.resolve(ctx.root, args.segment), store.wal);
      return { segment: path.basename(args.segment), outcome, archive: store.wal.where };
    } finally {
      store.close();
    }
  },
  render: (r) => [`${r.segment} ${r.outcome === 'archived' ? 'archived' : 'was already archived (identical)'} in ${r.archive}`],
};

export interface WalFetchArgs extends CommonArgs {
  name: string;
  dest: string;
  project: string | undefined;
}

export const walFetchCommand: Command<WalFetchArgs, { file: string; archive: string }> = {
  name: 'wal-fetch',
  synopsis: 'node <project>/scripts/kit.mjs wal-fetch %f %p --project <project> [--env <name>]',
  description: `
Run by a restored server's restore_command for each WAL file recovery asks for (never by hand);
db:restore:physical writes that restore_command when the environment has a remote. Takes the file
from backups/<env>/wal/, or else from the remote, proven against the sha256 recorded when it was
archived. Exit 17 when the archive does not have the file (PostgreSQL asks for files past the end
of the archive as a matter of course); any other failure stops recovery rather than letting the
server open at an earlier moment than asked.`,
  shared: ['env', ...REMOTE_OPTIONS],
  options: { project: { type: 'string', arg: '<dir>', help: 'the application directory (backup-kit.json, backups/); default: cwd' } },
  parse(values, positionals, common) {
    if (positionals.length !== 2) throw usageError(['wal-fetch takes the file name and the path to write (%f %p in restore_command).'], 'wal-fetch');
    return { ...common, name: positionals[0]!, dest: positionals[1]!, project: stringValue(values, 'project') };
  },
  async run(args, ctx) {
    const store = storeOf(args, ctx);
    try {
      // %p is relative to the data directory, restore_command's working directory.
      await fetchSegment(args.name, path.resolve(ctx.root, args.dest), store.wal);
      return { file: args.name, archive: store.wal.where };
    } finally {
      store.close();
    }
  },
  render: (r) => [`${r.file} restored from ${r.archive}`],
};

export interface WalStatusArgs extends CommonArgs {
  maxReady: number;
  waitSeconds: number;
}

export const walStatusCommand: Command<WalStatusArgs, WalStatus> = {
  name: 'wal-status',
  synopsis: 'pnpm db:wal:status -- [--env <name>] [--max-ready <n>] [--json]',
  description: `
The continuous WAL archive's health: PostgreSQL's pg_stat_archiver (last archived segment,
failures), segments waiting in pg_wal, the lag, gaps in the archive after the oldest base backup,
the archive's size and free space. Exit 23 when archiving is off, failing, falling behind or has a
gap; run it from cron with NOTIFY_URL (or --notify) and a stuck archive raises the alarm before
pg_wal fills the server's disk.`,
  shared: ['env', 'env-file', 'url', ...REMOTE_OPTIONS],
  options: {
    'max-ready': { type: 'string', arg: '<n>', help: 'segments allowed to wait in pg_wal before alarming (default 16)' },
    wait: { type: 'string', arg: '<seconds>', help: 'retry the connection until the server answers' },
  },
  parse(values, positionals, common) {
    const problems: string[] = [];
    if (positionals.length) problems.push(`db:wal:status takes no arguments, got ${positionals.join(' ')}.`);
    const text = stringValue(values, 'max-ready') ?? '16';
    const maxReady = Number(text);
    if (!Number.isInteger(maxReady) || maxReady < 0) problems.push(`--max-ready takes a whole number, got "${text}".`);
    const waitSeconds = readWait(values, problems);
    if (problems.length) throw usageError(problems, 'pnpm db:wal:status --');
    return { ...common, maxReady, waitSeconds };
  },
  async run(args, ctx) {
    const status = await walStatus(ctx.target(args), { maxReady: args.maxReady }, ctx, args.waitSeconds);
    const first = status.problems[0];
    if (first) {
      const summary = status.problems.map((p) => p.message).join('\n  ');
      failWithReport(status, new KitError(first.code, `The WAL archive of "${status.environment}" needs attention:\n  ${summary}`));
    }
    return status;
  },
  render(s) {
    const a = s.archive;
    return [
      `WAL archive of ${s.environment}: ${s.archiveDir}`,
      `  archiving: ${s.server.archiveMode}, ${s.server.archivedCount} archived, ${s.server.failedCount} failed since the statistics reset`,
      `  last archived: ${s.server.lastArchivedWal ?? '-'} at ${s.server.lastArchivedTime ?? '-'}; now writing ${s.server.currentWal || '-'}; lag ${s.lagSegments ?? '?'} segment(s), ${s.server.ready ?? '?'} waiting in pg_wal`,
      `  archive: ${a.segments} segments since the oldest base backup (${a.oldestBackupSegment ?? 'none yet'}), newest ${a.lastSegment ?? '-'}, ${a.gaps.length ? `${a.gaps.length} gap(s)` : 'no gaps'}`,
      `  size ${formatBytes(a.bytes)} in ${a.files} files; ${formatBytes(a.freeBytes)} free`,
      ...(s.remote ? [`  remote: ${s.remote.segments} segments since the oldest base backup, newest ${s.remote.lastSegment ?? '-'}, ${s.remote.gaps.length ? `${s.remote.gaps.length} gap(s)` : 'no gaps'}`] : []),
    ];
  },
  logFields: (s) => ({ lastArchived: s.server.lastArchivedWal, lag: s.lagSegments, segments: s.archive.segments }),
};
