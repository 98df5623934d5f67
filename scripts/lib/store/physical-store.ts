/**
 * Where an environment's physical backups and WAL archive live: on local disk under
 * backups/<env>/physical/ and backups/<env>/wal/, and, when the environment has a remote (the
 * same configuration as every backup: backup-kit.json or --remote), also in its object store
 * under <prefix>/<env>/physical/ and <prefix>/<env>/wal/ (whatever the driver). Every command that touches physical backups
 * or WAL goes through here: listing merges both places (and says where each backup lives), a
 * backup only the remote holds is downloaded and proven before use, removal takes both copies,
 * and the WAL archive is one WalArchive whatever its places.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { backupRoot, type CommandContext } from '../context.js';
import { KitError } from '../errors.js';
import { stemOf } from '../format/naming.js';
import { parsePhysicalInfo, serializePhysicalInfo, type PhysicalInfo } from '../format/physical-info.js';
import { resolveRemote } from '../config/remote.js';
import { checkEnvironmentName } from '../config/environment-name.js';
import { configFor } from '../config/file.js';
import { encryptionFor } from '../crypto/keys.js';
import { ensurePrivateDir, writeFileAtomic } from './files.js';
import { LocalWalArchive, MirroredWalArchive, type WalArchive } from './wal-archive.js';
import { RemotePhysical, type RemotePhysicalBackup } from './remote/physical-remote.js';
import { RemoteWalArchive } from './remote/wal-remote.js';
import { openObjectStore } from './drivers/index.js';
import type { LocalCopy } from './store.js';

export type PhysicalPlace = 'local' | 'remote' | 'both';

export interface PhysicalEntry {
  id: string;
  info: PhysicalInfo;
  /** The .info's location, for people: a path, or the remote's URL when only the remote has it. */
  infoPath: string;
  place: PhysicalPlace;
}

export interface PhysicalLeftover {
  file: string;
  reason: string;
  bytes: number;
}

export interface PhysicalCatalog {
  complete: PhysicalEntry[];
  leftovers: PhysicalLeftover[];
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

export class PhysicalStore {
  readonly backups: string;
  readonly walDir: string;
  readonly wal: WalArchive;
  readonly localWal: LocalWalArchive;
  /** The remote's WAL archive alone, when there is a remote. */
  readonly remoteWal: WalArchive | undefined;
  private remoteListing: Promise<{ complete: RemotePhysicalBackup[]; leftovers: PhysicalLeftover[] }> | undefined;

  constructor(
    readonly envDir: string,
    readonly environment: string,
    readonly remote: RemotePhysical | undefined,
    readonly options: { fromRemote?: boolean | undefined; remoteWal?: WalArchive | undefined } = {},
  ) {
    this.backups = path.join(envDir, 'physical');
    this.walDir = path.join(envDir, 'wal');
    this.localWal = new LocalWalArchive(this.walDir);
    this.remoteWal = options.remoteWal;
    this.wal = options.remoteWal ? new MirroredWalArchive(this.localWal, options.remoteWal) : this.localWal;
  }

  /** The environment's physical store as configured: local, and mirrored when a remote is set. */
  static open(ctx: Pick<CommandContext, 'root' | 'env' | 'storeOptions'> & { signal?: AbortSignal }, environment: string): PhysicalStore {
    checkEnvironmentName(environment);
    const envDir = path.join(backupRoot(ctx), environment);
    const options = ctx.storeOptions ?? {};
    const remote = resolveRemote({ root: ctx.root, env: environment, processEnv: ctx.env, remote: options.remote, endpoint: options.endpoint });
    if (!remote) {
      if (options.fromRemote) throw new KitError('REMOTE_CONFIG', `--from-remote needs a remote for environment "${environment}": configure one in backup-kit.json ("remote": { "url": "s3://bucket/prefix" }) or pass --remote s3://bucket/prefix.`);
      return new PhysicalStore(envDir, environment, undefined);
    }
    const objects = openObjectStore(remote, ctx.signal);
    return new PhysicalStore(envDir, environment, new RemotePhysical(objects.child('physical')), { fromRemote: options.fromRemote, remoteWal: new RemoteWalArchive(objects.child('wal')) });
  }

  /**
   * Physical backups and WAL are not encrypted by the kit. An environment with age recipients
   * promises that nothing of it is stored in plaintext, so writing them there is refused (fail
   * closed) rather than done in the clear.
   */
  static async refuseWithoutEncryption(ctx: Pick<CommandContext, 'root' | 'env'>, environment: string, what: string): Promise<void> {
    const encryption = await encryptionFor(configFor(ctx.root), environment, ctx.env, ctx.root);
    if (!encryption) return;
    throw new KitError('ENCRYPTION_UNAVAILABLE', `Environment "${environment}" encrypts its backups (age recipients from ${encryption.source}), but the kit does not encrypt ${what}: nothing was written in plaintext. Keep physical backups in an environment without recipients, on an encrypted disk or bucket, or remove the recipients.`);
  }

  get where(): string {
    return this.remote ? `${this.backups} (and ${this.remote.where})` : this.backups;
  }

  file(name: string): string {
    return path.join(this.backups, name);
  }

  /** Complete local backups newest first; anything else with a backup's name is a leftover. */
  localCatalog(): PhysicalCatalog {
    const complete: PhysicalEntry[] = [];
    const leftovers: PhysicalLeftover[] = [];
    if (!existsSync(this.backups)) return { complete, leftovers };
    const byStem = new Map<string, string[]>();
    for (const name of readdirSync(this.backups)) {
      const stem = stemOf(name);
      if (stem) byStem.set(stem, [...(byStem.get(stem) ?? []), name]);
    }
    for (const [stem, files] of byStem) {
      const infoPath = this.file(`${stem}.info`);
      const reading = files.includes(`${stem}.info`) ? readPhysicalInfo(infoPath) : undefined;
      const info = reading?.ok && reading.info.id === stem ? reading.info : undefined;
      if (info) complete.push({ id: stem, info, infoPath, place: 'local' });
      const reason = info ? 'partial file' : reading ? `unreadable .info: it ${reading.ok ? 'names another backup' : reading.problem}` : 'no .info (incomplete backup)';
      for (const f of files) if (!info || f.endsWith('.partial')) leftovers.push({ file: this.file(f), reason, bytes: sizeOf(this.file(f)) });
    }
    complete.sort(newestFirst);
    return { complete, leftovers };
  }

  private remoteCatalog(): Promise<{ complete: RemotePhysicalBackup[]; leftovers: PhysicalLeftover[] }> {
    if (!this.remote) return Promise.resolve({ complete: [], leftovers: [] });
    const remote = this.remote;
    return (this.remoteListing ??= remote.list().then((l) => ({ complete: l.complete, leftovers: l.leftovers.map((x) => ({ file: x.location, reason: x.reason, bytes: x.bytes })) })));
  }

  /** Both places merged: each backup once, with where it lives. */
  async catalog(): Promise<PhysicalCatalog> {
    const local = this.options.fromRemote ? { complete: [], leftovers: [] } : this.localCatalog();
    const remote = await this.remoteCatalog();
    const remoteIds = new Set(remote.complete.map((b) => b.id));
    const complete: PhysicalEntry[] = local.complete.map((e) => (remoteIds.has(e.id) ? { ...e, place: 'both' as const } : e));
    const localIds = new Set(local.complete.map((e) => e.id));
    for (const b of remote.complete) if (!localIds.has(b.id)) complete.push({ id: b.id, info: b.info, infoPath: this.remote!.location(`${b.id}.info`), place: 'remote' });
    complete.sort(newestFirst);
    return { complete, leftovers: [...local.leftovers, ...remote.leftovers] };
  }

  /** One backup by id, or the newest with "latest". */
  async find(id: string): Promise<PhysicalEntry> {
    const { complete } = await this.catalog();
    const entry = id === 'latest' ? complete[0] : complete.find((e) => e.id === id || e.id === stemOf(path.basename(id)));
    if (!entry) {
      const known = complete.slice(0, 5).map((e) => e.id).join(', ');
      throw new KitError('BACKUP_NOT_FOUND', id === 'latest'
        ? `No complete physical backup in ${this.where}. Take one with pnpm db:backup:physical${this.environment === 'default' ? '' : ` -- --env ${this.environment}`}.`
        : `No complete physical backup "${id}" in ${this.where}.${known ? ` Newest: ${known}.` : ''}`);
    }
    return entry;
  }

  private readsRemote(entry: PhysicalEntry): boolean {
    return entry.place === 'remote' || (this.options.fromRemote === true && entry.place === 'both');
  }

  /**
   * An artifact as a file on this machine: the local copy itself, or (a backup only the remote
   * has, or --from-remote) a private download proven against the .info, deleted by release().
   */
  async artifact(entry: PhysicalEntry, file: string, signal?: AbortSignal): Promise<LocalCopy> {
    if (!entry.info.artifacts.some((a) => a.file === file)) throw new KitError('BACKUP_NOT_FOUND', `Backup ${entry.id} has no artifact ${file}.`);
    if (!this.readsRemote(entry) || !this.remote) return { path: this.file(file), release: async () => undefined };
    await ensurePrivateDir(this.backups);
    const dir = await mkdtemp(path.join(this.backups, '.download-'));
    const release = () => rm(dir, { recursive: true, force: true });
    try {
      await this.remote.download(entry.info, file, path.join(dir, file), signal);
      return { path: path.join(dir, file), release };
    } catch (error) {
      await release();
      throw error;
    }
  }

  /** Upload a local backup to the remote (nothing to do without one). */
  async upload(entry: PhysicalEntry): Promise<PhysicalInfo | undefined> {
    if (!this.remote) return undefined;
    const info: PhysicalInfo = { ...entry.info, copies: { local: this.backups, remote: this.remote.location(`${entry.id}.info`) } };
    await this.remote.upload(info, (file) => this.file(file));
    return info;
  }

  /** Write a local backup's .info again (to record where its copies are). */
  async rewriteLocalInfo(info: PhysicalInfo): Promise<void> {
    await writeFileAtomic(this.file(`${info.id}.info`), serializePhysicalInfo(info));
  }

  /** A backup stops being one the moment its .info is gone, in each place; then its files go. */
  async remove(entry: PhysicalEntry): Promise<void> {
    if (entry.place !== 'local' && this.remote) {
      const there = (await this.remoteCatalog()).complete.find((b) => b.id === entry.id);
      if (there) await this.remote.remove(there);
    }
    if (entry.place !== 'remote') {
      await rm(this.file(`${entry.id}.info`), { force: true });
      for (const a of entry.info.artifacts) await rm(this.file(a.file), { force: true });
      for (const extra of [`${entry.id}.sha256`, `${entry.id}.verify.json`]) await rm(this.file(extra), { force: true });
    }
  }

  async removeLeftovers(leftovers: PhysicalLeftover[]): Promise<void> {
    const inRemote = (l: PhysicalLeftover) => this.remote !== undefined && l.file.startsWith(this.remote.where);
    const remote = leftovers.filter(inRemote);
    if (remote.length && this.remote) await this.remote.removeNames(remote.map((l) => path.posix.basename(l.file)));
    for (const l of leftovers.filter((x) => !inRemote(x))) await rm(l.file, { recursive: true, force: true });
  }

  /** The verification record kept beside the backup (in the place it was verified from). */
  async readVerification<T>(entry: PhysicalEntry): Promise<T | undefined> {
    try {
      const text = this.readsRemote(entry) ? await this.remote?.getText(`${entry.id}.verify.json`) : existsSync(this.file(`${entry.id}.verify.json`)) ? readFileSync(this.file(`${entry.id}.verify.json`), 'utf8') : undefined;
      return text === undefined ? undefined : (JSON.parse(text) as T);
    } catch {
      return undefined;
    }
  }

  async writeVerification(entry: PhysicalEntry, record: unknown): Promise<void> {
    const text = JSON.stringify(record, null, 2) + '\n';
    if (this.readsRemote(entry)) await this.remote!.putText(`${entry.id}.verify.json`, text);
    else await writeFileAtomic(this.file(`${entry.id}.verify.json`), text);
  }

  close(): void {
    this.remote?.close();
  }
}

function newestFirst(a: PhysicalEntry, b: PhysicalEntry): number {
  return b.info.startedAt.localeCompare(a.info.startedAt) || b.id.localeCompare(a.id);
}

export function readPhysicalInfo(file: string): ReturnType<typeof parsePhysicalInfo> | undefined {
  try {
    return parsePhysicalInfo(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
