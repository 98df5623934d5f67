/**
 * db:sql's MySQL engine against a real MariaDB 10.11: statements the guard allows run in a READ
 * ONLY transaction that the server enforces, rows come back as the server's text (emoji intact,
 * binary as hex, NULL apart from ''), and --csv writes the same values.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Target } from '../../lib/config/target.js';
import { silentReporter } from '../../lib/context.js';
import { classifySql } from '../../lib/sql/classify.js';
import { mySqlCompletionNames, runMySqlStatements } from '../../lib/engines/mysql/sql.js';
import type { SqlRun } from '../../lib/engines/engine.js';
import { startMariaDb, type MariaDb } from '../support/mariadb.js';

describe('db:sql on MariaDB (engine level)', () => {
  let server: MariaDb;
  let work: string;
  const targetOf = (database: string): Target => ({ host: '127.0.0.1', port: server.port, user: server.user, password: server.password, database, params: {}, env: 'default', source: 'test', protected: false });
  const ctx = () => ({ root: work, env: {}, signal: new AbortController().signal, reporter: silentReporter, now: () => new Date() });
  const run = (over: Partial<SqlRun> = {}): SqlRun => ({ write: false, keepRows: 100, csvFile: undefined, waitSeconds: 0, readOnlyRole: undefined, ...over });

  beforeAll(async () => {
    server = await startMariaDb();
    work = mkdtempSync(path.join(tmpdir(), 'pgkit-mysql-sql-'));
  });
  afterAll(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('reads emoji, binary and NULL apart from empty, and writes the same values as CSV', async () => {
    const db = await server.createDatabase();
    await server.sql("CREATE TABLE t (id INT PRIMARY KEY, note TEXT, bytes VARBINARY(10)); INSERT INTO t VALUES (1, 'Zoë 🐘, \"hi\"', UNHEX('00FF0A')), (2, '', ''), (3, NULL, NULL);", db);
    const statements = classifySql('SELECT id, note, bytes FROM t ORDER BY id', 'mysql');
    const shown = await runMySqlStatements(targetOf(db), statements, run(), ctx());
    expect(shown.columns).toEqual(['id', 'note', 'bytes']);
    expect(shown.rows).toEqual([['1', 'Zoë 🐘, "hi"', '00FF0A'], ['2', '', ''], ['3', null, null]]);
    const csvFile = path.join(work, 'out.csv');
    const written = await runMySqlStatements(targetOf(db), statements, run({ csvFile, keepRows: 0 }), ctx());
    expect(written.totalRows).toBe(3);
    expect(readFileSync(csvFile, 'utf8')).toBe('id,note,bytes\n1,"Zoë 🐘, ""hi""",00FF0A\n2,"",""\n3,,\n');
  });

  it('names the tables and columns for the console’s completion, quoted as MySQL quotes them', async () => {
    const db = await server.createDatabase();
    await server.sql('CREATE TABLE `odd ``t``` (`my col` INT, id INT); CREATE VIEW v AS SELECT id FROM `odd ``t```;', db);
    expect(await mySqlCompletionNames(targetOf(db))).toEqual({ tables: ['`odd ``t```', '`v`'], columns: ['`id`', '`my col`'] });
  });

  it('a write the guard let through is still refused by the server inside the read-only transaction', async () => {
    const db = await server.createDatabase();
    await server.sql('CREATE TABLE t (id INT); INSERT INTO t VALUES (1), (2);', db);
    // the guard would refuse this as a write; sent anyway, the READ ONLY transaction stops it
    const sneaked = [{ text: 'DELETE FROM t WHERE id = 1', command: 'DELETE', cursorable: false }];
    await expect(runMySqlStatements(targetOf(db), sneaked, run(), ctx())).rejects.toMatchObject({ code: 'READ_ONLY' });
    expect((await server.sql('SELECT COUNT(*) FROM t;', db)).trim()).toBe('2');
    const done = await runMySqlStatements(targetOf(db), sneaked, run({ write: true }), ctx());
    expect(done.statements).toEqual([{ command: 'DELETE', rowCount: 1 }]);
    expect((await server.sql('SELECT COUNT(*) FROM t;', db)).trim()).toBe('1');
  });

  it('a failing statement rolls back what --write did before it, in the server’s words', async () => {
    const db = await server.createDatabase();
    await server.sql('CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);', db);
    const statements = classifySql('INSERT INTO t VALUES (2); INSERT INTO t VALUES (1)', 'mysql');
    await expect(runMySqlStatements(targetOf(db), statements, run({ write: true }), ctx())).rejects.toThrow(/MariaDB said: Duplicate entry '1'.*\(in: INSERT INTO t VALUES \(1\)\).*rolled back/);
    expect((await server.sql('SELECT COUNT(*) FROM t;', db)).trim()).toBe('1');
  });

  it('the session reads "…" as a string and a backslash as an escape, as the guard did, whatever the server default', async () => {
    const db = await server.createDatabase();
    await server.sql("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',ANSI_QUOTES,NO_BACKSLASH_ESCAPES');", db);
    try {
      const shown = await runMySqlStatements(targetOf(db), classifySql('SELECT "a", \'b\\\'c\'', 'mysql'), run(), ctx());
      expect(shown.rows).toEqual([['a', "b'c"]]);
    } finally {
      await server.sql("SET GLOBAL sql_mode = REPLACE(REPLACE(@@GLOBAL.sql_mode, ',ANSI_QUOTES', ''), ',NO_BACKSLASH_ESCAPES', '');", db);
    }
  });
});
