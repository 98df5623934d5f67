import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ListResult } from '../../lib/commands/list.js';
import type { RetentionResult } from '../../lib/commands/retention.js';
import type { BackupInfo } from '../../lib/format/metadata.js';
import { fileOf, fingerprint, takeBackup, writeInfo } from '../support/backups.js';
import { backupDir, cli, createDatabase, holdLock, listBackupFiles, makeProject, pgDumpPidsFor, startCli, waitFor } from '../support/harness.js';

const canMount = userInfo().uid === 0 && spawnSync('mount', ['--version']).status === 0;

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

describe('the environment is a name, never a path', () => {
  it('db:list and db:retention refuse --env ../../elsewhere and touch nothing there', async () => {
    const project = makeProject();
    const elsewhere = path.join(project, '..', path.basename(project) + '-elsewhere');
    mkdirSync(elsewhere);
    writeFileSync(path.join(elsewhere, 'backup_manual_20200101_000000.dump.partial'), 'x');
    for (const command of ['list', 'retention']) {
      const run = await cli(command, ['--env', `../${path.basename(elsewhere)}`], { cwd: project });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(/--env must be a simple name like "dev" or "prod" \(letters, digits, - and _, at most 64\), got "\.\.\//);
      expect(run.stdout).toBe('');
    }
    expect(readdirSync(elsewhere)).toEqual(['backup_manual_20200101_000000.dump.partial']);
    rmSync(elsewhere, { recursive: true, force: true });
  });
});

describe('the environment lock', () => {
  it('three runs racing for a stale lock: exactly one takes it over', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT generate_series(1, 1000) AS id' });
    const project = makeProject();
    mkdirSync(backupDir(project), { recursive: true });
    const gone = spawnSync('true').pid!;
    writeFileSync(path.join(backupDir(project), '.lock'), JSON.stringify({ pid: gone, host: hostname(), command: 'backup', startedAt: new Date(0).toISOString() }));
    // the winner waits on a table lock, so the others meet its lock while it runs
    const table = await holdLock(db.url, 't');
    const runs = [0, 1, 2].map(() => startCli('pg-backup', ['--format', 'dump'], { cwd: project, env: { DATABASE_URL: db.url } }));
    await waitFor('the winner to start pg_dump', () => (pgDumpPidsFor(db.name).length > 0 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await table.release();
    const results = await Promise.all(runs.map((r) => r.result));
    expect(results.map((r) => r.code).sort()).toEqual([0, 9, 9]);
    for (const loser of results.filter((r) => r.code === 9)) expect(loser.stderr).toMatch(/Another run is using environment "default" \(pid \d+ on .*, backup since/);
    expect(listBackupFiles(project).filter((f) => f.endsWith('.info'))).toHaveLength(1);
    expect(readdirSync(backupDir(project)).filter((f) => f.startsWith('.lock'))).toEqual([]);
  });

  it('an empty .lock (left by a full disk under older kits) is taken over', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const project = makeProject();
    mkdirSync(backupDir(project), { recursive: true });
    writeFileSync(path.join(backupDir(project), '.lock'), '');
    const run = await cli('pg-backup', ['--format', 'sql'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(run.code, run.stderr).toBe(0);
    expect(existsSync(path.join(backupDir(project), '.lock'))).toBe(false);
  });

  it.skipIf(!canMount)('a disk full before the run starts leaves no lock behind, and the next run works once there is space', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const project = makeProject();
    const small = mkdtempSync(path.join(tmpdir(), 'pgkit-fullstart-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small]);
    try {
      mkdirSync(path.join(small, 'default'));
      spawnSync('dd', ['if=/dev/zero', `of=${path.join(small, 'filler')}`, 'bs=4k', 'count=1000']);
      const full = await cli('pg-backup', ['--format', 'sql', '--skip-space-check'], { cwd: project, env: { DATABASE_URL: db.url, BACKUP_DIR: small } });
      expect(full.code, full.stderr).toBe(8);
      expect(full.stderr).toMatch(/disk is full/);
      expect(readdirSync(path.join(small, 'default'))).toEqual([]);
      rmSync(path.join(small, 'filler'));
      const next = await cli('pg-backup', ['--format', 'sql', '--skip-space-check'], { cwd: project, env: { DATABASE_URL: db.url, BACKUP_DIR: small } });
      expect(next.code, next.stderr).toBe(0);
    } finally {
      execFileSync('umount', [small]);
    }
  });
});

describe('backups the kit cannot trust', () => {
  it('an .info missing a field, or from a newer kit, is a leftover in db:list; retention deletes nothing and says why', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const project = makeProject();
    const good = await takeBackup(project, db.url, ['--format', 'sql']);
    const broken = await takeBackup(project, db.url, ['--format', 'sql']);
    const newer = await takeBackup(project, db.url, ['--format', 'sql']);
    const { startedAt: _dropped, ...withoutStart } = readJson<BackupInfo>(broken.info);
    const filesBefore = listBackupFiles(project).length;
    writeInfo(broken.info, withoutStart);
    writeInfo(newer.info, { ...readJson<BackupInfo>(newer.info), version: 2 });
    const list = await cli('list', ['--json'], { cwd: project });
    expect(list.code, list.stderr).toBe(0);
    const listed = list.json<ListResult>();
    expect(listed.backups.map((b) => b.id)).toEqual([good.id]);
    expect(listed.leftovers).toEqual(expect.arrayContaining([
      expect.objectContaining({ file: broken.info, kind: 'unreadable-info', reason: expect.stringMatching(/startedAt/) }),
      expect.objectContaining({ file: newer.info, kind: 'newer-info', reason: expect.stringMatching(/newer kit .*upgrade the kit/) }),
    ]));
    const retention = await cli('retention', ['--keep-last', '0', '--daily', '0', '--weekly', '0', '--monthly', '0'], { cwd: project });
    expect(retention.code).toBe(12);
    expect(retention.stderr).toMatch(/nothing was deleted/);
    expect(listBackupFiles(project)).toHaveLength(filesBefore);
    const restore = await cli('pg-restore', [newer.id, '--force'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(restore.code).toBe(12);
    expect(restore.stderr).toMatch(/upgrade the kit/);
  });

  it('--latest stops when the newest backup\'s .info cannot be read, rather than restore an older one', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const project = makeProject();
    await takeBackup(project, db.url, ['--format', 'dump']);
    const newest = await takeBackup(project, db.url, ['--format', 'dump']);
    writeFileSync(newest.info, '{ damaged');
    const run = await cli('pg-restore', ['--latest', '--force'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(run.code).toBe(12);
    expect(run.stderr).toMatch(new RegExp(`newest backup in .*, ${newest.id}, cannot be used: .info is not JSON.*--latest stops rather than restore an older backup`));
    const verify = await cli('verify', ['--latest'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(verify.code).toBe(12);
    expect(verify.stderr).toMatch(new RegExp(`newest backup in .*, ${newest.id}, cannot be used: .info is not JSON.*--latest stops rather than verify an older backup .*, or name the backup to verify\\.`));
  });

  it('a bit flipped in the .info\'s statistics is blamed on the .info, and the artifact still restores by name, checked against its .sha256', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT generate_series(1, 40) AS id' });
    const target = await createDatabase();
    const project = makeProject();
    const backup = await takeBackup(project, db.url, ['--format', 'dump', '--stats', 'archive']);
    const text = readFileSync(backup.info, 'utf8');
    expect(text).toContain('"rows": 40');
    writeFileSync(backup.info, text.replace('"rows": 40', '"rows": 41'));
    const byId = await cli('pg-restore', [backup.id, '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(byId.code).toBe(12);
    expect(byId.stderr).toMatch(/\.info does not match its own checksum: it was edited or damaged.*restored by file name/);
    const byFile = await cli('pg-restore', [fileOf(backup, 'dump'), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(byFile.code, byFile.stderr).toBe(0);
    expect((await fingerprint(target.url)).tables).toEqual((await fingerprint(db.url)).tables);
  });

  it('a standalone archive is checked against an adjacent .sha256', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT generate_series(1, 40) AS id' });
    const project = makeProject();
    const backup = await takeBackup(project, db.url, ['--format', 'tar']);
    const loose = mkdtempSync(path.join(tmpdir(), 'pgkit-loose-'));
    cpSync(fileOf(backup, 'tar'), path.join(loose, 'copy.tar'));
    writeFileSync(path.join(loose, 'copy.tar.sha256'), `${backup.files[0]!.sha256}  copy.tar\n`);
    const bytes = readFileSync(path.join(loose, 'copy.tar'));
    bytes[bytes.length - 2000]! ^= 0x01;
    writeFileSync(path.join(loose, 'copy.tar'), bytes);
    const run = await cli('pg-restore', [path.join(loose, 'copy.tar'), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(run.code).toBe(12);
    expect(run.stderr).toMatch(/copy\.tar does not match copy\.tar\.sha256/);
  });
});

describe('retention judges what it sees', () => {
  it('keeps a checksum-valid backup whose .info is lost, and a running backup\'s files are in progress, not leftovers', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT generate_series(1, 20000) AS id' });
    const project = makeProject();
    const lost = await takeBackup(project, db.url, ['--format', 'dump']);
    rmSync(lost.info);
    const table = await holdLock(db.url, 't');
    const running = startCli('pg-backup', ['--format', 'sql'], { cwd: project, env: { DATABASE_URL: db.url } });
    await waitFor('the running backup\'s partial file', () => listBackupFiles(project).some((f) => f.endsWith('.partial')) || undefined);
    const dry = await cli('retention', ['--dry-run', '--json'], { cwd: project });
    await table.release();
    expect((await running.result).code).toBe(0);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json<RetentionResult>().removedLeftovers).toEqual([]);
    const run = await cli('retention', ['--json'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    expect(listBackupFiles(project)).toEqual(expect.arrayContaining([`${lost.id}.dump`, `${lost.id}.sha256`]));
    const listed = (await cli('list', ['--json'], { cwd: project })).json<ListResult>();
    // Every file the lost backup left (its artifact, its .sha256, its roles) is a leftover without .info.
    const lostFiles = listBackupFiles(project).filter((f) => f.startsWith(`${lost.id}.`));
    expect(lostFiles.length).toBeGreaterThanOrEqual(2);
    expect(listed.leftovers.map((l) => l.kind)).toEqual(lostFiles.map(() => 'no-info'));
  });

  it('a backup dated in the future is never "latest", and retention keeps the real newest', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const project = makeProject();
    const skewed = await takeBackup(project, db.url, ['--format', 'dump']);
    const future = '2099-01-01T00:00:00.000Z';
    const info = readJson<BackupInfo>(skewed.info);
    writeInfo(skewed.info, { ...info, startedAt: future, finishedAt: future, snapshot: { ...info.snapshot, takenAt: future } });
    const real = await takeBackup(project, db.url, ['--format', 'dump']);
    const list = await cli('list', [], { cwd: project });
    expect(list.stdout).toMatch(new RegExp(`warning: ${skewed.id} is dated in the future`));
    const restore = await cli('pg-restore', ['--latest', '--force', '--no-safety-backup', '--json'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(real.id);
    expect(restore.stderr).toMatch(new RegExp(`${skewed.id} is dated .* in the future`));
    const retention = (await cli('retention', ['--json', '--daily', '0', '--weekly', '0', '--monthly', '0'], { cwd: project })).json<RetentionResult>();
    expect(retention.decisions.map((d) => [d.id, d.keep, d.reasons[0]])).toEqual([
      [skewed.id, true, 'dated in the future (clock skew?): kept, not counted'],
      [real.id, true, 'newest backup (always kept)'],
    ]);
  });
});

describe('bad input', () => {
  it.each([
    [['--format', ''], /--format needs at least one of sql, sql.gz, dump, tar/],
    [['--lock-wait-timeout', '0'], /--lock-wait-timeout must be at least 1ms \(pg_dump would take 0 as "wait forever"\), got "0"/],
  ])('db:backup %j → 2', async (args, message) => {
    const run = await cli('pg-backup', args, { cwd: makeProject(), env: { DATABASE_URL: 'postgresql://u@127.0.0.1:1/none' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it('a wrong-typed key in backup-kit.json → 3, naming every wrong key', async () => {
    const project = makeProject({ 'backup-kit.json': JSON.stringify({ backupDir: 5, logFile: 5, environments: { prod: { protected: null } } }) });
    const run = await cli('list', [], { cwd: project });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/backup-kit\.json has 3 problems: backupDir must be a directory path; logFile must be a file path; environments\.prod\.protected must be true or false/);
  });
});

describe.skipIf(!canMount)('a read-only backups directory', () => {
  it('verify reports without recording, retention says what is wrong, restore --no-safety-backup works', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT generate_series(1, 30) AS id' });
    const project = makeProject();
    const older = await takeBackup(project, db.url, ['--format', 'dump']);
    const backup = await takeBackup(project, db.url, ['--format', 'dump']);
    const mount = mkdtempSync(path.join(tmpdir(), 'pgkit-ro-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mount]);
    try {
      cpSync(path.join(project, 'backups'), mount, { recursive: true });
      execFileSync('mount', ['-o', 'remount,ro', mount]);
      const env = { BACKUP_DIR: mount, DATABASE_URL: db.url };
      const verify = await cli('verify', [backup.id], { cwd: project, env });
      expect(verify.code, verify.stderr).toBe(0);
      expect(verify.stderr).toMatch(/could not record the verification .*EROFS/);
      const retention = await cli('retention', ['--daily', '0', '--weekly', '0', '--monthly', '0'], { cwd: project, env: { BACKUP_DIR: mount } });
      expect(retention.code).toBe(8);
      expect(retention.stderr).toMatch(/Cannot delete backups in .* \(EROFS\): the directory is read-only/);
      expect(readdirSync(path.join(mount, 'default'))).toContain(`${older.id}.info`);
      const target = await createDatabase();
      const restore = await cli('pg-restore', [backup.id, '--force', '--no-safety-backup'], { cwd: project, env: { BACKUP_DIR: mount, DATABASE_URL: target.url } });
      expect(restore.code, restore.stderr).toBe(0);
      expect((await fingerprint(target.url)).tables).toEqual((await fingerprint(db.url)).tables);
    } finally {
      execFileSync('umount', [mount]);
    }
  });
});
