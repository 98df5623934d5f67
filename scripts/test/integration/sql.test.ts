import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { cli, createDatabase, EXIT_CHECK_ENV, exitCheckFailure, makeProject, onTerminal, query, REPO, type CliResult } from '../support/harness.js';

const count = async (url: string) => (await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM t'))[0]!.n;

/** The SQL on standard input, as `echo … | pnpm db:sql` gives it. */
function piped(sql: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, 'scripts/kit.mjs'), 'db-sql', ...args], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...EXIT_CHECK_ENV, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const lingered = exitCheckFailure(stderr);
      if (lingered) reject(lingered);
      else resolve({ code, signal, stdout, stderr, json: <T>() => JSON.parse(stdout) as T });
    });
    child.stdin.end(sql);
  });
}

describe('db:sql', () => {
  it('is read-only unless --write, and a read-only session cannot be made to write', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int, note text); INSERT INTO t VALUES (1, NULL), (2, \'two\')' });
    const project = makeProject();
    const env = { DATABASE_URL: db.url };
    const shown = await cli('db-sql', ['SELECT id, note FROM t ORDER BY id'], { cwd: project, env });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/ id \| note\n-+\+-+\n 1  \| +\n 2  \| two +\n\(2 rows\)/);
    for (const sql of [
      'INSERT INTO t VALUES (3)',
      'SET TRANSACTION READ WRITE; INSERT INTO t VALUES (3)',
      "SELECT set_config('transaction_read_only', 'off', true); INSERT INTO t VALUES (3)",
      'COMMIT; INSERT INTO t VALUES (3)',
      'CREATE TABLE u (id int)',
    ]) {
      const run = await cli('db-sql', [sql], { cwd: project, env });
      expect(run.code, `${sql}: ${run.stderr}`).not.toBe(0);
      expect(run.stderr).toMatch(/read-only|transaction of its own|read-write mode must be set before any query/);
    }
    expect(await count(db.url)).toBe(2);
    expect(await query(db.url, "SELECT to_regclass('u') AS u")).toEqual([{ u: null }]);
    const written = await cli('db-sql', ['--write', 'INSERT INTO t VALUES (3)'], { cwd: project, env });
    expect(written.code, written.stderr).toBe(0);
    expect(written.stdout).toMatch(/INSERT 1/);
    expect(await count(db.url)).toBe(3);
  });

  it('refuses destructive statements without a terminal and without --force, from an argument and from a pipe', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)' });
    const project = makeProject({ 'packages/database/.env.prod': `DATABASE_URL=${db.url}\n` });
    const env = { DATABASE_URL: db.url };
    for (const sql of ['DELETE FROM t', 'UPDATE t SET id = 0', 'TRUNCATE t', 'DROP TABLE t', 'ALTER TABLE t DROP COLUMN id', "SELECT 'harmless'; DELETE FROM t -- where id = 1"]) {
      const arg = await cli('db-sql', ['--write', sql], { cwd: project, env });
      expect(arg.code, sql).toBe(13);
      expect(arg.stderr).toMatch(/no terminal to ask[\s\S]*Pass --force to run it anyway\. Nothing was run\./);
      const pipe = await piped(sql, ['--write'], project, env);
      expect(pipe.code, sql).toBe(13);
    }
    expect(await count(db.url)).toBe(2);
    // a string or a comment that looks destructive is not a statement
    const quoted = await cli('db-sql', ['--write', "SELECT 'DROP TABLE t' /* DELETE FROM t */"], { cwd: project, env });
    expect(quoted.code, quoted.stderr).toBe(0);
    const prod = await cli('db-sql', ['--env', 'prod', '--write', '--force', 'DELETE FROM t'], { cwd: project });
    expect(prod.code).toBe(13);
    expect(prod.stderr).toMatch(new RegExp(`pass --force --confirm ${db.name}`));
    expect(await count(db.url)).toBe(2);
    const forced = await piped('DELETE FROM t', ['--env', 'prod', '--write', '--force', '--confirm', db.name], project, {});
    expect(forced.code, forced.stderr).toBe(0);
    expect(await count(db.url)).toBe(0);
  });

  it('in a terminal, asks before a destructive statement; declining runs nothing', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const project = makeProject();
    const declined = await onTerminal('db-sql', ['--write', 'TRUNCATE t'], project, { DATABASE_URL: db.url }, (screen, type) => {
      if (screen.includes('Run it?') && !screen.includes('n\r')) type('n\r');
    });
    expect(declined.code).toBe(13);
    expect(declined.screen).toMatch(/TRUNCATE: TRUNCATE t/);
    expect(await count(db.url)).toBe(1);
    const accepted = await onTerminal('db-sql', ['--write', 'TRUNCATE t'], project, { DATABASE_URL: db.url }, (screen, type) => {
      if (screen.includes('Run it?') && !screen.includes('y\r')) type('y\r');
    });
    expect(accepted.code, accepted.screen).toBe(0);
    expect(await count(db.url)).toBe(0);
  });

  it('streams a query\'s rows to a CSV file and prints JSON on request', async () => {
    const db = await createDatabase();
    const project = makeProject();
    const env = { DATABASE_URL: db.url };
    const csv = await cli('db-sql', ["SELECT g AS n, CASE WHEN g % 2 = 0 THEN NULL ELSE 'a,\"b\"' END AS v FROM generate_series(1, 12000) g", '--csv', 'out.csv'], { cwd: project, env });
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toMatch(/12000 rows written to out\.csv/);
    const lines = readFileSync(path.join(project, 'out.csv'), 'utf8').split('\n');
    expect(lines.slice(0, 3)).toEqual(['n,v', '1,"a,""b"""', '2,']);
    expect(lines.length).toBe(12002);
    // several statements: the last query's rows come through a cursor instead, in the same format
    const cursor = await cli('db-sql', ["SELECT 1; SELECT g AS n, CASE WHEN g % 2 = 0 THEN NULL ELSE 'a,\"b\"' END AS v FROM generate_series(1, 12000) g", '--csv', 'cursor.csv'], { cwd: project, env });
    expect(cursor.code, cursor.stderr).toBe(0);
    expect(readFileSync(path.join(project, 'cursor.csv'), 'utf8')).toBe(readFileSync(path.join(project, 'out.csv'), 'utf8'));
    const json = await cli('db-sql', ['SELECT 1 AS one, NULL AS nothing', '--json'], { cwd: project, env });
    expect(json.json()).toMatchObject({ ok: true, columns: ['one', 'nothing'], rows: [['1', null]], totalRows: 1 });
  });

  it('gives a query the same text on every path, in db:export\'s settings, whatever the server\'s defaults', async () => {
    const db = await createDatabase({ sql: "CREATE TABLE v (at timestamptz, d date, f float8, b bytea, i interval); INSERT INTO v VALUES ('2026-07-01 12:00:00+02', '2026-01-31', 0.1, '\\x00ff', '1 day 2 hours')" });
    // defaults that would change every value's text: another time zone, date and interval styles, escape bytea
    await query(db.url, `ALTER DATABASE ${db.name} SET TimeZone = 'America/New_York'; ALTER DATABASE ${db.name} SET DateStyle = 'SQL, DMY'; ALTER DATABASE ${db.name} SET IntervalStyle = 'sql_standard'; ALTER DATABASE ${db.name} SET bytea_output = 'escape'; ALTER DATABASE ${db.name} SET extra_float_digits = 3`);
    const project = makeProject();
    const env = { DATABASE_URL: db.url };
    const select = 'SELECT at, d, f, b, i FROM v';
    const copied = await cli('db-sql', [select, '--csv', 'copy.csv'], { cwd: project, env });
    expect(copied.code, copied.stderr).toBe(0);
    const cursor = await cli('db-sql', [`SELECT 1; ${select}`, '--csv', 'cursor.csv'], { cwd: project, env });
    expect(cursor.code, cursor.stderr).toBe(0);
    const expected = 'at,d,f,b,i\n2026-07-01 10:00:00+00,2026-01-31,0.1,\\x00ff,1 day 02:00:00\n';
    expect(readFileSync(path.join(project, 'copy.csv'), 'utf8')).toBe(expected);
    expect(readFileSync(path.join(project, 'cursor.csv'), 'utf8')).toBe(expected);
    const json = await cli('db-sql', [select, '--json'], { cwd: project, env });
    expect(json.json<{ rows: string[][] }>().rows).toEqual([['2026-07-01 10:00:00+00', '2026-01-31', '0.1', '\\x00ff', '1 day 02:00:00']]);
    // a session's own SET still wins, on the cursor path where it can run
    const local = await cli('db-sql', ["SET TimeZone = 'Asia/Tokyo'; SELECT at FROM v", '--json'], { cwd: project, env });
    expect(local.json<{ rows: string[][] }>().rows).toEqual([['2026-07-01 19:00:00+09']]);
  });
});

/** A directory the database server's own user can write to, as it could write anywhere it owns. */
function serverWritableDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-server-'));
  chmodSync(dir, 0o777);
  return dir;
}

describe('db:sql without --write refuses what acts outside the database (a read-only transaction does not stop it)', () => {
  it('refuses COPY to a program or a server file, server-admin calls and LOCK, and none of them happens', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const project = makeProject();
    const env = { DATABASE_URL: db.url };
    const dir = serverWritableDir();
    const victim = new pg.Client({ connectionString: db.url });
    await victim.connect();
    try {
      const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const loaded = await query(db.url, 'SELECT pg_conf_load_time()::text AS at');
      const bypasses: Array<[string, RegExp]> = [
        [`COPY (SELECT 1) TO PROGRAM 'id > ${dir}/pwned.txt'`, /COPY … TO PROGRAM runs a shell command on the database server/],
        [`COPY (SELECT 'x') TO '${dir}/written.txt'`, /writes a file on the database server/],
        ['SELECT pg_reload_conf()', /pg_reload_conf\(\) acts on the server/],
        [`SELECT pg_terminate_backend(${pid})`, /pg_terminate_backend\(\) acts on the server/],
        [`WITH x AS (SELECT "pg_catalog"."pg_cancel_backend"(${pid}) AS c) SELECT * FROM x`, /pg_cancel_backend\(\) acts on the server/],
        ['LOCK TABLE t IN ACCESS EXCLUSIVE MODE', /read-only transaction unless --write, and this is not a read:\n {2}LOCK TABLE t/],
      ];
      for (const [sql, message] of bypasses) {
        const run = await cli('db-sql', [sql], { cwd: project, env });
        expect(run.code, `${sql}: ${run.stderr}`).toBe(24);
        expect(run.stderr).toMatch(message);
        expect(run.stderr).toMatch(/Nothing was run/);
      }
      expect(readdirSync(dir)).toEqual([]);
      expect(await query(db.url, 'SELECT pg_conf_load_time()::text AS at')).toEqual(loaded);
      expect((await victim.query('SELECT 1 AS alive')).rows).toEqual([{ alive: 1 }]);
    } finally {
      await victim.end();
    }
  });

  it('with --write such a statement runs, after a confirmation that says what it does', async () => {
    const db = await createDatabase();
    const project = makeProject();
    const env = { DATABASE_URL: db.url };
    const dir = serverWritableDir();
    const sql = `COPY (SELECT 'hello') TO '${dir}/out.txt'`;
    const unconfirmed = await cli('db-sql', ['--write', sql], { cwd: project, env });
    expect(unconfirmed.code, unconfirmed.stderr).toBe(13);
    expect(unconfirmed.stderr).toContain(`COPY … TO '${dir}/out.txt' writes a file on the database server: ${sql}`);
    expect(readdirSync(dir)).toEqual([]);
    // the terminal harness quotes arguments with '…', so this spelling uses dollar quotes
    const dollarQuoted = `COPY (SELECT $t$hello$t$) TO $f$${dir}/out.txt$f$`;
    const asked = await onTerminal('db-sql', ['--write', dollarQuoted], project, env, (screen, type) => {
      if (screen.includes('Run it?') && !screen.includes('y\r')) type('y\r');
    });
    expect(asked.code, asked.screen).toBe(0);
    expect(asked.screen).toContain(`COPY … TO '${dir}/out.txt' writes a file on the database server: ${dollarQuoted}`);
    expect(readFileSync(path.join(dir, 'out.txt'), 'utf8')).toBe('hello\n');
  });

  it('--csv into a missing directory says so before running anything', async () => {
    const db = await createDatabase();
    const project = makeProject();
    const run = await cli('db-sql', ['SELECT 1 AS one', '--csv', 'nowhere/out.csv'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/--csv nowhere\/out\.csv: the directory .*nowhere does not exist; create it or write the file elsewhere/);
    expect(run.stderr).not.toMatch(/PostgreSQL said|ENOENT/);
  });
});

describe('db:sql with a read-only role configured (sql.readOnlyRole)', () => {
  it('runs read-only sessions as that role, so a function of the database cannot reach the server either', async () => {
    const dir = serverWritableDir();
    const reader = `reader_${path.basename(dir).replace(/[^A-Za-z0-9]/g, '').toLowerCase()}`;
    // a function the statement guard cannot see into: it runs a program when called
    const db = await createDatabase({
      sql: `CREATE TABLE t (id int); INSERT INTO t VALUES (1);
            CREATE FUNCTION leak() RETURNS int LANGUAGE plpgsql AS $f$ BEGIN COPY (SELECT 1) TO PROGRAM 'id > ${dir}/leaked.txt'; RETURN 1; END $f$;
            CREATE ROLE ${reader} NOLOGIN; GRANT pg_read_all_data TO ${reader};`,
    });
    const env = { DATABASE_URL: db.url };
    const guarded = makeProject({ 'backup-kit.json': JSON.stringify({ sql: { readOnlyRole: reader } }) });
    const read = await cli('db-sql', ['SELECT current_user AS who, count(*) AS n FROM t GROUP BY 1', '--json'], { cwd: guarded, env });
    expect(read.code, read.stderr).toBe(0);
    expect(read.json<{ rows: string[][]; guard: string }>()).toMatchObject({ rows: [[reader, '1']], guard: `statements, role ${reader}` });
    for (const extra of [[], ['--csv', path.join(guarded, 'out.csv')]]) {
      const refused = await cli('db-sql', ['SELECT leak()', ...extra], { cwd: guarded, env });
      expect(refused.code, refused.stderr).toBe(24);
      expect(refused.stderr).toMatch(/permission denied to COPY to or from an external program|must be superuser or have privileges of the pg_execute_server_program role/);
      expect(refused.stderr).toContain(`read-only: statements checked, and run as role ${reader}`);
    }
    expect(readdirSync(dir)).toEqual([]);
    // with --write the user asked for more: the session is the connection's own user
    const written = await cli('db-sql', ['--write', 'SELECT current_user AS who', '--json'], { cwd: guarded, env });
    expect(written.json<{ rows: string[][] }>().rows).toEqual([['postgres']]);
    // a role that could run programs guards nothing, and is refused by name
    const superuser = makeProject({ 'backup-kit.json': JSON.stringify({ environments: { default: { sql: { readOnlyRole: 'postgres' } } } }) });
    const unfit = await cli('db-sql', ['SELECT 1'], { cwd: superuser, env });
    expect(unfit.code, unfit.stderr).toBe(3);
    expect(unfit.stderr).toMatch(/names the role "postgres", which can run programs or read and write files on the server/);
  });
});
