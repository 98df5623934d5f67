/**
 * Encryption on the store's write path: with recipients configured for an environment, every
 * artifact is encrypted by age on its way into the store, so no plaintext byte of it is ever
 * written to disk or uploaded (a store that follows growing files uploads ciphertext). The
 * plaintext is never offered as a local file (artifactPath is undefined), so producers stream.
 *
 * Fail closed: the recipients are read when a backup begins, and a configured source that is
 * unusable, or an age program that cannot start or fails, fails the backup; nothing falls back
 * to plaintext. .info records that the backup is encrypted, to which public keys, and per
 * artifact the sha256 and size as stored (ciphertext) and of the plaintext age -d gives back.
 */
import { createHash } from 'node:crypto';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KitError } from '../errors.js';
import { AGE_SUFFIX, encryptStage } from '../crypto/stream.js';
import { locateAge } from '../proc/age.js';
import type { EncryptionSettings } from '../crypto/keys.js';
import { encryptedRestoreInstructions, type BackupInfo } from '../format/metadata.js';
import type { BackupStore, BackupWrite, Leftover, Listing, LocalCopy, Lock, StoredBackup } from './store.js';
import type { Verification } from './verification.js';
import type { Readable } from 'node:stream';

class CountingHash extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

class EncryptingWrite implements BackupWrite {
  private readonly sealed = new Map<string, { counter: CountingHash; flushed: Promise<void> }>();

  constructor(
    private readonly inner: BackupWrite,
    private readonly settings: EncryptionSettings,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get id(): string {
    return this.inner.id;
  }

  get where(): string {
    return this.inner.where;
  }

  artifact(file: string): Writable {
    // Starting age first: if it cannot run, nothing has been opened in the store yet.
    const stage = encryptStage(this.settings.recipients, this.env);
    const counter = new CountingHash();
    const flushed = pipeline(stage, counter, this.inner.artifact(file + AGE_SUFFIX));
    flushed.catch(() => undefined);
    this.sealed.set(file, { counter, flushed });
    const input = new Writable({
      highWaterMark: 1 << 18,
      write(chunk: Buffer, _encoding, callback) {
        if (stage.write(chunk)) callback();
        else stage.once('drain', () => callback());
      },
      final(callback) {
        stage.end();
        // 'finish' only once the ciphertext is durable in the store, as the contract asks.
        flushed.then(() => callback(), (error: Error) => callback(error));
      },
      destroy(error, callback) {
        stage.destroy(error ?? undefined);
        callback(error);
      },
    });
    flushed.catch((error: Error) => input.destroy(error));
    return input;
  }

  artifactPath(): undefined {
    return undefined;
  }

  async commit(info: BackupInfo): Promise<StoredBackup> {
    const artifacts = [];
    for (const a of info.artifacts) {
      const sealed = this.sealed.get(a.file);
      if (!sealed) throw new KitError('INTERNAL', `${a.file} was not written through encryption; refusing to commit it in plaintext.`);
      await sealed.flushed;
      artifacts.push({ ...a, file: a.file + AGE_SUFFIX, bytes: sealed.counter.bytes, sha256: sealed.counter.digest(), plain: { bytes: a.bytes, sha256: a.sha256 } });
    }
    return this.inner.commit({
      ...info,
      artifacts,
      encryption: { method: 'age', recipients: this.settings.recipients, configuredBy: this.settings.source },
      restore: encryptedRestoreInstructions(info.restore, artifacts),
    });
  }

  abort(): Promise<void> {
    return this.inner.abort();
  }
}

/** A store whose writes are encrypted to the environment's recipients; reads pass through. */
export class EncryptingStore implements BackupStore {
  constructor(
    /** The store beneath, which holds only ciphertext of encrypted backups. */
    readonly inner: BackupStore,
    /** Read when a backup begins, so a broken setting fails that backup (and only writes). */
    private readonly settings: () => Promise<EncryptionSettings | undefined>,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get kind(): string {
    return this.inner.kind;
  }

  get where(): string {
    return this.inner.where;
  }

  async beginWrite(type: string, startedAt: Date): Promise<BackupWrite> {
    const settings = await this.settings();
    // Fail before anything is dumped when the program that must encrypt is not there.
    if (settings && !locateAge(this.env)) {
      throw new KitError('ENCRYPTION_UNAVAILABLE', `Backups of this environment must be encrypted (recipients from ${settings.source}), but ${this.env.AGE_BIN ? `AGE_BIN (${this.env.AGE_BIN}) does not exist` : 'the age program is not on PATH'}. Install it (Debian/Ubuntu: apt-get install age; macOS: brew install age) or set AGE_BIN. No backup was written.`);
    }
    const write = await this.inner.beginWrite(type, startedAt);
    return settings ? new EncryptingWrite(write, settings, this.env) : write;
  }

  list(): Promise<Listing> {
    return this.inner.list();
  }
  openArtifact(backup: StoredBackup, file: string): Promise<Readable> {
    return this.inner.openArtifact(backup, file);
  }
  localFile(backup: StoredBackup, file: string): Promise<LocalCopy> {
    return this.inner.localFile(backup, file);
  }
  freeBytes(): Promise<number | undefined> {
    return this.inner.freeBytes();
  }
  remove(backup: StoredBackup): Promise<void> {
    return this.inner.remove(backup);
  }
  removeLeftovers(leftovers: Leftover[]): Promise<void> {
    return this.inner.removeLeftovers(leftovers);
  }
  readVerification(backup: StoredBackup): Promise<Verification | undefined> {
    return this.inner.readVerification(backup);
  }
  writeVerification(backup: StoredBackup, record: Verification): Promise<void> {
    return this.inner.writeVerification(backup, record);
  }
  lock(command: string): Promise<Lock> {
    return this.inner.lock(command);
  }
}

/**
 * The store beneath the encryption layer: for code that works on stored files as they are
 * (copying them to or from a remote, pruning), which never needs the plaintext.
 */
export function innerStore(store: BackupStore): BackupStore {
  return store instanceof EncryptingStore ? store.inner : store;
}
