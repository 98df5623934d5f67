/**
 * An environment with a remote: every backup is written to local disk and uploaded while it is
 * written (the driver's upload follows each artifact file where it can), then the .sha256 and, last, the .info go
 * up; a remote backup exists only when its .info does. Reading prefers the local copy unless told
 * to read from the remote (restore --from-remote); a backup only the remote has is downloaded to
 * a private temporary file and checked byte for byte first.
 *
 * When the upload fails the local backup is still committed (complete, its .info saying where
 * its copies are) and the failure is reported with exit 20: `pnpm db:push` uploads it later.
 */
import type { Readable, Writable } from 'node:stream';
import { KitError } from '../../errors.js';
import { serializeInfo, sha256Manifest, type BackupInfo } from '../../format/metadata.js';
import type { LocalStore } from '../local.js';
import type { BackupStore, BackupWrite, Leftover, Listing, LocalCopy, Lock, StoredBackup } from '../store.js';
import type { Verification } from '../verification.js';
import type { RemoteStore } from './remote-store.js';
import type { FileUpload } from '../drivers/object-store.js';

export interface MirrorOptions {
  /** Read backups from the remote even when a local copy exists (restore/verify --from-remote). */
  fromRemote: boolean;
  /** Keep no local copy once the upload is complete. */
  remoteOnly: boolean;
  /** Expected size of a new backup, to scale the multipart part size. */
  estimateBytes?: number | undefined;
}

export type Place = 'local' | 'remote' | 'both';

/** Artifacts whose uploads are finished at the same time. */
const UPLOADS_AT_ONCE = 8;

/** Where a listed backup lives. */
export function placeOf(backup: StoredBackup): Place {
  return backup.storeKind === 'both' || backup.storeKind === 'remote' ? backup.storeKind : 'local';
}

export class MirroredStore implements BackupStore {
  readonly kind = 'local+remote';
  readonly where: string;
  /** Backups present in each place, by id (filled by list()). */
  private readonly present = { local: new Map<string, StoredBackup>(), remote: new Map<string, StoredBackup>() };

  constructor(
    readonly local: LocalStore,
    readonly remote: RemoteStore,
    readonly options: MirrorOptions,
  ) {
    this.where = options.fromRemote ? remote.where : `${local.where} (and ${remote.where})`;
  }

  async list(): Promise<Listing> {
    const [local, remote] = await Promise.all([this.options.fromRemote ? { complete: [], leftovers: [] } : this.local.list(), this.remote.list()]);
    this.present.local = new Map(local.complete.map((b) => [b.id, b]));
    this.present.remote = new Map(remote.complete.map((b) => [b.id, b]));
    const merged: StoredBackup[] = [];
    for (const b of local.complete) merged.push(this.present.remote.has(b.id) ? { ...b, storeKind: 'both' } : b);
    for (const b of remote.complete) if (!this.present.local.has(b.id)) merged.push(b);
    merged.sort((a, b) => b.info.startedAt.localeCompare(a.info.startedAt) || b.id.localeCompare(a.id));
    return { complete: merged, leftovers: [...local.leftovers, ...remote.leftovers] };
  }

  /** The place a backup's bytes are read from. */
  private source(backup: StoredBackup): BackupStore {
    const remoteOnly = backup.storeKind === 'remote' || this.options.fromRemote;
    return remoteOnly ? this.remote : this.local;
  }

  private async known(backup: StoredBackup): Promise<StoredBackup> {
    if (!this.present.local.size && !this.present.remote.size) await this.list();
    return (this.source(backup) === this.remote ? this.present.remote.get(backup.id) : this.present.local.get(backup.id)) ?? backup;
  }

  async openArtifact(backup: StoredBackup, file: string): Promise<Readable> {
    return this.source(backup).openArtifact(await this.known(backup), file);
  }

  async localFile(backup: StoredBackup, file: string): Promise<LocalCopy> {
    return this.source(backup).localFile(await this.known(backup), file);
  }

  async beginWrite(type: string, startedAt: Date, hint: { estimateBytes?: number } = {}): Promise<BackupWrite> {
    await this.remote.objects.check('starting the upload');
    return new MirroredWrite(await this.local.beginWrite(type, startedAt), this.remote, { ...this.options, ...hint });
  }

  freeBytes(): Promise<number | undefined> {
    return this.local.freeBytes();
  }

  async remove(backup: StoredBackup): Promise<void> {
    const place = placeOf(backup);
    if (place !== 'local') await this.remote.remove(this.present.remote.get(backup.id) ?? backup);
    if (place !== 'remote') await this.local.remove(this.present.local.get(backup.id) ?? backup);
  }

  async removeLeftovers(leftovers: Leftover[]): Promise<void> {
    const remote = (l: Leftover) => l.location.startsWith(this.remote.where);
    await this.remote.removeLeftovers(leftovers.filter(remote));
    await this.local.removeLeftovers(leftovers.filter((l) => !remote(l)));
  }

  readVerification(backup: StoredBackup): Promise<Verification | undefined> {
    return this.source(backup).readVerification(backup);
  }

  writeVerification(backup: StoredBackup, record: Verification): Promise<void> {
    return this.source(backup).writeVerification(backup, record);
  }

  lock(command: string): Promise<Lock> {
    // The local directory's lock keeps this machine's runs apart; a bucket has no lock.
    return this.local.lock(command);
  }
}

/** Where each copy of a backup lives, as recorded in its .info. */
export function withCopies(info: BackupInfo, copies: { local?: string | undefined; remote?: string | undefined }): BackupInfo {
  const recorded: NonNullable<BackupInfo['copies']> = {};
  if (copies.local) recorded.local = copies.local;
  if (copies.remote) recorded.remote = copies.remote;
  return { ...info, copies: recorded };
}

class MirroredWrite implements BackupWrite {
  private readonly uploads = new Map<string, FileUpload>();
  private readonly partSize: number;

  constructor(
    private readonly local: BackupWrite,
    private readonly remote: RemoteStore,
    private readonly options: MirrorOptions,
  ) {
    this.partSize = remote.objects.partSize(options.estimateBytes ?? 0);
  }

  get id(): string {
    return this.local.id;
  }

  get where(): string {
    return this.options.remoteOnly ? this.remote.where : `${this.local.where} and ${this.remote.where}`;
  }

  private follow(file: string, path: string): void {
    if (this.uploads.has(file)) return;
    this.uploads.set(file, this.remote.objects.upload(file, path, { partSize: this.partSize, journal: this.remote.journal }));
  }

  artifact(file: string): Writable {
    const stream = this.local.artifact(file);
    const staged = this.local.artifactPath(file);
    if (!staged) throw new KitError('INTERNAL', 'The local store gave no file to upload from.');
    this.follow(file, staged);
    return stream;
  }

  artifactPath(file: string): string | undefined {
    const staged = this.local.artifactPath(file);
    if (staged) this.follow(file, staged);
    return staged;
  }

  async commit(info: BackupInfo): Promise<StoredBackup> {
    const remoteInfo = withCopies(info, { local: this.options.remoteOnly ? undefined : this.local.where, remote: this.remote.objects.location(`${this.id}.info`) });
    try {
      await this.upload(info, remoteInfo);
    } catch (error) {
      await this.abortUploads();
      // The local copy is kept, complete, whatever the mode: it is the only copy now.
      const kept = await this.local.commit(withCopies(info, { local: this.local.where }));
      const reason = error instanceof KitError ? error.message : String(error);
      throw new KitError(error instanceof KitError && error.exitCode === 20 ? error.code : 'REMOTE_FAILED', `The backup ${kept.id} is complete on this machine (${kept.infoLocation}), but its upload to ${this.remote.where} failed: ${reason} Nothing complete-looking was left in the bucket; run pnpm db:push once the store is back to upload it (that also cleans up the interrupted upload).`, { cause: error });
    }
    if (this.options.remoteOnly) {
      await this.local.abort();
      return { id: this.id, info: remoteInfo, files: [...info.artifacts.map((a) => a.file), `${this.id}.sha256`, `${this.id}.info`], where: this.remote.where, infoLocation: this.remote.objects.location(`${this.id}.info`), storeKind: 'remote' };
    }
    const stored = await this.local.commit(remoteInfo);
    return { ...stored, storeKind: 'both' };
  }

  private async upload(info: BackupInfo, remoteInfo: BackupInfo): Promise<void> {
    // A few at a time: a directory export of hundreds of tables is hundreds of artifacts, and
    // finishing them all at once holds a request and a file stream for each.
    const queue = [...info.artifacts];
    // A file the writer staged but left out of the backup (a work file since deleted) is not
    // uploaded: its follower is stopped, or it would watch the file for ever.
    const kept = new Set(queue.map((a) => a.file));
    const strays = [...this.uploads].filter(([file]) => !kept.has(file));
    for (const [file] of strays) this.uploads.delete(file);
    await Promise.all(strays.map(([, upload]) => upload.abort()));
    const failures: unknown[] = [];
    const worker = async () => {
      for (let a = queue.shift(); a && failures.length === 0; a = queue.shift()) {
        const upload = this.uploads.get(a.file);
        try {
          if (!upload) throw new KitError('INTERNAL', `${a.file} was never written through the store.`);
          await upload.finish({ bytes: a.bytes, sha256: a.sha256 });
        } catch (error) {
          failures.push(error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(UPLOADS_AT_ONCE, queue.length) }, worker));
    if (failures.length) throw failures[0];
    await this.remote.objects.putSmall(`${this.id}.sha256`, sha256Manifest(info.artifacts), 'text/plain');
    // Last: from this moment the remote backup exists.
    await this.remote.objects.putSmall(`${this.id}.info`, serializeInfo(remoteInfo), 'application/json');
  }

  private async abortUploads(): Promise<void> {
    await Promise.all([...this.uploads.values()].map((u) => u.abort()));
    // Whole objects already up (small artifacts, the manifest) would be leftovers: remove them
    // while the store still answers; if it does not, db:push or db:retention will.
    const names = [...this.uploads.keys(), `${this.id}.sha256`, `${this.id}.info`];
    await this.remote.objects.remove(names).catch(() => undefined);
  }

  async abort(): Promise<void> {
    await this.abortUploads();
    await this.local.abort();
  }
}
