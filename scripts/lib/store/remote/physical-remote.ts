/**
 * Physical backups in the environment's object store (any driver): <prefix>/<env>/physical/<id>.<file>, judged as
 * on local disk (a backup is complete only when its .info reads and is sealed; every other object
 * with a backup's name is a leftover). Uploaded file by file (multipart for the large tars, each
 * proven against the kit's sha256), then the .sha256, then the .info last.
 */
import { KitError } from '../../errors.js';
import { stemOf } from '../../format/naming.js';
import { parsePhysicalInfo, physicalSha256Manifest, serializePhysicalInfo, type PhysicalInfo } from '../../format/physical-info.js';
import { downloadVerified } from './download.js';
import type { ObjectStore } from '../drivers/object-store.js';

export interface RemotePhysicalBackup {
  id: string;
  info: PhysicalInfo;
  files: string[];
}

export interface RemotePhysicalListing {
  complete: RemotePhysicalBackup[];
  leftovers: Array<{ name: string; location: string; bytes: number; reason: string }>;
}

export class RemotePhysical {
  readonly where: string;

  /** `bucket`: the environment's `physical/` area of its remote. */
  constructor(readonly bucket: ObjectStore) {
    this.where = bucket.where;
  }

  location(name: string): string {
    return this.bucket.location(name);
  }

  async list(): Promise<RemotePhysicalListing> {
    const byStem = new Map<string, Array<{ name: string; bytes: number }>>();
    for (const o of await this.bucket.list()) {
      const stem = stemOf(o.name);
      if (stem) byStem.set(stem, [...(byStem.get(stem) ?? []), { name: o.name, bytes: o.bytes }]);
    }
    const listing: RemotePhysicalListing = { complete: [], leftovers: [] };
    await Promise.all([...byStem].map(async ([stem, files]) => {
      const text = files.some((f) => f.name === `${stem}.info`) ? await this.bucket.getText(`${stem}.info`) : undefined;
      const reading = text === undefined ? undefined : parsePhysicalInfo(text);
      if (reading?.ok && reading.info.id === stem) {
        listing.complete.push({ id: stem, info: reading.info, files: files.map((f) => f.name) });
        return;
      }
      const reason = reading ? `unreadable .info: it ${reading.ok ? 'names another backup' : reading.problem}` : 'no .info (an interrupted upload)';
      for (const f of files) listing.leftovers.push({ name: f.name, location: this.location(f.name), bytes: f.bytes, reason });
    }));
    listing.complete.sort((a, b) => b.info.startedAt.localeCompare(a.info.startedAt) || b.id.localeCompare(a.id));
    return listing;
  }

  /** Upload a complete local backup: artifacts (each proven), .sha256, then the .info. */
  async upload(info: PhysicalInfo, localPath: (file: string) => string): Promise<void> {
    for (const a of info.artifacts) {
      const upload = this.bucket.upload(a.file, localPath(a.file), { partSize: this.bucket.partSize(a.bytes), pollMs: 0 });
      try {
        await upload.finish({ bytes: a.bytes, sha256: a.sha256 });
      } catch (error) {
        await upload.abort();
        throw error;
      }
    }
    await this.bucket.putSmall(`${info.id}.sha256`, physicalSha256Manifest(info.artifacts), 'text/plain');
    // Last: from this moment the remote backup exists.
    await this.bucket.putSmall(`${info.id}.info`, serializePhysicalInfo(info), 'application/json');
  }

  /** One artifact to a file on this machine, every byte proven against the .info first. */
  async download(info: PhysicalInfo, file: string, dest: string, signal?: AbortSignal): Promise<void> {
    const artifact = info.artifacts.find((a) => a.file === file);
    if (!artifact) throw new KitError('BACKUP_NOT_FOUND', `Backup ${info.id} has no artifact ${file}.`);
    await downloadVerified(this.bucket, file, dest, { bytes: artifact.bytes, sha256: artifact.sha256 }, signal);
  }

  async getText(name: string): Promise<string | undefined> {
    return this.bucket.getText(name);
  }

  async putText(name: string, text: string): Promise<void> {
    await this.bucket.putSmall(name, text, 'application/json');
  }

  /** .info first: from then on it is no longer a backup, whatever happens to the rest. */
  async remove(backup: RemotePhysicalBackup): Promise<void> {
    await this.bucket.remove([`${backup.id}.info`]);
    await this.bucket.remove([...new Set([...backup.files.filter((f) => f !== `${backup.id}.info`), `${backup.id}.verify.json`])]);
  }

  async removeNames(names: string[]): Promise<void> {
    if (names.length) await this.bucket.remove(names);
  }

  close(): void {
    this.bucket.close();
  }
}
