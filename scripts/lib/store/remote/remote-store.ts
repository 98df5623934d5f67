/**
 * An environment's backups in an object store (any driver: see drivers/), judged by the same rules as a directory
 * (catalog.ts): complete only when the .info reads; every other object with a backup's name is a
 * leftover. Unfinished multipart uploads are leftovers too: those the server lists, and those
 * this machine recorded in its upload journal when the store went away mid-upload.
 * Writing goes through MirroredStore (mirror.ts), which stages each artifact on local disk and
 * uploads it while it is written.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { KitError } from '../../errors.js';
import { ownsArtifact, stemOf } from '../../format/naming.js';
import { buildListing, type NamedFile } from '../catalog.js';
import { ensurePrivateDir } from '../files.js';
import { parseVerification, verificationName, type Verification } from '../verification.js';
import type { BackupStore, BackupWrite, Leftover, Listing, LocalCopy, Lock, StoredBackup } from '../store.js';
import type { ObjectStore } from '../drivers/object-store.js';
import { downloadVerified } from './download.js';
import { UploadJournal } from './journal.js';

/** Unfinished multipart uploads older than this are abandoned: db:retention aborts them. */
export const ABANDONED_AFTER_MS = 24 * 60 * 60 * 1000;

export class RemoteStore implements BackupStore {
  readonly kind = 'remote';
  readonly where: string;
  readonly journal: UploadJournal;
  /** Leftover name → the unfinished upload it stands for (filled by list()). */
  private readonly uploads = new Map<string, { key: string; uploadId: string }>();

  constructor(
    /** The environment's objects (opened with the run's signal: every request ends with it). */
    readonly objects: ObjectStore,
    /** The environment's local directory: the upload journal and temporary downloads live there. */
    private readonly localDir: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.where = objects.where;
    this.journal = new UploadJournal(localDir);
  }

  async list(): Promise<Listing> {
    const objects = await this.objects.list();
    const files: NamedFile[] = objects.filter((o) => stemOf(o.name) !== undefined).map((o) => ({ name: o.name, bytes: o.bytes }));
    const listing = await buildListing(files, {
      kind: this.kind,
      where: this.where,
      locate: (name) => this.objects.location(name),
      read: (name) => this.objects.getText(name).catch(() => undefined),
      running: false,
    });
    listing.leftovers.push(...(await this.unfinishedUploads()));
    return listing;
  }

  /** Multipart uploads never completed: listed by the server where it can, and from the journal. */
  private async unfinishedUploads(): Promise<Leftover[]> {
    const out: Leftover[] = [];
    const seen = new Set<string>();
    const add = (key: string, uploadId: string, initiated: Date, recorded: boolean) => {
      const object = this.objects.nameOf(key);
      if (object === undefined || seen.has(uploadId)) return;
      seen.add(uploadId);
      const name = `${object} (upload ${uploadId.slice(0, 12)})`;
      this.uploads.set(name, { key, uploadId });
      // An upload this machine recorded belongs to a run that failed (the lock keeps runs
      // apart); one only the server knows may belong to a run elsewhere, so a day must pass.
      const abandoned = recorded || this.now().getTime() - initiated.getTime() > ABANDONED_AFTER_MS;
      out.push({
        name,
        location: this.objects.location(object),
        id: stemOf(object) ?? key,
        bytes: 0,
        kind: abandoned ? 'partial' : 'in-progress',
        reason: recorded ? 'upload interrupted (the object store went away); abort pending' : `unfinished multipart upload since ${initiated.toISOString()}`,
      });
    };
    for (const u of (await this.objects.listUploads()) ?? []) add(u.key, u.uploadId, u.initiated, false);
    for (const j of this.journal.read()) add(j.key, j.uploadId, new Date(j.startedAt), true);
    return out;
  }

  async openArtifact(backup: StoredBackup, file: string): Promise<Readable> {
    const stream = await this.objects.getStream(this.own(backup, file));
    if (!stream) throw new KitError('BACKUP_NOT_FOUND', `${file} is missing from ${this.where} although backup ${backup.id}'s .info lists it.`);
    return stream;
  }

  /** A private temporary copy, every byte checked against .info before it is handed out. */
  async localFile(backup: StoredBackup, file: string): Promise<LocalCopy> {
    const artifact = backup.info.artifacts.find((a) => a.file === this.own(backup, file));
    if (!artifact) throw new KitError('BACKUP_NOT_FOUND', `Backup ${backup.id} has no artifact ${file}.`);
    await ensurePrivateDir(this.localDir);
    const dir = await mkdtemp(path.join(this.localDir, '.download-'));
    const release = () => rm(dir, { recursive: true, force: true });
    try {
      const target = path.join(dir, file);
      await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      await downloadVerified(this.objects, file, target, { bytes: artifact.bytes, sha256: artifact.sha256 });
      return { path: target, release, proven: true };
    } catch (error) {
      await release();
      throw error;
    }
  }

  private own(backup: StoredBackup, file: string): string {
    if (!ownsArtifact(backup.id, file)) {
      throw new KitError('INTEGRITY_FAILED', `Backup ${backup.id}'s .info names the file "${file}", which is not one of its own. The .info was edited; restore another backup.`);
    }
    return file;
  }

  beginWrite(): Promise<BackupWrite> {
    // Backups are staged on local disk and uploaded while written: MirroredStore does that.
    throw new KitError('INTERNAL', 'A remote store is written through the mirrored store.');
  }

  async freeBytes(): Promise<number | undefined> {
    return undefined;
  }

  async remove(backup: StoredBackup): Promise<void> {
    // .info first: from then on this is no longer a backup, whatever happens to the rest.
    await this.objects.remove([`${backup.id}.info`]);
    await this.objects.remove([...backup.files.filter((f) => f !== `${backup.id}.info`), verificationName(backup.id)]);
  }

  async removeLeftovers(leftovers: Leftover[]): Promise<void> {
    const objects: string[] = [];
    for (const l of leftovers) {
      const upload = this.uploads.get(l.name);
      if (!upload) {
        objects.push(l.name);
        continue;
      }
      // 'unsupported': the server cannot abort (s3rver); nothing more the kit can do there.
      await this.objects.abortUpload(upload.key, upload.uploadId);
      await this.journal.remove(upload.uploadId);
    }
    if (objects.length) await this.objects.remove(objects);
  }

  async readVerification(backup: StoredBackup): Promise<Verification | undefined> {
    const text = await this.objects.getText(verificationName(backup.id)).catch(() => undefined);
    return text === undefined ? undefined : parseVerification(text);
  }

  async writeVerification(backup: StoredBackup, record: Verification): Promise<void> {
    await this.objects.putSmall(verificationName(backup.id), JSON.stringify(record, null, 2) + '\n', 'application/json');
  }

  lock(): Promise<Lock> {
    throw new KitError('INTERNAL', 'A remote store is locked through the mirrored store.');
  }
}
