/**
 * Bad input to a restore gets one clear answer, a documented code, and no change: a truncated
 * .tar (which PostgreSQL 15's pg_restore would loop on forever), a .sql.gz holding one enormous
 * line, a damaged .dump, a directory, and a deep verify by a role that may not create databases.
 */
import { createWriteStream, mkdtempSync, openSync, closeSync, readFileSync, writeFileSync, writeSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { fileOf, fingerprint, takeBackup } from '../support/backups.js';
import { cli, createDatabase, makeProject, query, urlFor, type TestDatabase } from '../support/harness.js';

const scratchDir = () => mkdtempSync(path.join(tmpdir(), 'pgkit-input-'));
const noStackTrace = (stderr: string) => expect(stderr).not.toMatch(/\n\s+at |Unexpected error/);

describe('bad input to db:restore', () => {
  let backup: BackupResult;
  let project: string;
  let target: TestDatabase;
  let before: Awaited<ReturnType<typeof fingerprint>>;
  beforeAll(async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int, note text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 5000) i' });
    project = makeProject();
    backup = await takeBackup(project, source.url);
    target = await createDatabase({ sql: 'CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)' });
    before = await fingerprint(target.url);
  });

  it('a truncated .tar with no .info → 12 at once, without running pg_restore on it', async () => {
    const file = path.join(scratchDir(), 'cut.tar');
    writeFileSync(file, readFileSync(fileOf(backup, 'tar')).subarray(0, 6000));
    const run = await cli('pg-restore', [file, '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(12);
    expect(run.stderr).toMatch(/cut\.tar is not a whole tar archive: it ends inside a member, at byte 6000 \(truncated\)/);
    noStackTrace(run.stderr);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('a .sql.gz of 1 MB holding one 300 MB line → 12 in bounded time', async () => {
    const file = path.join(scratchDir(), 'one-line.sql.gz');
    const line = Buffer.alloc(1 << 20, 'A');
    await pipeline(Readable.from((function* () {
      yield Buffer.from('--\n-- PostgreSQL database dump\n--\n\nSELECT ');
      for (let i = 0; i < 300; i++) yield line;
    })()), createGzip(), createWriteStream(file));
    const started = Date.now();
    const run = await cli('pg-restore', [file, '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(12);
    expect(run.stderr).toMatch(/one-line\.sql\.gz is incomplete: its last 314\.6 MB \(from byte 35 of 314\.6 MB of SQL\) are a statement, string or comment that never ends, so it was cut short or was not written by pg_dump/);
    expect(Date.now() - started).toBeLessThan(60_000); // a hang or a quadratic spin would take far longer
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('a damaged .dump that has its .info → 12 saying it changed (never "install a newer client")', async () => {
    const dir = scratchDir();
    for (const f of [path.basename(fileOf(backup, 'dump')), `${backup.id}.info`]) copyFileSync(path.join(path.dirname(fileOf(backup, 'dump')), f), path.join(dir, f));
    const file = path.join(dir, path.basename(fileOf(backup, 'dump')));
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([99]), 0, 1, 6); // the header's format version
    closeSync(fd);
    const run = await cli('pg-restore', [file, '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(12);
    expect(run.stderr).toMatch(/does not match its \.info/);
    expect(run.stderr).not.toMatch(/postgresql-client|newer PostgreSQL client/);
  });

  it('a directory → 2, naming what to give instead', async () => {
    const run = await cli('pg-restore', [scratchDir(), '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/is a directory\. Name a backup file/);
    noStackTrace(run.stderr);
  });
});

describe('db:verify --deep by a role that may not create databases', () => {
  it('→ 16, saying what to grant', async () => {
    const role = `v_${randomBytes(4).toString('hex')}`;
    const db = await createDatabase({ sql: `CREATE TABLE t (id int); INSERT INTO t VALUES (1); CREATE ROLE ${role} LOGIN PASSWORD 'pw-${role}' NOCREATEDB` });
    await query(db.url, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    const url = urlFor(db.name, { user: role, password: `pw-${role}` });
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${url}\n` });
    const made = await takeBackup(project, url);
    const run = await cli('verify', [made.id, '--deep'], { cwd: project });
    expect(run.code, run.stdout + run.stderr).toBe(16);
    expect(run.stderr).toMatch(new RegExp(`may not create databases .*ALTER ROLE ${role} CREATEDB`));
    noStackTrace(run.stderr);
  });
});
