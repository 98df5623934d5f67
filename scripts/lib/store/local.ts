/**
 * The local-disk BackupStore: one directory per environment (`<backup root>/<env>`), files with
 * private modes, artifacts written under `.partial` names and renamed on commit, `.sha256` and
 * then `.info` written atomically, fsync of files and the directory.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, statfsSync, type Dirent } from 'node:fs';
import { tmpdir } from 'node:os';
import { readFile, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { KitError } from '../errors.js';
import { backupStem, ownsArtifact, stemOf } from '../format/naming.js';
import { parseInfo, serializeInfo, sha256Manifest, type BackupInfo, type InfoReading } from '../format/metadata.js';
import { buildListing, PARTIAL_SUFFIX, type NamedFile } from './catalog.js';
import { commitDirectory, commitFile, ensurePrivateDir, FILE_MODE, syncDir, writeFileAtomic } from './files.js';
import { acquireLock, liveLockOwner } from './lock.js';
import { parseVerification, verificationName, type Verification } from './verification.js';
import type { BackupStore, BackupWrite, Leftover, Listing, LocalCopy, Lock, StoredBackup } from './store.js';

function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Every file under `dir`, as paths relative to `base` with "/" separators. */
function filesUnder(base: string, dir: string): NamedFile[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(path.join(base, dir), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const name = `${dir}/${e.name}`;
    if (e.isDirectory()) return filesUnder(base, name);
    return [{ name, bytes: sizeOf(path.join(base, name)) }];
  });
}

/**
 * What the listing sees of one name in the environment's directory: a file as itself; a
 * directory named exactly after a backup (a directory export) as every file inside it; any other
 * directory with a backup's name (an export's work directory, "<id>.partial") as one entry.
 */
function namedFiles(where: string, name: string): NamedFile[] {
  const file = path.join(where, name);
  let isDirectory = false;
  try {
    isDirectory = statSync(file).isDirectory();
  } catch {
    return [];
  }
  if (!isDirectory) return [{ name, bytes: sizeOf(file) }];
  const inside = filesUnder(where, name);
  if (stemOf(name) === name) return inside;
  return [{ name, bytes: inside.reduce((n, f) => n + f.bytes, 0) }];
}

/** The directory a stored name lives in at the top of the environment's directory: "<id>" for "<id>/data/x.csv". */
function topName(name: string): string {
  return name.split('/')[0]!;
}

/** Remove a file inside a backup's directory, then the directories it leaves empty. */
async function removeNested(where: string, name: string): Promise<void> {
  await rm(path.join(where, name), { recursive: true, force: true });
  let dir = path.posix.dirname(name);
  while (dir !== '.' && dir !== '') {
    const removed = await rmdir(path.join(where, dir)).then(() => true, () => false);
    if (!removed) return;
    dir = path.posix.dirname(dir);
  }
}

/** The .info at a path outside any store (a file named on the command line). Never throws. */
export function readInfoAt(file: string): InfoReading {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { ok: false, kind: 'unreadable', problem: `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  return parseInfo(text);
}

export class LocalStore implements BackupStore {
  readonly kind = 'local';

  constructor(
    /** The environment's directory. */
    readonly where: string,
    private readonly environment: string,
    /** The published JSON Schema of .info, as seen from this directory (each .info names it). */
    private readonly infoSchemaRef?: string,
  ) {}

  private file(name: string): string {
    return path.join(this.where, name);
  }

  async list(): Promise<Listing> {
    const files: NamedFile[] = namesIn(this.where)
      .filter((name) => stemOf(name) !== undefined)
      .flatMap((name) => namedFiles(this.where, name));
    const owner = liveLockOwner(this.where);
    return buildListing(files, {
      kind: this.kind,
      where: this.where,
      locate: (name) => this.file(name),
      read: (name) => readFile(this.file(name), 'utf8').catch(() => undefined),
      running: owner !== undefined && owner.pid !== process.pid,
    });
  }

  async openArtifact(backup: StoredBackup, file: string): Promise<Readable> {
    return createReadStream(this.file(this.own(backup, file)), { highWaterMark: 1 << 20 });
  }

  async localFile(backup: StoredBackup, file: string): Promise<LocalCopy> {
    return { path: this.file(this.own(backup, file)), release: async () => undefined };
  }

  /** Only names of this backup: a name from an edited .info must not reach outside the directory. */
  private own(backup: StoredBackup, file: string): string {
    if (!ownsArtifact(backup.id, file)) {
      throw new KitError('INTEGRITY_FAILED', `Backup ${backup.id}'s .info names the file "${file}", which is not one of its own. The .info was edited; restore another backup.`);
    }
    return file;
  }

  async beginWrite(type: string, startedAt: Date): Promise<BackupWrite> {
    await ensurePrivateDir(this.where);
    const taken = new Set(namesIn(this.where).map(stemOf).filter((s): s is string => s !== undefined));
    return new LocalWrite(this.where, backupStem(type, startedAt, taken), this.infoSchemaRef);
  }

  async freeBytes(): Promise<number | undefined> {
    await ensurePrivateDir(this.where);
    const stats = statfsSync(this.where);
    return Number(stats.bavail) * Number(stats.bsize);
  }

  async remove(backup: StoredBackup): Promise<void> {
    // .info first: from here on this is no longer a backup, whatever happens to the rest.
    await rm(this.file(`${backup.id}.info`), { force: true });
    const names = new Set([...backup.files, verificationName(backup.id)].filter((name) => ownsArtifact(backup.id, name)).map(topName));
    await Promise.all([...names].map((name) => rm(this.file(name), { recursive: true, force: true })));
  }

  async removeLeftovers(leftovers: Leftover[]): Promise<void> {
    for (const l of leftovers) {
      // Only names the listing gave: a backup's files and directories, never a path elsewhere.
      if (!ownsArtifact(l.id, l.name) && stemOf(l.name) !== l.id) continue;
      if (l.name.includes('/')) await removeNested(this.where, l.name);
      else await rm(this.file(l.name), { recursive: true, force: true });
    }
  }

  async readVerification(backup: StoredBackup): Promise<Verification | undefined> {
    const text = await readFile(this.file(verificationName(backup.id)), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : parseVerification(text);
  }

  async writeVerification(backup: StoredBackup, record: Verification): Promise<void> {
    // A backup deleted while it was being verified (retention ran meanwhile) gets no record:
    // an orphaned .verify.json would look like a leftover of a backup that never was.
    if (!existsSync(this.file(`${backup.id}.info`))) {
      throw new KitError('BACKUP_NOT_FOUND', `Backup ${backup.id} was deleted while it was being verified (by db:retention?); no verification was recorded.`);
    }
    await writeFileAtomic(this.file(verificationName(backup.id)), JSON.stringify(record, null, 2) + '\n');
  }

  async lock(command: string): Promise<Lock> {
    try {
      await ensurePrivateDir(this.where);
    } catch (error) {
      if (!(error instanceof KitError && error.code === 'BACKUP_DIR_UNWRITABLE')) throw error;
      // A read-only backup directory (a mounted copy, another user's files) can still be read
      // from: runs that only read it lock in a private runtime directory instead. Anything that
      // would write here fails on its own, with the same clear message.
      const fallback = path.join(tmpdir(), `pg-backup-kit-locks-${process.getuid?.() ?? 'user'}`, createHash('sha256').update(this.where).digest('hex').slice(0, 16));
      mkdirSync(fallback, { recursive: true, mode: 0o700 });
      return acquireLock(fallback, command, this.environment);
    }
    return acquireLock(this.where, command, this.environment);
  }
}

class LocalWrite implements BackupWrite {
  private readonly started = new Set<string>();
  private done = false;

  constructor(
    readonly where: string,
    readonly id: string,
    private readonly infoSchemaRef: string | undefined,
  ) {}

  /** Where the backup's own directory is built; renamed to "<id>" by commit(). */
  private get workDir(): string {
    return path.join(this.where, this.id + PARTIAL_SUFFIX);
  }

  private partial(file: string): string {
    if (!ownsArtifact(this.id, file)) throw new Error(`artifact name ${file} does not belong to ${this.id}`);
    this.started.add(file);
    if (!file.includes('/')) return path.join(this.where, file + PARTIAL_SUFFIX);
    // A file of the backup's directory: built inside "<id>.partial/", which is renamed whole.
    const staged = path.join(this.workDir, file.slice(this.id.length + 1));
    mkdirSync(path.dirname(staged), { recursive: true, mode: 0o700 });
    return staged;
  }

  artifact(file: string): Writable {
    return createWriteStream(this.partial(file), { mode: FILE_MODE, highWaterMark: 1 << 18 });
  }

  artifactPath(file: string): string {
    return this.partial(file);
  }

  async commit(built: BackupInfo): Promise<StoredBackup> {
    const info: BackupInfo = this.infoSchemaRef ? { $schema: this.infoSchemaRef, ...built } : built;
    let nested = false;
    for (const a of info.artifacts) {
      if (!this.started.has(a.file)) throw new Error(`commit: ${a.file} was never written`);
      if (a.file.includes('/')) {
        nested = true;
        await commitFile(path.join(this.workDir, a.file.slice(this.id.length + 1)));
      } else {
        await commitFile(path.join(this.where, a.file + PARTIAL_SUFFIX), path.join(this.where, a.file));
      }
    }
    // The directory gets its final name only when every file in it is durable.
    if (nested) await commitDirectory(this.workDir, path.join(this.where, this.id));
    await syncDir(this.where);
    await writeFileAtomic(path.join(this.where, `${this.id}.sha256`), sha256Manifest(info.artifacts));
    const infoName = `${this.id}.info`;
    await writeFileAtomic(path.join(this.where, infoName), serializeInfo(info));
    this.done = true;
    const files = [...info.artifacts.map((a) => a.file), `${this.id}.sha256`, infoName];
    return { id: this.id, info, files, where: this.where, infoLocation: path.join(this.where, infoName), storeKind: 'local' };
  }

  async abort(): Promise<void> {
    if (this.done) return;
    for (const name of namesIn(this.where)) {
      if (stemOf(name) === this.id) await rm(path.join(this.where, name), { recursive: true, force: true });
    }
  }
}
