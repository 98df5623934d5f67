/**
 * Writes the "repository written by the current release" fixture (scripts/test/fixtures/release/)
 * with the kit's own code: a local environment directory (one logical backup, one physical
 * backup, one archived WAL segment) and every object the same backups make in a bucket (taken
 * from s3rver, keys and bodies as the server stored them). Run once per layout change:
 *   pnpm tsx scripts/test/support/make-release-fixture.ts
 * The layout-compatibility test reads what it wrote; regenerating with new code defeats it.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildInfo } from '../../lib/backup/backup.js';
import { buildInfo as buildPhysicalInfo } from '../../lib/physical/backup.js';
import { LocalStore } from '../../lib/store/local.js';
import { RemoteStore } from '../../lib/store/s3/remote-store.js';
import { MirroredStore } from '../../lib/store/s3/mirror.js';
import { PhysicalStore } from '../../lib/store/physical-store.js';
import { RemotePhysical } from '../../lib/store/s3/physical-remote.js';
import { RemoteWalArchive } from '../../lib/store/s3/wal-remote.js';
import { physicalSha256Manifest, serializePhysicalInfo } from '../../lib/format/physical-info.js';
import type { Remote } from '../../lib/config/remote.js';
import { startS3Server } from './s3-server.js';

const OUT = path.join(import.meta.dirname, '../fixtures/release');
const SCRIPT = Buffer.from('SET statement_timeout = 0;\n\n--\n-- PostgreSQL database dump complete\n--\n\n');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function logicalInfo(id: string, started: Date) {
  return buildInfo({
    id,
    environment: 'default',
    options: { type: 'manual', description: 'fixture', tables: [], excludeTables: [], schemas: [] },
    started,
    finished: new Date(started.getTime() + 1000),
    database: { name: 'app', host: 'localhost', port: 5432, user: 'app', serverVersion: '15.0', serverVersionNum: 150000, sizeBytes: 1, configuredBy: 'fixture' },
    pgDump: { path: '/usr/bin/pg_dump', version: '15.0' },
    snapshot: '00000003-1',
    serverTime: started,
    artifacts: [{ file: `${id}.sql`, format: 'sql', bytes: SCRIPT.length, sha256: sha(SCRIPT) }],
    stats: { tables: {}, sequences: {}, complete: true, bytes: 0 },
    source: 'plain-stream',
    largeObjects: 0,
  });
}

async function writeLogical(store: { beginWrite: LocalStore['beginWrite'] }, started: Date): Promise<string> {
  const write = await store.beginWrite('manual', started);
  const info = logicalInfo(write.id, started);
  const out = write.artifact(`${write.id}.sql`);
  await new Promise<void>((resolve, reject) => out.end(SCRIPT, (e?: Error | null) => (e ? reject(e) : resolve())));
  await write.commit(info);
  return write.id;
}

const BASE = Buffer.from('base tar stand-in\n');
const MANIFEST = Buffer.from('{"PostgreSQL-Backup-Manifest-Version": 1}\n');

async function writePhysical(repo: PhysicalStore): Promise<ReturnType<typeof buildPhysicalInfo>> {
  const id = 'backup_physical_20261120_020000';
  mkdirSync(repo.backups, { recursive: true });
  const artifacts = [
    { file: `${id}.base.tar`, role: 'base' as const, bytes: BASE.length, sha256: sha(BASE) },
    { file: `${id}.backup_manifest`, role: 'manifest' as const, bytes: MANIFEST.length, sha256: sha(MANIFEST) },
  ];
  writeFileSync(repo.file(artifacts[0]!.file), BASE);
  writeFileSync(repo.file(artifacts[1]!.file), MANIFEST);
  const info = buildPhysicalInfo({
    id,
    options: { type: 'physical', description: 'fixture', waitSeconds: 0, skipSpaceCheck: true, compression: 'none', checkpoint: 'fast' },
    target: { env: 'default', host: 'localhost', port: 5432, user: 'postgres', source: 'fixture' } as never,
    settings: { walSegmentSize: 16 * 1024 * 1024, version: '15.0', versionNum: 150000, systemIdentifier: '7000000000000000001', sizeBytes: 1 } as never,
    tool: { path: '/usr/bin/pg_basebackup', version: '15.0' } as never,
    compression: 'none',
    range: { timeline: 1, start: '0/2000028', end: '0/2000100' },
    artifacts,
    started: new Date('2026-11-20T02:00:00Z'),
    finished: new Date('2026-11-20T02:00:05Z'),
  });
  writeFileSync(repo.file(`${id}.sha256`), physicalSha256Manifest(artifacts));
  writeFileSync(repo.file(`${id}.info`), serializePhysicalInfo(info));
  return info;
}

async function main(): Promise<void> {
  rmSync(OUT, { recursive: true, force: true });
  const localDir = path.join(OUT, 'local/default');
  // 1. A local environment directory, as a run without a remote leaves it.
  await writeLogical(new LocalStore(localDir, 'default', '../../../../schema/info.schema.json'), new Date('2026-11-20T10:00:00Z'));
  const physical = new PhysicalStore(localDir, 'default', undefined);
  await writePhysical(physical);
  const wal = Buffer.alloc(1024, 7);
  const walSource = path.join(OUT, '000000010000000000000002');
  writeFileSync(walSource, wal);
  await physical.wal.push(walSource);

  // 2. The same kinds of backup in a bucket, as the s3 code writes them.
  const server = await startS3Server('kit-backups');
  try {
    const remote: Remote = {
      url: 's3://kit-backups/team', bucket: 'kit-backups', prefix: 'team/default/', endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true,
      partSizeBytes: 5 * 1024 * 1024, connectTimeoutMs: 10_000, requestTimeoutMs: 60_000, attempts: 3,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, profile: undefined, credentialSource: 'fixture', retention: undefined,
    };
    const mirrorDir = path.join(OUT, 'mirror-local');
    const mirrored = new MirroredStore(new LocalStore(mirrorDir, 'default'), new RemoteStore(remote, mirrorDir), { fromRemote: false, remoteOnly: false });
    await writeLogical(mirrored, new Date('2026-11-21T10:00:00Z'));
    const remotePhysical = new PhysicalStore(localDir, 'default', new RemotePhysical(remote), { remoteWal: new RemoteWalArchive(remote) });
    const entry = (await remotePhysical.catalog()).complete[0]!;
    await remotePhysical.upload(entry);
    await new RemoteWalArchive(remote).push(walSource);
    // Every object the bucket now holds: key, body, user metadata.
    const bucket = new RemotePhysical({ ...remote, prefix: '' }).bucket;
    const { sdk, client } = await bucket.s3();
    const objects: Record<string, { body: string; metadata: Record<string, string> }> = {};
    const listed = await client.send(new sdk.ListObjectsV2Command({ Bucket: 'kit-backups' }));
    for (const { Key: key } of listed.Contents ?? []) {
      const head = await client.send(new sdk.HeadObjectCommand({ Bucket: 'kit-backups', Key: key }));
      const got = await client.send(new sdk.GetObjectCommand({ Bucket: 'kit-backups', Key: key }));
      const text = Buffer.from(await got.Body!.transformToByteArray());
      objects[key!] = { body: text.toString('base64'), metadata: head.Metadata ?? {} };
    }
    writeFileSync(path.join(OUT, 'bucket.json'), JSON.stringify(objects, null, 2) + '\n');
    rmSync(mirrorDir, { recursive: true, force: true });
    rmSync(walSource, { force: true });
    bucket.close();
    remotePhysical.close();
  } finally {
    await server.stop();
  }
}

await main();
