/**
 * The memory driver: named object stores inside this process (memory://name/prefix), a Map of
 * keys to bytes and user metadata. Tests run the mirror, retention and push/pull on it without a
 * server, and it proves the seam: nothing above the driver knows it is not a bucket. A name must
 * be registered with `memoryBucket(name)` first; a remote naming an unknown one is refused, so a
 * mistyped configuration never sends backups into memory that vanishes at exit.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { KitError } from '../../../errors.js';
import type { Remote } from '../../../config/remote.js';
import { listedName, type Capabilities, type FileUpload, type ObjectInfo, type ObjectStore, PrefixedObjects, type PendingUpload } from '../object-store.js';

export interface MemoryObject {
  body: Buffer;
  metadata: Record<string, string>;
  modified: Date;
}

/** One named store: its objects by full key, and faults a test may inject. */
export interface MemoryBucket {
  readonly objects: Map<string, MemoryObject>;
  /** When set, every write (and upload) fails with this error until cleared: a store gone away. */
  failWrites?: Error | undefined;
}

const buckets = new Map<string, MemoryBucket>();

/** The in-process store `name`, made on first use (tests register theirs before the kit runs). */
export function memoryBucket(name: string): MemoryBucket {
  let bucket = buckets.get(name);
  if (!bucket) buckets.set(name, (bucket = { objects: new Map() }));
  return bucket;
}

/** Forget the store `name` (a test's cleanup). */
export function dropMemoryBucket(name: string): void {
  buckets.delete(name);
}

export class MemoryObjectStore extends PrefixedObjects implements ObjectStore {
  readonly capabilities: Capabilities = { conditionalPut: true, growingUpload: false, listUploads: true };
  private readonly bucket: MemoryBucket;

  constructor(remote: Remote) {
    super(remote);
    const bucket = buckets.get(remote.bucket);
    if (!bucket) throw new KitError('REMOTE_CONFIG', `${remote.url} names no in-process store: memory:// remotes exist only inside a test that made one.`);
    this.bucket = bucket;
  }

  child(area: string): MemoryObjectStore {
    return new MemoryObjectStore(this.below(area));
  }

  partSize(): number {
    return this.remote.partSizeBytes;
  }

  async check(): Promise<void> {}

  async list(): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    for (const [key, o] of [...this.bucket.objects].sort(([a], [b]) => a.localeCompare(b))) {
      const name = this.nameOf(key);
      if (name === undefined || listedName(name) === undefined) continue;
      out.push({ name, key, bytes: o.body.length, modified: o.modified });
    }
    return out;
  }

  async listUploads(): Promise<PendingUpload[]> {
    return [];
  }

  async abortUpload(): Promise<'gone'> {
    return 'gone';
  }

  async head(name: string): Promise<{ bytes: number; metadata: Record<string, string> } | undefined> {
    const o = this.bucket.objects.get(this.key(name));
    return o && { bytes: o.body.length, metadata: { ...o.metadata } };
  }

  async getText(name: string): Promise<string | undefined> {
    return this.bucket.objects.get(this.key(name))?.body.toString('utf8');
  }

  async getStream(name: string): Promise<Readable | undefined> {
    const o = this.bucket.objects.get(this.key(name));
    return o && Readable.from([o.body]);
  }

  private store(name: string, body: Buffer, metadata: Record<string, string> = {}): void {
    if (this.bucket.failWrites) throw this.failure(this.bucket.failWrites, `uploading ${name}`, name);
    this.bucket.objects.set(this.key(name), { body, metadata, modified: new Date() });
  }

  async putSmall(name: string, body: string | Buffer): Promise<void> {
    this.store(name, Buffer.from(body));
  }

  async putFile(name: string, open: () => Readable, body: { bytes: number; md5: string; metadata: Record<string, string> }, ifAbsent: boolean): Promise<'written' | 'exists'> {
    const bytes = Buffer.concat(await open().toArray());
    // What a server does with Content-MD5: a body changed on the way is refused.
    if (bytes.length !== body.bytes || createHash('md5').update(bytes).digest('base64') !== body.md5) {
      throw new KitError('REMOTE_FAILED', `Uploading ${name} to ${this.url} failed: the body did not match its Content-MD5.`);
    }
    if (ifAbsent && this.bucket.objects.has(this.key(name))) return 'exists';
    this.store(name, bytes, body.metadata);
    return 'written';
  }

  upload(name: string, file: string): FileUpload {
    return {
      finish: async (expected) => {
        // No multipart here: the finished file is read whole and proven before it is stored.
        const bytes = Buffer.concat(await createReadStream(file).toArray());
        if (bytes.length !== expected.bytes || createHash('sha256').update(bytes).digest('hex') !== expected.sha256) {
          throw new KitError('REMOTE_FAILED', `${name} changed while it was uploaded. Run the backup again.`);
        }
        this.store(name, bytes);
      },
      abort: async () => undefined,
    };
  }

  async remove(names: string[]): Promise<void> {
    if (this.bucket.failWrites) throw this.failure(this.bucket.failWrites, 'removing old backups', names[0] ?? '');
    for (const name of names) this.bucket.objects.delete(this.key(name));
  }

  failure(error: unknown, what: string, name: string): KitError {
    if (error instanceof KitError) return error;
    return new KitError('REMOTE_FAILED', `${what} at ${this.location(name)} failed: ${(error as Error)?.message ?? String(error)}`);
  }

  close(): void {}
}
