/**
 * A backup: one snapshot, every requested format dumped from it concurrently, the plain stream
 * fanned out to .sql / .sql.gz / statistics, everything written through the environment's
 * BackupStore and committed there with .info last. Until .info exists there is no backup; on any
 * failure every file of this run is removed. Engine-blind: the target's engine says which formats
 * it writes, how its snapshot is taken, which program dumps and how its output is read.
 */
import { createReadStream } from 'node:fs';
import kitPackage from '../../../package.json' with { type: 'json' };
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { KitError } from '../errors.js';
import type { Target } from '../config/target.js';
import type { BackupSnapshot, BackupTools, Client, DumpRequest, DumpStats, Engine, LocatedTool, RunningTool, ServerFacts, StatisticsCollector } from '../engines/engine.js';
import { sizeOf } from '../store/files.js';
import { storageError } from '../store/write-errors.js';
import { engineFor, engineForTarget } from '../engines/registry.js';
import type { StoreContext } from '../store/environment.js';
import type { BackupStore, BackupWrite, StoredBackup } from '../store/store.js';
import type { CommandContext } from '../context.js';
import { Fanout, HashTap } from './fanout.js';
import { artifactFile, type Format } from '../format/naming.js';
import { formatBytes } from '../text/units.js';
import { restoreCommandLine } from '../text/restore-command.js';
import { INFO_SCHEMA, INFO_VERSION, restoreInstructions, type ArtifactInfo, type BackupInfo, type ExtensionInfo, type RolesInfo, type StatisticsSource, DEFAULT_ENGINE, type EngineName } from '../format/metadata.js';
import { backupRoles } from './roles.js';
import { isRemoteLocation } from '../config/remote.js';

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
  /** No --format was given: every format the target's engine writes. */
  formatsDefaulted?: boolean;
  /** A backup the kit takes on its own account: in the format its engine keeps for those (engine.ownFormat). */
  ownFormat?: boolean;
}

export interface BackupResult {
  /** With a remote: where each copy lives (as in .info). */
  copies?: BackupInfo['copies'];
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
  /** The command that restores this backup into the database it was taken from, as printed. */
  restoreCommand: string;
}

/**
 * Options for the backups the kit takes on its own account (before a restore, a drop, a migration,
 * for a sync): the whole database, in the engine's own format for them (a PostgreSQL .dump, with
 * statistics read back from the archive so a later restore can check its row counts; a MySQL
 * .sql.gz, with statistics from its stream).
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
    ownFormat: true,
    ...overrides,
  };
}

/**
 * The formats a backup writes on this engine: its own format for the kit's own backups, every one
 * it writes when none was asked for, and what was asked for when the engine writes it. A format
 * the engine does not write is refused before anything is written. Pure.
 */
export function formatsFor(engine: Pick<Engine, 'formats' | 'ownFormat' | 'label'>, options: Pick<BackupOptions, 'formats' | 'formatsDefaulted' | 'ownFormat'>): Format[] {
  if (options.ownFormat) return [engine.ownFormat];
  if (options.formatsDefaulted) return options.formats.filter((f) => engine.formats.includes(f));
  const foreign = options.formats.filter((f) => !engine.formats.includes(f));
  if (foreign.length) {
    throw new KitError('BAD_FORMAT', `--format ${foreign.join(', ')}: ${engine.label} backups are ${engine.formats.join(' and ')} only (${foreign.length === 1 ? 'that is a PostgreSQL archive format' : 'those are PostgreSQL archive formats'}). Choose --format ${engine.formats.join(',')}. Nothing was written.`);
  }
  return options.formats;
}

/** Rough output size per byte of pg_database_size, for the free-space check and the ETA. */
const SIZE_FACTOR: Record<Format, number> = { sql: 1, 'sql.gz': 0.3, dump: 0.3, tar: 1 };

const KIT_VERSION = kitPackage.version;

export function estimateBytes(databaseSize: number, formats: Format[]): number {
  return Math.round(formats.reduce((sum, f) => sum + SIZE_FACTOR[f] * databaseSize, 0));
}

function checkFreeSpace(where: string, free: number | undefined, need: number, formats: Format[], databaseSize: number): void {
  if (free !== undefined && need > free) {
    throw new KitError('INSUFFICIENT_SPACE', `Not enough free space in ${where}: a backup in ${formats.join(', ')} of a ${formatBytes(databaseSize)} database needs about ${formatBytes(need)}, and ${formatBytes(free)} is free. Free some space, choose fewer formats (--format dump), or pass --skip-space-check if you know the backup is smaller.`);
  }
}

interface Job {
  formats: Format[];
  tool: RunningTool;
  /** Settles when the job's files are complete, with the hash of each. */
  done: Promise<Array<{ format: Format; sha256: string; bytes: number }>>;
  /** Bytes produced so far, for progress. */
  bytesSoFar: () => Promise<number>;
  /** A file on this machine holding the finished artifact, when the store gave one. */
  localFile?: string;
}

export interface InfoFacts {
  /** The engine that made the backup (PostgreSQL unless said): recorded so a restore picks the same one. */
  engine?: EngineName;
  /** The statistics' fingerprint algorithm (the engine's unless said). */
  algorithm?: string;
  id: string;
  environment: string;
  options: Pick<BackupOptions, 'type' | 'description' | 'tables' | 'excludeTables' | 'schemas'>;
  started: Date;
  finished: Date;
  database: BackupInfo['database'];
  pgDump: { path: string; version: string };
  snapshot: string;
  /** The server's clock at the snapshot, when known. */
  serverTime?: Date;
  artifacts: ArtifactInfo[];
  stats: DumpStats | undefined;
  source: StatisticsSource;
  largeObjects: number;
  roles?: RolesInfo;
  /** The extensions the dump creates (undefined: not read). */
  extensions?: ExtensionInfo[];
}

/** The .info of a finished backup. Pure. */
export function buildInfo(facts: InfoFacts): BackupInfo {
  const { options, stats } = facts;
  const engine = engineFor(facts.engine ?? DEFAULT_ENGINE);
  const totalRows = Object.values(stats?.tables ?? {}).reduce((n, t) => n + t.rows, 0);
  const files = Object.fromEntries(facts.artifacts.map((a) => [a.format, a.file]));
  return {
    schema: INFO_SCHEMA,
    version: INFO_VERSION,
    engine: facts.engine ?? DEFAULT_ENGINE,
    id: facts.id,
    type: options.type,
    description: options.description,
    environment: facts.environment,
    startedAt: facts.started.toISOString(),
    finishedAt: facts.finished.toISOString(),
    durationMs: facts.finished.getTime() - facts.started.getTime(),
    database: facts.database,
    tool: { name: 'pg-backup-kit', version: KIT_VERSION, node: process.version },
    pgDump: facts.pgDump,
    snapshot: { id: facts.snapshot, isolation: 'repeatable read', ...(facts.serverTime ? { takenAt: facts.serverTime.toISOString() } : {}) },
    scope: {
      tables: options.tables,
      excludeTables: options.excludeTables,
      schemas: options.schemas,
      complete: !options.tables.length && !options.excludeTables.length && !options.schemas.length,
    },
    artifacts: facts.artifacts,
    ...(facts.roles ? { roles: facts.roles } : {}),
    ...(facts.extensions ? { extensions: facts.extensions } : {}),
    statistics: {
      source: facts.source,
      algorithm: facts.algorithm ?? engine.fingerprintAlgorithm,
      note: statisticsNote(facts.source, facts.pgDump.path),
      tables: stats?.tables ?? {},
      sequences: stats?.sequences ?? {},
      largeObjects: facts.largeObjects,
      totalRows,
    },
    restore: restoreInstructions(files, facts.environment, engine.rawRestoreCommands(files)),
  };
}

interface Session {
  client: Client;
  facts: ServerFacts;
  tools: BackupTools;
  estimate: number;
  engine: Engine;
  /** The formats written, as the engine writes them (formatsFor). */
  formats: Format[];
}

/** Starts the dump tool on one format of the backup's snapshot (a file to write, or stdout). */
type StartDump = (format: DumpRequest['format'], file?: string) => RunningTool;

/** What the backup needs before it starts: server facts, the tools that fit, enough space. */
async function prepareSession(engine: Engine, client: Client, options: BackupOptions, ctx: CommandContext, store: BackupStore): Promise<Session> {
  const facts = await engine.serverFacts(client);
  const tools = await engine.backupTools(facts, !isPlain(options) && options.stats === 'archive', ctx.env);
  const estimate = estimateBytes(facts.databaseSize, options.formats);
  if (!options.skipSpaceCheck) checkFreeSpace(store.where, await store.freeBytes(), estimate, options.formats, facts.databaseSize);
  return { client, facts, tools, estimate, engine, formats: options.formats };
}

function isPlain(options: Pick<BackupOptions, 'formats'>): boolean {
  return options.formats.includes('sql') || options.formats.includes('sql.gz');
}

/**
 * How to restore a backup just taken into the database it came from: its local file, or its id
 * when only the remote holds it (restore fetches it; an s3:// address is not a file it reads),
 * with the flags that reach the same target and the same remote.
 */
function restoreHint(target: Target, ctx: StoreContext, where: string, id: string, artifacts: ArtifactInfo[]): string {
  const preferred = artifacts.find((a) => a.format === 'dump') ?? artifacts.find((a) => a.format !== 'globals')!;
  const remote = isRemoteLocation(where);
  const store = ctx.storeOptions ?? {};
  const reach = [...(target.reach ?? []), ...(store.remote ? ['--remote', store.remote] : []), ...(store.endpoint ? ['--endpoint', store.endpoint] : [])];
  return restoreCommandLine({ source: { file: remote ? id : path.join(where, preferred.file) }, environment: target.env, root: ctx.root, reach });
}

/** The environment's lock is the command's (the registry declares it, runCli holds it). */
export async function backup(target: Target, asked: BackupOptions, ctx: StoreContext): Promise<BackupResult> {
  const started = ctx.now();
  const engine = engineForTarget(target);
  const options: BackupOptions = { ...asked, formats: formatsFor(engine, asked) };
  engine.checkBackupScope(options, target.database);
  const { store } = ctx.environment(target.env);
  let client: Client | undefined;
  let write: BackupWrite | undefined;
  try {
    ctx.reporter.progress({ phase: 'connecting', bytes: 0 });
    client = await engine.connectWithWait(target, options.waitSeconds, (attempt, error) =>
      ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`),
      ctx.signal,
    );
    const session = await prepareSession(engine, client, options, ctx, store);
    write = await store.beginWrite(options.type, started, { estimateBytes: session.estimate });
    const stored = await dumpAndCommit(target, options, ctx, session, write, started);
    const { info } = stored;
    return {
      id: stored.id,
      environment: target.env,
      dir: stored.where,
      info: stored.infoLocation,
      files: info.artifacts.map((a) => ({ ...a, path: isRemoteLocation(stored.where) ? stored.where + a.file : path.join(stored.where, a.file) })),
      ...(info.copies ? { copies: info.copies } : {}),
      totalBytes: info.artifacts.reduce((n, a) => n + a.bytes, 0),
      durationMs: info.durationMs,
      database: { name: target.database, host: target.host, port: target.port },
      statistics: { source: info.statistics.source, tables: Object.keys(info.statistics.tables).length, totalRows: info.statistics.totalRows },
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      restoreCommand: restoreHint(target, ctx, stored.where, stored.id, info.artifacts),
    };
  } catch (error) {
    await write?.abort().catch(() => undefined);
    throw await engine.serverGone(error, target) ?? storageError(error);
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/** Dump every format from one snapshot into `write`, then commit it with its .info. */
async function dumpAndCommit(target: Target, options: BackupOptions, ctx: CommandContext, session: Session, write: BackupWrite, started: Date): Promise<StoredBackup> {
  const { client, facts, tools, estimate, engine } = session;
  const snapshot = await engine.openBackupSnapshot(client, options, target);
  for (const warning of snapshot.warnings) ctx.reporter.notice(warning);
  ctx.signal.throwIfAborted();

  const env = engine.childEnv(target, ctx.env);
  const dump: StartDump = (format, file) => engine.dump({ tool: tools.dump, target, format, snapshot: snapshot.id, scope: options, file, env });
  const collector = engine.statisticsCollector();
  const jobs: Job[] = [];
  if (isPlain(options)) jobs.push(plainJob(dump, options, write, collector));
  for (const format of ['dump', 'tar'] as const) {
    if (options.formats.includes(format)) jobs.push(archiveJob(dump, format, write));
  }
  const timer = setInterval(() => {
    void Promise.all(jobs.map((j) => j.bytesSoFar())).then((sizes) =>
      ctx.reporter.progress({ phase: 'dumping', bytes: sizes.reduce((a, b) => a + b, 0), estimate }),
    );
  }, 500);
  // The roles the database needs, saved beside the dumps (PostgreSQL: a separate, small pg_dumpall run).
  const roles = backupRoles(engine.dumpRoles({ tools, client, target, env, signal: ctx.signal, notice: (m) => ctx.reporter.notice(m) }), write);
  roles.catch(() => undefined);
  let outputs: Array<{ format: Format; sha256: string; bytes: number }>;
  try {
    outputs = await settleAll(jobs, ctx.signal);
  } catch (error) {
    await roles.catch(() => undefined); // nothing may still be writing when the backup is aborted
    throw error;
  } finally {
    clearInterval(timer);
  }
  const saved = await roles;
  await snapshot.release();

  const archive = jobs.find((j) => j.localFile !== undefined)?.localFile;
  const { stats, source } = await statistics(engine, options, collector, tools, archive, env, ctx);
  return write.commit(buildInfo({
    engine: engine.name,
    id: write.id,
    environment: target.env,
    options,
    started,
    finished: ctx.now(),
    database: infoDatabase(target, facts),
    pgDump: { path: tools.dump.path, version: tools.dump.version },
    ...snapshotFacts(snapshot),
    artifacts: [...artifactsOf(options, outputs, write.id), saved.artifact],
    stats,
    source,
    roles: saved.roles,
  }));
}

function snapshotFacts(snapshot: BackupSnapshot): Pick<InfoFacts, 'snapshot' | 'serverTime' | 'largeObjects' | 'extensions'> {
  return {
    snapshot: snapshot.id,
    ...(snapshot.serverTime ? { serverTime: snapshot.serverTime } : {}),
    largeObjects: snapshot.largeObjects,
    ...(snapshot.extensions ? { extensions: snapshot.extensions } : {}),
  };
}

function artifactsOf(options: BackupOptions, outputs: Array<{ format: Format; sha256: string; bytes: number }>, id: string): ArtifactInfo[] {
  return options.formats.map((format) => {
    const out = outputs.find((o) => o.format === format)!;
    // After the trailer check: a plain dump cut short is reported as that, not as "too small".
    if (out.bytes < 64) plausible(format, { bytes: out.bytes, head: Buffer.alloc(0), digest: () => out.sha256 });
    return { file: artifactFile(id, format), format, bytes: out.bytes, sha256: out.sha256 };
  });
}

async function statistics(
  engine: Engine,
  options: BackupOptions,
  collector: StatisticsCollector,
  tools: BackupTools,
  archive: string | undefined,
  env: NodeJS.ProcessEnv,
  ctx: CommandContext,
): Promise<{ stats: DumpStats | undefined; source: StatisticsSource }> {
  if (isPlain(options)) {
    const stats = collector.finish();
    if (!stats.complete) {
      throw new KitError('ARTIFACT_IMPLAUSIBLE', `The plain dump ended without ${programOf(tools.dump.path)}'s completion trailer, so it is incomplete. No backup was written; run the backup again.`);
    }
    return { stats, source: 'plain-stream' };
  }
  if (!tools.archiveReader) return { stats: undefined, source: 'none' };
  ctx.reporter.progress({ phase: 'reading the archive back for statistics', bytes: 0 });
  // A store that takes only streams leaves no local archive to read back.
  if (!archive) return { stats: undefined, source: 'none' };
  return { stats: await statsFromArchive(engine, tools.archiveReader, archive, env, ctx.signal), source: 'archive' };
}

/** "/usr/lib/postgresql/17/bin/pg_dump" → "pg_dump"; "mariadb-dump" stays. */
const programOf = (file: string) => path.basename(file);

/** How the statistics were computed, in words for the .info. Pure. */
function statisticsNote(source: StatisticsSource, dumpProgram: string): string {
  switch (source) {
    case 'plain-stream':
      return `Row counts and fingerprints were computed from the plain ${programOf(dumpProgram)} stream as it was written, in the backup's snapshot.`;
    case 'archive':
      return 'No plain stream was produced, so row counts and fingerprints were computed on this machine by reading the finished archive back with pg_restore (no second read of the server).';
    case 'none':
      return 'No plain stream was produced and --stats archive was not given, so no per-table statistics were recorded (computing them would cost a second pass over the data). Verification computes them from the archive instead.';
  }
}

export function infoDatabase(target: Target, facts: ServerFacts): BackupInfo['database'] {
  return {
    name: target.database,
    host: target.host,
    port: target.port,
    user: target.user,
    serverVersion: facts.version,
    serverVersionNum: facts.versionNum,
    sizeBytes: facts.databaseSize,
    configuredBy: target.source,
    ...(facts.flavour ? { flavour: facts.flavour } : {}),
  };
}

function plainJob(
  dump: StartDump,
  options: BackupOptions,
  write: BackupWrite,
  collector: StatisticsCollector,
): Job {
  const tool = dump('plain');
  const sinks = [];
  const flushes: Array<Promise<unknown>> = [];
  const results: Array<() => { format: Format; sha256: string; bytes: number }> = [];
  if (options.formats.includes('sql')) {
    const tap = new HashTap();
    sinks.push(tap);
    flushes.push(pipeline(tap, write.artifact(artifactFile(write.id, 'sql'))));
    results.push(() => ({ format: 'sql', sha256: tap.digest(), bytes: tap.bytes }));
  }
  if (options.formats.includes('sql.gz')) {
    const gzip = createGzip({ level: options.gzipLevel, chunkSize: 1 << 16 });
    const tap = new HashTap();
    sinks.push(gzip);
    flushes.push(pipeline(gzip, tap, write.artifact(artifactFile(write.id, 'sql.gz'))));
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
 * A .dump or .tar. pg_dump writes a custom archive's data offsets into its table of contents
 * only when it can seek, so a store that offers a local file gets pg_dump --file; a store that
 * takes only streams gets pg_dump's stdout.
 */
function archiveJob(dump: StartDump, format: 'dump' | 'tar', write: BackupWrite): Job {
  const name = artifactFile(write.id, format);
  const file = write.artifactPath(name);
  if (file) {
    const tool = dump(format, file);
    const done = tool.done.then(async () => {
      // pg_dump has said it succeeded; the file must still look like what it claims to be.
      const tap = new HashTap();
      // A pg_dump that "succeeded" without creating its file is judged like an empty one.
      if ((await sizeOf(file)) > 0) await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), tap, new Writable({ write: (_c, _e, cb) => cb() }));
      return [plausible(format, tap)];
    });
    return { formats: [format], tool, done, bytesSoFar: () => sizeOf(file), localFile: file };
  }
  const tool = dump(format);
  const tap = new HashTap();
  const done = Promise.allSettled([tool.done, pipeline(tool.child.stdout!, tap, write.artifact(name))]).then(([dumped, written]) => {
    if (written.status === 'rejected') throw storageError(written.reason);
    if (dumped.status === 'rejected') throw dumped.reason;
    return [plausible(format, tap)];
  });
  return { formats: [format], tool, done, bytesSoFar: async () => tap.bytes };
}

/**
 * Wait for every job. The first failure stops the others (their output is useless now) and is
 * the error reported; an abort (Ctrl-C, SIGTERM) does the same with INTERRUPTED.
 */
async function settleAll(jobs: Job[], signal: AbortSignal): Promise<Array<{ format: Format; sha256: string; bytes: number }>> {
  let first: unknown;
  const stopAll = () => {
    for (const job of jobs) if (job.tool.child.exitCode === null) job.tool.stop();
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

async function statsFromArchive(engine: Engine, pgRestore: LocatedTool, archive: string, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<DumpStats> {
  const tool = engine.spawnTool(pgRestore, ['--data-only', '--file=-', archive], { env, failure: 'ARTIFACT_IMPLAUSIBLE' });
  const { stats } = await engine.statisticsOf(tool, signal);
  if (!stats.complete) throw new KitError('ARTIFACT_IMPLAUSIBLE', `Reading ${path.basename(archive)} back ended early; the archive is incomplete. No backup was written.`);
  return stats;
}

const MAGIC: Partial<Record<Format, { offset: number; bytes: string }>> = {
  dump: { offset: 0, bytes: 'PGDMP' },
  tar: { offset: 257, bytes: 'ustar' },
};

/** An empty or headless artifact is a failed backup, whatever the exit codes said. Pure. */
export function plausible(format: Format, tap: Pick<HashTap, 'bytes' | 'head' | 'digest'>): { format: Format; sha256: string; bytes: number } {
  const magic = MAGIC[format];
  const ok = tap.bytes >= 64 && (!magic || tap.head.subarray(magic.offset, magic.offset + magic.bytes.length).toString('latin1') === magic.bytes);
  if (!ok) {
    throw new KitError('ARTIFACT_IMPLAUSIBLE', `The ${format} artifact is implausible (${tap.bytes} bytes${magic ? `, no ${magic.bytes} header` : ''}). No backup was written; check the server log and run the backup again.`);
  }
  return { format, sha256: tap.digest(), bytes: tap.bytes };
}
