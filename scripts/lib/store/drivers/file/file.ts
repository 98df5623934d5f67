/**
 * The file driver: a remote that is a directory, typically a mounted one (NFS, SMB, a USB disk):
 * `file:///mnt/backups/team`. Objects are files under <dir>/<env>/ with the same names the s3
 * driver gives keys, so a directory and a bucket hold the same layout. Every object is written
 * to a hidden temporary name, fsynced, and given its name by rename (or by link when it must not
 * replace one: link never replaces); user metadata (a WAL segment's sha256) lives in a hidden
 * `.<name>.meta` beside it. Hidden names are never listed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KitError } from '../../../errors.js';
import type { Remote } from '../../../config/remote.js';
import { listedName, type Capabilities, type FileUpload, type ObjectInfo, type ObjectStore, PrefixedObjects } from '../object-store.js';

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

const hidden = (name: string) => name.split('/').some((part) => part.startsWith('.'));

export class FileObjectStore extends PrefixedObjects implements ObjectStore {
  readonly capabilities: Capabilities = { conditionalPut: true, growingUpload: false, listUploads: true };
  /** The environment's directory: `/` + the prefix. */
  private readonly dir: string;

  constructor(remote: Remote) {
    super(remote);
    this.dir = path.join('/', remote.prefix);
  }

  child(area: string): FileObjectStore {
    return new FileObjectStore(this.below(area));
  }

  partSize(): number {
    return this.remote.partSizeBytes;
  }

  private file(name: string): string {
    if (name.split('/').some((part) => part === '..' || part === '')) throw new KitError('INTERNAL', `"${name}" is not an object name.`);
    return path.join(this.dir, ...name.split('/'));
  }

  private meta(name: string): string {
    const file = this.file(name);
    return path.join(path.dirname(file), `.${path.basename(file)}.meta`);
  }

  /** The configured directory (the mount) must exist: the kit never creates a mount point. */
  async check(what: string): Promise<void> {
    const root = path.join('/', new URL(this.remote.url).pathname);
    if (!existsSync(root)) throw new KitError('REMOTE_BUCKET_MISSING', `The directory ${root} does not exist (${what}). Mount or create it, or fix the remote in --remote / backup-kit.json.`);
  }

  async list(): Promise<ObjectInfo[]> {
    if (!existsSync(this.dir)) return [];
    const out: ObjectInfo[] = [];
    for (const entry of await readdir(this.dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const relative = path.relative(this.dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/');
      const name = hidden(relative) ? undefined : listedName(relative);
      if (name === undefined) continue;
      const facts = await stat(path.join(entry.parentPath, entry.name)).catch(() => undefined);
      if (facts) out.push({ name, key: this.key(name), bytes: facts.size, modified: facts.mtime });
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async listUploads(): Promise<[]> {
    return [];
  }

  async abortUpload(): Promise<'gone'> {
    return 'gone';
  }

  async head(name: string): Promise<{ bytes: number; metadata: Record<string, string> } | undefined> {
    const facts = await stat(this.file(name)).catch(() => undefined);
    if (!facts?.isFile()) return undefined;
    const metadata = await readFile(this.meta(name), 'utf8').then((t) => JSON.parse(t) as Record<string, string>, () => ({}));
    return { bytes: facts.size, metadata };
  }

  async getText(name: string): Promise<string | undefined> {
    return readFile(this.file(name), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw this.failure(error, `downloading ${name}`, name);
    });
  }

  async getStream(name: string): Promise<Readable | undefined> {
    if (!(await this.head(name))) return undefined;
    return createReadStream(this.file(name), { highWaterMark: 1 << 20 });
  }

  /** Write `body` under a hidden name, durably; then give it its name (never replacing one when `ifAbsent`). */
  private async place(name: string, body: Readable, check: (written: { bytes: number; hashes: Record<string, string> }) => void, options: { ifAbsent?: boolean; metadata?: Record<string, string> } = {}): Promise<'written' | 'exists'> {
    const final = this.file(name);
    // An unmounted disk must fail, not fill the empty mount point on the machine's own disk.
    await this.check(`uploading ${name}`);
    await mkdir(path.dirname(final), { recursive: true, mode: DIR_MODE });
    const temp = path.join(path.dirname(final), `.${path.basename(final)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const hashes = { sha256: createHash('sha256'), md5: createHash('md5') };
      let bytes = 0;
      const tap = new Transform({ transform(chunk: Buffer, _e, done) { hashes.sha256.update(chunk); hashes.md5.update(chunk); bytes += chunk.length; done(null, chunk); } });
      await pipeline(body, tap, createWriteStream(temp, { mode: FILE_MODE }));
      check({ bytes, hashes: { sha256: hashes.sha256.digest('hex'), md5: hashes.md5.digest('base64') } });
      await sync(temp);
      // Never touch the metadata of an object that is there already; link() below settles a race.
      if (options.ifAbsent && existsSync(final)) return 'exists';
      if (options.metadata && Object.keys(options.metadata).length) await this.writeMeta(name, options.metadata);
      if (options.ifAbsent) {
        try {
          await link(temp, final);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
          throw error;
        }
      } else {
        await rename(temp, final);
      }
      await sync(path.dirname(final)).catch(() => undefined);
      return 'written';
    } catch (error) {
      throw this.failure(error, `uploading ${name}`, name);
    } finally {
      await rm(temp, { force: true });
    }
  }

  private async writeMeta(name: string, metadata: Record<string, string>): Promise<void> {
    const temp = `${this.meta(name)}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'w', FILE_MODE);
    try {
      await handle.writeFile(JSON.stringify(metadata));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.meta(name));
  }

  async putSmall(name: string, body: string | Buffer): Promise<void> {
    await this.place(name, Readable.from([Buffer.from(body)]), () => undefined);
  }

  async putFile(name: string, open: () => Readable, body: { bytes: number; md5: string; metadata: Record<string, string> }, ifAbsent: boolean): Promise<'written' | 'exists'> {
    return this.place(name, open(), (got) => {
      // What a server does with Content-MD5: a body changed on the way is refused.
      if (got.bytes !== body.bytes || got.hashes.md5 !== body.md5) throw new KitError('REMOTE_FAILED', `Uploading ${name} to ${this.url} failed: the body did not match its MD5.`);
    }, { ifAbsent, metadata: body.metadata });
  }

  upload(name: string, file: string): FileUpload {
    return {
      // No parts here: the finished file is copied whole and proven before it gets its name.
      finish: async (expected) => {
        await this.place(name, createReadStream(file, { highWaterMark: 1 << 20 }), (got) => {
          if (got.bytes !== expected.bytes || got.hashes.sha256 !== expected.sha256) throw new KitError('REMOTE_FAILED', `${name} changed while it was uploaded. Run the backup again.`);
        });
      },
      abort: async () => undefined,
    };
  }

  async remove(names: string[]): Promise<void> {
    for (const name of names) {
      try {
        await rm(this.file(name), { force: true });
        await rm(this.meta(name), { force: true });
      } catch (error) {
        throw this.failure(error, `removing ${name}`, name);
      }
    }
  }

  failure(error: unknown, what: string, name: string): KitError {
    if (error instanceof KitError) return error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new KitError('REMOTE_DENIED', `Cannot write ${this.location(name)} while ${what} (${code}): the directory is read-only or not ours. Fix its permissions, then run again.`, { cause: error });
    return new KitError('REMOTE_FAILED', `${what} at ${this.location(name)} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }

  close(): void {}
}

async function sync(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
