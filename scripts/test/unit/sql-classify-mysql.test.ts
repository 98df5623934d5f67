import { describe, expect, it } from 'vitest';
import { classifySql } from '../../lib/sql/classify.js';
import { splitMySqlStatements, tokenizeMySqlStatement } from '../../lib/format/mysql-lexer.js';

const effects = (sql: string) => classifySql(sql, 'mysql').map((s) => (s.reason ? `${s.effect}: ${s.reason}` : s.effect));

describe('a MySQL statement read as the server reads it', () => {
  it.each([
    ['SELECT 1', ['read']],
    ["SELECT 'it\\'s; DROP TABLE t'", ['read']],
    ['SELECT "DROP TABLE t; DELETE FROM t"', ['read']],
    ['SELECT 1 AS `DROP; TABLE`', ['read']],
    ['SELECT 1 AS `a``; DROP TABLE t`', ['read']],
    ['SELECT 1 # ; DROP TABLE t', ['read']],
    ['SELECT 1 -- ; DROP TABLE t', ['read']],
    ['SELECT /* ; DROP TABLE t */ 1', ['read']],
    // '--' without a space is two minus signs: what follows is code
    ['SELECT 1--1; DROP TABLE t', ['read', 'destroy: DROP']],
    // an executable comment is code, whatever its version number
    ['SELECT 1 /*!50000 ; DROP TABLE t */', ['read', 'destroy: DROP']],
    ['/*M!100100 DELETE FROM t */', ['destroy: DELETE without WHERE']],
    ['DELETE FROM t', ['destroy: DELETE without WHERE']],
    ['delete from `t` where id = 1', ['write']],
    ['UPDATE t SET a = 1', ['destroy: UPDATE without WHERE']],
    ['TRUNCATE TABLE t', ['destroy: TRUNCATE']],
    ['DROP DATABASE app', ['destroy: DROP']],
    ['REPLACE INTO t VALUES (1)', ['write']],
    ['INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE v = 2', ['write']],
    ['SELECT * FROM t FOR UPDATE', ['read']],
    ['SHOW TABLES', ['read']],
    ['DESCRIBE t', ['read']],
    ['SET @x = 1', ['read']],
    ['SET @sql_mode = 1', ['read']],
    ['CALL p()', ['write']],
    ["SELECT * FROM t INTO OUTFILE '/tmp/x'", ['outside: SELECT … INTO OUTFILE/DUMPFILE writes a file on the database server']],
    ["SELECT LOAD_FILE('/etc/passwd')", ['outside: load_file() reads a file on the database server']],
    ["SELECT `get_lock`('x', 1)", ['outside: get_lock() takes or releases a named lock, which other sessions wait on']],
    ["LOAD DATA INFILE '/x' INTO TABLE t", ['outside: LOAD … INFILE reads a file on the database server']],
    ['KILL 12', ['outside: KILL ends another session or its statement']],
    ['SET GLOBAL max_connections = 1', ['outside: SET GLOBAL changes the server’s settings for every session']],
    ['SET @@global.read_only = 0', ['outside: SET GLOBAL changes the server’s settings for every session']],
    ["PREPARE s FROM 'DELETE FROM t'", ['outside: PREPARE runs SQL from a string, which the kit cannot read']],
    ["SET sql_mode = 'ANSI_QUOTES'", ['transaction']],
    ['SET @@session.autocommit = 1', ['transaction']],
    ['SET SESSION TRANSACTION READ WRITE', ['transaction']],
    ['SET NAMES latin1', ['transaction']],
    ['USE other', ['transaction']],
    ['START TRANSACTION', ['transaction']],
    ['COMMIT', ['transaction']],
    ['LOCK TABLES t WRITE', ['transaction']],
    ['DELIMITER //', ['meta']],
  ])('%s', (sql, expected) => {
    expect(effects(sql)).toEqual(expected);
  });

  it('keeps a stored program whole, however many semicolons its body has', () => {
    const sql = `CREATE DEFINER=\`app\`@\`%\` PROCEDURE p(IN n INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  IF n > 0 THEN SET i = n; END IF;
  lbl: LOOP SET i = i - 1; IF i < 0 THEN LEAVE lbl; END IF; END LOOP lbl;
  SELECT CASE WHEN i = 0 THEN 'zero' ELSE 'other' END;
END;
SELECT 2`;
    const statements = splitMySqlStatements(sql);
    expect(statements.map((s) => s.text.split('\n')[0])).toEqual(['CREATE DEFINER=`app`@`%` PROCEDURE p(IN n INT)', 'SELECT 2']);
    expect(statements[0]!.text.endsWith('END')).toBe(true);
    expect(splitMySqlStatements('CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET NEW.a = 1; DROP TABLE x').map((s) => s.tokens[0]!.value)).toEqual(['CREATE', 'DROP']);
  });

  it('reads escapes inside strings and refuses text cut off inside a quote or comment', () => {
    expect(tokenizeMySqlStatement("SELECT 'a\\nb', \"c\"\"d\"").filter((t) => t.kind === 'string').map((t) => t.text)).toEqual(['a\nb', 'c"d']);
    expect(() => classifySql("SELECT 'open", 'mysql')).toThrow(/ends inside/);
    expect(() => classifySql('SELECT 1 /* open', 'mysql')).toThrow(/ends inside/);
    expect(() => classifySql('SELECT `open', 'mysql')).toThrow(/ends inside/);
  });

  it('reads the same text differently from PostgreSQL where the servers differ', () => {
    // PostgreSQL: "…" is an identifier and a backslash is just a backslash, so the DROP is code
    expect(effects("SELECT 'a\\'; DROP TABLE t; -- '")).toEqual(['read']);
    expect(classifySql("SELECT 'a\\'; DROP TABLE t; -- '").map((s) => s.effect)).toEqual(['read', 'destroy']);
  });
});
