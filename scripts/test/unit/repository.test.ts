/**
 * The repository over places, run on local disk + the memory driver: no server, no PostgreSQL.
 * Backups are written through the BackupStore API with a fabricated artifact and a valid .info,
 * as backup/backup.ts writes them. The same code paths run against s3rver in the integration
 * suite (remote-backup, remote-store, physical-remote); here they run in milliseconds.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { retentionCommand } from '../../lib/commands/retention.js';
import type { CliContext, CommonArgs } from '../../lib/cli/run.js';
import { silentReporter, type StoreOptions } from '../../lib/context.js';
import { KitError } from '../../lib/errors.js';
import type { BackupInfo } from '../../lib/format/metadata.js';
import { pull, push } from '../../lib/offsite/copies.js';
import { dropMemoryBucket, memoryBucket } from '../../lib/store/drivers/memory/memory.js';
import { withStores } from '../../lib/store/environment.js';
import { DUMP_SCRIPT, scriptBackupInfo } from '../support/infos.js';
import type { StoredBackup } from '../../lib/store/store.js';

const COMMON: CommonArgs = { json: true, quiet: true, progress: false, url: undefined, env: undefined, envFile: undefined };
const NOW = new Date('2026-11-21T12:00:00Z');
const SCRIPT = DUMP_SCRIPT;

let bucketName = '';
afterEach(() => dropMemoryBucket(bucketName));

/** A project with a memory remote `memory://<fresh>/team` (its own retention, if given). */
function project(storeOptions: StoreOptions = {}, remoteRetention?: Record<string, unknown>, sameBucket = false): { ctx: CliContext; root: string; keys: () => string[] } {
  if (!sameBucket) bucketName = `t${Math.random().toString(36).slice(2, 10)}`;
  const bucket = memoryBucket(bucketName);
  const root = mkdtempSync(path.join(tmpdir(), 'pgkit-repo-'));
  writeFileSync(path.join(root, 'backup-kit.json'), JSON.stringify({ remote: { url: `memory://${bucketName}/team`, ...(remoteRetention ? { retention: remoteRetention } : {}) } }));
  const ctx = withStores<Omit<CliContext, 'environment'>>({
    root,
    env: {},
    signal: new AbortController().signal,
    reporter: silentReporter,
    now: () => NOW,
    storeOptions,
    target: () => {
      throw new Error('no database in a unit test');
    },
  });
  return { ctx, root, keys: () => [...bucket.objects.keys()].sort() };
}

function infoFor(id: string, started: Date, bytes = SCRIPT): BackupInfo {
  return scriptBackupInfo(id, 'manual', started, bytes);
}

/** One backup written through the environment's catalog, as db:backup writes it. */
async function backUp(ctx: CliContext, takenAt: string): Promise<StoredBackup> {
  const started = new Date(takenAt);
  const write = await ctx.environment().store.beginWrite('manual', started);
  const out = write.artifact(`${write.id}.sql`);
  await new Promise<void>((resolve, reject) => out.end(SCRIPT, (e?: Error | null) => (e ? reject(e) : resolve())));
  return write.commit(infoFor(write.id, started));
}

async function read(copy: { path: string; release(): Promise<void> }): Promise<Buffer> {
  try {
    return readFileSync(copy.path);
  } finally {
    await copy.release();
  }
}

const localFiles = (root: string) => (existsSync(path.join(root, 'backups/default')) ? readdirSync(path.join(root, 'backups/default')).filter((f) => f.startsWith('backup_')).sort() : []);

describe('the mirror over local disk and a memory remote', () => {
  it('puts a backup in both places, .info last, and lists it once as "both"', async () => {
    const { ctx, root, keys } = project();
    const stored = await backUp(ctx, '2026-11-20T10:00:00Z');
    expect(stored.storeKind).toBe('both');
    const id = 'backup_manual_20261120_100000';
    expect(localFiles(root)).toEqual([`${id}.info`, `${id}.sha256`, `${id}.sql`]);
    expect(keys()).toEqual([`team/default/${id}.info`, `team/default/${id}.sha256`, `team/default/${id}.sql`]);
    const info = JSON.parse(memoryBucket(bucketName).objects.get(`team/default/${id}.info`)!.body.toString()) as BackupInfo;
    expect(info.copies).toEqual({ local: path.join(root, 'backups/default'), remote: `memory://${bucketName}/team/default/${id}.info` });
    const { complete } = await ctx.environment().store.list();
    expect(complete.map((b) => [b.id, b.storeKind])).toEqual([[id, 'both']]);
  });

  it('reads from the remote with --from-remote, every byte proven: a changed object is refused', async () => {
    const { ctx } = project();
    await backUp(ctx, '2026-11-20T10:00:00Z');
    // The same bucket, seen from another machine (no local copy) with --from-remote.
    const remote = project({ fromRemote: true }, undefined, true);
    const objects = memoryBucket(bucketName).objects;
    const [backup] = (await remote.ctx.environment().store.list()).complete;
    expect(backup).toMatchObject({ id: 'backup_manual_20261120_100000', storeKind: 'remote' });
    expect(await read(await remote.ctx.environment().store.localFile(backup!, `${backup!.id}.sql`))).toEqual(SCRIPT);
    const key = `team/default/${backup!.id}.sql`;
    objects.set(key, { ...objects.get(key)!, body: Buffer.from(SCRIPT.toString().replace('SET', 'SEX')) });
    await expect(remote.ctx.environment().store.localFile(backup!, `${backup!.id}.sql`)).rejects.toMatchObject({ code: 'INTEGRITY_FAILED' });
  });

  it('keeps no local copy with --remote-only; a remote-only backup is downloaded and proven before use', async () => {
    const { ctx, root, keys } = project({ remoteOnly: true });
    const stored = await backUp(ctx, '2026-11-20T10:00:00Z');
    expect(stored.storeKind).toBe('remote');
    expect(localFiles(root)).toEqual([]);
    expect(keys()).toHaveLength(3);
    const [backup] = (await ctx.environment().store.list()).complete;
    expect(backup!.storeKind).toBe('remote');
    const copy = await ctx.environment().store.localFile(backup!, `${backup!.id}.sql`);
    expect(copy.path.startsWith(path.join(root, 'backups/default/.download-'))).toBe(true);
    expect(await read(copy)).toEqual(SCRIPT);
    expect(existsSync(copy.path)).toBe(false);
  });

  it('keeps the local backup complete when the remote fails during the upload, and leaves nothing complete-looking there', async () => {
    const { ctx, root, keys } = project();
    memoryBucket(bucketName).failWrites = new Error('connection reset');
    const failed = await backUp(ctx, '2026-11-20T10:00:00Z').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(KitError);
    expect((failed as KitError).message).toMatch(/is complete on this machine .* but its upload to memory:\/\/.* failed: .*run pnpm db:push once the store is back/);
    expect(localFiles(root)).toContain('backup_manual_20261120_100000.info');
    expect(keys()).toEqual([]);
  });
});

describe('retention per place', () => {
  it('plans each place by its own counts: the remote keeps more than the local disk', async () => {
    const { ctx, keys, root } = project({}, { keepLast: 3, daily: 0, weekly: 0, monthly: 0 });
    for (const day of ['17', '18', '19', '20']) await backUp(ctx, `2026-11-${day}T10:00:00Z`);
    const parsed = retentionCommand.parse({ 'keep-last': '1', daily: '0', weekly: '0', monthly: '0' }, [], COMMON);
    const result = await retentionCommand.run(parsed, ctx);
    const kept = (where: string) => result.decisions.filter((d) => d.where === where && d.keep).map((d) => d.id.slice(14, 22));
    expect(kept('local')).toEqual(['20261120']);
    expect(kept('remote')).toEqual(['20261120', '20261119', '20261118']);
    expect(localFiles(root).filter((f) => f.endsWith('.info'))).toEqual(['backup_manual_20261120_100000.info']);
    expect(keys().filter((k) => k.endsWith('.info'))).toHaveLength(3);
    expect(result.remotePolicy).toMatchObject({ keepLast: 3 });
  });
});

describe('push and pull copy between places', () => {
  it('pushes what only this machine has, then pulls it back after the local copy is gone', async () => {
    const { ctx, root, keys } = project();
    memoryBucket(bucketName).failWrites = new Error('offline');
    await backUp(ctx, '2026-11-20T10:00:00Z').catch(() => undefined);
    memoryBucket(bucketName).failWrites = undefined;
    expect(keys()).toEqual([]);
    const pushed = await push(ctx, undefined, []);
    expect(pushed.copied).toEqual([{ id: 'backup_manual_20261120_100000', bytes: SCRIPT.length }]);
    expect(keys()).toHaveLength(3);
    expect((await push(ctx, undefined, [])).skipped).toEqual([{ id: 'backup_manual_20261120_100000', reason: 'already in the remote, identical' }]);

    const { store } = ctx.environment();
    const [both] = (await store.list()).complete;
    await ctx.environment().repository.place('local')!.backups.remove(both!);
    expect(localFiles(root)).toEqual([]);
    const pulled = await pull(ctx, undefined, ['backup_manual_20261120_100000']);
    expect(pulled.copied).toEqual([{ id: 'backup_manual_20261120_100000', bytes: SCRIPT.length }]);
    expect(readFileSync(path.join(root, 'backups/default/backup_manual_20261120_100000.sql'))).toEqual(SCRIPT);
    expect(localFiles(root)).toEqual(['backup_manual_20261120_100000.info', 'backup_manual_20261120_100000.sha256', 'backup_manual_20261120_100000.sql']);
  });

  it('refuses push and pull without a remote, with the configuration hint', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'pgkit-repo-'));
    const ctx = withStores<Omit<CliContext, 'environment'>>({ root, env: {}, signal: new AbortController().signal, reporter: silentReporter, now: () => NOW, target: () => { throw new Error('none'); } });
    await expect(push(ctx, undefined, [])).rejects.toMatchObject({ code: 'REMOTE_CONFIG', message: expect.stringMatching(/db:push needs a remote for environment "default"/) });
    expect(ctx.environment().repository.places().map((p) => p.name)).toEqual(['local']);
  });

  it('refuses a memory remote no test made: a mistyped remote never sends backups into thin air', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'pgkit-repo-'));
    const ctx = withStores<Omit<CliContext, 'environment'>>({ root, env: {}, signal: new AbortController().signal, reporter: silentReporter, now: () => NOW, storeOptions: { remote: 'memory://nobody-made-this' }, target: () => { throw new Error('none'); } });
    expect(() => ctx.environment()).toThrow(/names no in-process store/);
  });
});

describe('a mounted directory as the remote (file://)', () => {
  function mounted(storeOptions: StoreOptions = {}, mount = mkdtempSync(path.join(tmpdir(), 'pgkit-mount-'))): { ctx: CliContext; root: string; mount: string } {
    const root = mkdtempSync(path.join(tmpdir(), 'pgkit-repo-'));
    // The configured directory must exist, as a bucket must: the kit never creates a mount point.
    if (mount.startsWith(tmpdir())) mkdirSync(path.join(mount, 'team'), { recursive: true });
    writeFileSync(path.join(root, 'backup-kit.json'), JSON.stringify({ remote: { url: `file://${mount}/team` } }));
    const ctx = withStores<Omit<CliContext, 'environment'>>({ root, env: {}, signal: new AbortController().signal, reporter: silentReporter, now: () => NOW, storeOptions, target: () => { throw new Error('none'); } });
    return { ctx, root, mount };
  }

  it('holds the same names as a bucket; --from-remote reads them back, proven', async () => {
    const { ctx, mount } = mounted();
    expect((await backUp(ctx, '2026-11-20T10:00:00Z')).storeKind).toBe('both');
    const id = 'backup_manual_20261120_100000';
    expect(readdirSync(path.join(mount, 'team/default')).sort()).toEqual([`${id}.info`, `${id}.sha256`, `${id}.sql`]);
    const elsewhere = mounted({ fromRemote: true }, mount);
    const [backup] = (await elsewhere.ctx.environment().store.list()).complete;
    expect(backup).toMatchObject({ id, storeKind: 'remote', infoLocation: `file://${mount}/team/default/${id}.info` });
    expect(await read(await elsewhere.ctx.environment().store.localFile(backup!, `${id}.sql`))).toEqual(SCRIPT);
    writeFileSync(path.join(mount, 'team/default', `${id}.sql`), SCRIPT.toString().replace('SET', 'SEX'));
    await expect(elsewhere.ctx.environment().store.localFile(backup!, `${id}.sql`)).rejects.toMatchObject({ code: 'INTEGRITY_FAILED' });
  });

  it('archives WAL with its sha256 beside it and never replaces a segment', async () => {
    const { ctx, mount } = mounted();
    const wal = ctx.environment().repository.physical().remoteWal!;
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-wal-'));
    const segment = path.join(dir, '000000010000000000000002');
    writeFileSync(segment, Buffer.alloc(4096, 1));
    expect(await wal.push(segment)).toBe('archived');
    expect(await wal.push(segment)).toBe('already-archived');
    expect(await wal.names()).toEqual(['000000010000000000000002']);
    writeFileSync(segment, Buffer.alloc(4096, 2));
    await expect(wal.push(segment)).rejects.toMatchObject({ code: 'WAL_SEGMENT_CONFLICT' });
    expect(readFileSync(path.join(mount, 'team/default/wal/000000010000000000000002'))).toEqual(Buffer.alloc(4096, 1));
    expect(await wal.fetch('000000010000000000000002', path.join(dir, 'fetched'))).toBe('fetched');
    expect(readFileSync(path.join(dir, 'fetched'))).toEqual(Buffer.alloc(4096, 1));
  });

  it('refuses to write when the directory is not there (an unmounted disk), rather than fill the mount point', async () => {
    const { ctx } = mounted({}, '/nonexistent-mount-point');
    await expect(backUp(ctx, '2026-11-20T10:00:00Z')).rejects.toMatchObject({ code: 'REMOTE_BUCKET_MISSING', message: expect.stringMatching(/\/nonexistent-mount-point\/team does not exist/) });
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-wal-'));
    writeFileSync(path.join(dir, '000000010000000000000002'), Buffer.alloc(16, 1));
    const wal = ctx.environment().repository.physical().remoteWal!;
    await expect(wal.push(path.join(dir, '000000010000000000000002'))).rejects.toMatchObject({ code: 'REMOTE_BUCKET_MISSING' });
    expect(existsSync('/nonexistent-mount-point')).toBe(false);
  });
});
