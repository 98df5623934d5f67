/**
 * db:sql, db:export, db:import and db:drop on a MySQL/MariaDB environment, driven through the CLI
 * as a user runs them, against a real MariaDB 10.11 and the awkward corpus; each checks the
 * database, the files and the exit code.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../lib/errors.js';
import { backupDir, cli, createDatabase, EXIT_CHECK_ENV, exitCheckFailure, makeProject, readInfo, REPO } from '../support/harness.js';
import { awkwardUsersSql, fingerprintMariaDb, MARIADB_CORPUS, quoteName, startMariaDb, type MariaDb } from '../support/mariadb.js';

let server: MariaDb;
const urlOf = (db: string) => `mysql://${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${server.port}/${db}`;
const count = async (db: string, table: string) => Number((await server.sql(`SELECT COUNT(*) FROM ${quoteName(table)};`, db)).trim());

beforeAll(async () => {
  server = await startMariaDb();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

describe('db:sql on MariaDB', () => {
  it('refuses a DELETE without --write and leaves the rows; --write runs it', async () => {
    const db = await server.createDatabase();
    await server.sql('CREATE TABLE t (id INT PRIMARY KEY, note TEXT); INSERT INTO t VALUES (1, NULL), (2, "two");', db);
    const project = makeProject();
    const env = { DATABASE_URL: urlOf(db) };
    for (const sql of ['DELETE FROM t WHERE id = 1', 'DELETE FROM t', 'SET autocommit = 1; DELETE FROM t WHERE id = 1', 'COMMIT; DELETE FROM t WHERE id = 1', '/*!50000 DELETE FROM t WHERE id = 1 */', "SELECT * FROM t INTO OUTFILE '/tmp/x'"]) {
      const run = await cli('db-sql', [sql], { cwd: project, env });
      expect(run.code, `${sql}: ${run.stderr}`).not.toBe(0);
      expect(run.stderr, sql).toMatch(/read-only|transaction of its own|outside the database/);
      expect(run.stderr).not.toContain(server.password);
    }
    expect(await count(db, 't')).toBe(2);
    const written = await cli('db-sql', ['--write', 'DELETE FROM t WHERE id = 1'], { cwd: project, env });
    expect(written.code, written.stderr).toBe(0);
    expect(written.stdout).toMatch(/DELETE 1/);
    expect(await count(db, 't')).toBe(1);
  });

  it('shows emoji as text and binary as hex, NULL apart from empty, in the table and in --json', async () => {
    const db = await server.createDatabase();
    await server.sql("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(50), bytes VARBINARY(8)); INSERT INTO t VALUES (1, 'Zoë 🐘', UNHEX('00FF0A')), (2, '', ''), (3, NULL, NULL);", db);
    const project = makeProject();
    const env = { DATABASE_URL: urlOf(db) };
    const shown = await cli('db-sql', ['SELECT id, name, bytes FROM t ORDER BY id'], { cwd: project, env });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('Zoë 🐘');
    expect(shown.stdout).toContain('00FF0A');
    expect(shown.stdout).toMatch(/\(3 rows\)/);
    const json = await cli('db-sql', ['--json', 'SELECT id, name, bytes FROM t ORDER BY id'], { cwd: project, env });
    expect(json.code, json.stderr).toBe(0);
    expect(json.json<{ rows: unknown[] }>().rows).toEqual([['1', 'Zoë 🐘', '00FF0A'], ['2', '', ''], ['3', null, null]]);
  });
});

describe('db:console on MariaDB', () => {
  it('runs sql lines read-only through the same guard, and stops at a DELETE it cannot confirm', async () => {
    const db = await server.createDatabase();
    await server.sql('CREATE TABLE t (id INT); INSERT INTO t VALUES (1), (2);', db);
    const project = makeProject();
    const run = spawnSync(process.execPath, [path.join(REPO, 'scripts/kit.mjs'), 'db-console'], {
      cwd: project,
      env: { PATH: process.env.PATH, HOME: project, DATABASE_URL: urlOf(db), ...EXIT_CHECK_ENV },
      input: 'sql SELECT COUNT(*) AS n FROM t\nsql --write DELETE FROM t\nsql --write INSERT INTO t VALUES (3)\n',
      encoding: 'utf8',
    });
    expect(exitCheckFailure(run.stderr)).toBeUndefined();
    expect(run.status, run.stderr).toBe(13);
    expect(run.stdout).toMatch(/ n\n-+\n 2 *\n\(1 row\)/);
    expect(run.stderr).toMatch(/Stopped at "sql --write DELETE FROM t"/);
    expect(await count(db, 't')).toBe(2);
  });
});

/** A backup's SQL as text, whether it was written plain or gzipped. */
function sqlOf(file: string): string {
  const bytes = readFileSync(file);
  return (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

/** The CSV files of an export directory, by table. */
function csvOf(dir: string, db: string, table: string): string {
  return readFileSync(path.join(dir, 'data', `${db}.${table}.csv`), 'utf8');
}

describe('db:export and db:import on MariaDB', () => {
  it('exports the awkward corpus to CSVs that keep NULL apart from empty and blobs as hex, and imports them to the same fingerprint', async () => {
    const source = await server.createDatabase();
    await server.sql(readFileSync(MARIADB_CORPUS, 'utf8'), source);
    await server.sql(awkwardUsersSql(source));
    const project = makeProject();
    const exported = await cli('db-export', ['--json'], { cwd: project, env: { DATABASE_URL: urlOf(source) } });
    expect(exported.code, exported.stderr).toBe(0);
    const result = exported.json<{ id: string; path: string; tables: number; rows: number }>();
    expect(result.tables).toBe(9);
    const meta = JSON.parse(readFileSync(path.join(result.path, 'metadata.json'), 'utf8')) as { engine: string; tables: Array<{ table: string; rows: number }> };
    expect(meta.engine).toBe('mysql');
    const info = readInfo(project, result.id);
    expect([info.engine, info.database.flavour]).toEqual(['mysql', 'MariaDB']);
    for (const t of meta.tables) expect(t.rows, t.table).toBe(await count(source, t.table));
    // a row with '' and a row with NULL in the same text column; '' and NULL in binary columns
    expect(csvOf(result.path, source, 'customers')).toMatch(/\n3,Empty note,empty@example\.com,"",.*\n4,Null note,null@example\.com,,/s);
    expect(csvOf(result.path, source, 'blobs').split('\n').slice(0, 3).map((l) => l.slice(0, 40))).toEqual(['id,fixed,var_bytes,content,small,bits', '1,0001020304050607,00FF00FF0A0D5C27,00FF', '2,,"",,,']);
    expect(readFileSync(path.join(result.path, 'schema.sql'), 'utf8')).toMatch(/CREATE TABLE `blobs`[\s\S]*TRIGGER[\s\S]*PROCEDURE/);
    expect(readFileSync(path.join(result.path, 'schema.sql'), 'utf8')).not.toContain(server.password);

    const copy = await server.createDatabase();
    await server.sql('CREATE TABLE was_here (id INT); INSERT INTO was_here VALUES (7);', copy);
    const imported = await cli('db-import', [result.path, '--force', '--json'], { cwd: project, env: { DATABASE_URL: urlOf(copy) } });
    expect(imported.code, imported.stderr).toBe(0);
    const done = imported.json<{ tables: number; safetyBackup: { id: string; file: string } | undefined }>();
    expect(done.tables).toBe(9);
    // what the target held is in the pre-import backup, and gone from the target
    expect(done.safetyBackup?.id).toMatch(/pre-import/);
    expect(sqlOf(done.safetyBackup!.file)).toMatch(/INSERT INTO `was_here` VALUES\s*\(7\)/);
    expect(await server.sql(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${copy}' AND TABLE_NAME = 'was_here';`)).toBe('0\n');
    const [before, after] = [await fingerprintMariaDb(server, source), await fingerprintMariaDb(server, copy)];
    expect(after.tables).toEqual(before.tables);
    expect(after.definitions).toEqual(before.definitions);
  });

  it('exports into a zip, refuses --differential on a table without a basis column, and an export of one engine is refused by the other', async () => {
    const source = await server.createDatabase();
    await server.sql('CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, "a");', source);
    const project = makeProject();
    const env = { DATABASE_URL: urlOf(source) };
    const differential = await cli('db-export', ['--differential'], { cwd: project, env });
    expect(differential.code).toBe(EXIT_CODES.EXPORT);
    expect(differential.stderr).toMatch(/`t` has no column updated_at/);
    const zipped = await cli('db-export', ['--zip', '--json'], { cwd: project, env });
    expect(zipped.code, zipped.stderr).toBe(0);
    const zip = zipped.json<{ path: string }>().path;
    expect(zip.endsWith('.zip') && existsSync(zip)).toBe(true);

    const pg = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const refused = await cli('db-import', [zip, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: pg.url } });
    expect(refused.code).toBe(EXIT_CODES.EXPORT);
    expect(refused.stderr).toMatch(/taken from a MySQL\/MariaDB database and default is a PostgreSQL environment/);

    const pgProject = makeProject();
    const pgExport = await cli('db-export', ['--json'], { cwd: pgProject, env: { DATABASE_URL: pg.url } });
    expect(pgExport.code, pgExport.stderr).toBe(0);
    const copy = await server.createDatabase();
    await server.sql('CREATE TABLE keep (id INT); INSERT INTO keep VALUES (1);', copy);
    const other = await cli('db-import', [pgExport.json<{ path: string }>().path, '--force', '--no-safety-backup'], { cwd: pgProject, env: { DATABASE_URL: urlOf(copy) } });
    expect(other.code).toBe(EXIT_CODES.EXPORT);
    expect(other.stderr).toMatch(/taken from a PostgreSQL database and default is a MySQL\/MariaDB environment/);
    expect(await count(copy, 'keep')).toBe(1);
  });
});

describe('db:drop on MariaDB', () => {
  it('takes a pre-drop backup, then drops every table, view, routine, trigger and event', async () => {
    const db = await server.createDatabase();
    await server.sql(readFileSync(MARIADB_CORPUS, 'utf8'), db);
    const before = await fingerprintMariaDb(server, db);
    const project = makeProject();
    const dropped = await cli('drop-all', ['--force', '--json'], { cwd: project, env: { DATABASE_URL: urlOf(db) } });
    expect(dropped.code, dropped.stderr).toBe(0);
    const result = dropped.json<{ dropped: string[]; backup: { id: string; file: string } | undefined; undo: string }>();
    expect(result.dropped).toEqual(expect.arrayContaining(['event purge_event_log', 'trigger orders_audit', 'procedure close customer', 'function order_weight', 'view odd view', "table odd table `name` 'q'"]));
    const left = await server.sql(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${db}'; SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${db}'; SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '${db}'; SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${db}';`, db);
    expect(left.split('\n').filter(Boolean)).toEqual(['0', '0', '0', '0']);
    // the pre-drop backup is there and holds what was dropped: the raw client restores it to the same fingerprint
    expect(result.backup?.id).toMatch(/pre-drop/);
    expect(existsSync(result.backup!.file)).toBe(true);
    expect(result.undo).toMatch(/--latest --type pre-drop/);
    const restored = await server.createDatabase();
    const plain = path.join(project, 'pre-drop.sql');
    writeFileSync(plain, sqlOf(result.backup!.file));
    await server.tool('mariadb', [restored], { stdinFile: plain });
    expect((await fingerprintMariaDb(server, restored)).tables).toEqual(before.tables);
    expect(readdirSync(backupDir(project)).some((f) => f.startsWith(result.backup!.id) && f.endsWith('.info'))).toBe(true);
  });
});
