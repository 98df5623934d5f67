/**
 * `db:backup:physical`: pg_basebackup over a replication connection (tar, WAL streamed into the
 * backup, compressed), into a private partial directory; then every file is hashed and renamed
 * into backups/<env>/physical/, the .sha256 written, and the .info last.
 */
import { existsSync, statfsSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { CommandContext } from '../context.js';
import type { StoreContext } from '../store/environment.js';
import { KitError } from '../errors.js';
import { childEnv, type Target } from '../config/target.js';
import { connectWithWait, majorOf } from '../engines/postgres/connect.js';
import { locateServerTool, locateSystemProgram, runProgram, type Program } from '../proc/programs.js';
import { backupStem } from '../format/naming.js';
import { ensurePrivateDir, sha256File, syncDir, writeFileAtomic } from '../store/files.js';
import { acquireLock } from '../store/lock.js';
import { planPrechecks, readServerSettings, type ServerSettings } from './checks.js';
import { physicalRestoreHints, type Compression, type PhysicalArtifact, type PhysicalInfo, type PhysicalRole } from './info.js';
import { PhysicalStore } from '../store/physical-store.js';
import { findUnloggedTables, type UnloggedTables } from './unlogged.js';
import { parseLsn, segmentBeforeLsn, segmentOfLsn } from './wal-names.js';
import { INFO_SCHEMA, INFO_VERSION } from '../format/metadata.js';
import { physicalSha256Manifest, serializePhysicalInfo } from '../format/physical-info.js';
import { refuseWithoutPhysicalBackups } from './engine-check.js';

export interface PhysicalBackupOptions {
  type: string;
  description: string;
  waitSeconds: number;
  skipSpaceCheck: boolean;
  compression: Compression | 'auto';
  checkpoint: 'fast' | 'spread';
}

export interface PhysicalBackupResult {
  id: string;
  environment: string;
  dir: string;
  info: string;
  files: Array<{ path: string; role: PhysicalRole; bytes: number; sha256: string }>;
  totalBytes: number;
  durationMs: number;
  wal: PhysicalInfo['wal'];
  compression: Compression;
  /** The s3:// location of the remote .info, when the environment has a remote. */
  remote: string | undefined;
  /** Tables whose rows this backup does not hold (PostgreSQL never copies them), across all databases. */
  unlogged: UnloggedTables;
  /** The kit's own peak memory (pg_basebackup is a separate process). */
  peakRssBytes: number;
}

/** pg_basebackup 15 compresses on the client with lz4 or zstd; older clients only with gzip. */
export function chooseCompression(requested: Compression | 'auto', clientMajor: number): Compression {
  if (requested !== 'auto') {
    if ((requested === 'lz4' || requested === 'zstd') && clientMajor < 15) {
      throw new KitError('PHYSICAL_PRECHECK', `pg_basebackup ${clientMajor} cannot compress with ${requested}; use --compress gzip or install postgresql-client-15 or newer.`);
    }
    return requested;
  }
  return clientMajor >= 15 ? 'lz4' : 'gzip';
}

export function basebackupArgs(dir: string, label: string, compression: Compression, checkpoint: 'fast' | 'spread'): string[] {
  const compress = compression === 'none' ? ['--compress=none'] : compression === 'gzip' ? ['--gzip'] : [`--compress=client-${compression}`];
  return ['-D', dir, '--format=tar', '--wal-method=stream', ...compress, `--checkpoint=${checkpoint}`, `--label=${label}`, '--verbose', '--no-password'];
}

export function roleOf(file: string): PhysicalRole | undefined {
  if (file === 'backup_manifest') return 'manifest';
  if (/^base\.tar/.test(file)) return 'base';
  if (/^pg_wal\.tar/.test(file)) return 'wal';
  if (/^\d+\.tar/.test(file)) return 'tablespace';
  return undefined;
}

/** The WAL range from the end of backup_manifest ("WAL-Ranges": timeline, start and end LSN). */
export async function walRangeOf(manifest: string): Promise<{ timeline: number; start: string; end: string }> {
  const handle = await open(manifest, 'r');
  try {
    const { size } = await handle.stat();
    // WAL-Ranges closes the manifest; read back from the end in growing windows until the whole
    // list is in view, so a long list is never read from its middle.
    let text = '';
    for (let length = Math.min(size, 64 * 1024); ; length = Math.min(size, length * 4)) {
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      text = buffer.toString('utf8');
      const key = text.indexOf('"WAL-Ranges"');
      if (key !== -1) {
        text = text.slice(key);
        break;
      }
      if (length === size) break;
    }
    const m = /"Timeline":\s*(\d+),\s*"Start-LSN":\s*"([0-9A-F]+\/[0-9A-F]+)",\s*"End-LSN":\s*"([0-9A-F]+\/[0-9A-F]+)"/i.exec(text);
    if (!m) throw new KitError('BASEBACKUP_FAILED', `backup_manifest has no WAL-Ranges entry; the backup is incomplete.`);
    return { timeline: Number(m[1]), start: m[2]!, end: m[3]! };
  } finally {
    await handle.close();
  }
}

function explainBasebackup(user: string) {
  return (stderr: string): KitError | undefined => {
    if (/no pg_hba\.conf entry for replication connection/i.test(stderr)) {
      return new KitError('PHYSICAL_PRECHECK', `The server refuses replication connections from this machine for "${user}". Add "host  replication  ${user}  <this machine's address>/32  scram-sha-256" to pg_hba.conf and reload (SELECT pg_reload_conf();).`, { detail: stderr });
    }
    if (/must be superuser or replication role|permission denied to start WAL sender/i.test(stderr)) {
      return new KitError('PHYSICAL_PRECHECK', `Role "${user}" may not open a replication connection. As a superuser run: ALTER ROLE "${user}" REPLICATION;`, { detail: stderr });
    }
    if (/number of requested standby connections exceeds max_wal_senders|too many clients|sorry, too many/i.test(stderr)) {
      return new KitError('PHYSICAL_PRECHECK', `The server has no free WAL sender for pg_basebackup. Raise max_wal_senders in postgresql.conf and restart the server.`, { detail: stderr });
    }
    if (/No space left on device/i.test(stderr)) return new KitError('DISK_FULL', `The disk filled up during the base backup; nothing was kept. Free space or set BACKUP_DIR.`, { detail: stderr });
    return undefined;
  };
}

async function prepare(target: Target, options: PhysicalBackupOptions, ctx: CommandContext, repo: PhysicalStore): Promise<{ settings: ServerSettings; tool: Program; compression: Compression; unlogged: UnloggedTables }> {
  const client = await connectWithWait(target, options.waitSeconds, (n, e) => ctx.reporter.notice(`waiting for the server (attempt ${n}): ${e.message}`), ctx.signal);
  let settings: ServerSettings;
  let unlogged: UnloggedTables;
  try {
    settings = await readServerSettings(client);
    unlogged = await findUnloggedTables(target, client);
  } finally {
    await client.end().catch(() => undefined);
  }
  const serverMajor = majorOf(settings.versionNum);
  const tool = await locateServerTool('pg_basebackup', serverMajor, ctx.env, true);
  await ensurePrivateDir(repo.backups);
  const fs = statfsSync(repo.backups);
  const problems = planPrechecks({ settings, clientMajor: tool.major ?? 0, freeBytes: fs.bavail * fs.bsize, skipSpaceCheck: options.skipSpaceCheck, clientHost: target.host });
  if (problems.length) throw new KitError('PHYSICAL_PRECHECK', `The server is not ready for a physical backup:\n  - ${problems.join('\n  - ')}`);
  return { settings, tool, compression: chooseCompression(options.compression, tool.major ?? 0), unlogged };
}

export async function physicalBackup(target: Target, options: PhysicalBackupOptions, ctx: StoreContext): Promise<PhysicalBackupResult> {
  const started = ctx.now();
  refuseWithoutPhysicalBackups(target, 'db:backup:physical');
  await PhysicalStore.refuseWithoutEncryption(ctx, target.env, 'physical backups');
  const repo = ctx.environment(target.env).repository.physical();
  try {
    const { settings, tool, compression, unlogged } = await prepare(target, options, ctx, repo);
    const lock = acquireLock(repo.backups, 'backup-physical', target.env);
    try {
      const info = await takeBaseBackup(target, options, ctx, repo, { settings, tool, compression, started });
      const remote = await uploadBackup(repo, info);
      return {
        id: info.id,
        environment: target.env,
        dir: repo.backups,
        info: repo.file(`${info.id}.info`),
        files: info.artifacts.map((a) => ({ path: repo.file(a.file), role: a.role, bytes: a.bytes, sha256: a.sha256 })),
        totalBytes: info.totalBytes,
        durationMs: ctx.now().getTime() - started.getTime(),
        wal: info.wal,
        compression,
        remote,
        unlogged,
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
      };
    } finally {
      lock.release();
    }
  } finally {
    repo.close();
  }
}

/**
 * With a remote, the complete local backup goes up (artifacts, .sha256, .info last) and its local
 * .info then records both copies. A failed upload leaves the local backup complete and says so.
 */
async function uploadBackup(repo: PhysicalStore, info: PhysicalInfo): Promise<string | undefined> {
  if (!repo.remote) return undefined;
  try {
    const uploaded = await repo.upload({ id: info.id, info, infoPath: repo.file(`${info.id}.info`), place: 'local' });
    if (uploaded) await repo.rewriteLocalInfo(uploaded);
    return uploaded?.copies?.remote;
  } catch (error) {
    const reason = error instanceof KitError ? error.message : String(error);
    throw new KitError(error instanceof KitError && error.exitCode === 20 ? error.code : 'REMOTE_FAILED', `The physical backup ${info.id} is complete on this machine (${repo.file(`${info.id}.info`)}), but its upload to ${repo.remote.where} failed: ${reason} No .info was written there, so the remote has no backup that looks complete. Run pnpm db:push once the store is back to upload it.`, { cause: error });
  }
}

interface Prepared {
  settings: ServerSettings;
  tool: Program;
  compression: Compression;
  started: Date;
}

async function takeBaseBackup(target: Target, options: PhysicalBackupOptions, ctx: CommandContext, repo: PhysicalStore, p: Prepared): Promise<PhysicalInfo> {
  const taken = new Set((await readdir(repo.backups)).map((n) => n.replace(/\..*$/, '')));
  const id = backupStem(options.type, p.started, taken);
  const work = repo.file(`${id}.partial`);
  try {
    await mkdir(work, { mode: 0o700 });
    ctx.reporter.progress({ phase: 'pg_basebackup', bytes: 0, estimate: p.settings.sizeBytes });
    await runProgram(p.tool, basebackupArgs(work, id, p.compression, options.checkpoint), {
      env: childEnv(target, ctx.env),
      signal: ctx.signal,
      failure: 'BASEBACKUP_FAILED',
      explain: explainBasebackup(target.user),
    });
    const range = await walRangeOf(path.join(work, 'backup_manifest'));
    const artifacts = await commitArtifacts(work, id, repo, p.compression, ctx.signal);
    const info = buildInfo({ id, options, target, settings: p.settings, tool: p.tool, compression: p.compression, range, artifacts, started: p.started, finished: ctx.now() });
    await writeFileAtomic(repo.file(`${id}.sha256`), physicalSha256Manifest(artifacts));
    await writeFileAtomic(repo.file(`${id}.info`), serializePhysicalInfo(info));
    await syncDir(repo.backups);
    return info;
  } catch (error) {
    // Nothing half-made may look like a backup: the partial directory and any renamed file go.
    await rm(work, { recursive: true, force: true });
    for (const name of await readdir(repo.backups).catch(() => [] as string[])) {
      if (name.startsWith(`${id}.`)) await rm(repo.file(name), { force: true });
    }
    throw error;
  }
}

/**
 * pg_basebackup 15 compresses pg_wal.tar only with gzip; with lz4 or zstd it writes it plain.
 * Compress it the same way as base.tar (a busy cluster's backup carries a lot of WAL).
 */
async function compressWalTar(work: string, compression: Compression, signal: AbortSignal): Promise<void> {
  const plain = path.join(work, 'pg_wal.tar');
  if ((compression !== 'lz4' && compression !== 'zstd') || !existsSync(plain)) return;
  const program = await locateSystemProgram(compression, compression);
  const out = `${plain}.${compression === 'lz4' ? 'lz4' : 'zst'}`;
  await runProgram(program, compression === 'lz4' ? ['-q', plain, out] : ['-q', plain, '-o', out], { env: process.env, signal, failure: 'BASEBACKUP_FAILED' });
  const handle = await open(out, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rm(plain);
}

/** Hash each file pg_basebackup wrote, then give it its final name beside the others. */
async function commitArtifacts(work: string, id: string, repo: PhysicalStore, compression: Compression, signal: AbortSignal): Promise<PhysicalArtifact[]> {
  await compressWalTar(work, compression, signal);
  const artifacts: PhysicalArtifact[] = [];
  for (const name of (await readdir(work)).sort()) {
    const role = roleOf(name);
    if (!role) throw new KitError('BASEBACKUP_FAILED', `pg_basebackup wrote an unexpected file ${name}; the backup was not kept.`);
    const { sha256, bytes } = await sha256File(path.join(work, name));
    artifacts.push({ file: `${id}.${name}`, role, bytes, sha256 });
  }
  if (!artifacts.some((a) => a.role === 'base') || !artifacts.some((a) => a.role === 'manifest')) {
    throw new KitError('BASEBACKUP_FAILED', 'pg_basebackup finished without base.tar or backup_manifest; the backup was not kept.');
  }
  // pg_basebackup has fsynced its files; a rename within one directory keeps that.
  for (const a of artifacts) await rename(path.join(work, a.file.slice(id.length + 1)), repo.file(a.file));
  await rm(work, { recursive: true, force: true });
  return artifacts;
}

interface InfoParts {
  id: string;
  options: PhysicalBackupOptions;
  target: Target;
  settings: ServerSettings;
  tool: Program;
  compression: Compression;
  range: { timeline: number; start: string; end: string };
  artifacts: PhysicalArtifact[];
  started: Date;
  finished: Date;
}

export function buildInfo(p: InfoParts): PhysicalInfo {
  const seg = p.settings.walSegmentSize;
  return {
    schema: INFO_SCHEMA,
    version: INFO_VERSION,
    kind: 'physical',
    engine: 'postgresql',
    id: p.id,
    type: p.options.type,
    description: p.options.description,
    environment: p.target.env,
    startedAt: p.started.toISOString(),
    finishedAt: p.finished.toISOString(),
    durationMs: p.finished.getTime() - p.started.getTime(),
    server: {
      host: p.target.host,
      port: p.target.port,
      user: p.target.user,
      version: p.settings.version,
      versionNum: p.settings.versionNum,
      systemIdentifier: p.settings.systemIdentifier,
      sizeBytes: p.settings.sizeBytes,
      walSegmentSize: seg,
      configuredBy: p.target.source,
    },
    pgBasebackup: { path: p.tool.path, version: p.tool.version ?? '', compression: p.compression },
    wal: {
      timeline: p.range.timeline,
      startLsn: p.range.start,
      stopLsn: p.range.end,
      startSegment: segmentOfLsn(p.range.timeline, parseLsn(p.range.start), seg),
      stopSegment: segmentBeforeLsn(p.range.timeline, parseLsn(p.range.end), seg),
    },
    artifacts: p.artifacts,
    totalBytes: p.artifacts.reduce((n, a) => n + a.bytes, 0),
    restore: physicalRestoreHints(p.id, p.target.env),
  };
}
