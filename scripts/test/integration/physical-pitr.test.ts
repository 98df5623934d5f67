import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PhysicalBackupResult } from '../../lib/physical/backup.js';
import type { PhysicalInfo } from '../../lib/physical/info.js';
import { cli } from '../support/harness.js';
import { restoreParent, startDataDir, startPrimary, type Primary } from '../support/physical-cluster.js';

const execFileAsync = promisify(execFile);

describe('physical backups and point-in-time recovery', () => {
  let primary: Primary;
  let backup: PhysicalBackupResult;
  let writtenDuringBackup = 0;
  beforeAll(async () => {
    primary = await startPrimary();
    await primary.query('CREATE DATABASE app');
    await primary.query(`CREATE TABLE events (id bigserial PRIMARY KEY, note text NOT NULL)`, [], 'app');
  });
  afterAll(() => primary?.destroy());

  it('takes a base backup while a writer commits, with its manifest, checksums and .info', async () => {
    const writer = new pg.Client({ connectionString: primary.url('app') });
    await writer.connect();
    let writing = true;
    const loop = (async () => {
      while (writing) {
        await writer.query(`INSERT INTO events (note) VALUES ('during backup')`);
        writtenDuringBackup++;
      }
    })();
    const run = await cli('backup-physical', ['--json'], { cwd: primary.project, env: { DATABASE_URL: primary.url('app') } });
    writing = false;
    await loop;
    await writer.end();
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    backup = run.json<PhysicalBackupResult>();
    expect(writtenDuringBackup).toBeGreaterThan(0);
    const dir = path.join(primary.project, 'backups/default/physical');
    expect(readdirSync(dir).sort()).toEqual([`${backup.id}.backup_manifest`, `${backup.id}.base.tar.lz4`, `${backup.id}.info`, `${backup.id}.pg_wal.tar.lz4`, `${backup.id}.sha256`].sort());
    const { stdout } = await execFileAsync('sha256sum', ['-c', `${backup.id}.sha256`], { cwd: dir });
    expect(stdout.trim().split('\n')).toHaveLength(3);
    const info = JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(backup.info, 'utf8'))) as PhysicalInfo;
    const [facts] = await primary.query<{ sysid: string }>('SELECT system_identifier::text AS sysid FROM pg_control_system()');
    expect(info).toMatchObject({ kind: 'physical', wal: { timeline: 1 }, server: { systemIdentifier: facts!.sysid }, pgBasebackup: { compression: 'lz4' } });
    expect(info.wal.startSegment <= info.wal.stopSegment).toBe(true);
    expect(JSON.stringify(info)).not.toContain(primary.cluster.password);
    const list = await cli('list', ['--json'], { cwd: primary.project });
    expect(list.code).toBe(0);
    expect(list.json<{ backups: Array<{ id: string; formats: string[] }> }>().backups).toContainEqual(expect.objectContaining({ id: backup.id, formats: ['physical'] }));
  });

  it('verifies deeply: checksums, pg_verifybackup, the archive, and a recovered copy whose tables answer', async () => {
    const run = await cli('verify-physical', ['--deep', '--json'], { cwd: primary.project });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [result] = run.json<{ results: Array<{ ok: boolean; checks: string[]; deep: { databases: string[]; tables: number } }> }>().results;
    expect(result!.ok).toBe(true);
    expect(result!.checks.join('\n')).toMatch(/pg_verifybackup[\s\S]*WAL archive continuous[\s\S]*tables read/);
    expect(result!.deep.databases).toContain('app');
    expect(result!.deep.tables).toBeGreaterThanOrEqual(1);
  });

  it('restores to a moment between two writes: exactly the rows committed before it', async () => {
    await primary.query(`INSERT INTO events (note) VALUES ('first')`, [], 'app');
    const [{ at }] = (await primary.query<{ at: Date }>('SELECT clock_timestamp() AS at')) as [{ at: Date }];
    await new Promise((r) => setTimeout(r, 300));
    await primary.query(`INSERT INTO events (note) VALUES ('second')`, [], 'app');
    await primary.switchAndArchive();
    const expected = (await primary.query<{ id: string }>(`SELECT id FROM events WHERE note <> 'second' ORDER BY id`, [], 'app')).map((r) => r.id);

    const dataDir = path.join(await restoreParent(), 'pitr');
    const run = await cli('restore-physical', ['--time', at.toISOString(), '--target-dir', dataDir, '--json'], { cwd: primary.project });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ id: backup.id, dataDir, mode: 'new', proof: { promoted: true, timeline: 2 } });
    expect(existsSync(path.join(dataDir, 'recovery.signal'))).toBe(false);
    const copy = await startDataDir(dataDir, primary.cluster.password, primary.cluster.binDir);
    try {
      const rows = (await copy.query<{ id: string }>('SELECT id FROM events ORDER BY id', 'app')).map((r) => r.id);
      expect(rows).toEqual(expected);
      const [settings] = await copy.query<{ mode: string }>(`SELECT current_setting('archive_mode') AS mode`);
      expect(settings!.mode).toBe('off'); // a test restore never writes into the production archive
    } finally {
      await copy.stop();
    }
    // The production archive never saw the restored copy's new timeline.
    expect(readdirSync(primary.archive).filter((f) => f.startsWith('00000002'))).toEqual([]);
  });

  it('says an archived WAL segment is damaged, not that the archive ends, when recovery stops at a bad record', async () => {
    await primary.query(`INSERT INTO events (note) VALUES ('before the damage')`, [], 'app');
    await primary.switchAndArchive();
    await primary.query(`INSERT INTO events (note) VALUES ('after the damage')`, [], 'app');
    const [{ at }] = (await primary.query<{ at: Date }>('SELECT clock_timestamp() AS at')) as [{ at: Date }];
    await primary.switchAndArchive();
    const segments = readdirSync(primary.archive).filter((n) => /^[0-9A-F]{24}$/.test(n) && n > backup.wal.stopSegment).sort();
    expect(segments.length).toBeGreaterThan(1);
    const victim = path.join(primary.archive, segments[0]!);
    const handle = await open(victim, 'r+');
    const original = Buffer.alloc(1);
    await handle.read(original, 0, 1, 60);
    try {
      await handle.write(Buffer.from([original[0]! ^ 0xff]), 0, 1, 60);
      const dataDir = path.join(await restoreParent(), 'damaged-wal');
      const run = await cli('restore-physical', ['--time', at.toISOString(), '--target-dir', dataDir], { cwd: primary.project });
      expect(run.code, run.stderr).toBe(22);
      expect(run.stderr).toMatch(new RegExp(`Recovery did not reach its target: PostgreSQL found [a-z -]+( at [0-9A-F]+/[0-9A-F]+)? in WAL segment ${segments[0]}, though the archive holds later segments \\(up to [0-9A-F]{24}\\): that segment is damaged`));
      expect(run.stderr).not.toMatch(/holds no WAL up to that moment/);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await handle.write(original, 0, 1, 60);
      await handle.close();
    }
  });

  it('fails loudly when the target lies beyond the archive, leaving no directory behind', async () => {
    const dataDir = path.join(await restoreParent(), 'future');
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const run = await cli('restore-physical', ['--time', future, '--target-dir', dataDir], { cwd: primary.project });
    expect(run.stderr).toMatch(/Recovery did not reach its target/);
    expect(run.code).toBe(22);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('runs --post-init SQL in name order and applies --config before hand-over', async () => {
    const parent = await restoreParent();
    const init = path.join(parent, 'init');
    mkdirSync(init);
    writeFileSync(path.join(init, '02-second.sql'), `INSERT INTO marks VALUES (2, current_setting('work_mem'));`);
    writeFileSync(path.join(init, '01-first.sql'), `CREATE TABLE marks (n int, mem text);\nINSERT INTO marks VALUES (1, 'x');`);
    writeFileSync(path.join(init, 'notes.txt'), 'not SQL: ignored');
    const conf = path.join(parent, 'overrides.conf');
    writeFileSync(conf, `work_mem = '7MB'\n`);
    const dataDir = path.join(parent, 'data');
    const run = await cli('restore-physical', ['--latest', '--target-dir', dataDir, '--post-init', init, '--config', conf, '--json'], { cwd: primary.project });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ proof: { postInit: ['01-first.sql', '02-second.sql'] } });
    const copy = await startDataDir(dataDir, primary.cluster.password, primary.cluster.binDir);
    try {
      expect(await copy.query('SELECT n, mem FROM marks ORDER BY n')).toEqual([{ n: 1, mem: 'x' }, { n: 2, mem: '7MB' }]);
      expect((await copy.query<{ n: string }>(`SELECT count(*)::text AS n FROM events WHERE note = 'second'`, 'app'))[0]!.n).toBe('1');
    } finally {
      await copy.stop();
    }
  });

  it('--replace keeps the stopped cluster aside, and puts it back when the new one cannot recover', async () => {
    const parent = await restoreParent();
    const dataDir = path.join(parent, 'cluster');
    expect((await cli('restore-physical', ['--immediate', '--target-dir', dataDir], { cwd: primary.project })).code).toBe(0);
    writeFileSync(path.join(dataDir, 'marker-of-the-old-cluster'), 'old');

    const failed = await cli('restore-physical', ['--replace', dataDir, '--time', new Date(Date.now() + 3_600_000).toISOString()], { cwd: primary.project });
    expect(failed.code).toBe(22);
    expect(existsSync(path.join(dataDir, 'marker-of-the-old-cluster'))).toBe(true);
    expect(readdirSync(parent)).toEqual(['cluster']);

    // A restored server that fails for a reason the message cannot tell whole is kept for diagnosis.
    const init = mkdtempSync(path.join(tmpdir(), 'pgkit-init-'));
    writeFileSync(path.join(init, '01-fails.sql'), 'CREATE TABLE left_for_diagnosis (n int);\nSELECT 1/0;\n');
    const broken = await cli('restore-physical', ['--replace', dataDir, '--latest', '--post-init', init], { cwd: primary.project });
    rmSync(init, { recursive: true, force: true });
    expect(broken.code).toBe(22);
    expect(existsSync(path.join(dataDir, 'marker-of-the-old-cluster'))).toBe(true);
    const kept = readdirSync(parent).filter((n) => n.startsWith('cluster.kit-failed-'));
    expect(kept).toHaveLength(1);
    expect(broken.stderr).toMatch(/division by zero/);
    expect(broken.stderr).toContain(`kept at ${path.join(parent, kept[0]!)} for diagnosis`);
    expect(existsSync(path.join(parent, kept[0]!, 'PG_VERSION'))).toBe(true);
    rmSync(path.join(parent, kept[0]!), { recursive: true, force: true });

    const run = await cli('restore-physical', ['--replace', dataDir, '--latest', '--json'], { cwd: primary.project });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const { previousDir } = run.json<{ previousDir: string }>();
    expect(path.dirname(previousDir)).toBe(parent);
    expect(existsSync(path.join(previousDir, 'marker-of-the-old-cluster'))).toBe(true);
    expect(existsSync(path.join(dataDir, 'marker-of-the-old-cluster'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);
  });

  it('never restores under a running server', async () => {
    const run = await cli('restore-physical', ['--replace', primary.cluster.dataDir], { cwd: primary.project });
    expect(run.code).toBe(22);
    expect(run.stderr).toMatch(/is running on .*stop it first/);
    const [{ n }] = (await primary.query<{ n: string }>('SELECT count(*)::text AS n FROM events', [], 'app')) as [{ n: string }];
    expect(Number(n)).toBeGreaterThan(0);
  });

  it('finds a flipped byte, and a restore from it leaves nothing behind', async () => {
    const file = backup.files.find((f) => f.role === 'base')!.path;
    const handle = await open(file, 'r+');
    const at = Math.floor(backup.files.find((f) => f.role === 'base')!.bytes / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, at);
    await handle.close();
    const verify = await cli('verify-physical', [backup.id], { cwd: primary.project });
    expect(verify.code).toBe(12);
    expect(verify.stdout).toMatch(/FAILED/);
    const dataDir = path.join(await restoreParent(), 'damaged');
    const restore = await cli('restore-physical', [backup.id, '--target-dir', dataDir], { cwd: primary.project });
    expect(restore.code).toBe(12);
    expect(existsSync(dataDir)).toBe(false);
  });
});
