/**
 * Physical backups and WAL in object storage, as a user meets them: a primary whose
 * archive_command sends every segment to the local archive and to the bucket, a base backup
 * uploaded when it is taken; then the machine is lost, and from another project holding only the
 * configuration, the list shows the remote backup, and a point-in-time restore fetches the base
 * and the WAL from the bucket alone. Retention then prunes the bucket. Against s3rver on loopback.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PhysicalBackupResult } from '../../lib/physical/backup.js';
import { resolveRemote } from '../../lib/config/remote.js';
import { RemoteBucket } from '../../lib/store/drivers/s3/objects.js';
import { cli, makeProject } from '../support/harness.js';
import { restoreParent, startDataDir, startPrimary, type Primary } from '../support/physical-cluster.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';

/** stderr without the AWS SDK's own notice that its releases after January 2027 need Node 22. */
function quiet(stderr: string): string {
  return stderr.replace(/\(node:\d+\) Warning: NodeVersionSupportWarning:[\s\S]*?to show where the warning was created\)\n/, '');
}

describe('physical backups and WAL in a remote store', () => {
  let server: S3Server;
  let primary: Primary;
  let files: Record<string, string>;

  beforeAll(async () => {
    server = await startS3Server();
    // The server's user runs wal-push and wal-fetch: it reads the remote from backup-kit.json and
    // the credentials from the environment's .env file, as the README's recipe sets them up.
    const creds = Object.entries(server.credentials).map(([k, v]) => `${k}=${v}\n`).join('');
    files = { 'backup-kit.json': JSON.stringify({ remote: { url: `s3://${server.bucket}/phys`, endpoint: server.endpoint } }), 'packages/database/.env': creds };
    primary = await startPrimary({ files, settings: { synchronous_commit: 'on' } });
    await primary.query('CREATE DATABASE app');
    await primary.query('CREATE TABLE events (id bigserial PRIMARY KEY, note text NOT NULL)', [], 'app');
  });
  afterAll(async () => {
    await primary?.destroy();
    await server?.stop();
  });

  function areaBucket(area: 'physical' | 'wal'): RemoteBucket {
    const remote = resolveRemote({ root: primary.project, env: 'default', processEnv: server.credentials })!;
    return new RemoteBucket({ ...remote, prefix: `${remote.prefix}${area}/` });
  }

  async function remoteNames(area: 'physical' | 'wal'): Promise<string[]> {
    const bucket = areaBucket(area);
    try {
      return (await bucket.list()).map((o) => o.name).sort();
    } finally {
      bucket.close();
    }
  }

  /** Another machine: only the configuration, none of the backups, readable by the server's user. */
  function newMachine(): string {
    const project = makeProject(files);
    for (const dir of [project, path.join(project, 'packages'), path.join(project, 'packages/database')]) chmodSync(dir, 0o711);
    for (const file of Object.keys(files)) chmodSync(path.join(project, file), 0o644);
    return project;
  }

  it('uploads the base backup and every archived segment; restores to a moment from the bucket alone', async () => {
    await primary.query(`INSERT INTO events (note) VALUES ('before the backup')`, [], 'app');
    const run = await cli('backup-physical', ['--json'], { cwd: primary.project, env: { DATABASE_URL: primary.url('app') } });
    expect(quiet(run.stderr)).toBe('');
    expect(run.code).toBe(0);
    const backup = run.json<PhysicalBackupResult>();
    expect(backup.remote).toBe(`s3://${server.bucket}/phys/default/physical/${backup.id}.info`);
    const local = JSON.parse(readFileSync(backup.info, 'utf8')) as { copies: unknown };
    expect(local.copies).toEqual({ local: path.dirname(backup.info), remote: backup.remote });
    expect(await remoteNames('physical')).toEqual([...backup.files.map((f) => path.basename(f.path)), `${backup.id}.info`, `${backup.id}.sha256`].sort());

    await primary.query(`INSERT INTO events (note) VALUES ('first')`, [], 'app');
    const [{ at }] = (await primary.query<{ at: Date }>('SELECT clock_timestamp() AS at')) as [{ at: Date }];
    await new Promise((r) => setTimeout(r, 300));
    await primary.query(`INSERT INTO events (note) VALUES ('second')`, [], 'app');
    const segment = await primary.switchAndArchive();
    const expected = (await primary.query<{ id: string; note: string }>(`SELECT id::text, note FROM events WHERE note <> 'second' ORDER BY id`, [], 'app'));
    expect(expected.map((r) => r.note)).toEqual(['before the backup', 'first']);
    // archive_command succeeds only once both places hold the segment.
    expect(await remoteNames('wal')).toContain(segment);

    const elsewhere = newMachine();
    try {
      const list = await cli('list', ['--json'], { cwd: elsewhere });
      expect(list.code, list.stderr).toBe(0);
      expect(list.json<{ backups: Array<{ id: string; store: string }> }>().backups).toContainEqual(expect.objectContaining({ id: backup.id, store: 'remote' }));

      const dataDir = path.join(await restoreParent(), 'from-the-bucket');
      const restore = await cli('restore-physical', ['--time', at.toISOString(), '--target-dir', dataDir, '--json'], { cwd: elsewhere, env: { BACKUP_KIT_LAUNCHER: primary.launcher } });
      expect(quiet(restore.stderr)).toBe('');
      expect(restore.code).toBe(0);
      expect(restore.json()).toMatchObject({ id: backup.id, from: `s3://${server.bucket}/phys/default/physical/`, proof: { promoted: true } });
      const autoConf = readFileSync(path.join(dataDir, 'postgresql.auto.conf'), 'utf8');
      expect(autoConf).toMatch(/restore_command = '.*wal-fetch %f %p/);
      expect(autoConf).not.toContain(server.credentials.AWS_SECRET_ACCESS_KEY + '\n');
      const copy = await startDataDir(dataDir, primary.cluster.password, primary.cluster.binDir);
      try {
        expect(await copy.query<{ id: string; note: string }>('SELECT id::text, note FROM events ORDER BY id', 'app')).toEqual(expected);
      } finally {
        await copy.stop();
      }
      rmSync(path.dirname(dataDir), { recursive: true, force: true });

      // Verified from the bucket alone, deeply: recovered on a throw-away server through wal-fetch.
      const verify = await cli('verify-physical', ['--deep', '--json'], { cwd: elsewhere, env: { BACKUP_KIT_LAUNCHER: primary.launcher } });
      expect(quiet(verify.stderr)).toBe('');
      expect(verify.code).toBe(0);
      expect(verify.json<{ results: Array<{ checks: string[] }> }>().results[0]!.checks.join('\n')).toMatch(/pg_verifybackup[\s\S]*WAL archive continuous[\s\S]*tables read/);

      // One flipped byte in an archived segment (its recorded sha256 kept): recovery stops rather
      // than end early and open the server at an earlier moment than asked.
      const bucket = areaBucket('wal');
      const head = (await bucket.head(segment))!;
      const bytes = Buffer.concat((await (await bucket.getStream(segment))!.toArray()) as Buffer[]);
      bytes[1000]! ^= 0x01;
      await bucket.putFile(segment, () => Readable.from([bytes]), { bytes: bytes.length, md5: createHash('md5').update(bytes).digest('base64'), metadata: head.metadata }, false);
      bucket.close();
      const damagedDir = path.join(await restoreParent(), 'damaged');
      const damaged = await cli('restore-physical', ['--time', at.toISOString(), '--target-dir', damagedDir], { cwd: elsewhere, env: { BACKUP_KIT_LAUNCHER: primary.launcher } });
      expect(damaged.code).toBe(22);
      expect(damaged.stderr).toMatch(new RegExp(`could not restore file "${segment}".*wal-fetch said: ${segment} in s3://\\S+ does not match the sha256 the metadata it was archived with records`));
      expect(existsSync(damagedDir)).toBe(false);
      rmSync(path.dirname(damagedDir), { recursive: true, force: true });
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('retention prunes the bucket too: old base backups, and only the WAL before the oldest kept one', async () => {
    const newer = await cli('backup-physical', ['--json'], { cwd: primary.project, env: { DATABASE_URL: primary.url('app') } });
    expect(newer.code, newer.stderr).toBe(0);
    const kept = newer.json<PhysicalBackupResult>();
    await primary.switchAndArchive();
    const run = await cli('retention-physical', ['--keep-last', '1', '--daily', '0', '--weekly', '0', '--monthly', '0', '--json'], { cwd: primary.project });
    expect(quiet(run.stderr)).toBe('');
    expect(run.code).toBe(0);
    expect((await remoteNames('physical')).filter((n) => n.endsWith('.info'))).toEqual([`${kept.id}.info`]);
    const wal = (await remoteNames('wal')).filter((n) => /^[0-9A-F]{24}$/.test(n));
    expect(wal).toContain(kept.wal.startSegment);
    expect(wal.every((n) => n >= kept.wal.startSegment)).toBe(true);
    // db:wal:status looks at the bucket's copy of the archive too.
    const status = await cli('wal-status', ['--json'], { cwd: primary.project, env: { DATABASE_URL: primary.url() } });
    expect(status.code, status.stderr).toBe(0);
    expect(status.json<{ remote: { where: string; segments: number; gaps: unknown[]; lastSegment: string } }>().remote).toEqual({ where: `s3://${server.bucket}/phys/default/wal/`, segments: wal.length, gaps: [], lastSegment: wal.at(-1) });
  });

  it('a store that went away: the local backup is complete, exit 20, and db:push uploads it later', async () => {
    server.kill();
    const run = await cli('backup-physical', ['--json'], { cwd: primary.project, env: { DATABASE_URL: primary.url('app') } });
    expect(run.code).toBe(20);
    expect(run.stderr).toMatch(/complete on this machine .*upload to s3:\/\/.* failed.*pnpm db:push/s);
    const id = /(backup_physical_\d{8}_\d{6}(?:_\d+)?)/.exec(run.stderr)![1]!;
    expect(existsSync(path.join(primary.project, 'backups/default/physical', `${id}.info`))).toBe(true);
    await server.restart();
    expect(await remoteNames('physical')).not.toContain(`${id}.info`);

    const push = await cli('push', ['--json'], { cwd: primary.project });
    expect(quiet(push.stderr).replace(/^push: uploading .*\n/m, '')).toBe('');
    expect(push.code).toBe(0);
    expect(push.json<{ copied: Array<{ id: string }> }>().copied.map((c) => c.id)).toEqual([id]);
    expect(await remoteNames('physical')).toContain(`${id}.info`);
    const listed = await cli('list', ['--json'], { cwd: primary.project });
    expect(listed.json<{ backups: Array<{ id: string; store: string }> }>().backups).toContainEqual(expect.objectContaining({ id, store: 'both' }));
  });
});
