/**
 * The WAL archive in the environment's object store (any driver): <prefix>/<env>/wal/<segment>. Each object carries
 * the sha256 of its bytes as user metadata (x-amz-meta-sha256), so "the same segment again" is
 * told from "another segment of that name" without downloading it, and a fetched segment is
 * proven before PostgreSQL reads it. Objects are written whole, with Content-MD5 (the server
 * refuses a body that changed on the way) and If-None-Match: * where the server supports it, and
 * are never replaced.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { KitError } from '../../errors.js';
import { checkWalName, conflict, type PushOutcome, type WalArchive } from '../wal-archive.js';
import { downloadVerified } from './download.js';
import type { ObjectStore } from '../drivers/object-store.js';

async function digestsOf(file: string): Promise<{ sha256: string; md5: string; size: number }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('base64'), size };
}

export class RemoteWalArchive implements WalArchive {
  readonly where: string;

  /** `bucket`: the environment's `wal/` area of its remote. */
  constructor(readonly bucket: ObjectStore) {
    this.where = bucket.where;
  }

  /** The sha256 of what the bucket holds under `name`, or undefined when it holds nothing. */
  private async storedHash(name: string): Promise<{ sha256: string; bytes: number } | undefined> {
    const head = await this.bucket.head(name);
    if (!head) return undefined;
    const recorded = head.metadata.sha256;
    if (recorded && /^[0-9a-f]{64}$/.test(recorded)) return { sha256: recorded, bytes: head.bytes };
    // Put there by something else than the kit: hash what is there.
    const stream = await this.bucket.getStream(name);
    if (!stream) return undefined;
    const hash = createHash('sha256');
    for await (const chunk of stream) hash.update(chunk as Buffer);
    return { sha256: hash.digest('hex'), bytes: head.bytes };
  }

  async push(source: string): Promise<PushOutcome> {
    const name = checkWalName(path.basename(source));
    const { sha256, md5, size } = await digestsOf(source);
    const same = (there: { sha256: string; bytes: number }): PushOutcome => {
      if (there.sha256 === sha256 && there.bytes === size) return 'already-archived';
      throw conflict(name, this.where);
    };
    const before = await this.storedHash(name);
    if (before) return same(before);
    const written = await this.bucket.putFile(name, () => createReadStream(source, { highWaterMark: 1 << 20 }), { bytes: size, md5, metadata: { sha256 } }, true);
    if (written === 'exists') {
      const there = await this.storedHash(name);
      if (!there) throw new KitError('WAL_PUSH_FAILED', `${name}: the object store refused to write it as existing, then had no such object. PostgreSQL retries.`);
      return same(there);
    }
    const after = await this.bucket.head(name);
    if (after?.bytes !== size) throw new KitError('WAL_PUSH_FAILED', `${name} reached ${this.where} with ${after?.bytes ?? 'no'} bytes instead of ${size}. PostgreSQL retries.`);
    return 'archived';
  }

  async names(): Promise<string[]> {
    return (await this.bucket.list()).map((o) => o.name).filter((n) => !n.startsWith('.')).sort();
  }

  async fetch(name: string, dest: string): Promise<'fetched' | 'missing'> {
    const head = await this.bucket.head(checkWalName(name));
    if (!head) return 'missing';
    const sha256 = head.metadata.sha256;
    if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256)) {
      throw new KitError('INTEGRITY_FAILED', `${this.bucket.location(name)} carries no sha256 (it was not archived by the kit): it cannot be proven, so it is not used.`);
    }
    await downloadVerified(this.bucket, name, dest, { bytes: head.bytes, sha256, recordedIn: 'the metadata it was archived with' });
    return 'fetched';
  }

  async remove(names: string[]): Promise<void> {
    await this.bucket.remove(names.map(checkWalName));
  }
}
