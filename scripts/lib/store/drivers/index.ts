/**
 * The one place a remote's scheme becomes a driver. Adding an object store: a folder
 * drivers/<scheme>/ with a class implementing ObjectStore, its scheme in RemoteAddressSchema
 * (config/remote.ts), and one entry here; `satisfies` below fails to compile until both agree.
 */
import type { Remote, RemoteScheme } from '../../config/remote.js';
import type { ObjectStore } from './object-store.js';
import { RemoteBucket } from './s3/objects.js';
import { loadSdk } from './s3/client.js';
import { MemoryObjectStore } from './memory/memory.js';
import { FileObjectStore } from './file/file.js';

interface Driver {
  open(remote: Remote, signal?: AbortSignal): ObjectStore;
  /** Get ready before the first request (loading the S3 SDK takes a quarter of a second). */
  warmUp?(): Promise<unknown>;
}

const DRIVERS = {
  s3: { open: (remote, signal) => new RemoteBucket(remote, signal), warmUp: loadSdk },
  memory: { open: (remote) => new MemoryObjectStore(remote) },
  file: { open: (remote) => new FileObjectStore(remote) },
} satisfies Record<RemoteScheme, Driver>;

/** The driver for a resolved remote, every request of which ends with `signal`. */
export function openObjectStore(remote: Remote, signal?: AbortSignal): ObjectStore {
  return DRIVERS[remote.scheme].open(remote, signal);
}

/** Start what the remote's driver needs, while the command does other work; never fails. */
export function warmUp(remote: Remote): void {
  const driver: Driver = DRIVERS[remote.scheme];
  driver.warmUp?.().catch(() => undefined);
}
