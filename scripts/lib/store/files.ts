/** Local files written the careful way: private modes, partial names, atomic renames, fsync. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { KitError } from '../errors.js';
import { traceHashPass } from '../proc/trace.js';

import { PARTIAL_SUFFIX } from './catalog.js';

export { PARTIAL_SUFFIX };
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    await chmod(dir, DIR_MODE);
    // Prove we can create files here now, rather than after minutes of dumping.
    const probe = path.join(dir, `.write-test-${process.pid}`);
    const handle = await open(probe, 'w', FILE_MODE);
    await handle.close();
    await rm(probe, { force: true });
  } catch (error) {
    const code = (await realCause(dir)) ?? (error as NodeJS.ErrnoException).code ?? 'error';
    throw new KitError('BACKUP_DIR_UNWRITABLE', `Cannot write backups to ${dir} (${code}). Fix its permissions or choose another place with BACKUP_DIR=<path>.`, { cause: error });
  }
}

/**
 * A recursive mkdir on a read-only file system reports ENOENT; the useful cause is what happens
 * when creating something in the nearest directory that exists.
 */
async function realCause(dir: string): Promise<string | undefined> {
  let existing = dir;
  while (!(await stat(existing).then((s) => s.isDirectory(), () => false))) {
    const parent = path.dirname(existing);
    if (parent === existing) return undefined;
    existing = parent;
  }
  try {
    await rm(await mkdtemp(path.join(existing, '.write-test-')), { recursive: true, force: true });
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code;
  }
}

/** fsync a file or a directory (a directory's entry list, after a rename or link into it). */
export async function fsyncPath(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write a small file so it either exists complete or not at all. */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const partial = file + PARTIAL_SUFFIX;
  const handle = await open(partial, 'w', FILE_MODE);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, file);
  await fsyncPath(path.dirname(file)).catch(() => undefined);
}

/** Make a finished artifact durable and give it its final name (or keep its name, without one). */
export async function commitFile(partial: string, final?: string): Promise<void> {
  await chmod(partial, FILE_MODE);
  await fsyncPath(partial);
  if (final !== undefined) await rename(partial, final);
}

/**
 * Give a directory whose files are durable its final name: each directory in it synced first,
 * then one rename, so the final name only ever holds a complete directory.
 */
export async function commitDirectory(work: string, final: string): Promise<void> {
  const dirs = [work];
  for (let i = 0; i < dirs.length; i++) {
    for (const entry of await readdir(dirs[i]!, { withFileTypes: true })) if (entry.isDirectory()) dirs.push(path.join(dirs[i]!, entry.name));
  }
  for (const dir of dirs.reverse()) await syncDir(dir);
  await rename(work, final);
}

export async function syncDir(dir: string): Promise<void> {
  await fsyncPath(dir).catch(() => undefined);
}

export async function sha256File(file: string): Promise<{ sha256: string; bytes: number }> {
  traceHashPass(file);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}
