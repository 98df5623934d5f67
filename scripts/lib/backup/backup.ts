/**
 * A backup: one exported snapshot, every requested format dumped from it concurrently, the plain
 * stream fanned out to .sql / .sql.gz / statistics, artifacts committed by rename, .sha256 and
 * finally .info written atomically. Until .info exists there is no backup; on any failure every
 * file of this run is removed.
 */
import { statfsSync, createWriteStream, readdirSync } from 'node:fs';
import kitPackage from '../../../package.json' with { type: 'json' };
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { KitError } from '../errors.js';
import { childEnv, type Target } from '../config/target.js';
import { classifyConnectError, connect, connectWithWait, serverFacts, type Client, type ServerFacts } from '../pg/connect.js';
import { locateTool, spawnTool, type LocatedTool, type RunningTool } from '../proc/pg-tools.js';
import { acquireLock } from '../store/lock.js';
import { commitFile, ensurePrivateDir, PARTIAL_SUFFIX, sha256File, sizeOf, syncDir, writeFileAtomic } from '../store/files.js';
import { backupRoot, type CommandContext } from '../context.js';
import { Fanout, HashTap } from './fanout.js';
import { artifactFile, backupStem, stemOf, type Format } from '../format/naming.js';
import { formatBytes } from '../format/units.js';
import { DumpStatsCollector, FINGERPRINT_ALGORITHM, type DumpStats } from '../format/stats.js';
import { INFO_SCHEMA, INFO_VERSION, restoreInstructions, sha256Manifest, type ArtifactInfo, type BackupInfo, type StatisticsSource } from '../format/metadata.js';
import { explainDumpFailure } from './failures.js';

export interface BackupOptions {
  type: string;
  description: string;
  formats: Format[];
  tables: string[];
  excludeTables: string[];
  schemas: string[];
  lockWaitTimeout: string;
  waitSeconds: number;
  skipSpaceCheck: boolean;
  gzipLevel: number;
  /** Without a plain format: 'archive' reads the finished archive back for statistics. */
  stats: 'auto' | 'archive';
}

export interface BackupResult {
  id: string;
  environment: string;
  dir: string;
  info: string;
  files: Array<ArtifactInfo & { path: string }>;
  totalBytes: number;
  durationMs: number;
  database: { name: string; host: string; port: number };
  statistics: { source: StatisticsSource; tables: number; totalRows: number };
  peakRssBytes: number;
}

/**
 * Options for the backups the kit takes on its own account (before a restore, a drop, a migration,
 * for a sync): the whole database, as a .dump, with statistics read back from the archive so a
 * later restore can check its row counts.
 */
export function wholeDatabaseDump(type: string, description: string, overrides: Partial<BackupOptions> = {}): BackupOptions {
  return {
    type,
    description,
    formats: ['dump'],
    tables: [],
    excludeTables: [],
    schemas: [],
    lockWaitTimeout: '60s',
    waitSeconds: 0,
    skipSpaceCheck: false,
    gzipLevel: 6,
    stats: 'archive',
    ...overrides,
  };
}

/** Rough output size per byte of pg_database_size, for the free-space check and the ETA. */
const SIZE_FACTOR: Record<Format, number> = { sql: 1, 'sql.gz': 0.3, dump: 0.3, tar: 1 };

const KIT_VERSION = kitPackage.version;

export function estimateBytes(databaseSize: number, formats: Format[]): number {
  return Math.round(formats.reduce((sum, f) => sum + SIZE_FACTOR[f] * databaseSize, 0));
}

function checkFreeSpace(dir: string, need: number, formats: Format[], databaseSize: number): void {
  const stats = statfsSync(dir);
  const free = Number(stats.bavail) * Number(stats.bsize);
  if (need > free) {
    throw new KitError('INSUFFICIENT_SPACE', `Not enough free space in ${dir}: a backup in ${formats.join(', ')} of a ${formatBytes(databaseSize)} database needs about ${formatBytes(need)}, and ${formatBytes(free)} is free. Free some space, choose fewer formats (--format dump), or pass --skip-space-check if you know the backup is smaller.`);
  }
}

interface Job {
  formats: Format[];
  tool: RunningTool;
  /** Settles when the job's files are complete, with the hash of each. */
  done: Promise<Array<{ format: Format; sha256: string; bytes: number }>>;
  /** Bytes produced so far, for progress. */
  bytesSoFar: () => Promise<number>;
}

/** `lockHeld`: the caller (a restore taking its safety backup) already holds the environment's lock. */
export async function backup(target: Target, options: BackupOptions, ctx: CommandContext, internal: { lockHeld?: boolean } = {}): Promise<BackupResult> {
  const started = ctx.now();
  const dir = path.join(backupRoot(ctx), target.env);
  await ensurePrivateDir(dir);
  const lock = internal.lockHeld ? { release: () => undefined } : acquireLock(dir, 'backup', target.env);
  let client: Client | undefined;
  let stem: string | undefined;
  try {
    ctx.reporter.progress({ phase: 'connecting', bytes: 0 });
    client = await connectWithWait(target, options.waitSeconds, (attempt, error) =>
      ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`),
    );
    const facts = await serverFacts(client);
    const pgDump = await locateTool('pg_dump', facts.major, ctx.env);
    const plain = options.formats.includes('sql') || options.formats.includes('sql.gz');
    const pgRestore = plain || options.stats !== 'archive' ? undefined : await locateTool('pg_restore', facts.major, ctx.env);
    const estimate = estimateBytes(facts.databaseSize, options.formats);
    if (!options.skipSpaceCheck) checkFreeSpace(dir, estimate, options.formats, facts.databaseSize);

    stem = backupStem(options.type, started, existingStems(dir));
    const partial = (format: Format) => path.join(dir, artifactFile(stem!, format) + PARTIAL_SUFFIX);

    // The snapshot every artifact is read from. It must stay open until every pg_dump has
    // imported it; it is held (read-only, no locks beyond pg_dump's own) until all are done.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const snapshot = (await client.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
    const largeObjects = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_largeobject_metadata')).rows[0]!.n);
    ctx.signal.throwIfAborted();

    const env = childEnv(target, ctx.env);
    const common = [
      `--snapshot=${snapshot}`,
      `--lock-wait-timeout=${options.lockWaitTimeout}`,
      '--no-password',
      ...options.schemas.map((s) => `--schema=${s}`),
      ...options.tables.map((t) => `--table=${t}`),
      ...options.excludeTables.map((t) => `--exclude-table=${t}`),
    ];
    if (options.tables.length || options.schemas.length) common.push('--strict-names');

    const collector = new DumpStatsCollector();
    const jobs: Job[] = [];
    if (plain) jobs.push(plainJob(pgDump, common, env, options, partial, collector));
    for (const format of ['dump', 'tar'] as const) {
      if (options.formats.includes(format)) jobs.push(fileJob(pgDump, common, env, format, partial(format)));
    }

    const timer = setInterval(() => {
      void Promise.all(jobs.map((j) => j.bytesSoFar())).then((sizes) =>
        ctx.reporter.progress({ phase: 'dumping', bytes: sizes.reduce((a, b) => a + b, 0), estimate }),
      );
    }, 500);
    let outputs: Array<{ format: Format; sha256: string; bytes: number }>;
    try {
      outputs = await settleAll(jobs, ctx.signal);
    } finally {
      clearInterval(timer);
    }
    await client.query('COMMIT');

    let stats: DumpStats | undefined;
    let source: StatisticsSource = 'none';
    if (plain) {
      source = 'plain-stream';
      stats = collector.finish();
      if (!stats.complete) {
        throw new KitError('ARTIFACT_IMPLAUSIBLE', 'The plain dump ended without pg_dump\'s completion trailer, so it is incomplete. No backup was written; run the backup again.');
      }
    } else if (pgRestore) {
      ctx.reporter.progress({ phase: 'reading the archive back for statistics', bytes: 0 });
      const archive = options.formats.includes('dump') ? partial('dump') : partial('tar');
      stats = await statsFromArchive(pgRestore, archive, env, ctx.signal);
      source = 'archive';
    }
    for (const format of options.formats) if (format === 'sql' || format === 'sql.gz') await checkPlausible(format, partial(format));

    const artifacts: ArtifactInfo[] = options.formats.map((format) => {
      const out = outputs.find((o) => o.format === format)!;
      return { file: artifactFile(stem!, format), format, bytes: out.bytes, sha256: out.sha256 };
    });
    for (const a of artifacts) await commitFile(partial(a.format), path.join(dir, a.file));
    await syncDir(dir);

    const finished = ctx.now();
    const totalRows = Object.values(stats?.tables ?? {}).reduce((n, t) => n + t.rows, 0);
    const info: BackupInfo = {
      schema: INFO_SCHEMA,
      version: INFO_VERSION,
      id: stem,
      type: options.type,
      description: options.description,
      environment: target.env,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      database: infoDatabase(target, facts),
      tool: { name: 'pg-backup-kit', version: KIT_VERSION, node: process.version },
      pgDump: { path: pgDump.path, version: pgDump.version },
      snapshot: { id: snapshot, isolation: 'repeatable read' },
      scope: {
        tables: options.tables,
        excludeTables: options.excludeTables,
        schemas: options.schemas,
        complete: !options.tables.length && !options.excludeTables.length && !options.schemas.length,
      },
      artifacts,
      statistics: {
        source,
        algorithm: FINGERPRINT_ALGORITHM,
        note: STATISTICS_NOTES[source],
        tables: stats?.tables ?? {},
        sequences: stats?.sequences ?? {},
        largeObjects,
        totalRows,
      },
      restore: restoreInstructions(Object.fromEntries(artifacts.map((a) => [a.format, a.file])), target.env),
    };
    await writeFileAtomic(path.join(dir, `${stem}.sha256`), sha256Manifest(artifacts));
    const infoFile = path.join(dir, `${stem}.info`);
    await writeFileAtomic(infoFile, JSON.stringify(info, null, 2) + '\n');

    return {
      id: stem,
      environment: target.env,
      dir,
      info: infoFile,
      files: artifacts.map((a) => ({ ...a, path: path.join(dir, a.file) })),
      totalBytes: artifacts.reduce((n, a) => n + a.bytes, 0),
      durationMs: info.durationMs,
      database: { name: target.database, host: target.host, port: target.port },
      statistics: { source, tables: Object.keys(info.statistics.tables).length, totalRows },
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } catch (error) {
    if (stem) await removeRun(dir, stem);
    throw await serverGoneError(error, target) ?? storageError(error);
  } finally {
    await client?.end().catch(() => undefined);
    lock.release();
  }
}

const STATISTICS_NOTES: Record<StatisticsSource, string> = {
  'plain-stream': 'Row counts and fingerprints were computed from the plain pg_dump stream as it was written, in the backup\'s snapshot.',
  archive: 'No plain stream was produced, so row counts and fingerprints were computed on this machine by reading the finished archive back with pg_restore (no second read of the server).',
  none: 'No plain stream was produced and --stats archive was not given, so no per-table statistics were recorded (computing them would cost a second pass over the data). Verification computes them from the archive instead.',
};

function infoDatabase(target: Target, facts: ServerFacts): BackupInfo['database'] {
  return {
    name: target.database,
    host: target.host,
    port: target.port,
    user: target.user,
    serverVersion: facts.version,
    serverVersionNum: facts.versionNum,
    sizeBytes: facts.databaseSize,
    configuredBy: target.source,
  };
}

function existingStems(dir: string): Set<string> {
  const stems = new Set<string>();
  for (const name of readdirSync(dir)) {
    const stem = stemOf(name);
    if (stem) stems.add(stem);
  }
  return stems;
}

/** Remove every file this run created: nothing that looks like a backup may survive a failure. */
async function removeRun(dir: string, stem: string): Promise<void> {
  for (const name of readdirSync(dir)) {
    if (stemOf(name) === stem) await rm(path.join(dir, name), { force: true });
  }
}

function plainJob(
  pgDump: LocatedTool,
  common: string[],
  env: NodeJS.ProcessEnv,
  options: BackupOptions,
  partial: (format: Format) => string,
  collector: DumpStatsCollector,
): Job {
  const tool = spawnTool(pgDump, ['--format=plain', ...common], { env, failure: 'PG_DUMP_FAILED', explain: explainDumpFailure });
  const sinks = [];
  const flushes: Array<Promise<unknown>> = [];
  const results: Array<() => { format: Format; sha256: string; bytes: number }> = [];
  if (options.formats.includes('sql')) {
    const tap = new HashTap();
    const file = createWriteStream(partial('sql'), { mode: 0o600, highWaterMark: 1 << 18 });
    sinks.push(tap);
    flushes.push(pipeline(tap, file));
    results.push(() => ({ format: 'sql', sha256: tap.digest(), bytes: tap.bytes }));
  }
  if (options.formats.includes('sql.gz')) {
    const gzip = createGzip({ level: options.gzipLevel, chunkSize: 1 << 16 });
    const tap = new HashTap();
    const file = createWriteStream(partial('sql.gz'), { mode: 0o600, highWaterMark: 1 << 18 });
    sinks.push(gzip);
    flushes.push(pipeline(gzip, tap, file));
    results.push(() => ({ format: 'sql.gz', sha256: tap.digest(), bytes: tap.bytes }));
  }
  const all = Promise.all(flushes);
  all.catch(() => undefined);
  const fanout = new Fanout(sinks, (chunk) => collector.push(chunk), () => all);
  const done = Promise.allSettled([tool.done, pipeline(tool.child.stdout!, fanout)]).then(([dumped, written]) => {
    // A failed write (disk full) makes pg_dump fail too, with a broken pipe; the write error is
    // the cause worth reporting.
    if (written.status === 'rejected') throw storageError(written.reason);
    if (dumped.status === 'rejected') throw dumped.reason;
    return results.map((r) => r());
  });
  return { formats: ['sql', 'sql.gz'], tool, done, bytesSoFar: async () => collector.bytesSeen };
}

/**
 * pg_dump words a vanished server many ways (closed connection, crash of another process, no
 * connection, …). Rather than trust the wording, ask: if the server no longer answers, that is
 * the cause to report.
 */
export async function serverGoneError(error: unknown, target: Target, during = 'backup', after = 'No backup was written'): Promise<KitError | undefined> {
  if (!(error instanceof KitError) || !['PG_DUMP_FAILED', 'ARTIFACT_IMPLAUSIBLE', 'RESTORE_FAILED', 'INTEGRITY_FAILED'].includes(error.code)) return undefined;
  try {
    const probe = await connect(target);
    await probe.end();
    return undefined;
  } catch (raw) {
    if (!classifyConnectError(raw, target).retryable) return undefined;
    return new KitError('SERVER_UNREACHABLE', `The connection to the server was lost during the ${during} (${error.message}). ${after}; check the server and run the ${during} again.`, { cause: error, detail: error.detail });
  }
}

/** Errors from writing files, in the kit's vocabulary. */
export function storageError(error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new KitError('DISK_FULL', 'The disk filled up during the backup. No backup was written; partial files were removed. Free space or set BACKUP_DIR to a larger disk.', { cause: error });
  }
  if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') {
    return new KitError('BACKUP_DIR_UNWRITABLE', `Writing the backup failed (${code}). Fix the backup directory's permissions or set BACKUP_DIR.`, { cause: error });
  }
  return error;
}

function fileJob(pgDump: LocatedTool, common: string[], env: NodeJS.ProcessEnv, format: 'dump' | 'tar', file: string): Job {
  const tool = spawnTool(pgDump, [format === 'dump' ? '--format=custom' : '--format=tar', `--file=${file}`, ...common], {
    env,
    failure: 'PG_DUMP_FAILED',
    explain: explainDumpFailure,
  });
  const done = tool.done.then(async () => {
    // pg_dump has said it succeeded; the file must still look like what it claims to be.
    await checkPlausible(format, file);
    return [{ format, ...(await sha256File(file)) }];
  });
  return { formats: [format], tool, done, bytesSoFar: () => sizeOf(file) };
}

/**
 * Wait for every job. The first failure stops the others (their output is useless now) and is
 * the error reported; an abort (Ctrl-C, SIGTERM) does the same with INTERRUPTED.
 */
async function settleAll(jobs: Job[], signal: AbortSignal): Promise<Array<{ format: Format; sha256: string; bytes: number }>> {
  let first: unknown;
  const stopAll = () => {
    for (const job of jobs) if (job.tool.child.exitCode === null) job.tool.child.kill('SIGTERM');
  };
  const onAbort = () => {
    first ??= new KitError('INTERRUPTED', 'Interrupted. No backup was written; partial files were removed.');
    stopAll();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const settled = await Promise.allSettled(
      jobs.map((job) =>
        job.done.catch((error: unknown) => {
          first ??= error;
          stopAll();
          throw error;
        }),
      ),
    );
    if (first !== undefined) throw first;
    return settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

async function statsFromArchive(pgRestore: LocatedTool, archive: string, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<DumpStats> {
  const collector = new DumpStatsCollector();
  const tool = spawnTool(pgRestore, ['--data-only', '--file=-', archive], { env, failure: 'ARTIFACT_IMPLAUSIBLE' });
  const onAbort = () => tool.child.kill('SIGTERM');
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of tool.child.stdout!) collector.push(chunk as Buffer);
    await tool.done;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  signal.throwIfAborted();
  const stats = collector.finish();
  if (!stats.complete) throw new KitError('ARTIFACT_IMPLAUSIBLE', `Reading ${path.basename(archive)} back ended early; the archive is incomplete. No backup was written.`);
  return stats;
}

const MAGIC: Partial<Record<Format, { offset: number; bytes: string }>> = {
  dump: { offset: 0, bytes: 'PGDMP' },
  tar: { offset: 257, bytes: 'ustar' },
};

/** An empty or headless artifact is a failed backup, whatever the exit codes said. */
async function checkPlausible(format: Format, file: string): Promise<void> {
  const size = await sizeOf(file);
  const magic = MAGIC[format];
  let ok = size >= 64;
  if (ok && magic) {
    const { open } = await import('node:fs/promises');
    const handle = await open(file, 'r');
    try {
      const buf = Buffer.alloc(magic.bytes.length);
      await handle.read(buf, 0, buf.length, magic.offset);
      ok = buf.toString('latin1') === magic.bytes;
    } finally {
      await handle.close();
    }
  }
  if (!ok) {
    throw new KitError('ARTIFACT_IMPLAUSIBLE', `The ${format} artifact is implausible (${size} bytes${magic ? `, no ${magic.bytes} header` : ''}). No backup was written; check the server log and run the backup again.`);
  }
}
