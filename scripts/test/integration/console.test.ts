import { chmodSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createDatabase, EXIT_CHECK_ENV, exitCheckFailure, makeProject, onTerminal, typeWhenShown, query, REPO } from '../support/harness.js';

const UP = '\x1b[A';

describe('pnpm db:console, on a real terminal', () => {
  it('completes commands, tables and columns, runs SQL, asks before a destructive statement, and keeps a history', async () => {
    const db = await createDatabase({ sql: 'CREATE SCHEMA app; CREATE TABLE app.tickets (id int, headline text); INSERT INTO app.tickets VALUES (1, \'one\'), (2, \'two\')' });
    const project = makeProject();
    const home = mkdtempSync(path.join(tmpdir(), 'pgkit-home-'));
    const env = { DATABASE_URL: db.url, HOME: home };
    const prompt = `${db.name}> `;
    const first = await onTerminal('db-console', [], project, env, typeWhenShown([
      [prompt, 'sq\t'],
      ['sql', 'SELECT head\t'],
      ['headline', ' FROM app.tic\t'],
      ['app.tickets', ' ORDER BY id\r'],
      ['(2 rows)', 'sql --write TRUNCATE app.tickets\r'],
      ['Run it? [y/N]', 'n\r'],
      ['Not confirmed', 'sql INSERT INTO app.tickets VALUES (3)\r'],
      ['read-only transaction', '\\help\r'],
      ['\\q, exit', '\\q\r'],
    ]));
    expect(first.code, first.screen).toBe(0);
    expect(first.screen).toContain('SELECT headline FROM app.tickets ORDER BY id');
    expect(first.screen).toMatch(/headline\s*\r?\n-+\r?\n one/);
    expect(first.screen).toContain('TRUNCATE: TRUNCATE app.tickets');
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM app.tickets')).toEqual([{ n: 2 }]);
    expect(readFileSync(path.join(home, '.pg_backup_kit_history'), 'utf8')).toContain('sql SELECT headline FROM app.tickets ORDER BY id\n');

    // Up walks back through the history the first session left
    const second = await onTerminal('db-console', [], project, env, typeWhenShown([
      [prompt, `${UP}${UP}${UP}${UP}`],
      ['ORDER BY id', '\r'],
      ['(2 rows)', '\\q\r'],
    ]));
    expect(second.code, second.screen).toBe(0);
  });

  it('reads piped lines without a terminal, and stops at a destructive statement it cannot confirm', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)' });
    const project = makeProject();
    const run = spawnSync(process.execPath, [path.join(REPO, 'scripts/kit.mjs'), 'db-console'], {
      cwd: project,
      env: { PATH: process.env.PATH, HOME: project, DATABASE_URL: db.url, ...EXIT_CHECK_ENV },
      input: 'sql SELECT count(*) AS n FROM t\nsql --write DELETE FROM t\nsql --write INSERT INTO t VALUES (3)\n',
      encoding: 'utf8',
    });
    expect(exitCheckFailure(run.stderr)).toBeUndefined();
    expect(run.status).toBe(13);
    expect(run.stdout).toMatch(/ n\n-+\n 2 *\n\(1 row\)/);
    expect(run.stderr).toMatch(/Refusing to run a destructive statement without confirmation, and there is no terminal to ask/);
    expect(run.stderr).toMatch(/Stopped at "sql --write DELETE FROM t" \(exit 13\); the lines after it were not run/);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 2 }]);
  });

  it('sql refuses, without --write, what acts outside the database: a program, a server file, admin calls, LOCK', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const project = makeProject();
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-server-'));
    chmodSync(dir, 0o777); // the server's user could write here, as it can write its own files
    const loaded = await query(db.url, 'SELECT pg_conf_load_time()::text AS at');
    for (const line of [
      `sql COPY (SELECT 1) TO PROGRAM 'id > ${dir}/pwned.txt'`,
      `sql COPY (SELECT 1) TO '${dir}/written.txt'`,
      'sql SELECT pg_reload_conf()',
      'sql SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      'sql LOCK TABLE t IN ACCESS EXCLUSIVE MODE',
    ]) {
      const run = spawnSync(process.execPath, [path.join(REPO, 'scripts/kit.mjs'), 'db-console'], {
        cwd: project,
        env: { PATH: process.env.PATH, HOME: project, DATABASE_URL: db.url },
        input: `${line}\n`,
        encoding: 'utf8',
      });
      expect(run.status, `${line}: ${run.stderr}`).toBe(24);
      expect(run.stderr).toMatch(/outside the database|not a read/);
    }
    expect(readdirSync(dir)).toEqual([]);
    expect(await query(db.url, 'SELECT pg_conf_load_time()::text AS at')).toEqual(loaded);
  });
});
