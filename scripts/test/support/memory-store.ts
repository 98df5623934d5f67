/**
 * A second BackupStore, held in memory: proof that the storage seam is a seam. The unit tests
 * run db:list, db:retention and db:verify against it without any command knowing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { KitError } from '../../lib/errors.js';
import { backupStem, stemOf } from '../../lib/format/naming.js';
import { serializeInfo, sha256Manifest, type BackupInfo } from '../../lib/format/metadata.js';
import { buildListing, PARTIAL_SUFFIX } from '../../lib/store/catalog.js';
import { parseVerification, verificationName, type Verification } from '../../lib/store/verification.js';
import type { BackupStore, BackupWrite, Leftover, Listing, LocalCopy, Lock, StoredBackup } from '../../lib/store/store.js';

export class MemoryStore implements BackupStore {
  readonly kind = 'memory';
  readonly files = new Map<string, Buffer>();
  locked: string | undefined;
  running = false;

  constructor(readonly where = 'memory://test') {}

  async list(): Promise<Listing> {
    return buildListing(
      [...this.files].map(([name, bytes]) => ({ name, bytes: bytes.length })),
      { kind: this.kind, where: this.where, locate: (name) => `${this.where}/${name}`, read: async (name) => this.files.get(name)?.toString('utf8'), running: this.running },
    );
  }

  async openArtifact(backup: StoredBackup, file: string): Promise<Readable> {
    const bytes = this.files.get(file);
    if (!bytes || stemOf(file) !== backup.id) throw Object.assign(new Error(`${file} is missing`), { code: 'ENOENT' });
    return Readable.from([bytes]);
  }

  async localFile(backup: StoredBackup, file: string): Promise<LocalCopy> {
    const bytes = this.files.get(file);
    if (!bytes || stemOf(file) !== backup.id) throw Object.assign(new Error(`${file} is missing`), { code: 'ENOENT' });
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-memory-'));
    const copy = path.join(dir, file);
    writeFileSync(copy, bytes);
    return { path: copy, release: async () => rmSync(dir, { recursive: true, force: true }) };
  }

  async beginWrite(type: string, startedAt: Date): Promise<BackupWrite> {
    const taken = new Set([...this.files.keys()].map(stemOf).filter((s): s is string => s !== undefined));
    return new MemoryWrite(this, backupStem(type, startedAt, taken));
  }

  async freeBytes(): Promise<number | undefined> {
    return undefined;
  }

  async remove(backup: StoredBackup): Promise<void> {
    this.files.delete(`${backup.id}.info`);
    for (const name of backup.files) this.files.delete(name);
    this.files.delete(verificationName(backup.id));
  }

  async removeLeftovers(leftovers: Leftover[]): Promise<void> {
    for (const l of leftovers) this.files.delete(l.name);
  }

  async readVerification(backup: StoredBackup): Promise<Verification | undefined> {
    const text = this.files.get(verificationName(backup.id))?.toString('utf8');
    return text === undefined ? undefined : parseVerification(text);
  }

  async writeVerification(backup: StoredBackup, record: Verification): Promise<void> {
    if (!this.files.has(`${backup.id}.info`)) throw new KitError('BACKUP_NOT_FOUND', `Backup ${backup.id} was deleted while it was being verified.`);
    this.files.set(verificationName(backup.id), Buffer.from(JSON.stringify(record)));
  }

  async lock(command: string): Promise<Lock> {
    if (this.locked) throw new KitError('LOCKED', `Another run (${this.locked}) is using this environment.`);
    this.locked = command;
    return { release: () => (this.locked = undefined) };
  }

  /** Put a finished backup in place, the way a commit would. */
  put(info: BackupInfo, artifacts: Record<string, Buffer>): void {
    for (const [name, bytes] of Object.entries(artifacts)) this.files.set(name, bytes);
    this.files.set(`${info.id}.sha256`, Buffer.from(sha256Manifest(info.artifacts)));
    this.files.set(`${info.id}.info`, Buffer.from(serializeInfo(info)));
  }
}

class MemoryWrite implements BackupWrite {
  private readonly names = new Set<string>();

  constructor(
    private readonly store: MemoryStore,
    readonly id: string,
  ) {}

  get where(): string {
    return this.store.where;
  }

  artifact(file: string): Writable {
    const chunks: Buffer[] = [];
    this.names.add(file);
    const store = this.store;
    return new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        store.files.set(file + PARTIAL_SUFFIX, Buffer.concat(chunks));
        callback();
      },
    });
  }

  artifactPath(): undefined {
    return undefined;
  }

  async commit(info: BackupInfo): Promise<StoredBackup> {
    for (const a of info.artifacts) {
      const bytes = this.store.files.get(a.file + PARTIAL_SUFFIX);
      if (!bytes) throw new Error(`${a.file} was never written`);
      this.store.files.delete(a.file + PARTIAL_SUFFIX);
      this.store.files.set(a.file, bytes);
    }
    this.store.put(info, {});
    const entry = (await this.store.list()).complete.find((e) => e.id === this.id);
    if (!entry) throw new Error('committed backup is not listed');
    return entry;
  }

  async abort(): Promise<void> {
    for (const name of [...this.store.files.keys()]) if (stemOf(name) === this.id) this.store.files.delete(name);
  }
}
