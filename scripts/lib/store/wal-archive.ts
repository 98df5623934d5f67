/**
 * The continuous WAL archive of an environment, behind one interface: on local disk
 * (backups/<env>/wal/), in the environment's remote store (<prefix>/<env>/wal/), or both. The
 * contract every implementation keeps:
 *  - `push()` stores a file under its own name atomically and durably before it resolves; a file
 *    of that name already there with identical bytes is success ('already-archived'), with other
 *    bytes an error (WAL_SEGMENT_CONFLICT): an archived segment is never overwritten.
 *  - `names()` lists finished files only; `fetch()` writes one to a path, proven against what
 *    was stored, and says 'missing' when the archive does not have it (PostgreSQL asks for files
 *    that do not exist yet as a matter of course); `remove()` deletes by name.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statfsSync } from 'node:fs';
import { copyFile, link, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { KitError } from '../errors.js';
import { fsyncPath } from './files.js';

export type PushOutcome = 'archived' | 'already-archived';

export interface ArchiveUsage {
  files: number;
  bytes: number;
  freeBytes: number;
}

export interface WalArchive {
  /** For people: a directory, an s3:// location, or both. */
  readonly where: string;
  push(source: string): Promise<PushOutcome>;
  names(): Promise<string[]>;
  fetch(name: string, dest: string): Promise<'fetched' | 'missing'>;
  remove(names: string[]): Promise<void>;
}

/** A WAL file name: nothing that could reach outside the archive. */
export function checkWalName(name: string): string {
  if (!/^[0-9A-Z][0-9A-Za-z.]*$/.test(name) || name.includes('..')) throw new KitError('WAL_PUSH_FAILED', `"${name}" is not a WAL file name.`);
  return name;
}

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function conflict(name: string, where: string): KitError {
  return new KitError('WAL_SEGMENT_CONFLICT', `${name} already exists in ${where} with different contents. It was not overwritten. Another server (or a restored copy) may be archiving into the same place: give each cluster its own archive (environment), then remove the wrong segment by hand.`);
}

/**
 * backups/<env>/wal/: a file is copied under a private partial name, fsynced, and linked to its
 * own name; link() never replaces an existing file, so the never-overwrite rule holds even
 * between two processes.
 */
export class LocalWalArchive implements WalArchive {
  constructor(readonly dir: string) {}

  get where(): string {
    return this.dir;
  }

  async push(source: string): Promise<PushOutcome> {
    const name = checkWalName(path.basename(source));
    const final = path.join(this.dir, name);
    const partial = path.join(this.dir, `.${name}.${process.pid}.partial`);
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await pipeline(createReadStream(source, { highWaterMark: 1 << 20 }), createWriteStream(partial, { mode: 0o600, flags: 'wx' }));
      await fsyncPath(partial);
    } catch (error) {
      await unlink(partial).catch(() => undefined);
      const code = (error as NodeJS.ErrnoException).code ?? '';
      throw new KitError('WAL_PUSH_FAILED', `Could not archive ${name} into ${this.dir} (${code || (error as Error).message}). PostgreSQL keeps the segment and retries; fix the archive directory (space, permissions).`, { cause: error });
    }
    try {
      await link(partial, final);
      await fsyncPath(this.dir).catch(() => undefined);
      return 'archived';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new KitError('WAL_PUSH_FAILED', `Could not archive ${name} into ${this.dir}: ${(error as Error).message}`, { cause: error });
      }
      const [mine, theirs] = await Promise.all([sha256Of(partial), sha256Of(final)]);
      if (mine === theirs) return 'already-archived';
      throw conflict(name, this.dir);
    } finally {
      await unlink(partial).catch(() => undefined);
    }
  }

  async names(): Promise<string[]> {
    const all = await readdir(this.dir).catch(() => [] as string[]);
    return all.filter((n) => !n.includes('.partial') && !n.startsWith('.')).sort();
  }

  async fetch(name: string, dest: string): Promise<'fetched' | 'missing'> {
    const source = path.join(this.dir, checkWalName(name));
    if (!(await stat(source).then((s) => s.isFile(), () => false))) return 'missing';
    await copyFile(source, dest);
    return 'fetched';
  }

  async remove(names: string[]): Promise<void> {
    for (const name of names) await unlink(path.join(this.dir, checkWalName(name))).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
  }

  async usage(): Promise<ArchiveUsage> {
    let files = 0;
    let bytes = 0;
    for (const name of await this.names()) {
      files++;
      bytes += (await stat(path.join(this.dir, name)).catch(() => ({ size: 0 }))).size;
    }
    let freeBytes = 0;
    try {
      const fs = statfsSync(this.dir);
      freeBytes = fs.bavail * fs.bsize;
    } catch {
      // no archive yet
    }
    return { files, bytes, freeBytes };
  }
}

/**
 * An environment with a remote: every file goes to local disk first, then to the remote, and
 * push() succeeds only when both hold it; PostgreSQL retries a failed archive_command, and both
 * sides take the same file again as success. Reading prefers the local copy.
 */
export class MirroredWalArchive implements WalArchive {
  constructor(
    readonly local: LocalWalArchive,
    readonly remote: WalArchive,
  ) {}

  get where(): string {
    return `${this.local.where} and ${this.remote.where}`;
  }

  async push(source: string): Promise<PushOutcome> {
    const here = await this.local.push(source);
    const there = await this.remote.push(source);
    return here === 'archived' || there === 'archived' ? 'archived' : 'already-archived';
  }

  async names(): Promise<string[]> {
    const [a, b] = await Promise.all([this.local.names(), this.remote.names()]);
    return [...new Set([...a, ...b])].sort();
  }

  async fetch(name: string, dest: string): Promise<'fetched' | 'missing'> {
    if ((await this.local.fetch(name, dest)) === 'fetched') return 'fetched';
    return this.remote.fetch(name, dest);
  }

  async remove(names: string[]): Promise<void> {
    await this.remote.remove(names);
    await this.local.remove(names);
  }
}
