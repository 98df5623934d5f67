import { execFileSync } from 'node:child_process';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { fingerprintDatabase } from '../support/fingerprint.js';
import { backupDir, cli, cluster, createDatabase, listBackupFiles, makeProject, query, readInfo, runTool } from '../support/harness.js';

type Json = BackupResult & { ok: boolean };

async function restoreInto(file: string, format: string, url: string): Promise<void> {
  if (format === 'sql') await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file], url);
  else if (format === 'sql.gz') await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1'], url, createReadStream(file).pipe(createGunzip()));
  else await runTool('pg_restore', ['--exit-on-error', '-d', new URL(url).pathname.slice(1), file], url);
}

describe('db:backup of a database with awkward content', () => {
  it('restores from each of the four artifacts, with the real tools, to identical schema and data', async () => {
    const source = await createDatabase({ seed: 'awkward' });
    const project = makeProject();
    const run = await cli('pg-backup', ['--json'], { cwd: project, env: { DATABASE_URL: source.url } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = run.json<Json>();
    expect(result.files.map((f) => f.format)).toEqual(['sql', 'sql.gz', 'dump', 'tar', 'globals']);

    const expected = await fingerprintDatabase(source.url, { pgBin: cluster().binDir });
    for (const file of result.files.filter((f) => f.format !== 'globals')) {
      const copy = await createDatabase();
      await restoreInto(file.path, file.format, copy.url);
      const actual = await fingerprintDatabase(copy.url, { pgBin: cluster().binDir });
      expect(actual, `restored from ${file.format}`).toEqual(expected);
    }
  });

  it('writes .info with checksums, sizes and per-table statistics that match the database', async () => {
    const source = await createDatabase({ seed: 'awkward' });
    const project = makeProject();
    const run = await cli('pg-backup', ['production', 'Before v2.0 deployment', '--json'], { cwd: project, env: { DATABASE_URL: source.url } });
    expect(run.code).toBe(0);
    const { id } = run.json<Json>();
    expect(id).toMatch(/^backup_production_\d{8}_\d{6}$/);
    const info = readInfo(project, id);
    expect(info).toMatchObject({
      schema: 'pg-backup-kit/backup-info',
      version: 1,
      engine: 'postgresql',
      id,
      type: 'production',
      description: 'Before v2.0 deployment',
      environment: 'default',
      database: { name: source.name, host: '127.0.0.1', port: cluster().port, user: 'postgres', serverVersionNum: expect.any(Number) as number },
      statistics: { source: 'plain-stream', largeObjects: 3 },
    });
    expect(info.snapshot.id).toMatch(/^[0-9A-F]+-[0-9A-F]+-\d+$/);
    expect(Date.parse(info.finishedAt)).toBeGreaterThanOrEqual(Date.parse(info.startedAt));

    // every artifact's recorded size and sha256 are the file's, and sha256sum agrees
    const dir = backupDir(project);
    for (const artifact of info.artifacts) {
      const file = path.join(dir, artifact.file);
      expect(statSync(file).size).toBe(artifact.bytes);
      const digest = execFileSync('sha256sum', [file]).toString().split(' ')[0];
      expect(digest).toBe(artifact.sha256);
    }
    const checked = execFileSync('sha256sum', ['-c', `${id}.sha256`], { cwd: dir }).toString().trim().split('\n');
    expect(checked).toEqual(info.artifacts.map((a) => `${a.file}: OK`));

    // row counts are the database's
    const counts = await query<{ name: string; n: string }>(
      source.url,
      `SELECT format('%I.%I', n.nspname, c.relname) AS name,
              (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text AS n
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relpersistence <> 't'`,
    );
    expect(Object.keys(info.statistics.tables).sort()).toEqual(counts.map((c) => c.name).sort());
    for (const { name, n } of counts) expect(info.statistics.tables[name]?.rows, name).toBe(Number(n));
    expect(info.statistics.sequences['app.invoice_number_seq']).toEqual({ value: '123456789012', isCalled: true });
    expect(info.statistics.sequences['"My Schema"."Fresh Seq"']).toEqual({ value: '42', isCalled: false });
    expect(info.restore.dump?.join('\n')).toContain(`${id}.dump`);
  });

  it('keeps files private, never writes the password, and logs the run as one JSON line', async () => {
    const source = await createDatabase();
    await query(source.url, `CREATE ROLE kit_owner LOGIN PASSWORD 'Sup3r-Secret-Pa55'; GRANT ALL ON DATABASE ${source.name} TO kit_owner; ALTER DATABASE ${source.name} OWNER TO kit_owner`);
    await query(source.url, `CREATE TABLE t (id int); INSERT INTO t VALUES (1); ALTER TABLE t OWNER TO kit_owner`);
    const url = source.url.replace(/^postgresql:\/\/[^@]+@/, 'postgresql://kit_owner:Sup3r-Secret-Pa55@');
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${url}\n` });
    const run = await cli('pg-backup', [], { cwd: project });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('complete');
    const dir = backupDir(project);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const file of listBackupFiles(project)) {
      expect(statSync(path.join(dir, file)).mode & 0o777, file).toBe(0o600);
      if (!file.endsWith('.dump') && !file.endsWith('.gz')) expect(readFileSync(path.join(dir, file), 'utf8'), file).not.toContain('Sup3r-Secret');
    }
    const log = readFileSync(path.join(project, 'backups/backup.log'), 'utf8').trim().split('\n');
    expect(log).toHaveLength(1);
    const entry = JSON.parse(log[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ command: 'backup', outcome: 'success', exitCode: 0, environment: 'default', database: { name: source.name } });
    expect(log[0]).not.toContain('Sup3r-Secret');
    expect(run.stdout + run.stderr).not.toContain('Sup3r-Secret');
  });

  it('without a plain format records statistics only on request, and then the same ones', async () => {
    const source = await createDatabase({ seed: 'awkward' });
    const project = makeProject();
    const backupWith = async (args: string[]) => {
      const run = await cli('pg-backup', [...args, '--json'], { cwd: project, env: { DATABASE_URL: source.url } });
      expect(run.code).toBe(0);
      return readInfo(project, run.json<Json>().id).statistics;
    };
    const streamed = await backupWith(['--format', 'sql']);
    const none = await backupWith(['--format', 'dump']);
    const fromArchive = await backupWith(['--format', 'tar', '--stats', 'archive']);
    expect(none).toMatchObject({ source: 'none', tables: {}, totalRows: 0 });
    expect(none.note).toMatch(/--stats archive/);
    expect(fromArchive.source).toBe('archive');
    expect(fromArchive.tables).toEqual(streamed.tables);
    expect(fromArchive.sequences).toEqual(streamed.sequences);
  });

  it('gives two backups taken in the same second different names', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const project = makeProject();
    const ids: string[] = [];
    // The kit's clock (and pg_dump's) frozen at one second: the runs really share it.
    const frozen = { under: ['faketime', '-f', '2026-11-21 12:00:00'], env: { DATABASE_URL: source.url, DONT_FAKE_MONOTONIC: '1' } };
    for (let i = 0; i < 3; i++) {
      const run = await cli('pg-backup', ['--format', 'dump', '--json', '--skip-space-check'], { cwd: project, ...frozen });
      expect(run.code, run.stderr).toBe(0);
      ids.push(run.json<Json>().id);
    }
    expect(ids).toEqual(['backup_manual_20261121_120000', 'backup_manual_20261121_120000_2', 'backup_manual_20261121_120000_3']);
    for (const id of ids) expect(listBackupFiles(project)).toContain(`${id}.info`);
  });
});
