/**
 * `db:restore:physical`: a base backup unpacked into a data directory, told how to recover (to a
 * moment, an LSN, the end of the archive, or as a standby), and proven: a private server is
 * started on it, recovery must reach its target and promote, --post-init SQL runs, and the server
 * is stopped again before the directory is handed over. Never into a running server's directory.
 */
import { appendFile, chmod, chown, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { CommandContext } from '../context.js';
import { KitError } from '../errors.js';
import type { Target } from '../config/target.js';
import { majorOf } from '../pg/connect.js';
import { formatStamp } from '../format/naming.js';
import { extractArtifact } from './extract.js';
import type { PhysicalInfo } from './info.js';
import { PhysicalRepo, type PhysicalEntry } from './repo.js';
import { autoConfBlock, primaryConninfo, recoverySettings, type RecoveryTarget } from './recovery.js';
import { PgCtlControl, runningServerPid, type ServerControl } from './server-control.js';
import { proveServer, type ProofResult } from './prove.js';

export interface PhysicalRestoreOptions {
  id: string;
  targetDir: string | undefined;
  replace: string | undefined;
  target: RecoveryTarget;
  standby: boolean;
  configFile: string | undefined;
  postInitDir: string | undefined;
  owner: string | undefined;
  keepArchiving: boolean;
  timeoutSeconds: number;
}

export interface PhysicalRestoreResult {
  id: string;
  environment: string;
  dataDir: string;
  mode: 'new' | 'replace';
  previousDir: string | undefined;
  target: RecoveryTarget;
  standby: boolean;
  proof: ProofResult;
  durationMs: number;
  start: string;
  /** The kit's own peak memory (tar, lz4 and the server are separate processes). */
  peakRssBytes: number;
}

/** For --time: the newest backup that finished before the moment (its WAL then leads there). */
export function chooseBaseBackup(entries: PhysicalEntry[], target: RecoveryTarget): PhysicalEntry | undefined {
  if (target.kind !== 'time') return entries[0];
  const moment = Date.parse(target.value);
  return entries.find((e) => Date.parse(e.info.finishedAt) <= moment);
}

function selectBackup(repo: PhysicalRepo, options: PhysicalRestoreOptions): PhysicalEntry {
  if (options.id !== 'latest') {
    const entry = repo.find(options.id);
    if (options.target.kind === 'time' && Date.parse(entry.info.finishedAt) > Date.parse(options.target.value)) {
      throw new KitError('RECOVERY_TARGET_NOT_REACHED', `${entry.id} finished at ${entry.info.finishedAt}, after --time ${options.target.value}: recovery cannot stop before a backup is consistent. Choose an older backup, or leave out the id to pick one.`);
    }
    return entry;
  }
  const { complete } = repo.catalog();
  if (complete.length === 0) return repo.find('latest');
  const chosen = chooseBaseBackup(complete, options.target);
  if (!chosen) {
    throw new KitError('RECOVERY_TARGET_NOT_REACHED', `No physical backup finished before ${options.target.kind === 'time' ? options.target.value : ''}; the oldest finished at ${complete.at(-1)!.info.finishedAt}. Nothing was restored.`);
  }
  return chosen;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

async function checkDestination(options: PhysicalRestoreOptions): Promise<{ dataDir: string; work: string; mode: 'new' | 'replace' }> {
  const dataDir = path.resolve(options.replace ?? options.targetDir!);
  const pid = runningServerPid(dataDir);
  if (pid !== undefined) {
    throw new KitError('TARGET_DIR_IN_USE', `A server (pid ${pid}) is running on ${dataDir}. Never restore under a running server: stop it first${options.replace ? '' : ', or choose a new --target-dir'}.`);
  }
  if (options.replace) {
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
      throw new KitError('TARGET_DIR_IN_USE', `${dataDir} is not a PostgreSQL data directory (no PG_VERSION); --replace only replaces a stopped cluster's directory. Use --target-dir for a new one.`);
    }
    return { dataDir, work: `${dataDir}.kit-new-${formatStamp(new Date())}`, mode: 'replace' };
  }
  if (!(await isEmptyOrMissing(dataDir))) {
    throw new KitError('TARGET_DIR_IN_USE', `${dataDir} is not empty. Restore into a new or empty directory, or replace a stopped cluster with --replace <its data directory>.`);
  }
  return { dataDir, work: dataDir, mode: 'new' };
}

/** chown -R without following links: the server must own every file of its directory. */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const name of await readdir(dir)) {
    const full = path.join(dir, name);
    const s = await lstat(full);
    if (s.isDirectory()) await chownTree(full, uid, gid);
    else await chown(full, uid, gid).catch(() => undefined);
  }
}

export async function unpack(entry: PhysicalEntry, repo: PhysicalRepo, work: string, ctx: CommandContext): Promise<void> {
  const tablespaces = entry.info.artifacts.filter((a) => a.role === 'tablespace');
  if (tablespaces.length) {
    throw new KitError('RECOVERY_FAILED', `${entry.id} holds tablespaces (${tablespaces.map((t) => t.file).join(', ')}), which this kit does not restore yet. Unpack them by hand with tar (see the README).`);
  }
  await mkdir(work, { recursive: true, mode: 0o700 });
  const base = entry.info.artifacts.find((a) => a.role === 'base')!;
  ctx.reporter.progress({ phase: 'unpacking base', bytes: 0, estimate: entry.info.totalBytes });
  await extractArtifact(repo.file(base.file), base, work, ctx.signal);
  const wal = entry.info.artifacts.find((a) => a.role === 'wal');
  if (wal) {
    await mkdir(path.join(work, 'pg_wal'), { recursive: true, mode: 0o700 });
    await extractArtifact(repo.file(wal.file), wal, path.join(work, 'pg_wal'), ctx.signal);
  }
  const manifest = entry.info.artifacts.find((a) => a.role === 'manifest');
  if (manifest) await rm(path.join(work, 'backup_manifest'), { force: true });
}

export async function configure(entry: PhysicalEntry, repo: PhysicalRepo, work: string, target: Target | undefined, options: PhysicalRestoreOptions, ctx: CommandContext): Promise<void> {
  // A cluster whose configuration lives elsewhere (/etc/postgresql) has none in its directory.
  if (!existsSync(path.join(work, 'postgresql.conf'))) await writeFile(path.join(work, 'postgresql.conf'), '# configuration kept outside the data directory\n', { mode: 0o600 });
  let standby: { conninfo: string } | undefined;
  if (options.standby) {
    if (!target) throw new KitError('BAD_ARGUMENT', '--standby needs the primary\'s connection (DATABASE_URL or --env).');
    let passfile: string | undefined;
    if (target.password !== undefined) {
      passfile = path.join(options.replace ? path.resolve(options.replace) : work, '.pgpass_primary');
      const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
      await writeFile(path.join(work, '.pgpass_primary'), `${esc(target.host)}:${target.port}:*:${esc(target.user)}:${esc(target.password)}\n`, { mode: 0o600 });
    }
    standby = { conninfo: primaryConninfo({ host: target.host, port: target.port, user: target.user, passfile, applicationName: `kit_standby_${formatStamp(ctx.now())}`, params: target.params }) };
  }
  const input = { id: entry.id, walArchive: repo.wal, target: options.target, standby, keepArchiving: archivingKept(options), at: ctx.now() };
  let block = autoConfBlock(input, recoverySettings(input));
  if (options.configFile) block += `\n# overrides from ${path.basename(options.configFile)} (--config)\n${await readFile(options.configFile, 'utf8')}\n`;
  await appendFile(path.join(work, 'postgresql.auto.conf'), block, { mode: 0o600 });
  await writeFile(path.join(work, options.standby ? 'standby.signal' : 'recovery.signal'), '', { mode: 0o600 });
}

export async function physicalRestore(target: Target | undefined, environment: string, options: PhysicalRestoreOptions, ctx: CommandContext, control?: ServerControl): Promise<PhysicalRestoreResult> {
  const started = ctx.now();
  const repo = PhysicalRepo.of(ctx, environment);
  const entry = selectBackup(repo, options);
  const info: PhysicalInfo = entry.info;
  const server = control ?? (await PgCtlControl.create(majorOf(info.server.versionNum), ctx.env, options.owner));
  const { dataDir, work, mode } = await checkDestination(options);
  let previousDir: string | undefined;
  let swapped = false;
  try {
    await unpack(entry, repo, work, ctx);
    await configure(entry, repo, work, target, options, ctx);
    await chmod(work, 0o700);
    const owner = server.owner();
    if (owner) await chownTree(work, owner.uid, owner.gid);
    if (mode === 'replace') {
      previousDir = `${dataDir}.kit-old-${formatStamp(started)}`;
      await rename(dataDir, previousDir);
      await rename(work, dataDir);
      swapped = true;
    }
    ctx.reporter.progress({ phase: 'recovering', bytes: 0 });
    const proof = await proveServer(server, dataDir, { info, target: options.target, standby: options.standby, postInitDir: options.postInitDir, keepArchiving: archivingKept(options), timeoutSeconds: options.timeoutSeconds, env: ctx.env, signal: ctx.signal });
    return {
      id: entry.id,
      environment,
      dataDir,
      mode,
      previousDir,
      target: options.target,
      standby: options.standby,
      proof,
      durationMs: ctx.now().getTime() - started.getTime(),
      start: `pg_ctl -D ${dataDir} start   (or your service manager)`,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } catch (error) {
    // All or nothing: a replaced cluster gets its own directory back; a new one is removed.
    if (swapped && previousDir) {
      await rm(dataDir, { recursive: true, force: true });
      await rename(previousDir, dataDir);
    }
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}

function archivingKept(options: PhysicalRestoreOptions): boolean {
  return options.keepArchiving || options.replace !== undefined;
}
