/**
 * BackupStore: the one seam between the kit and wherever backups live. Commands and the domain
 * (backup, restore, verify, retention, list) never touch a directory or a bucket themselves;
 * they ask the repository of a checked environment (see environment.ts, repository.ts) for its
 * catalog (this interface), its places, its physical backups and WAL archive.
 *
 * The layers, bottom up:
 *   drivers/          ObjectStore (object-store.ts): names and bytes under a prefix, nothing about
 *                     backups. One folder per driver: s3/ (the only code that imports the AWS
 *                     SDK), memory/ (named in-process stores, for tests), file/ (a directory,
 *                     typically mounted: file:///mnt/backups).
 *   remote/           everything a remote does, written once over ObjectStore: the catalog
 *                     (remote-store.ts), the mirror (mirror.ts), physical backups, the WAL archive,
 *                     the upload journal, proven downloads, copies between places.
 *   local.ts, physical-store.ts, wal-archive.ts: the local directory.
 *   repository.ts     one Repository per environment: places (local, and the remote if any),
 *                     the catalog, physical backups, the WAL archive, copy(id, from, to).
 *
 * How to add an object store (GCS, Azure Blob, SFTP, a mounted directory): exactly
 *  1. store/drivers/<scheme>/<scheme>.ts: a class implementing ObjectStore (the contract is at the
 *     top of drivers/object-store.ts; drivers/memory/memory.ts is the smallest example);
 *  2. config/remote.ts: the scheme's entry in RemoteAddressSchema (what its URL may name);
 *  3. store/drivers/index.ts: one entry in DRIVERS mapping the scheme to the class.
 *  Nothing else changes: the catalog, the mirror, physical backups, WAL, retention, push/pull and
 *  verify run on it as they run on s3. scripts/test/unit/repository.test.ts and
 *  release-layout.test.ts show how to run them against a new driver without a server.
 *
 * How to add a BackupStore (an encrypting wrapper, a test double):
 *  1. Implement every member of `BackupStore` below. The contract that matters:
 *     - `list()` returns only complete backups (a readable, current-version .info whose own
 *       checksum holds) in `complete`; everything else with a backup name is a `leftover`, each
 *       with a reason. Never throw for one bad backup: one broken .info must not hide the others.
 *     - `beginWrite()` reserves a fresh id. Nothing written through it is visible to `list()`
 *       until `commit()`; `commit()` makes the artifacts final, writes the `.sha256` manifest, and
 *       writes the `.info` LAST (a backup exists only when its .info does). `abort()` removes
 *       everything the write created, and is safe to call after a partial failure.
 *     - An artifact writable must not emit 'finish' before its bytes are durable in the store
 *       (do the upload/flush in the stream's final()); an error must be emitted, not swallowed.
 *     - `openArtifact()` streams the bytes as stored; `localFile()` hands out a file on this
 *       machine for tools that need a path (pg_restore --list, psql -f): the file itself on local
 *       disk, a private temporary copy elsewhere (deleted by `release()`, and `proven` when it
 *       was checked against .info while it was written, so the reader hashes it once, not twice).
 *     - `remove()` deletes the .info first, so a half-removed backup is a leftover, never a
 *       backup with missing artifacts.
 *     - `lock()` keeps two runs of the same environment apart (backup, restore, retention, drop).
 *  2. Compose it in `openEnvironment()` (environment.ts), or hand it to `withStores()` as a test does.
 *  No command changes: scripts/test/unit/store-planning.test.ts runs list, retention and verify
 *  planning against an in-memory store to prove it.
 *
 * The kit's sha256 in .info is the proof of every byte; a store's own checksums (ETags) are not.
 */
import type { Readable, Writable } from 'node:stream';
import type { BackupInfo } from '../format/metadata.js';
import type { Verification } from './verification.js';

/** A complete backup as the store found it. */
export interface StoredBackup {
  id: string;
  info: BackupInfo;
  /** The names (not paths) of every file the store holds with this backup's id. */
  files: string[];
  /** Where it lives, for people: a directory, or a URL such as s3://bucket/prefix/env. */
  where: string;
  /** The .info's own location, for people and for `pnpm db:restore -- <it>`. */
  infoLocation: string;
  /** What kind of store holds it ("local", "remote", …), shown by db:list. */
  storeKind: string;
}

/** A file with a backup's name that is not part of a complete backup. */
export interface Leftover {
  /** The file's name in the store. */
  name: string;
  /** Its location, for people. */
  location: string;
  /** The backup id it belongs to. */
  id: string;
  bytes: number;
  reason: string;
  /** Why this is a leftover, machine-readable. */
  kind: 'partial' | 'no-info' | 'unreadable-info' | 'newer-info' | 'in-progress';
}

export interface Listing {
  complete: StoredBackup[];
  leftovers: Leftover[];
}

export interface LocalCopy {
  /** A file on this machine with exactly the stored bytes. */
  path: string;
  /** Done with the file: a temporary copy is deleted; the store's own file is left alone. */
  release(): Promise<void>;
  /**
   * Every byte was hashed against the .info's size and sha256 as it was copied here (a
   * download): the reader need not hash it again. Absent for the store's own file on disk.
   */
  proven?: boolean;
}

export interface Lock {
  release(): void;
}

/** One backup being written. */
export interface BackupWrite {
  readonly id: string;
  /** Where the backup will live, for people and messages. */
  readonly where: string;
  /**
   * A writable for one artifact (a file name such as `<id>.dump`). Bytes go to the store as they
   * come; the stream finishes only when they are durable there. Invisible until commit().
   */
  artifact(file: string): Writable;
  /**
   * A private, seekable file on this machine that a producer may write the artifact into
   * itself (pg_dump --file puts data offsets into a custom archive only when it can seek), to be
   * taken over by commit(). Stores that only take streams return undefined; use artifact().
   */
  artifactPath(file: string): string | undefined;
  /** Make every artifact final, write the .sha256 manifest, then the .info, last. */
  commit(info: BackupInfo): Promise<StoredBackup>;
  /** Remove everything this write created. Safe to call more than once. */
  abort(): Promise<void>;
}

export interface BackupStore {
  /** "local", "remote", …: shown to people, recorded in results. */
  readonly kind: string;
  /** Where this environment's backups live, for people: a directory or a URL. */
  readonly where: string;
  /** Complete backups newest first, and leftovers (a running backup's files are 'in-progress'). */
  list(): Promise<Listing>;
  openArtifact(backup: StoredBackup, file: string): Promise<Readable>;
  localFile(backup: StoredBackup, file: string): Promise<LocalCopy>;
  /**
   * Start a backup; `type` and `startedAt` name it (backup_<type>_<stamp>[_n]). `hint` lets a
   * store size its work (a remote scales its multipart part size to the expected bytes).
   */
  beginWrite(type: string, startedAt: Date, hint?: { estimateBytes?: number }): Promise<BackupWrite>;
  /** Bytes free for new backups, when the store can tell (local disk); undefined otherwise. */
  freeBytes(): Promise<number | undefined>;
  /** Delete a backup whole: .info first, then its other files. */
  remove(backup: StoredBackup): Promise<void>;
  /** Delete leftovers (partial files, orphans). */
  removeLeftovers(leftovers: Leftover[]): Promise<void>;
  readVerification(backup: StoredBackup): Promise<Verification | undefined>;
  writeVerification(backup: StoredBackup, record: Verification): Promise<void>;
  /** Keep other runs out of this environment until release(). */
  lock(command: string): Promise<Lock>;
}
