import { copyFileSync, mkdtempSync, readFileSync, truncateSync, statSync, writeFileSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../lib/engines/postgres/cluster.js';
import type { BackupResult } from '../../lib/backup/backup.js';
import { fileOf, fingerprint, takeBackup, writeInfo } from '../support/backups.js';
import { cli, createDatabase, makeProject, pidsOf, query, startCli, waitFor, type TestDatabase } from '../support/harness.js';

const OTHER_DATA = `CREATE TABLE app_users (id int PRIMARY KEY, name text); INSERT INTO app_users VALUES (1, 'someone else');
                    SELECT lo_from_bytea(0, 'the target''s own large object');`;

/**
 * A table whose generated column sleeps a little per row while being restored (not while being
 * seeded), so a fault can be made to land while its COPY is running.
 */
const SLOW_SEED = `SET kit.seeding = 'on';
CREATE FUNCTION public.slow_value(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF coalesce(current_setting('kit.seeding', true), '') <> 'on' THEN PERFORM pg_sleep(0.003); END IF;
  RETURN i;
END $$;
CREATE TABLE a_loaded_first (id int); INSERT INTO a_loaded_first SELECT generate_series(1, 1000);
CREATE TABLE slow (id int, v int GENERATED ALWAYS AS (public.slow_value(id)) STORED);
INSERT INTO slow (id) SELECT generate_series(1, 2000);`;

function flipByte(file: string, at: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] = b[0]! ^ 0xff;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

function copyAway(file: string): string {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-copy-')), path.basename(file));
  copyFileSync(file, out);
  return out;
}

async function copyCopying(db: TestDatabase, table: string): Promise<boolean | undefined> {
  const rows = await query(db.url, `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE $2`, [db.name, `COPY public.${table} %`]);
  return rows.length > 0 || undefined;
}

describe('a failed restore leaves the target exactly as it was', () => {
  let backup: BackupResult;
  let project: string;
  beforeAll(async () => {
    const source = await createDatabase({ sql: SLOW_SEED });
    project = makeProject();
    backup = await takeBackup(project, source.url);
  });

  async function targetWithData() {
    const target = await createDatabase({ sql: OTHER_DATA });
    return { target, before: await fingerprint(target.url) };
  }

  it('a flipped byte in any artifact → 12 before anything changes', async () => {
    const { target, before } = await targetWithData();
    for (const format of ['dump', 'tar', 'sql', 'sql.gz']) {
      const file = fileOf(backup, format);
      const saved = readFileSync(file);
      flipByte(file, Math.floor(statSync(file).size / 2));
      try {
        const run = await cli('pg-restore', [file, '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
        expect(run.code, `${format}: ${run.stderr}`).toBe(12);
        expect(run.stderr).toMatch(/does not match its \.info: recorded \d+ bytes with sha256 .*Nothing was changed/);
      } finally {
        writeFileSync(file, saved);
      }
    }
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('a truncated archive → 12, with or without its .info', async () => {
    const { target, before } = await targetWithData();
    const dump = copyAway(fileOf(backup, 'dump'));
    truncateSync(dump, Math.floor(statSync(dump).size * 0.6));
    const run = await cli('pg-restore', [dump, '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(12);
    expect(run.stderr).toMatch(/damaged|ends early|cannot be read/);
    const sql = copyAway(fileOf(backup, 'sql'));
    truncateSync(sql, Math.floor(statSync(sql).size * 0.6));
    const plain = await cli('pg-restore', [sql, '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(plain.code, plain.stderr).toBe(12);
    expect(plain.stderr).toMatch(/is incomplete: (it stops inside a table's rows|its last .* never ends)/);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('an archive from a newer pg_dump (format 1.99 in its header) → 7, naming what to install', async () => {
    const { target, before } = await targetWithData();
    const dump = copyAway(fileOf(backup, 'dump'));
    const fd = openSync(dump, 'r+');
    writeSync(fd, Buffer.from([99]), 0, 1, 6);
    closeSync(fd);
    const run = await cli('pg-restore', [dump, '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(7);
    expect(run.stderr).toMatch(/uses archive format 1\.99\.0, which pg_restore 1\d\.\d+ cannot read\. Install a newer PostgreSQL client/);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('psql killed with SIGKILL mid-restore → 14, rolled back', async () => {
    const { target, before } = await targetWithData();
    const { result } = startCli('pg-restore', [fileOf(backup, 'dump'), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    await waitFor('the slow table being copied', () => copyCopying(target, 'slow'));
    for (const pid of pidsOf('psql', target.name)) process.kill(pid, 'SIGKILL');
    const run = await result;
    expect(run.code, run.stderr).toBe(14);
    expect(run.stderr).toMatch(/rolled back; the target is unchanged/);
    await waitFor('the aborted backend to go', async () => ((await query(target.url, 'SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [target.name])).length === 0 ? true : undefined));
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('the kit itself killed with SIGKILL mid-restore → the target is unchanged', async () => {
    const { target, before } = await targetWithData();
    const { child, result } = startCli('pg-restore', [fileOf(backup, 'sql.gz'), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    await waitFor('the slow table being copied', () => copyCopying(target, 'slow'));
    process.kill(child.pid!, 'SIGKILL');
    await result;
    await waitFor('psql to give up', () => (pidsOf('psql', target.name).length === 0 ? true : undefined), 60_000);
    await waitFor('the aborted backend to go', async () => ((await query(target.url, 'SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [target.name])).length === 0 ? true : undefined), 60_000);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('an object that cannot be created (--clean against a dependent view) → 14, rolled back', async () => {
    const target = await createDatabase({ sql: 'CREATE TABLE a_loaded_first (id int); CREATE VIEW depends AS SELECT * FROM a_loaded_first; INSERT INTO a_loaded_first VALUES (7)' });
    const before = await fingerprint(target.url);
    const run = await cli('pg-restore', [fileOf(backup, 'dump'), '--clean', '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(14);
    expect(run.stderr).toMatch(/PostgreSQL said: cannot drop table public\.a_loaded_first because other objects depend on it/);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('a .info whose row count disagrees with the data → 15, rolled back', async () => {
    const { target, before } = await targetWithData();
    const dir = path.dirname(fileOf(backup, 'dump'));
    const infoFile = path.join(dir, `${backup.id}.info`);
    const saved = readFileSync(infoFile, 'utf8');
    const info = JSON.parse(saved) as { statistics: { tables: Record<string, { rows: number }> } };
    info.statistics.tables['public.a_loaded_first']!.rows = 999;
    writeInfo(infoFile, info);
    try {
      const run = await cli('pg-restore', [fileOf(backup, 'dump'), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
      expect(run.code, run.stderr).toBe(15);
      expect(run.stderr).toMatch(/table public\.a_loaded_first has 1000 rows, the backup recorded 999.*rolled back; the target is unchanged/);
    } finally {
      writeFileSync(infoFile, saved);
    }
    expect(await fingerprint(target.url)).toEqual(before);
  });
});

describe('a restore whose server stops part-way', () => {
  let server: Cluster;
  beforeAll(async () => {
    server = await startCluster({ crashSafe: true }); // stopped with 'immediate' below
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('→ 4, and after a restart the target is as it was', async () => {
    const project = makeProject();
    const url = server.url('postgres');
    await query(url, 'CREATE DATABASE src');
    await query(url, 'CREATE DATABASE tgt');
    const src = server.url('src');
    const tgt = { name: 'tgt', url: server.url('tgt') };
    for (const statement of SLOW_SEED.split(/;\n(?=CREATE|INSERT)/)) await query(src, `SET kit.seeding = 'on'; ${statement}`);
    await query(tgt.url, OTHER_DATA);
    const backup = await takeBackup(project, src);
    const before = await fingerprintOn(server, tgt.url);
    const { result } = startCli('pg-restore', [fileOf(backup, 'dump'), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: tgt.url } });
    await waitFor('the slow table being copied', () => copyCopying(tgt, 'slow'));
    await server.stop('immediate');
    const run = await result;
    await server.start();
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toMatch(/connection to the server was lost during the restore.*target is unchanged/);
    expect(await fingerprintOn(server, tgt.url)).toEqual(before);
  });
});

function fingerprintOn(_server: Cluster, url: string) {
  return fingerprint(url);
}
