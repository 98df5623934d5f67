/**
 * `db:backup:physical`: pg_basebackup over a replication connection (tar, WAL streamed into the
 * backup, compressed), into a private partial directory; then every file is hashed and renamed
 * into backups/<env>/physical/, the .sha256 written, and the .info last.
 */
import { statfsSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { CommandContext } from '../context.js';
import { KitError } from '../errors.js';
import { childEnv, type Target } from '../config/target.js';
import { connectWithWait, majorOf } from '../pg/connect.js';
import { locateServerTool, runProgram, type Program } from '../proc/programs.js';
import { backupStem } from '../format/naming.js';
import { ensurePrivateDir, sha256File, syncDir, writeFileAtomic } from '../store/files.js';
import { acquireLock } from '../store/lock.js';
import { planPrechecks, readServerSettings, type ServerSettings } from './checks.js';
import { physicalRestoreHints, type Compression, type PhysicalArtifact, type PhysicalInfo, type PhysicalRole } from './info.js';
import { PhysicalRepo } from './repo.js';
import { parseLsn, segmentBeforeLsn, segmentOfLsn } from './wal-names.js';
import { INFO_SCHEMA, INFO_VERSION } from '../format/metadata.js';

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
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const text = buffer.toString('utf8');
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

async function prepare(target: Target, options: PhysicalBackupOptions, ctx: CommandContext, repo: PhysicalRepo): Promise<{ settings: ServerSettings; tool: Program; compression: Compression }> {
  const client = await connectWithWait(target, options.waitSeconds, (n, e) => ctx.reporter.notice(`waiting for the server (attempt ${n}): ${e.message}`));
  let settings: ServerSettings;
  try {
    settings = await readServerSettings(client);
  } finally {
    await client.end().catch(() => undefined);
  }
  const serverMajor = majorOf(settings.versionNum);
  const tool = await locateServerTool('pg_basebackup', serverMajor, ctx.env, true);
  await ensurePrivateDir(repo.backups);
  const fs = statfsSync(repo.backups);
  const problems = planPrechecks({ settings, clientMajor: tool.major ?? 0, freeBytes: fs.bavail * fs.bsize, skipSpaceCheck: options.skipSpaceCheck, clientHost: target.host });
  if (problems.length) throw new KitError('PHYSICAL_PRECHECK', `The server is not ready for a physical backup:\n  - ${problems.join('\n  - ')}`);
  return { settings, tool, compression: chooseCompression(options.compression, tool.major ?? 0) };
}

export async function physicalBackup(target: Target, options: PhysicalBackupOptions, ctx: CommandContext): Promise<PhysicalBackupResult> {
  const started = ctx.now();
  const repo = PhysicalRepo.of(ctx, target.env);
  const { settings, tool, compression } = await prepare(target, options, ctx, repo);
  const lock = acquireLock(repo.backups, 'backup-physical', target.env);
  const taken = new Set((await readdir(repo.backups)).map((n) => n.replace(/\..*$/, '')));
  const id = backupStem(options.type, started, taken);
  const work = repo.file(`${id}.partial`);
  try {
    await mkdir(work, { mode: 0o700 });
    ctx.reporter.progress({ phase: 'pg_basebackup', bytes: 0, estimate: settings.sizeBytes });
    await runProgram(tool, basebackupArgs(work, id, compression, options.checkpoint), {
      env: childEnv(target, ctx.env),
      signal: ctx.signal,
      failure: 'BASEBACKUP_FAILED',
      explain: explainBasebackup(target.user),
    });
    const range = await walRangeOf(path.join(work, 'backup_manifest'));
    const artifacts = await commitArtifacts(work, id, repo);
    const finished = ctx.now();
    const info = buildInfo({ id, options, target, settings, tool, compression, range, artifacts, started, finished });
    await writeFileAtomic(repo.file(`${id}.sha256`), artifacts.map((a) => `${a.sha256}  ${a.file}\n`).join(''));
    await writeFileAtomic(repo.file(`${id}.info`), JSON.stringify(info, null, 2) + '\n');
    await syncDir(repo.backups);
    return {
      id,
      environment: target.env,
      dir: repo.backups,
      info: repo.file(`${id}.info`),
      files: artifacts.map((a) => ({ path: repo.file(a.file), role: a.role, bytes: a.bytes, sha256: a.sha256 })),
      totalBytes: info.totalBytes,
      durationMs: info.durationMs,
      wal: info.wal,
      compression,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } catch (error) {
    // Nothing half-made may look like a backup: the partial directory and any renamed file go.
    await rm(work, { recursive: true, force: true });
    for (const name of await readdir(repo.backups).catch(() => [] as string[])) {
      if (name.startsWith(`${id}.`)) await rm(repo.file(name), { force: true });
    }
    throw error;
  } finally {
    lock.release();
  }
}

/** Hash each file pg_basebackup wrote, then give it its final name beside the others. */
async function commitArtifacts(work: string, id: string, repo: PhysicalRepo): Promise<PhysicalArtifact[]> {
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
