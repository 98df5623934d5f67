/**
 * The s3 driver: an environment's objects in an S3-compatible bucket, listed page by page (a
 * bucket may hold far more than one page of 1,000 keys), read as streams, written whole (small
 * files), uploaded part by part while written (upload.ts) and removed. The only module (with
 * client.ts and upload.ts) that talks to the AWS SDK. Every SDK failure leaves here as a
 * KitError from remoteError().
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { KitError } from '../../../errors.js';
import type { Remote } from '../../../config/remote.js';
import { listedName, type Capabilities, type FileUpload, type ObjectInfo, type ObjectStore, PrefixedObjects, type PendingUpload, type UploadOptions } from '../object-store.js';
import { classifyS3Error, isTransient, loadSdk, makeS3Client, remoteError, type Sdk } from './client.js';
import { choosePartSize, GrowingFileUpload } from './upload.js';

export type RemoteObject = ObjectInfo;
export type { PendingUpload } from '../object-store.js';

export class RemoteBucket extends PrefixedObjects implements ObjectStore {
  readonly capabilities: Capabilities = { conditionalPut: true, growingUpload: true, listUploads: true };

  private client: Promise<S3Client> | undefined;
  private streamingClient: Promise<S3Client> | undefined;

  /**
   * `signal` is the run's: Ctrl-C or SIGTERM ends a request at once, whatever it waits on (a
   * pending request does not look at the signal unless it is handed over with it).
   */
  constructor(
    remote: Remote,
    private readonly signal?: AbortSignal,
  ) {
    super(remote);
  }

  /** The options of every request: the run's signal, and the caller's own when it has one. */
  abortable(own?: AbortSignal): { abortSignal?: AbortSignal } {
    const signals = [this.signal, own].filter((s): s is AbortSignal => s !== undefined);
    if (signals.length === 0) return {};
    return { abortSignal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) };
  }

  /**
   * A client that never retries by itself, for request bodies that are streams (the SDK cannot
   * rewind them): callers retry with a fresh stream. Shared by every upload of this bucket.
   */
  partClient(): Promise<S3Client> {
    return (this.streamingClient ??= makeS3Client(this.remote, { maxAttempts: 1 }));
  }

  /** The SDK and this bucket's client, made on first use. */
  async s3(): Promise<{ sdk: Sdk; client: S3Client }> {
    this.client ??= makeS3Client(this.remote);
    return { sdk: await loadSdk(), client: await this.client };
  }

  child(area: string): RemoteBucket {
    return new RemoteBucket(this.below(area), this.signal);
  }

  partSize(estimate: number): number {
    return choosePartSize(this.remote.partSizeBytes, estimate);
  }

  upload(name: string, file: string, options: UploadOptions): FileUpload {
    return new GrowingFileUpload(this, name, file, options);
  }

  failure(error: unknown, what: string, name: string): KitError {
    return remoteError(error, this.remote, what, this.key(name));
  }

  /** Fail early with a clear message when the bucket is missing or the credentials are wrong. */
  async check(what: string): Promise<void> {
    try {
      await (await this.s3()).client.send(new (await loadSdk()).HeadBucketCommand({ Bucket: this.remote.bucket }), this.abortable());
    } catch (error) {
      // HEAD answers carry no error body: a 404 here is the bucket itself.
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) throw remoteError({ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }, this.remote, what);
      if (status === 403) throw remoteError(await this.whyForbidden(error), this.remote, what);
      throw remoteError(error, this.remote, what);
    }
  }

  /** A HEAD 403 does not say why; a listing does (wrong key, bad signature, clock, policy). */
  private async whyForbidden(headError: unknown): Promise<unknown> {
    try {
      await (await this.s3()).client.send(new (await loadSdk()).ListObjectsV2Command({ Bucket: this.remote.bucket, Prefix: this.remote.prefix, MaxKeys: 1 }), this.abortable());
      return headError;
    } catch (error) {
      return error;
    }
  }

  /** Every object under the environment's prefix, following continuation tokens. */
  async list(): Promise<RemoteObject[]> {
    const out: RemoteObject[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await (await this.s3()).client.send(new (await loadSdk()).ListObjectsV2Command({ Bucket: this.remote.bucket, Prefix: this.remote.prefix, ContinuationToken: token }), this.abortable());
      } catch (error) {
        throw remoteError(error, this.remote, 'listing backups');
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        // Below ours: a directory export's files ("<id>/data/x.csv"), or another prefix nested in ours.
        const name = listedName(o.Key.slice(this.remote.prefix.length));
        if (name === undefined) continue;
        out.push({ name, key: o.Key, bytes: o.Size ?? 0, modified: o.LastModified ?? new Date(0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /**
   * Multipart uploads begun under the prefix and never completed or aborted. Undefined when the
   * server cannot list them (some S3-compatible servers do not implement it): then only the
   * uploads this machine recorded can be found, and a bucket lifecycle rule should abort the rest.
   */
  async listUploads(): Promise<PendingUpload[] | undefined> {
    const out: PendingUpload[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await (await this.s3()).client.send(new (await loadSdk()).ListMultipartUploadsCommand({ Bucket: this.remote.bucket, Prefix: this.remote.prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }), this.abortable());
      } catch (error) {
        if (classifyS3Error(error) === 'not-implemented') return undefined;
        throw remoteError(error, this.remote, 'listing unfinished uploads');
      }
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId) continue;
        out.push({ key: u.Key, name: u.Key.slice(this.remote.prefix.length), uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) });
      }
      if (!page.IsTruncated) return out;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /** 'unsupported': the server cannot abort uploads (s3rver); its own cleanup must remove them. */
  async abortUpload(key: string, uploadId: string): Promise<'aborted' | 'gone' | 'unsupported'> {
    try {
      await (await this.s3()).client.send(new (await loadSdk()).AbortMultipartUploadCommand({ Bucket: this.remote.bucket, Key: key, UploadId: uploadId }), this.abortable());
      return 'aborted';
    } catch (error) {
      if (classifyS3Error(error) === 'not-found') return 'gone';
      if (classifyS3Error(error) === 'not-implemented') return 'unsupported';
      throw remoteError(error, this.remote, 'aborting an unfinished upload', key);
    }
  }

  /** Size and user metadata (x-amz-meta-*) of an object, or undefined when there is none. */
  async head(name: string): Promise<{ bytes: number; metadata: Record<string, string> } | undefined> {
    try {
      const out = await (await this.s3()).client.send(new (await loadSdk()).HeadObjectCommand({ Bucket: this.remote.bucket, Key: this.key(name) }), this.abortable());
      return { bytes: out.ContentLength ?? 0, metadata: out.Metadata ?? {} };
    } catch (error) {
      if (classifyS3Error(error) === 'not-found') return undefined;
      throw remoteError(error, this.remote, `checking ${name}`, this.key(name));
    }
  }

  async getText(name: string): Promise<string | undefined> {
    const stream = await this.getStream(name);
    if (!stream) return undefined;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of stream) chunks.push(chunk as Buffer);
    } catch (error) {
      throw remoteError(error, this.remote, `downloading ${name}`, this.key(name));
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** The object's bytes as a stream, or undefined when it does not exist. */
  async getStream(name: string, signal?: AbortSignal): Promise<Readable | undefined> {
    try {
      const out = await (await this.s3()).client.send(new (await loadSdk()).GetObjectCommand({ Bucket: this.remote.bucket, Key: this.key(name) }), this.abortable(signal));
      return out.Body as Readable;
    } catch (error) {
      if (classifyS3Error(error) === 'not-found') return undefined;
      throw remoteError(error, this.remote, `downloading ${name}`, this.key(name));
    }
  }

  async putSmall(name: string, body: string | Buffer, contentType = 'application/octet-stream'): Promise<void> {
    try {
      await (await this.s3()).client.send(new (await loadSdk()).PutObjectCommand({ Bucket: this.remote.bucket, Key: this.key(name), Body: body, ContentType: contentType }), this.abortable());
    } catch (error) {
      throw remoteError(error, this.remote, `uploading ${name}`, this.key(name));
    }
  }

  /**
   * Upload a whole file in one request (a WAL segment: 16 MiB by default), with user metadata
   * and its MD5, which the server checks against the body it received.
   * `ifAbsent` asks the server to refuse when the key exists (If-None-Match: *), so two writers
   * never replace each other's object: 'exists' then. Servers without conditional writes ignore
   * the header; callers check what is there first as well.
   */
  async putFile(name: string, open: () => Readable, body: { bytes: number; md5: string; metadata: Record<string, string> }, ifAbsent: boolean): Promise<'written' | 'exists'> {
    const { sdk } = await this.s3();
    // The body is a stream, which the SDK cannot rewind: retry here with a fresh one.
    for (let attempt = 1; ; attempt++) {
      try {
        await (await this.partClient()).send(new sdk.PutObjectCommand({ Bucket: this.remote.bucket, Key: this.key(name), Body: open(), ContentLength: body.bytes, ContentMD5: body.md5, Metadata: body.metadata, ...(ifAbsent ? { IfNoneMatch: '*' } : {}) }), this.abortable());
        return 'written';
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 412 || (error as { name?: string }).name === 'PreconditionFailed') return 'exists';
        if (attempt >= this.remote.attempts || !isTransient(error)) throw remoteError(error, this.remote, `uploading ${name}`, this.key(name));
      }
    }
  }

  /** Remove objects by name; DeleteObjects in batches of 1,000, one by one where unsupported. */
  async remove(names: string[]): Promise<void> {
    for (let i = 0; i < names.length; i += 1000) {
      const batch = names.slice(i, i + 1000);
      try {
        const out = await (await this.s3()).client.send(new (await loadSdk()).DeleteObjectsCommand({ Bucket: this.remote.bucket, Delete: { Objects: batch.map((n) => ({ Key: this.key(n) })), Quiet: true } }), this.abortable());
        const failed = out.Errors?.[0];
        if (failed) throw remoteError({ name: failed.Code, message: failed.Message }, this.remote, `removing ${failed.Key?.slice(this.remote.prefix.length)}`, failed.Key);
      } catch (error) {
        if (classifyS3Error(error) !== 'not-implemented') throw remoteError(error, this.remote, 'removing old backups');
        for (const name of batch) await this.removeOne(name);
      }
    }
  }

  private async removeOne(name: string): Promise<void> {
    try {
      await (await this.s3()).client.send(new (await loadSdk()).DeleteObjectCommand({ Bucket: this.remote.bucket, Key: this.key(name) }), this.abortable());
    } catch (error) {
      if (classifyS3Error(error) !== 'not-found') throw remoteError(error, this.remote, `removing ${name}`, this.key(name));
    }
  }

  close(): void {
    void this.client?.then((c) => c.destroy());
    void this.streamingClient?.then((c) => c.destroy());
  }
}
