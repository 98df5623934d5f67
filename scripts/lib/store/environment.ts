/**
 * The checked environment: a name that is safe to use (never a path), the store that holds its
 * backups and the repository of its places. Every command and domain function reaches backups
 * through `ctx.environment(name)`, so the mapping environment → places is made (and checked)
 * here alone.
 */
import path from 'node:path';
import { KitError } from '../errors.js';
import { backupRoot, type CommandContext } from '../context.js';
import { INFO_JSON_SCHEMA_PATH } from '../format/metadata.js';
import { LocalStore } from './local.js';
import { EncryptingStore } from './encrypting.js';
import { encryptionFor } from '../crypto/keys.js';
import { configFor } from '../config/file.js';
import { resolveRemote } from '../config/remote.js';
import { checkEnvironmentName } from '../config/environment-name.js';
import { MirroredStore } from './remote/mirror.js';
import { RemoteStore } from './remote/remote-store.js';
import { openObjectStore, warmUp } from './drivers/index.js';
import { openRepository, singlePlace, type Repository } from './repository.js';
import type { BackupStore } from './store.js';

export interface Environment {
  readonly name: string;
  /** The backup catalog: the same as `repository.catalog`. */
  readonly store: BackupStore;
  readonly repository: Repository;
}

/** A command context that can hand out checked environments. */
export interface StoreContext extends CommandContext {
  /** The environment `name` (default: "default"); refuses names that are not simple names. */
  environment(name?: string): Environment;
}

export { ENV_NAME, checkEnvironmentName } from '../config/environment-name.js';

/** Another store in place of the configured places (a test's in-memory store). */
export type StoreOpener = (ctx: CommandContext, environment: string) => BackupStore;

/**
 * The repository of an environment as configured: local disk under the backup root, mirrored to
 * the remote's object store when one is configured (backup-kit.json, or --remote), and with
 * every write encrypted when the environment has age recipients (the outermost layer, so the
 * local disk and the remote only ever see ciphertext).
 */
export function openEnvironment(ctx: CommandContext, environment: string): Repository {
  const dir = path.join(backupRoot(ctx), environment);
  const schemaRef = path.relative(dir, path.join(ctx.root, INFO_JSON_SCHEMA_PATH)).split(path.sep).join('/');
  const local = new LocalStore(dir, environment, schemaRef);
  const encrypted = (inner: BackupStore): BackupStore => new EncryptingStore(inner, () => encryptionFor(configFor(ctx.root), environment, ctx.env, ctx.root), ctx.env);
  const options = ctx.storeOptions ?? {};
  const remote = resolveRemote({ root: ctx.root, env: environment, processEnv: ctx.env, remote: options.remote, endpoint: options.endpoint });
  if (!remote) {
    if (options.fromRemote || options.remoteOnly) {
      throw new KitError('REMOTE_CONFIG', `${options.fromRemote ? '--from-remote' : '--remote-only'} needs a remote for environment "${environment}": configure one in backup-kit.json ("remote": { "url": "s3://bucket/prefix" }) or pass --remote s3://bucket/prefix.`);
    }
    return openRepository(ctx, environment, encrypted(local), local);
  }
  // Whatever the driver needs first (the S3 SDK), made ready while the command connects to PostgreSQL.
  warmUp(remote);
  const store = new RemoteStore(openObjectStore(remote, ctx.signal), local.where, ctx.now);
  const mirrored = new MirroredStore(local, store, { fromRemote: options.fromRemote === true, remoteOnly: options.remoteOnly === true });
  return openRepository(ctx, environment, encrypted(mirrored), local, { store, retention: remote.retention });
}

/** The backup catalog of an environment as configured (see openEnvironment). */
export const openStore: StoreOpener = (ctx, environment) => openEnvironment(ctx, environment).catalog;

/** Give a context its environments, each opened once. `open` is where another store plugs in. */
export function withStores<C extends CommandContext>(ctx: C, open?: StoreOpener): C & StoreContext {
  const opened = new Map<string, Environment>();
  return Object.assign(ctx, {
    environment(name = 'default'): Environment {
      checkEnvironmentName(name);
      let env = opened.get(name);
      if (!env) {
        const repository = open ? singlePlace(ctx, name, open(ctx, name)) : openEnvironment(ctx, name);
        opened.set(name, (env = { name, store: repository.catalog, repository }));
      }
      return env;
    },
  });
}
