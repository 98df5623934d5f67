/**
 * The on-disk and bucket layouts do not change. scripts/test/fixtures/release/ was written by the
 * release before the storage drivers (commit d3d73bc, its make-release-fixture.ts): a local
 * environment directory with a logical backup, a physical backup and an archived WAL segment,
 * and bucket.json, every object s3rver held after the s3 code wrote the same kinds of backup
 * (keys, bodies, user metadata). This code must read both, and write the very same keys.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CliContext } from '../../lib/cli/run.js';
import { silentReporter, type StoreOptions } from '../../lib/context.js';
import type { BackupInfo } from '../../lib/format/metadata.js';
import { dropMemoryBucket, memoryBucket } from '../../lib/store/drivers/memory/memory.js';
import { withStores } from '../../lib/store/environment.js';
import { PhysicalStore } from '../../lib/store/physical-store.js';

const FIXTURE = path.join(import.meta.dirname, '../fixtures/release');
const BUCKET = JSON.parse(readFileSync(path.join(FIXTURE, 'bucket.json'), 'utf8')) as Record<string, { body: string; metadata: Record<string, string> }>;
const SEGMENT = '000000010000000000000002';

let bucketName = '';
afterEach(() => dropMemoryBucket(bucketName));

/** A project whose backup root holds a copy of the release's local directory. */
function project(storeOptions: StoreOptions = {}, withLocal = true): CliContext {
  const root = mkdtempSync(path.join(tmpdir(), 'pgkit-release-'));
  if (withLocal) cpSync(path.join(FIXTURE, 'local'), path.join(root, 'backups'), { recursive: true });
  return withStores<Omit<CliContext, 'environment'>>({
    root,
    env: {},
    signal: new AbortController().signal,
    reporter: silentReporter,
    now: () => new Date('2026-11-22T00:00:00Z'),
    storeOptions,
    target: () => {
      throw new Error('no database in a unit test');
    },
  });
}

type Objects = Record<string, { body: string; metadata: Record<string, string> }>;

/** A driver under test: a fresh place holding `contents`, its URL, and what it holds afterwards. */
interface Place {
  url: string;
  written(): Map<string, { body: Buffer; metadata: Record<string, string> }>;
}

const DRIVERS: Record<string, (contents: Objects) => Place> = {
  memory(contents) {
    bucketName = `rel${Math.random().toString(36).slice(2, 10)}`;
    const bucket = memoryBucket(bucketName);
    for (const [key, o] of Object.entries(contents)) bucket.objects.set(key, { body: Buffer.from(o.body, 'base64'), metadata: o.metadata, modified: new Date() });
    return { url: `memory://${bucketName}/team`, written: () => new Map(bucket.objects) };
  },
  // A key is a path below the directory; user metadata is the hidden .<name>.meta beside it.
  file(contents) {
    const mount = mkdtempSync(path.join(tmpdir(), 'pgkit-mount-'));
    mkdirSync(path.join(mount, 'team'));
    for (const [key, o] of Object.entries(contents)) {
      const file = path.join(mount, key);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, Buffer.from(o.body, 'base64'));
      if (Object.keys(o.metadata).length) writeFileSync(path.join(path.dirname(file), `.${path.basename(file)}.meta`), JSON.stringify(o.metadata));
    }
    return {
      url: `file://${mount}/team`,
      written() {
        const out = new Map<string, { body: Buffer; metadata: Record<string, string> }>();
        for (const entry of readdirSync(mount, { recursive: true, withFileTypes: true })) {
          if (!entry.isFile() || entry.name.startsWith('.')) continue;
          const file = path.join(entry.parentPath, entry.name);
          const meta = path.join(entry.parentPath, `.${entry.name}.meta`);
          let metadata: Record<string, string> = {};
          try {
            metadata = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>;
          } catch {
            // no user metadata
          }
          out.set(path.relative(mount, file).split(path.sep).join('/'), { body: readFileSync(file), metadata });
        }
        return out;
      },
    };
  },
};

async function bytesOf(copy: { path: string; release(): Promise<void> }): Promise<Buffer> {
  try {
    return readFileSync(copy.path);
  } finally {
    await copy.release();
  }
}

describe('a local directory written by the release before the drivers', () => {
  it('lists and reads its local directory: logical backup, physical backup, WAL', async () => {
    const ctx = project();
    const { complete, leftovers } = await ctx.environment().store.list();
    expect(leftovers).toEqual([]);
    expect(complete.map((b) => [b.id, b.storeKind])).toEqual([['backup_manual_20261120_100000', 'local']]);
    const sql = await bytesOf(await ctx.environment().store.localFile(complete[0]!, 'backup_manual_20261120_100000.sql'));
    expect(sql.toString()).toContain('PostgreSQL database dump complete');
    const physical = PhysicalStore.open(ctx, 'default');
    const catalog = await physical.catalog();
    expect(catalog.leftovers).toEqual([]);
    expect(catalog.complete.map((e) => [e.id, e.place])).toEqual([['backup_physical_20261120_020000', 'local']]);
    expect(await physical.localWal.names()).toEqual([SEGMENT]);
  });
});

describe.each(Object.keys(DRIVERS))('a repository written by the release before the drivers, over the %s driver', (driver) => {
  it('lists and reads its bucket: every byte proven against the .info', async () => {
    const ctx = project({ remote: DRIVERS[driver]!(BUCKET).url, fromRemote: true }, false);
    const { complete, leftovers } = await ctx.environment().store.list();
    expect(leftovers).toEqual([]);
    expect(complete.map((b) => [b.id, b.storeKind])).toEqual([['backup_manual_20261121_100000', 'remote']]);
    const sql = await bytesOf(await ctx.environment().store.localFile(complete[0]!, 'backup_manual_20261121_100000.sql'));
    expect(sql.toString()).toContain('PostgreSQL database dump complete');
    const physical = PhysicalStore.open(ctx, 'default');
    const [entry] = (await physical.catalog()).complete;
    expect([entry!.id, entry!.place]).toEqual(['backup_physical_20261120_020000', 'remote']);
    expect((await bytesOf(await physical.artifact(entry!, 'backup_physical_20261120_020000.base.tar'))).toString()).toBe('base tar stand-in\n');
    expect(await physical.remoteWal!.names()).toEqual([SEGMENT]);
    const dest = path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-wal-')), SEGMENT);
    expect(await physical.remoteWal!.fetch(SEGMENT, dest)).toBe('fetched');
    expect(readFileSync(dest)).toEqual(readFileSync(path.join(FIXTURE, 'local/default/wal', SEGMENT)));
  });

  it('writes the very keys (and bodies, and WAL metadata) the s3 code wrote', async () => {
    const place = DRIVERS[driver]!({});
    const ctx = project({ remote: place.url });
    // The logical backup the release mirrored: same id, same artifact.
    const started = new Date('2026-11-21T10:00:00Z');
    const write = await ctx.environment().store.beginWrite('manual', started);
    const script = Buffer.from(BUCKET['team/default/backup_manual_20261121_100000.sql']!.body, 'base64');
    const out = write.artifact(`${write.id}.sql`);
    await new Promise<void>((resolve, reject) => out.end(script, (e?: Error | null) => (e ? reject(e) : resolve())));
    const fixtureInfo = JSON.parse(Buffer.from(BUCKET['team/default/backup_manual_20261121_100000.info']!.body, 'base64').toString()) as BackupInfo;
    await write.commit(fixtureInfo);
    // The physical backup and the WAL segment, pushed as db:push and archive_command do.
    const physical = PhysicalStore.open(ctx, 'default');
    await physical.upload((await physical.catalog()).complete[0]!);
    const segment = path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-wal-')), SEGMENT);
    writeFileSync(segment, readFileSync(path.join(FIXTURE, 'local/default/wal', SEGMENT)));
    expect(await physical.remoteWal!.push(segment)).toBe('archived');

    const written = place.written();
    expect([...written.keys()].sort()).toEqual(Object.keys(BUCKET).sort());
    for (const [key, o] of Object.entries(BUCKET)) {
      if (key.endsWith('.info')) continue; // it records this run's paths and tool version
      expect(written.get(key)!.body.toString('base64'), key).toBe(o.body);
    }
    expect(written.get(`team/default/wal/${SEGMENT}`)!.metadata).toEqual(BUCKET[`team/default/wal/${SEGMENT}`]!.metadata);
  });
});
