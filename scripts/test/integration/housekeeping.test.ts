import { copyFileSync, existsSync, readdirSync, readFileSync, truncateSync, statSync, writeFileSync, rmSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackupInfo } from '../../lib/format/metadata.js';
import type { ListResult } from '../../lib/commands/list.js';
import type { RetentionResult } from '../../lib/commands/retention.js';
import { fileOf, takeBackup, writeInfo } from '../support/backups.js';
import { backupDir, cli, createDatabase, makeProject, query } from '../support/harness.js';

function flipByte(file: string): void {
  const fd = openSync(file, 'r+');
  const at = Math.floor(statSync(file).size / 2);
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  writeSync(fd, Buffer.from([b[0]! ^ 0x01]), 0, 1, at);
  closeSync(fd);
}

/** Deep verification's scratch copies of this database (other tests verify on the same cluster at the same time). */
async function scratchDatabases(url: string): Promise<string[]> {
  return (await query<{ datname: string }>(url, "SELECT datname FROM pg_database WHERE datname LIKE current_database() || '\\_kit\\_verify\\_%'")).map((r) => r.datname);
}

describe('db:verify', () => {
  it('passes a fresh backup, quick and deep, records it, and db:list shows it', async () => {
    const db = await createDatabase({ seed: 'awkward' });
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${db.url}\n` });
    const backup = await takeBackup(project, db.url);
    const quick = await cli('verify', ['--latest'], { cwd: project });
    expect(quick.code, quick.stderr).toBe(0);
    expect(quick.stdout).toMatch(new RegExp(`passed {2}${backup.id} {2}\\(quick\\)`));
    expect(quick.stdout).toMatch(/ok {4}backup_manual_\d+_\d+\.sql\.gz: size and sha256 match \.info; decompresses completely; ends with pg_dump's completion trailer/);
    expect(quick.stdout).toMatch(/ok {4}backup_manual_\d+_\d+\.dump: size and sha256 match \.info; table of contents reads \(\d+ entries\)/);

    const deep = await cli('verify', [backup.id, '--deep'], { cwd: project });
    expect(deep.code, deep.stderr).toBe(0);
    expect(deep.stdout).toMatch(/ok {4}restored backup_manual_\d+_\d+\.dump on 127\.0\.0\.1:\d+: \d+ tables, \d+ rows, 7 sequences match \.info/);
    expect(await scratchDatabases(db.url), 'scratch copies left').toEqual([]);

    const listed = (await cli('list', ['--json'], { cwd: project })).json<ListResult & { ok: boolean }>();
    expect(listed.backups).toHaveLength(1);
    expect(listed.backups[0]).toMatchObject({ id: backup.id, formats: ['sql', 'sql.gz', 'dump', 'tar'], verification: { level: 'deep', ok: true } });
  });

  it('a flipped byte in each artifact kind, a truncated file and a missing artifact each fail with exit 12, naming the file', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 2000) g' });
    const project = makeProject();
    const backup = await takeBackup(project, db.url);
    for (const format of ['sql', 'sql.gz', 'dump', 'tar']) {
      const file = fileOf(backup, format);
      const saved = readFileSync(file);
      flipByte(file);
      const run = await cli('verify', [backup.id], { cwd: project });
      expect(run.code, format).toBe(12);
      expect(run.stderr).toMatch(new RegExp(`${path.basename(file).replace(/\./g, '\\.')}'s sha256 is [0-9a-f]{12}…, \\.info recorded [0-9a-f]{12}… \\(damaged or changed\\)`));
      writeFileSync(file, saved);
    }
    truncateSync(fileOf(backup, 'tar'), 1024);
    const truncated = await cli('verify', [backup.id], { cwd: project });
    expect(truncated.code).toBe(12);
    expect(truncated.stderr).toMatch(/\.tar has 1024 bytes, \.info recorded \d+ \(truncated or changed\)/);
    rmSync(fileOf(backup, 'sql'));
    const missing = await cli('verify', [backup.id], { cwd: project });
    expect(missing.code).toBe(12);
    expect(missing.stderr).toMatch(/\.sql is missing/);
    expect((await cli('list', ['--json'], { cwd: project })).json<ListResult>().backups[0]!.verification).toMatchObject({ ok: false, level: 'quick' });
  });

  it('--deep catches a .info whose row count was edited, and a dump whose data is not what .info recorded; the scratch database is dropped', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE users (id int, name text); INSERT INTO users SELECT g, md5(g::text) FROM generate_series(1, 120) g' });
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${db.url}\n` });
    const backup = await takeBackup(project, db.url);
    const infoFile = path.join(backupDir(project), `${backup.id}.info`);
    const saved = readFileSync(infoFile, 'utf8');
    const edited = JSON.parse(saved) as BackupInfo;
    edited.statistics.tables['public.users']!.rows = 121;
    writeInfo(infoFile, edited);
    expect((await cli('verify', [backup.id], { cwd: project })).code).toBe(0); // checksums still match
    const deep = await cli('verify', [backup.id, '--deep'], { cwd: project });
    expect(deep.code).toBe(15);
    expect(deep.stderr).toMatch(/table public\.users: the backup recorded 121 rows, the restored copy has 120/);
    expect(await scratchDatabases(db.url), 'scratch copies left').toEqual([]);
    writeFileSync(infoFile, saved);

    // same row count, different content: another backup's dump with its checksum copied in
    await query(db.url, "UPDATE users SET name = 'changed' WHERE id = 7");
    const other = await takeBackup(project, db.url, ['--format', 'dump']);
    copyFileSync(fileOf(other, 'dump'), fileOf(backup, 'dump'));
    const swapped = JSON.parse(saved) as BackupInfo;
    const dump = swapped.artifacts.find((a) => a.format === 'dump')!;
    const replacement = other.files.find((f) => f.format === 'dump')!;
    Object.assign(dump, { bytes: replacement.bytes, sha256: replacement.sha256 });
    writeInfo(infoFile, swapped);
    const caught = await cli('verify', [backup.id, '--deep'], { cwd: project });
    expect(caught.code).toBe(15);
    expect(caught.stderr).toMatch(/table public\.users: 120 rows as recorded, but their content differs \(fingerprint [0-9a-f]{16}, recorded [0-9a-f]{16}\)/);
    expect(await scratchDatabases(db.url), 'scratch copies left').toEqual([]);
  });

  it('--deep of a dump-only backup compares with what the archive holds', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT generate_series(1, 50) AS id' });
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${db.url}\n` });
    await takeBackup(project, db.url, ['--format', 'dump']);
    const run = await cli('verify', ['--latest', '--deep'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/1 tables, 50 rows, 0 sequences match \.info/);
  });
});

describe('db:list', () => {
  it('lists complete backups newest first, and reports partial and orphaned files apart', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const project = makeProject();
    const first = await takeBackup(project, db.url, ['manual', '--format', 'dump']);
    const second = await takeBackup(project, db.url, ['pre-migrate', '--format', 'dump']);
    const dir = backupDir(project);
    writeFileSync(path.join(dir, 'backup_manual_20200101_000000.dump.partial'), 'x');
    copyFileSync(fileOf(first, 'dump'), path.join(dir, 'backup_auto_20200102_000000.dump'));
    const run = await cli('list', [], { cwd: project });
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines.findIndex((l) => l.startsWith(second.id))).toBeLessThan(lines.findIndex((l) => l.startsWith(first.id)));
    expect(run.stdout).toMatch(/Not backups .*\n {2}backup_auto_20200102_000000\.dump .* no \.info \(incomplete backup\)/);
    expect(run.stdout).toMatch(/backup_manual_20200101_000000\.dump\.partial .* no \.info/);
    const typed = (await cli('list', ['--type', 'pre-migrate', '--json'], { cwd: project })).json<ListResult>();
    expect(typed.backups.map((b) => b.id)).toEqual([second.id]);
  });
});

describe('db:retention', () => {
  /** 400 daily backups (and some pre-migrate ones) made from one real backup's files. */
  async function fourHundredDays() {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const project = makeProject();
    const real = await takeBackup(project, db.url, ['--format', 'dump']);
    const dir = backupDir(project);
    const info = JSON.parse(readFileSync(real.info, 'utf8')) as BackupInfo;
    const ids: string[] = [];
    const make = (type: string, at: Date) => {
      const stamp = at.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
      const id = `backup_${type}_${stamp}`;
      copyFileSync(fileOf(real, 'dump'), path.join(dir, `${id}.dump`));
      const copy: BackupInfo = { ...info, id, type, startedAt: at.toISOString(), finishedAt: at.toISOString(), artifacts: info.artifacts.map((a) => ({ ...a, file: `${id}.dump` })) };
      writeInfo(path.join(dir, `${id}.info`), copy);
      writeFileSync(path.join(dir, `${id}.sha256`), `${info.artifacts[0]!.sha256}  ${id}.dump\n`);
      ids.push(id);
    };
    for (let i = 0; i < 400; i++) make('auto', new Date(Date.UTC(2026, 10, 21 - i, 2)));
    for (let i = 0; i < 12; i++) make('pre-migrate', new Date(Date.UTC(2026, 10, 20 - i * 3, 9)));
    for (const f of readdirSync(dir)) if (f.startsWith(real.id)) rmSync(path.join(dir, f));
    writeFileSync(path.join(dir, 'backup_auto_20261121_030000.dump.partial'), 'interrupted');
    return { project, dir, ids };
  }

  it('over 400 days keeps exactly what the policy says, deletes each removed backup completely, and never the newest', async () => {
    const { project, dir, ids } = await fourHundredDays();
    const now = ['--now', '2026-11-21T12:00:00Z'];
    const dry = await cli('retention', ['--dry-run', '--json', ...now], { cwd: project });
    expect(dry.code, dry.stderr).toBe(0);
    expect(readdirSync(dir).length).toBe(ids.length * 3 + 1); // nothing deleted
    const run = await cli('retention', ['--json', ...now], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    const result = run.json<RetentionResult>();
    expect(result.decisions).toEqual(dry.json<RetentionResult>().decisions);
    const kept = result.decisions.filter((d) => d.keep).map((d) => d.id);
    // 7 days, 2 more ISO weeks, 11 more months of auto backups; the newest 10 pre-migrate ones
    expect(kept.filter((id) => id.includes('_auto_'))).toHaveLength(20);
    expect(kept.filter((id) => id.includes('_pre-migrate_'))).toHaveLength(10);
    expect(kept).toContain('backup_auto_20261121_020000');
    expect(kept).toContain('backup_auto_20251231_020000'); // the newest of December 2025
    expect(kept).not.toContain('backup_auto_20251130_020000'); // thirteen months back
    const left = readdirSync(dir).filter((f) => !f.startsWith('.'));
    expect(left.sort()).toEqual(kept.flatMap((id) => [`${id}.dump`, `${id}.info`, `${id}.sha256`]).sort());
    expect(result.removedLeftovers).toEqual(['backup_auto_20261121_030000.dump.partial']);
  });

  it('deletes nothing when some metadata cannot be read, and says which', async () => {
    const { project, dir, ids } = await fourHundredDays();
    writeFileSync(path.join(dir, `${ids[200]}.info`), '{ not json');
    const before = readdirSync(dir).length;
    const run = await cli('retention', ['--now', '2026-11-21T12:00:00Z'], { cwd: project });
    expect(run.code).toBe(12);
    expect(run.stderr).toMatch(new RegExp(`Cannot read the metadata of .*${ids[200]}.*nothing was deleted`));
    expect(readdirSync(dir).length).toBe(before);
    expect(existsSync(path.join(dir, `${ids[399]}.dump`))).toBe(true);
  });
});
