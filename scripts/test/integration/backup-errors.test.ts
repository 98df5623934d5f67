import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../lib/engines/postgres/cluster.js';
import { cli, cluster, createDatabase, listBackupFiles, makeProject, urlFor, type CliResult } from '../support/harness.js';

/** One clear message: a single "backup: error:" line (plus at most a usage hint), no stack trace. */
function expectOneMessage(run: CliResult, pattern: RegExp): void {
  const lines = run.stderr.trim().split('\n');
  expect(lines.filter((l) => l.includes('error:'))).toHaveLength(1);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  expect(run.stderr).toMatch(pattern);
  expect(lines.length).toBeLessThanOrEqual(2);
}

describe('db:backup refuses bad input with one message and a documented exit code', () => {
  const table = async () => createDatabase({ sql: 'CREATE TABLE users (id int); INSERT INTO users VALUES (1)' });

  it('no DATABASE_URL anywhere → 3, naming where to put it', async () => {
    const project = makeProject();
    const run = await cli('pg-backup', [], { cwd: project });
    expect(run.code).toBe(3);
    expectOneMessage(run, /No database configured.*DATABASE_URL=postgresql:\/\/.*packages\/database\/\.env/);
    expect(listBackupFiles(project)).toEqual([]);
  });

  it('malformed URL → 3, without echoing the password', async () => {
    const project = makeProject();
    const run = await cli('pg-backup', [], { cwd: project, env: { DATABASE_URL: 'postgresql://app:hunter2-secret@db:notaport/app' } });
    expect(run.code).toBe(3);
    expectOneMessage(run, /not a valid URL.*postgresql:\/\/user:password@host:5432\/database/);
    expect(run.stderr).not.toContain('hunter2-secret');
    const other = await cli('pg-backup', [], { cwd: project, env: { DATABASE_URL: 'sqlserver://app:pw@db/app' } });
    expect(other.code).toBe(3);
    expectOneMessage(other, /must start with postgresql:\/\/, mysql:\/\/ or mariadb:\/\//);
  });

  it('wrong password → 5', async () => {
    const db = await table();
    const project = makeProject();
    const run = await cli('pg-backup', [], { cwd: project, env: { DATABASE_URL: urlFor(db.name, { password: 'not-the-password' }) } });
    expect(run.code).toBe(5);
    expectOneMessage(run, /rejected user "postgres".*Check the user and password/);
    expect(run.stderr).not.toContain('not-the-password');
    expect(listBackupFiles(project)).toEqual([]);
  });

  it('unknown host → 4', async () => {
    const project = makeProject();
    const run = await cli('pg-backup', [], { cwd: project, env: { DATABASE_URL: 'postgresql://u:p@no-such-host.invalid:5432/app' } });
    expect(run.code).toBe(4);
    expectOneMessage(run, /Host "no-such-host\.invalid" could not be resolved/);
  });

  it('server down → 4 at once, and after --wait gives up, says how long it waited', async () => {
    const port = await freePort();
    const project = makeProject();
    const env = { DATABASE_URL: urlFor('app', { port }) };
    const run = await cli('pg-backup', [], { cwd: project, env });
    expect(run.code).toBe(4);
    expectOneMessage(run, new RegExp(`No PostgreSQL server answers at 127\\.0\\.0\\.1:${port}.*--wait`));
    const started = Date.now();
    const waited = await cli('pg-backup', ['--wait', '2'], { cwd: project, env });
    expect(waited.code).toBe(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(waited.stderr).toMatch(/Waited 2s/);
    expect(listBackupFiles(project)).toEqual([]);
  });

  it('database does not exist → 6', async () => {
    const project = makeProject();
    const run = await cli('pg-backup', [], { cwd: project, env: { DATABASE_URL: urlFor('no_such_db') } });
    expect(run.code).toBe(6);
    expectOneMessage(run, /Database "no_such_db" does not exist/);
  });

  it('unknown flag → 2', async () => {
    const run = await cli('pg-backup', ['--bogus'], { cwd: makeProject() });
    expect(run.code).toBe(2);
    expectOneMessage(run, /Unknown option --bogus/);
  });

  it('unknown --format → 2, listing the formats there are', async () => {
    const db = await table();
    const project = makeProject();
    const run = await cli('pg-backup', ['--format', 'dump,xml'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(run.code).toBe(2);
    expectOneMessage(run, /Unknown --format xml: choose from sql, sql\.gz, dump, tar/);
    expect(listBackupFiles(project)).toEqual([]);
  });

  it('--table that matches nothing → 11, nothing written', async () => {
    const db = await table();
    const project = makeProject();
    const run = await cli('pg-backup', ['--table', 'no_such_table'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(run.code).toBe(11);
    expectOneMessage(run, /no matching tables were found for pattern "no_such_table".*Check the --table/);
    expect(listBackupFiles(project)).toEqual([]);
  });

  it('unwritable backup directory → 8, before anything is dumped', async () => {
    const db = await table();
    const project = makeProject();
    const locked = path.join(project, 'readonly-backups');
    mkdirSync(locked);
    // root ignores permission bits, so as root the directory is a read-only file system instead
    const asRoot = userInfo().uid === 0;
    if (asRoot) execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', locked]);
    else chmodSync(locked, 0o555);
    try {
      const run = await cli('pg-backup', [], { cwd: project, env: { DATABASE_URL: db.url, BACKUP_DIR: locked } });
      expect(run.code).toBe(8);
      expectOneMessage(run, new RegExp(`Cannot write backups to ${locked}/default \\((EACCES|EROFS)\\).*BACKUP_DIR`));
      expect(existsSync(path.join(locked, 'default'))).toBe(false);
    } finally {
      if (asRoot) execFileSync('umount', [locked]);
    }
  });

  it('pg_dump older than the server → 7, naming what to install', async () => {
    const db = await table();
    const project = makeProject();
    const fakeBin = mkdtempSync(path.join(tmpdir(), 'pgkit-oldbin-'));
    writeFileSync(path.join(fakeBin, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n', { mode: 0o755 });
    const run = await cli('pg-backup', [], { cwd: project, env: { DATABASE_URL: db.url, PG_BIN: fakeBin } });
    expect(run.code).toBe(7);
    expectOneMessage(run, /pg_dump 9\.6\.24 .* is older than the server \(PostgreSQL 1\d\).*Install postgresql-client-1\d.*PG_BIN/);
    expect(listBackupFiles(project)).toEqual([]);
  });

  it('a pg_dump that exits 0 but writes nothing → 10, no backup', async () => {
    const db = await table();
    const project = makeProject();
    const fakeBin = mkdtempSync(path.join(tmpdir(), 'pgkit-emptybin-'));
    const real = path.join(cluster().binDir, 'pg_dump');
    // reports the real version, then "succeeds" without producing anything
    writeFileSync(path.join(fakeBin, 'pg_dump'), `#!/bin/sh\n[ "$1" = --version ] && exec ${real} --version\nexit 0\n`, { mode: 0o755 });
    symlinkSync(path.join(cluster().binDir, 'pg_dumpall'), path.join(fakeBin, 'pg_dumpall')); // the roles are saved as usual
    for (const format of ['sql', 'dump', 'tar']) {
      const run = await cli('pg-backup', ['--format', format], { cwd: project, env: { DATABASE_URL: db.url, PG_BIN: fakeBin } });
      expect(run.code, format).toBe(10);
      expectOneMessage(run, format === 'sql' ? /ended without pg_dump's completion trailer/ : new RegExp(`The ${format} artifact is implausible \\(0 bytes`));
      expect(listBackupFiles(project)).toEqual([]);
    }
  });

  it('--help prints usage and exits 0', async () => {
    const run = await cli('pg-backup', ['--help'], { cwd: makeProject() });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Usage: pnpm db:backup/);
    expect(run.stdout).toMatch(/--format <list>/);
  });
});
