/**
 * One Repository per environment, built from its places: the local directory, plus the remote
 * when one is configured (any driver: see drivers/). It hands out the backup catalog (every
 * place merged, encrypting: what commands read and write), the physical backups and WAL archive
 * of the same places, each place on its own (for retention and push/pull), and copy() between
 * places. Callers ask for places and never test which class or which scheme holds the bytes.
 */
import { KitError } from '../errors.js';
import type { CommandContext } from '../context.js';
import type { LocalStore } from './local.js';
import { PhysicalStore } from './physical-store.js';
import type { RemoteStore } from './remote/remote-store.js';
import { copyDown, copyUp } from './remote/copies.js';
import type { BackupStore, Lock, StoredBackup } from './store.js';
import type { WalArchive } from './wal-archive.js';

export type PlaceName = 'local' | 'remote';

export interface Place {
  readonly name: PlaceName;
  /** Where, for people: a directory or a URL. */
  readonly where: string;
  /** This place's backups alone, as stored (ciphertext when encrypted: listing and removal need no key). */
  readonly backups: BackupStore;
  /** Counts this place keeps over the environment's retention policy (a remote's own), if any. */
  readonly retention: Record<string, unknown> | undefined;
  /** Fail early, with a clear message, when the place cannot be reached. */
  check(what: string): Promise<void>;
}

export interface Repository {
  readonly environment: string;
  /** Every place merged (and encrypting when the environment has recipients). */
  readonly catalog: BackupStore;
  /** The places, local first. */
  places(): Place[];
  place(name: PlaceName): Place | undefined;
  /** Physical backups in the same places (opened on each call: the caller closes it). */
  physical(): PhysicalStore;
  /** The WAL archive over the same places. */
  wal(): WalArchive;
  /** Copy one complete backup from one place to another, every byte proven, the .info last; the bytes copied. */
  copy(backup: StoredBackup, from: PlaceName, to: PlaceName, signal?: AbortSignal): Promise<number>;
  lock(command: string): Promise<Lock>;
}

type PhysicalContext = Pick<CommandContext, 'root' | 'env' | 'storeOptions'> & { signal?: AbortSignal };

/** The places of an environment with a local directory and, optionally, a remote. */
export function openRepository(ctx: PhysicalContext, environment: string, catalog: BackupStore, local: LocalStore, remote?: { store: RemoteStore; retention: Record<string, unknown> | undefined }): Repository {
  const places: Place[] = [{ name: 'local', where: local.where, backups: local, retention: undefined, check: async () => undefined }];
  if (remote) places.push({ name: 'remote', where: remote.store.where, backups: remote.store, retention: remote.retention, check: (what) => remote.store.objects.check(what) });
  return {
    environment,
    catalog,
    places: () => [...places],
    place: (name) => places.find((p) => p.name === name),
    physical: () => PhysicalStore.open(ctx, environment),
    wal: () => PhysicalStore.open(ctx, environment).wal,
    async copy(backup, from, to, signal) {
      if (!remote || from === to) throw new KitError('INTERNAL', `Nothing to copy between ${from} and ${to} in environment "${environment}".`);
      return from === 'local' ? copyUp(local, remote.store, backup) : copyDown(local, remote.store, backup, signal);
    },
    lock: (command) => catalog.lock(command),
  };
}

/** A repository over one store that is its own only place (a test's in-memory BackupStore). */
export function singlePlace(ctx: PhysicalContext, environment: string, store: BackupStore): Repository {
  const place: Place = { name: 'local', where: store.where, backups: store, retention: undefined, check: async () => undefined };
  return {
    environment,
    catalog: store,
    places: () => [place],
    place: (name) => (name === 'local' ? place : undefined),
    physical: () => PhysicalStore.open(ctx, environment),
    wal: () => PhysicalStore.open(ctx, environment).wal,
    copy: async () => {
      throw new KitError('INTERNAL', `Environment "${environment}" has one place only: nothing to copy.`);
    },
    lock: (command) => store.lock(command),
  };
}
