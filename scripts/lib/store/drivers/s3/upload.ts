/**
 * Uploading a file while it is still being written. The writer (pg_dump, the gzip stream, an
 * encryption stream: whatever the store writes) knows nothing of this: the upload follows the
 * file on disk, sends each full part as soon as it exists, and the last part when the writer says
 * it is done. Parts are read back from the file as streams, so memory does not grow with the
 * part size, and every part but the last has the same size (some providers require that).
 *
 * The kit's sha256 is the proof: the bytes sent are hashed in order and must equal the sha256
 * the writer computed. pg_dump's custom format seeks back to fill in its table of contents when
 * it finishes, so parts already sent can change; those are found by hashing each part again and
 * sent again before the upload is completed.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { PassThrough } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { KitError } from '../../../errors.js';
import { classifyS3Error, isTransient, loadSdk, remoteError } from './client.js';
import type { RemoteBucket } from './objects.js';
import type { FileUpload, UploadOptions } from '../object-store.js';

export const MAX_PARTS = 10_000;
const MIB = 1024 * 1024;

/**
 * The part size for a file expected to be about `estimate` bytes: the configured minimum, or
 * larger so that even three times the estimate stays under 10,000 parts. Whole MiB. Pure.
 */
export function choosePartSize(minimum: number, estimate: number): number {
  const needed = Math.ceil((Math.max(estimate, 0) * 3) / (MAX_PARTS - 100));
  return Math.ceil(Math.max(minimum, needed) / MIB) * MIB;
}

export type { UploadOptions } from '../object-store.js';

interface SentPart {
  number: number;
  etag: string;
  sha256: string;
  bytes: number;
}

export class GrowingFileUpload implements FileUpload {
  private partSize: number;
  private uploadId: string | undefined;
  private readonly parts: SentPart[] = [];
  private hash = createHash('sha256');
  private sent = 0;
  private finished: { bytes: number } | undefined;
  private stopped = false;
  private readonly following: Promise<void>;
  private readonly partClient: Promise<S3Client>;

  constructor(
    private readonly bucket: RemoteBucket,
    readonly name: string,
    private readonly file: string,
    private readonly options: UploadOptions,
  ) {
    this.partSize = options.partSize;
    // Part bodies are streams, which the SDK cannot rewind for a retry: parts retry here instead.
    this.partClient = bucket.partClient();
    this.following = this.follow();
    this.following.catch(() => undefined);
  }

  /** Parts sent so far (for tests and progress). */
  get partCount(): number {
    return this.parts.length;
  }

  private get key(): string {
    return this.bucket.key(this.name);
  }

  /** Send full parts as the file grows, until the writer is done or the upload is stopped. */
  private async follow(): Promise<void> {
    while (!this.finished && !this.stopped) {
      const size = await stat(this.file).then((s) => s.size, () => 0);
      while (!this.stopped && size - this.sent >= this.partSize && this.parts.length < MAX_PARTS - 1) await this.sendPart(this.sent, this.partSize);
      if (!this.finished) await sleep(this.options.pollMs ?? 200);
    }
  }

  /**
   * The writer is done: `bytes` and `sha256` are what it wrote. Sends the rest, proves the object
   * equals the file, and completes the upload.
   */
  async finish(expected: { bytes: number; sha256: string }): Promise<void> {
    try {
      await this.finishUpload(expected);
    } finally {
      
    }
  }

  private async finishUpload(expected: { bytes: number; sha256: string }): Promise<void> {
    this.finished = { bytes: expected.bytes };
    await this.following;
    if (Math.ceil(expected.bytes / this.partSize) > MAX_PARTS) await this.restartWithLargerParts(expected.bytes);
    if (!this.uploadId && expected.bytes < this.partSize) {
      await this.putWhole(expected.bytes);
      return this.proveWhole(expected);
    }
    while (expected.bytes - this.sent > 0) await this.sendPart(this.sent, Math.min(this.partSize, expected.bytes - this.sent));
    if (this.sent !== expected.bytes || this.hash.copy().digest('hex') !== expected.sha256) await this.resendChangedParts(expected);
    await this.complete();
  }

  /** Stop following and abort the multipart upload (or leave it in the journal if that fails). */
  async abort(): Promise<void> {
    this.stopped = true;
    await this.following.catch(() => undefined);
    if (!this.uploadId) return;
    try {
      await this.bucket.abortUpload(this.key, this.uploadId);
      await this.options.journal?.remove(this.uploadId);
    } catch {
      // The store is unreachable: the journal keeps the upload for the next push or retention.
    }
  }

  private async begin(): Promise<string> {
    if (this.uploadId) return this.uploadId;
    try {
      const out = await (await this.bucket.s3()).client.send(new (await loadSdk()).CreateMultipartUploadCommand({ Bucket: this.bucket.remote.bucket, Key: this.key, ContentType: 'application/octet-stream' }), this.bucket.abortable());
      this.uploadId = out.UploadId!;
    } catch (error) {
      throw remoteError(error, this.bucket.remote, `starting the upload of ${this.name}`, this.key);
    }
    await this.options.journal?.add({ key: this.key, uploadId: this.uploadId, startedAt: new Date().toISOString() });
    return this.uploadId;
  }

  private async sendPart(offset: number, bytes: number, resend = false): Promise<void> {
    const uploadId = await this.begin();
    const number = Math.floor(offset / this.partSize) + 1;
    for (let attempt = 1; ; attempt++) {
      this.options.signal?.throwIfAborted();
      const body = new PassThrough();
      const digest = createHash('sha256');
      // The running hash of everything sent, advanced only when this part is accepted.
      const running = resend ? undefined : this.hash.copy();
      const source = createReadStream(this.file, { start: offset, end: offset + bytes - 1, highWaterMark: 1 << 18 });
      source.on('data', (chunk) => {
        digest.update(chunk as Buffer);
        running?.update(chunk as Buffer);
      });
      source.on('error', (error) => body.destroy(error));
      source.pipe(body);
      try {
        const out = await (await this.partClient).send(new (await loadSdk()).UploadPartCommand({ Bucket: this.bucket.remote.bucket, Key: this.key, UploadId: uploadId, PartNumber: number, Body: body, ContentLength: bytes }), this.bucket.abortable(this.options.signal));
        const part = { number, etag: out.ETag ?? '', sha256: digest.digest('hex'), bytes };
        if (resend) {
          this.parts[number - 1] = part;
        } else {
          this.hash = running!;
          this.parts.push(part);
          this.sent += bytes;
        }
        return;
      } catch (error) {
        source.destroy();
        if (attempt >= this.bucket.remote.attempts || (!isTransient(error) && classifyS3Error(error) !== 'other') || this.options.signal?.aborted) {
          throw remoteError(error, this.bucket.remote, `uploading ${this.name} (part ${number})`, this.key);
        }
        await sleep(500 * attempt, undefined, { signal: this.options.signal });
      }
    }
  }

  /** Hash every part of the finished file again; send again the parts that changed. */
  private async resendChangedParts(expected: { bytes: number; sha256: string }): Promise<void> {
    const whole = createHash('sha256');
    for (const part of [...this.parts]) {
      const offset = (part.number - 1) * this.partSize;
      const partHash = createHash('sha256');
      for await (const chunk of createReadStream(this.file, { start: offset, end: offset + part.bytes - 1, highWaterMark: 1 << 18 })) {
        whole.update(chunk as Buffer);
        partHash.update(chunk as Buffer);
      }
      if (partHash.digest('hex') !== part.sha256) await this.sendPart(offset, part.bytes, true);
    }
    if (this.sent !== expected.bytes || whole.digest('hex') !== expected.sha256) {
      throw new KitError('REMOTE_FAILED', `${this.name} changed while it was uploaded: the bytes sent do not match the sha256 the backup recorded. Run the backup again.`);
    }
  }

  private async complete(): Promise<void> {
    try {
      await (await this.bucket.s3()).client.send(new (await loadSdk()).CompleteMultipartUploadCommand({
        Bucket: this.bucket.remote.bucket,
        Key: this.key,
        UploadId: this.uploadId,
        MultipartUpload: { Parts: this.parts.map((p) => ({ PartNumber: p.number, ETag: p.etag })) },
      }), this.bucket.abortable());
    } catch (error) {
      throw remoteError(error, this.bucket.remote, `completing the upload of ${this.name}`, this.key);
    }
    await this.options.journal?.remove(this.uploadId!);
    await this.proveSize(this.sent);
  }

  /** One request for a small file; a fresh stream for each try, since the SDK cannot rewind one. */
  private async putWhole(bytes: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await (await this.partClient).send(new (await loadSdk()).PutObjectCommand({ Bucket: this.bucket.remote.bucket, Key: this.key, Body: createReadStream(this.file), ContentLength: bytes, ContentType: 'application/octet-stream' }), this.bucket.abortable(this.options.signal));
        return;
      } catch (error) {
        if (attempt >= this.bucket.remote.attempts || !isTransient(error) || this.options.signal?.aborted) throw remoteError(error, this.bucket.remote, `uploading ${this.name}`, this.key);
        await sleep(500 * attempt, undefined, { signal: this.options.signal });
      }
    }
  }

  private async proveWhole(expected: { bytes: number; sha256: string }): Promise<void> {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of createReadStream(this.file, { highWaterMark: 1 << 18 })) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    if (bytes !== expected.bytes || hash.digest('hex') !== expected.sha256) {
      throw new KitError('REMOTE_FAILED', `${this.name} changed while it was uploaded. Run the backup again.`);
    }
    await this.proveSize(bytes);
  }

  /** The store must report the size that was sent: a short object is never taken as complete. */
  private async proveSize(bytes: number): Promise<void> {
    const head = await this.bucket.head(this.name);
    if (head?.bytes !== bytes) {
      throw new KitError('REMOTE_FAILED', `The object store holds ${head ? `${head.bytes} bytes` : 'nothing'} for ${this.name} after the upload, not the ${bytes} bytes sent. Run the backup again; if it persists, the provider is not S3-compatible enough for the kit.`);
    }
  }

  /** The file outgrew its estimate: start again with parts large enough for its real size. */
  private async restartWithLargerParts(bytes: number): Promise<void> {
    if (this.uploadId) {
      await this.bucket.abortUpload(this.key, this.uploadId);
      await this.options.journal?.remove(this.uploadId);
    }
    this.uploadId = undefined;
    this.parts.length = 0;
    this.sent = 0;
    this.hash = createHash('sha256');
    this.partSize = choosePartSize(this.partSize, bytes / 3 + 1);
  }
}
