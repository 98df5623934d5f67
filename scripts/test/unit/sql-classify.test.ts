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
    ['SET search_path = app', ['write']],
    ['\\! rm -rf /', ['meta']],
    ['SELECT 1 INTO new_table', ['write']],
    ['CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END', ['write']],
  ])('%s', (sql, expected) => {
    expect(effects(sql)).toEqual(expected);
  });

  it('refuses SQL cut off inside a quote, and takes a last statement without its semicolon', () => {
    expect(() => classifySql("SELECT 'open")).toThrow(/ends inside a quoted string/);
    expect(classifySql('SELECT 1 -- trailing comment').map((s) => s.text)).toEqual(['SELECT 1 -- trailing comment']);
  });

  it('streams only plain queries through a cursor', () => {
    expect(classifySql('SELECT 1; INSERT INTO t VALUES (1) RETURNING id; WITH a AS (SELECT 1) SELECT * FROM a').map((s) => s.cursorable)).toEqual([true, false, true]);
  });
});
