import { describe, expect, it } from 'vitest';
import { classifySql } from '../../lib/sql/classify.js';

const effects = (sql: string) => classifySql(sql).map((s) => (s.reason ? `${s.effect}: ${s.reason}` : s.effect));

describe('what a statement does, read from its tokens', () => {
  it.each([
    ['SELECT 1', ['read']],
    ["SELECT 'DROP TABLE t; DELETE FROM t'", ['read']],
    ['SELECT 1 -- ; DROP TABLE t', ['read']],
    ['SELECT /* nested /* DROP */ TABLE */ 1', ['read']],
    ['SELECT $x$ ; TRUNCATE t; $x$', ['read']],
    ["SELECT E'it\\'s; DROP TABLE t'", ['read']],
    ['SELECT 1 AS "DROP; TABLE"', ['read']],
    ['DROP TABLE t', ['destroy: DROP']],
    ['drop table t', ['destroy: DROP']],
    ['TRUNCATE t', ['destroy: TRUNCATE']],
    ['DELETE FROM t', ['destroy: DELETE without WHERE']],
    ['DELETE FROM t WHERE id = 1', ['write']],
    ["DELETE FROM t WHERE note = 'x'", ['write']],
    ['UPDATE t SET a = 1', ['destroy: UPDATE without WHERE']],
    ['UPDATE t SET a = (SELECT max(b) FROM u WHERE u.id = 1)', ['destroy: UPDATE without WHERE']],
    ['UPDATE t SET a = 1 WHERE id IN (SELECT id FROM u)', ['write']],
    ['WITH gone AS (DELETE FROM t RETURNING *) SELECT count(*) FROM gone', ['destroy: DELETE without WHERE']],
    ['WITH x AS (SELECT 1) DELETE FROM t', ['destroy: DELETE without WHERE']],
    ['EXPLAIN ANALYZE DELETE FROM t', ['destroy: DELETE without WHERE']],
    ['ALTER TABLE t DROP COLUMN c', ['destroy: ALTER … DROP']],
    ['ALTER TABLE t ADD COLUMN c int', ['write']],
    ['INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET v = 2', ['write']],
    ['SELECT * FROM t FOR UPDATE', ['read']],
    ['GRANT SELECT, UPDATE, DELETE ON t TO PUBLIC', ['write']],
    ['CREATE TABLE f (id int REFERENCES t ON DELETE CASCADE ON UPDATE CASCADE)', ['write']],
    ['SELECT 1; DROP TABLE t; SELECT 2', ['read', 'destroy: DROP', 'read']],
    ['BEGIN; COMMIT', ['transaction', 'transaction']],
    ['SET TRANSACTION READ WRITE', ['transaction']],
    ['SET default_transaction_read_only = off', ['transaction']],
    ['SET search_path = app', ['read']],
    ['SET "role" = postgres', ['transaction']],
    ['RESET ROLE', ['transaction']],
    ['SET standard_conforming_strings = off', ['transaction']],
    ["SELECT set_config('search_path', 'app', true)", ['read']],
    ["SELECT pg_catalog.set_config('ROLE', 'postgres', false)", ['transaction']],
    ["SELECT set_config(name, 'off', false) FROM pg_settings", ['transaction']],
    ['LOCK TABLE t IN ACCESS EXCLUSIVE MODE', ['write']],
    ['DO $$ BEGIN PERFORM 1; END $$', ['write']],
    ['ANALYZE t', ['write']],
    ['NOTIFY ch', ['write']],
    ['COPY t TO STDOUT', ['read']],
    ['COPY (SELECT 1) TO STDOUT WITH (FORMAT csv)', ['read']],
    ['COPY t FROM STDIN', ['write']],
    ['\\! rm -rf /', ['meta']],
    ['SELECT 1 INTO new_table', ['write']],
    ['CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END', ['write']],
  ])('%s', (sql, expected) => {
    expect(effects(sql)).toEqual(expected);
  });

  it('reads every token of a long statement, past the lexer skeleton\'s few kilobytes', () => {
    const padding = Array.from({ length: 3000 }, (_, i) => `c${i}`).join(', ');
    expect(effects(`WITH x AS (SELECT ${padding}) DELETE FROM t`)).toEqual(['destroy: DELETE without WHERE']);
    expect(effects(`SELECT ${padding}, pg_reload_conf()`)).toEqual(['outside: pg_reload_conf() acts on the server or other sessions']);
  });

  it('refuses parentheses that do not balance: they could close the kit\'s own COPY (…) around a --csv query', () => {
    expect(() => classifySql("SELECT 1) TO PROGRAM 'id' WITH (FORMAT text) --")).toThrow(/parentheses .* do not balance/);
    expect(() => classifySql('SELECT (1')).toThrow();
    expect(() => classifySql("SELECT ')' AS \"(\", $$($$ -- )")).not.toThrow();
  });

  it('refuses SQL cut off inside a quote, and takes a last statement without its semicolon', () => {
    expect(() => classifySql("SELECT 'open")).toThrow(/ends inside a quoted string/);
    expect(classifySql('SELECT 1 -- trailing comment').map((s) => s.text)).toEqual(['SELECT 1 -- trailing comment']);
  });

  it('streams only plain queries through a cursor', () => {
    expect(classifySql('SELECT 1; INSERT INTO t VALUES (1) RETURNING id; WITH a AS (SELECT 1) SELECT * FROM a').map((s) => s.cursorable)).toEqual([true, false, true]);
  });
});

const outside = (sql: string) => {
  const [one, ...rest] = classifySql(sql);
  expect(rest).toEqual([]);
  return one!.effect === 'outside' ? one!.reason : one!.effect;
};

describe('what acts outside the database, found in any position and spelling', () => {
  const calls: Array<[string, string]> = [
    ['pg_reload_conf()', 'pg_reload_conf'],
    ['pg_terminate_backend(pid)', 'pg_terminate_backend'],
    ['pg_cancel_backend(pid)', 'pg_cancel_backend'],
    ['pg_rotate_logfile()', 'pg_rotate_logfile'],
    ["pg_read_file('/etc/passwd')", 'pg_read_file'],
    ["pg_read_binary_file('postgresql.auto.conf')", 'pg_read_binary_file'],
    ["pg_ls_dir('.')", 'pg_ls_dir'],
    ["pg_stat_file('pg_hba.conf')", 'pg_stat_file'],
    ["lo_import('/etc/passwd')", 'lo_import'],
    ["lo_export(16384, '/tmp/x')", 'lo_export'],
    ['pg_switch_wal()', 'pg_switch_wal'],
    ["pg_create_restore_point('x')", 'pg_create_restore_point'],
    ['pg_advisory_lock(1)', 'pg_advisory_lock'],
    ['pg_try_advisory_xact_lock(1, 2)', 'pg_try_advisory_xact_lock'],
    ["pg_notify('ch', 'x')", 'pg_notify'],
    ["dblink_exec('dbname=x', 'DROP TABLE t')", 'dblink_exec'],
    ["dblink_connect('c', 'dbname=x')", 'dblink_connect'],
    ["query_to_xml('SELECT pg_reload_conf()', true, true, '')", 'query_to_xml'],
    ["ts_stat('SELECT 1')", 'ts_stat'],
    ["pg_file_write('x', 'y', false)", 'pg_file_write'],
    ['pg_replication_origin_drop(1)', 'pg_replication_origin_drop'],
  ];
  // Each call, written as a person might: the kit must find the same function every time.
  const spellings: Array<[string, (call: string, name: string) => string]> = [
    ['plain', (c) => `SELECT ${c}`],
    ['upper case', (c) => `SELECT ${c.replace(/^[a-z_]+/, (n) => n.toUpperCase())}`],
    ['schema-qualified', (c) => `SELECT pg_catalog.${c}`],
    ['quoted schema and name', (c, n) => `SELECT "pg_catalog"."${n}"${c.slice(n.length)}`],
    ['Unicode-escaped name', (c, n) => `SELECT U&"\\${n.charCodeAt(0).toString(16).padStart(4, '0')}${n.slice(1)}"${c.slice(n.length)}`],
    ['UESCAPE', (c, n) => `SELECT U&"!${n.charCodeAt(0).toString(16).padStart(4, '0')}${n.slice(1)}" UESCAPE '!'${c.slice(n.length)}`],
    ['comments around', (c, n) => `SELECT /* hi /* nested */ */ ${n} -- note\n ${c.slice(n.length)}`],
    ['in a FROM clause', (c) => `SELECT * FROM ${c} AS f`],
    ['in a CTE', (c) => `WITH x AS (SELECT ${c} AS v) SELECT * FROM x`],
    ['in a subquery', (c) => `SELECT (SELECT ${c}) AS v WHERE 1 = 1`],
    ['nested in another call', (c) => `SELECT coalesce(nullif(${c}::text, ''), 'x')`],
    ['in a lateral join', (c) => `SELECT * FROM pg_stat_activity a CROSS JOIN LATERAL (SELECT ${c}) b`],
    ['in EXPLAIN ANALYZE', (c) => `EXPLAIN ANALYZE SELECT ${c}`],
    ['in a cursor', (c) => `DECLARE k CURSOR FOR SELECT ${c}`],
    ['in COPY to the client', (c) => `COPY (SELECT ${c}) TO STDOUT`],
    ['after a string with a quote in it', (c) => `SELECT 'it''s', E'\\'', ${c}`],
    ['after a dollar-quoted string', (c) => `SELECT $q$ ) ; $q$, ${c}`],
  ];
  it.each(calls.flatMap(([call, name]) => spellings.map(([how, write]) => [`${name}, ${how}`, write(call, name), name] as const)))('%s', (_what, sql, name) => {
    expect(outside(sql)).toMatch(new RegExp(`^${name}\\(\\) `));
  });

  it.each([
    ["COPY (SELECT 1) TO PROGRAM 'id > pwned.txt'", 'COPY … TO PROGRAM runs a shell command on the database server'],
    ["copy t from program 'curl x'", 'COPY … FROM PROGRAM runs a shell command on the database server'],
    ["COPY (SELECT 1) TO '/var/lib/postgresql/data/pg_hba.conf'", "COPY … TO '/var/lib/postgresql/data/pg_hba.conf' writes a file on the database server"],
    ["COPY t (a, b) FROM '/etc/passwd' WITH (FORMAT text)", "COPY … FROM '/etc/passwd' reads a file on the database server"],
    ["COPY (SELECT 'TO STDOUT') TO E'/tmp/x'", "COPY … TO '/tmp/x' writes a file on the database server"],
    ['COPY t TO STDOUT', 'read'],
    ["SELECT * FROM t WHERE a IN (SELECT 1) UNION SELECT 1 FROM t TO PROGRAM 'x'", 'COPY … TO PROGRAM runs a shell command on the database server'],
  ])('%s', (sql, expected) => {
    expect(outside(sql)).toBe(expected);
  });

  it.each([
    "SELECT 'pg_reload_conf()'",
    'SELECT 1 -- pg_reload_conf()',
    'SELECT "pg_reload_conf" FROM t',
    'SELECT pg_reload_conf_count FROM t',
    'SELECT my_pg_reload_conf()',
    'SELECT $$ pg_terminate_backend(1) $$',
    "SELECT pg_read_file_count('x')",
  ])('does not mistake %s for a call', (sql) => {
    expect(outside(sql)).toBe('read');
  });
});
