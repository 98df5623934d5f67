/**
 * The checked environment: a name that is safe to use (never a path) and the store that holds
 * its backups. Every command and domain function reaches backups through
 * `ctx.environment(name)`, so the mapping environment → store is made (and checked) here alone.
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
import { MirroredStore } from './s3/mirror.js';
import { RemoteStore } from './s3/remote-store.js';
import type { BackupStore } from './store.js';

export interface Environment {
  readonly name: string;
  readonly store: BackupStore;
}

/** A command context that can hand out checked environments. */
export interface StoreContext extends CommandContext {
  /** The environment `name` (default: "default"); refuses names that are not simple names. */
  environment(name?: string): Environment;
}

export { ENV_NAME, checkEnvironmentName } from '../config/environment-name.js';

export type StoreOpener = (ctx: CommandContext, environment: string) => BackupStore;

/**
 * The store of an environment as configured: local disk under the backup root, mirrored to an
 * S3-compatible bucket when a remote is configured (backup-kit.json, or --remote), and with every
 * write encrypted when the environment has age recipients (the outermost layer, so the local
 * disk and the bucket only ever see ciphertext).
 */
export const openStore: StoreOpener = (ctx, environment) => {
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
    return encrypted(local);
  }
  return encrypted(new MirroredStore(local, new RemoteStore(remote, local.where, ctx.now, ctx.signal), { fromRemote: options.fromRemote === true, remoteOnly: options.remoteOnly === true }));
};

/** Give a context its environments, each opened once. `open` is where another store plugs in. */
export function withStores<C extends CommandContext>(ctx: C, open: StoreOpener = openStore): C & StoreContext {
  const opened = new Map<string, Environment>();
  return Object.assign(ctx, {
    environment(name = 'default'): Environment {
      checkEnvironmentName(name);
      let env = opened.get(name);
      if (!env) opened.set(name, (env = { name, store: open(ctx, name) }));
      return env;
    },
  });
}
