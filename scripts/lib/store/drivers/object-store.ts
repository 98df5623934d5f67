/**
 * ObjectStore: a driver. It knows names, bytes and a little metadata under one prefix, nothing
 * about backups; everything above it (the remote catalog, physical backups, the WAL archive, the
 * upload journal, download proofs) is written once against this interface. Shaped after
 * pgBackRest's StorageInterface and WAL-G's Folder: one folder per driver under drivers/, and
 * a `capabilities` record instead of asking which driver it is.
 *
 * The contract every driver keeps:
 *  - Names are relative to the store's prefix; `key(name)` is the full key, for messages and the
 *    upload journal, and `nameOf(key)` maps back (undefined for a key outside the prefix).
 *  - `list()` returns the objects directly under the prefix, plus a backup's own nested files
 *    (a directory export's "<id>/data/x.csv"); another prefix nested in this one is not listed.
 *    See `listedName()`. Every page is read: a store may hold far more than one page of names.
 *  - `getStream()`/`getText()`/`head()` answer undefined for a missing object, never throw for it.
 *  - `putFile(…, ifAbsent)` never replaces an object when asked not to ('exists'); a driver
 *    without conditional writes says so in `capabilities.conditionalPut` (callers look first).
 *  - `upload()` follows a file while it is written when `capabilities.growingUpload` holds, and
 *    sends it whole at `finish()` otherwise; either way `finish()` proves the bytes sent equal the
 *    sha256 the writer recorded, and that the store holds that many bytes.
 *  - Every failure leaves as a KitError (exit 20 for the store itself); `failure()` turns an error
 *    met while streaming an object into one.
 */
import type { Readable } from 'node:stream';
import type { KitError } from '../../errors.js';
import { ownsArtifact } from '../../format/naming.js';
import { remoteLocation, type Remote } from '../../config/remote.js';

export interface ObjectInfo {
  /** Name relative to the store's prefix. */
  name: string;
  key: string;
  bytes: number;
  modified: Date;
}

/** A multipart upload begun and never completed or aborted. */
export interface PendingUpload {
  key: string;
  name: string;
  uploadId: string;
  initiated: Date;
}

export interface Capabilities {
  /** Writes can be refused when the name exists (If-None-Match: *). */
  conditionalPut: boolean;
  /** A file can be sent part by part while it is still written (S3 multipart). */
  growingUpload: boolean;
  /** Unfinished uploads can be listed (some S3-compatible servers cannot). */
  listUploads: boolean;
}

/**
 * Where a driver records a multipart upload it began, until it is completed or aborted, so an
 * upload cut off with the store can be aborted by a later run (remote/journal.ts keeps it beside
 * the local backups).
 */
export interface UploadRecord {
  add(entry: { key: string; uploadId: string; startedAt: string }): Promise<void>;
  remove(uploadId: string): Promise<void>;
}

export interface UploadOptions {
  partSize: number;
  journal?: UploadRecord | undefined;
  /** How often to look for new bytes while the writer is busy. */
  pollMs?: number;
  signal?: AbortSignal | undefined;
}

/** One file on its way into the store (see `ObjectStore.upload`). */
export interface FileUpload {
  /** The writer is done: `bytes` and `sha256` are what it wrote. Resolves once proven stored. */
  finish(expected: { bytes: number; sha256: string }): Promise<void>;
  /** Stop and leave nothing behind (or record what could not be cleaned in the journal). */
  abort(): Promise<void>;
}

export interface ObjectStore {
  readonly capabilities: Capabilities;
  /** The remote URL as configured, for messages. */
  readonly url: string;
  /** Where this store's objects live, for people: `<scheme>://<bucket>/<prefix>`. */
  readonly where: string;
  /** A name's location, for people. */
  location(name: string): string;
  key(name: string): string;
  nameOf(key: string): string | undefined;
  /** The same store one level down: `<prefix><area>/`. */
  child(area: string): ObjectStore;
  /** Part size for a file of about `estimate` bytes (the configured minimum or larger). */
  partSize(estimate: number): number;
  /** Fail early with a clear message when the store cannot be reached or used. */
  check(what: string): Promise<void>;
  list(): Promise<ObjectInfo[]>;
  /** Undefined when the store cannot list unfinished uploads. */
  listUploads(): Promise<PendingUpload[] | undefined>;
  /** 'unsupported': the store cannot abort uploads; its own cleanup must remove them. */
  abortUpload(key: string, uploadId: string): Promise<'aborted' | 'gone' | 'unsupported'>;
  head(name: string): Promise<{ bytes: number; metadata: Record<string, string> } | undefined>;
  getText(name: string): Promise<string | undefined>;
  getStream(name: string, signal?: AbortSignal): Promise<Readable | undefined>;
  putSmall(name: string, body: string | Buffer, contentType?: string): Promise<void>;
  /** A whole file in one request, with user metadata and its MD5; see the contract on ifAbsent. */
  putFile(name: string, open: () => Readable, body: { bytes: number; md5: string; metadata: Record<string, string> }, ifAbsent: boolean): Promise<'written' | 'exists'>;
  upload(name: string, file: string, options: UploadOptions): FileUpload;
  remove(names: string[]): Promise<void>;
  /** An error met while reading `name` as a KitError that names the store and what was done. */
  failure(error: unknown, what: string, name: string): KitError;
  close(): void;
}

/**
 * The name a key listed under the prefix has in `list()`, or undefined when it is not listed:
 * below the prefix only a backup's own nested files are (another prefix nested in ours is not).
 */
export function listedName(name: string): string | undefined {
  if (name.includes('/') && !ownsArtifact(name.split('/')[0]!, name)) return undefined;
  return name;
}

/**
 * What every driver says the same way: its URL, where it is for people, and how names map to
 * keys under the prefix. A driver extends it and supplies the rest, `child()` included (a store
 * one level down is the same kind of store with a longer prefix).
 */
export abstract class PrefixedObjects {
  constructor(readonly remote: Remote) {}

  get url(): string {
    return this.remote.url;
  }

  get where(): string {
    return remoteLocation(this.remote);
  }

  location(name: string): string {
    return remoteLocation(this.remote, name);
  }

  key(name: string): string {
    return this.remote.prefix + name;
  }

  nameOf(key: string): string | undefined {
    return key.startsWith(this.remote.prefix) ? key.slice(this.remote.prefix.length) : undefined;
  }

  /** The same remote with `area/` added to its prefix, for a driver's `child()`. */
  protected below(area: string): Remote {
    return { ...this.remote, prefix: `${this.remote.prefix}${area}/` };
  }
}
