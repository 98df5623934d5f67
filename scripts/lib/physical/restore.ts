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
import type { StoreContext } from '../store/environment.js';
import { KitError } from '../errors.js';
import type { Target } from '../config/target.js';
import { majorOf } from '../engines/postgres/connect.js';
import { formatStamp } from '../format/naming.js';
import { extractArtifact } from './extract.js';
import { linkTablespaces, placerOf, planTablespaces, type TablespacePlacer } from './tablespaces.js';
import type { PhysicalInfo } from './info.js';
import { PhysicalStore, type PhysicalEntry } from '../store/physical-store.js';
import { autoConfBlock, kitRestoreCommand, localRestoreCommand, primaryConninfo, recoverySettings, type RecoveryTarget } from './recovery.js';
import { PgCtlControl, runningServerPid, type ServerControl } from './server-control.js';
import { proveServer, type ProofResult } from './prove.js';
import { refuseWithoutPhysicalBackups } from './engine-check.js';

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
  /**
   * The kit's launcher as the server's user runs it (restore_command's wal-fetch, when the archive
   * has a remote): BACKUP_KIT_LAUNCHER, or this kit's own scripts/kit.mjs.
   */
  launcher: string;
  /** --tablespace-mapping OLD=NEW: where each tablespace goes (by its old directory or oid). */
  tablespaceMappings: Map<string, string>;
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
  /** Where the backup and WAL were read from: the local directory, or the remote. */
  from: string;
  /** The kit's own peak memory (tar, lz4 and the server are separate processes). */
  peakRssBytes: number;
}

/** For --time: the newest backup that finished before the moment (its WAL then leads there). */
export function chooseBaseBackup(entries: PhysicalEntry[], target: RecoveryTarget): PhysicalEntry | undefined {
  if (target.kind !== 'time') return entries[0];
  const moment = Date.parse(target.value);
  return entries.find((e) => Date.parse(e.info.finishedAt) <= moment);
}

async function selectBackup(repo: PhysicalStore, options: PhysicalRestoreOptions): Promise<PhysicalEntry> {
  if (options.id !== 'latest') {
    const entry = await repo.find(options.id);
    if (options.target.kind === 'time' && Date.parse(entry.info.finishedAt) > Date.parse(options.target.value)) {
      throw new KitError('RECOVERY_TARGET_NOT_REACHED', `${entry.id} finished at ${entry.info.finishedAt}, after --time ${options.target.value}: recovery cannot stop before a backup is consistent. Choose an older backup, or leave out the id to pick one.`);
    }
    return entry;
  }
  const { complete } = await repo.catalog();
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

/**
 * The backup's files into `work` (and each tablespace where `place` says). Returns the tablespace
 * directories it created, for the caller to own and, on failure, to remove.
 */
export async function unpack(entry: PhysicalEntry, repo: PhysicalStore, work: string, ctx: CommandContext, place: TablespacePlacer, created: string[] = []): Promise<string[]> {
  await mkdir(work, { recursive: true, mode: 0o700 });
  const base = entry.info.artifacts.find((a) => a.role === 'base')!;
  ctx.reporter.progress({ phase: entry.place === 'remote' ? 'downloading and unpacking base' : 'unpacking base', bytes: 0, estimate: entry.info.totalBytes });
  await unpackOne(entry, repo, base, work, ctx);
  const tablespaces = entry.info.artifacts.filter((a) => a.role === 'tablespace');
  if (tablespaces.length) {
    const plan = await planTablespaces(work, place);
    for (const p of plan) {
      const artifact = tablespaces.find((a) => a.file.startsWith(`${entry.id}.${p.oid}.tar`));
      if (!artifact) throw new KitError('INTEGRITY_FAILED', `${entry.id} names tablespace ${p.oid} in its tablespace_map but holds no ${p.oid}.tar. The backup is incomplete; restore another one.`);
      await mkdir(p.target, { recursive: true, mode: 0o700 });
      created.push(p.target);
      await unpackOne(entry, repo, artifact, p.target, ctx);
    }
    await linkTablespaces(work, plan);
  }
  const wal = entry.info.artifacts.find((a) => a.role === 'wal');
  if (wal) {
    await mkdir(path.join(work, 'pg_wal'), { recursive: true, mode: 0o700 });
    await unpackOne(entry, repo, wal, path.join(work, 'pg_wal'), ctx);
  }
  const manifest = entry.info.artifacts.find((a) => a.role === 'manifest');
  if (manifest) await rm(path.join(work, 'backup_manifest'), { force: true });
  return created;
}

async function unpackOne(entry: PhysicalEntry, repo: PhysicalStore, artifact: PhysicalEntry['info']['artifacts'][number], dest: string, ctx: CommandContext): Promise<void> {
  const copy = await repo.artifact(entry, artifact.file, ctx.signal);
  try {
    await extractArtifact(copy.path, artifact, dest, ctx.signal);
  } finally {
    await copy.release();
  }
}

/** How the restored server gets archived WAL: a plain copy, or the kit when there is a remote. */
export function restoreCommandFor(repo: PhysicalStore, options: Pick<PhysicalRestoreOptions, 'launcher' | 'standby'>, ctx: Pick<CommandContext, 'root' | 'env' | 'storeOptions'>): string {
  if (!repo.remote) return localRestoreCommand(repo.walDir);
  return kitRestoreCommand({ node: process.execPath, launcher: options.launcher, project: ctx.root, environment: repo.environment, remote: ctx.storeOptions?.remote, endpoint: ctx.storeOptions?.endpoint, stopRecoveryOnError: !options.standby, localFirst: ctx.storeOptions?.fromRemote ? undefined : repo.walDir });
}

export async function configure(entry: PhysicalEntry, repo: PhysicalStore, work: string, target: Target | undefined, options: PhysicalRestoreOptions, ctx: CommandContext): Promise<void> {
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
  const input = { id: entry.id, restoreCommand: restoreCommandFor(repo, options, ctx), target: options.target, standby, keepArchiving: archivingKept(options), at: ctx.now() };
  let block = autoConfBlock(input, recoverySettings(input));
  if (options.configFile) block += `\n# overrides from ${path.basename(options.configFile)} (--config)\n${await readFile(options.configFile, 'utf8')}\n`;
  await appendFile(path.join(work, 'postgresql.auto.conf'), block, { mode: 0o600 });
  await writeFile(path.join(work, options.standby ? 'standby.signal' : 'recovery.signal'), '', { mode: 0o600 });
}

export async function physicalRestore(target: Target | undefined, environment: string, options: PhysicalRestoreOptions, ctx: StoreContext, control?: ServerControl): Promise<PhysicalRestoreResult> {
  if (target) refuseWithoutPhysicalBackups(target, 'db:restore:physical --standby');
  const repo = ctx.environment(environment).repository.physical();
  try {
    return await restoreFrom(repo, target, environment, options, ctx, control);
  } finally {
    repo.close();
  }
}

async function restoreFrom(repo: PhysicalStore, target: Target | undefined, environment: string, options: PhysicalRestoreOptions, ctx: CommandContext, control?: ServerControl): Promise<PhysicalRestoreResult> {
  const started = ctx.now();
  const entry = await selectBackup(repo, options);
  const info: PhysicalInfo = entry.info;
  const server = control ?? (await PgCtlControl.create(majorOf(info.server.versionNum), ctx.env, options.owner));
  const { dataDir, work, mode } = await checkDestination(options);
  let previousDir: string | undefined;
  let swapped = false;
  const tablespaceDirs: string[] = [];
  try {
    await unpack(entry, repo, work, ctx, placerOf(options.tablespaceMappings), tablespaceDirs);
    await configure(entry, repo, work, target, options, ctx);
    await chmod(work, 0o700);
    const owner = server.owner();
    if (owner) for (const dir of [work, ...tablespaceDirs]) await chownTree(dir, owner.uid, owner.gid);
    if (mode === 'replace') {
      previousDir = `${dataDir}.kit-old-${formatStamp(started)}`;
      await rename(dataDir, previousDir);
      await rename(work, dataDir);
      swapped = true;
    }
    ctx.reporter.progress({ phase: 'recovering', bytes: 0 });
    const proof = await proveServer(server, dataDir, { info, target: options.target, standby: options.standby, postInitDir: options.postInitDir, keepArchiving: archivingKept(options), timeoutSeconds: options.timeoutSeconds, env: ctx.env, signal: ctx.signal, archivedWal: () => repo.wal.names() });
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
      from: entry.place === 'remote' || (ctx.storeOptions?.fromRemote === true && repo.remote) ? repo.remote!.where : repo.backups,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } catch (error) {
    // Tablespace directories are new ones (--tablespace-mapping): nothing of them stays.
    for (const dir of tablespaceDirs) await rm(dir, { recursive: true, force: true });
    if (!swapped || !previousDir) {
      // A new directory: nothing of it may stay to look like a restored cluster.
      await rm(work, { recursive: true, force: true });
      throw error;
    }
    // All or nothing: the replaced cluster gets its own directory back. When the new one failed
    // for a reason the message cannot fully tell (it did not start, crashed, a table did not
    // answer, --post-init failed), it is kept aside for diagnosis; when the reason is known and
    // said (the target lies beyond the archive, Ctrl-C), it is removed: a copy of the whole
    // cluster would only fill the disk the restored server lives on.
    if (error instanceof KitError && error.code === 'RECOVERY_FAILED') {
      const failedDir = `${dataDir}.kit-failed-${formatStamp(started)}`;
      await rename(dataDir, failedDir);
      await rename(previousDir, dataDir);
      throw keptAside(error, dataDir, failedDir);
    }
    await rm(dataDir, { recursive: true, force: true });
    await rename(previousDir, dataDir);
    throw error;
  }
}

function keptAside(error: unknown, dataDir: string, failedDir: string): unknown {
  if (!(error instanceof KitError)) return error;
  return new KitError(error.code, `${error.message} ${dataDir} is back as it was. The restored directory that failed is kept at ${failedDir} for diagnosis; delete it when done.`, { detail: error.detail, cause: error });
}

function archivingKept(options: PhysicalRestoreOptions): boolean {
  return options.keepArchiving || options.replace !== undefined;
}
