import { describe, expect, it } from 'vitest';
import { MySqlScriptLexer } from '../../lib/engines/mysql/script-lexer.js';
import type { DumpStats, DumpStatsCollector } from '../../lib/engines/postgres/dump-stats.js';
import { howMySqlScriptEnds, MySqlDumpStatsCollector, RowHash, type MySqlStatement } from '../../lib/engines/mysql/script.js';

/** A dump in mariadb-dump's shape with every awkward thing its text may hold. */
const DUMP = [
  '/*M!999999\\- enable the sandbox mode */ ',
  '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)',
  '/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;',
  '/*!40101 SET NAMES utf8mb4 */;',
  '',
  '--',
  '-- Table structure for table `odd ``t`` ;name`',
  '--',
  '',
  'DROP TABLE IF EXISTS `odd ``t`` ;name`;',
  'CREATE TABLE `odd ``t`` ;name` (',
  "  `a;b` varchar(20) DEFAULT 'x;y' COMMENT 'it''s \\'quoted\\' ; (',",
  '  `n` double',
  ') ENGINE=InnoDB;',
  '',
  'LOCK TABLES `odd ``t`` ;name` WRITE;',
  '/*!40000 ALTER TABLE `odd ``t`` ;name` DISABLE KEYS */;',
  'INSERT INTO `odd ``t`` ;name` VALUES',
  "(1,'semi;colon',-1.5e-300),",
  "(2,'it\\'s \\\"x\\\" ) ( \\\\',NULL),",
  "(3,'emoji 🐘😀 漢字 שלום','-0'),",
  "(4,'back\\\\',1.7976931348623157e308),",
  "(5,'', 0x00FF5C27222829),",
  "(6,'-- not a comment /* nor this */ # nor this',-42);",
  '/*!40000 ALTER TABLE `odd ``t`` ;name` ENABLE KEYS */;',
  'UNLOCK TABLES;',
  '# a hash comment with an INSERT INTO `odd ``t`` ;name` VALUES (9);',
  'CREATE TABLE `empty` (`id` int) /* a comment; with ( */ ENGINE=InnoDB;',
  '/*!50001 CREATE VIEW `v` AS SELECT',
  ' 1 AS `id` */;',
  '/*!50001 CREATE TABLE `old_v` (`id` tinyint NOT NULL) ENGINE=MyISAM */;',
  'INSERT INTO `second` (`x`, `y`) VALUES (1,\'a\'),(2,"b;"),(3,`c`);',
  'INSERT INTO `second` VALUES (4,\'d\');',
  'DELIMITER ;;',
  "/*!50003 CREATE*/ /*!50017 DEFINER=`admin`@`%`*/ /*!50003 TRIGGER t1 BEFORE INSERT ON `second` FOR EACH ROW BEGIN INSERT INTO `second` VALUES (99,'in a trigger;'); SET @x = 'a;;b'; END */;;",
  'CREATE DEFINER=`admin`@`%` PROCEDURE `p q`()',
  'BEGIN',
  "  INSERT INTO `empty` VALUES (1); -- a comment ;; in a body",
  '  SELECT "DELIMITER ;";',
  'END ;;',
  'delimiter ;',
  '/*!50001 DROP VIEW IF EXISTS `old_v`*/;',
  '/*!50001 CREATE ALGORITHM=UNDEFINED */',
  '/*!50013 DEFINER=`admin`@`%` SQL SECURITY DEFINER */',
  '/*!50001 VIEW `old_v` AS select 1 AS `id` */;',
  'SELECT 1--1;',
  'CREATE SEQUENCE `my ``seq` start with 100 minvalue 1 maxvalue 9223372036854775806 increment by 5 cache 1000 nocycle ENGINE=InnoDB;',
  'DO SETVAL(`my ``seq`, 5100, 0);',
  'SELECT SETVAL(`db`.`used`, -7, 1);',
  '/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;',
  '',
  '-- Dump completed on 2026-12-08  0:58:12',
  '',
].join('\n');

const ROWS: Record<string, string[]> = {
  'odd `t` ;name': [
    "1,'semi;colon',-1.5e-300",
    "2,'it\\'s \\\"x\\\" ) ( \\\\',NULL",
    "3,'emoji 🐘😀 漢字 שלום','-0'",
    "4,'back\\\\',1.7976931348623157e308",
    "5,'', 0x00FF5C27222829",
    "6,'-- not a comment /* nor this */ # nor this',-42",
  ],
  empty: [],
  second: ["1,'a'", '2,"b;"', '3,`c`', "4,'d'"],
};

/** The fingerprint of rows given as their canonical text: what the collector must find. */
function fingerprintOf(rows: string[]): string {
  let [s1, s2] = [0, 0];
  const hash = new RowHash();
  for (const row of rows) {
    const bytes = Buffer.from(row);
    hash.update(bytes, 0, bytes.length);
    const [h1, h2] = hash.finish();
    s1 = (s1 + h1) >>> 0;
    s2 = (s2 + h2) >>> 0;
  }
  return s1.toString(16).padStart(8, '0') + s2.toString(16).padStart(8, '0');
}

function chunked(text: string | Buffer, size: number): Buffer[] {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

function collect(chunks: Buffer[], statements: MySqlStatement[] = []) {
  const c = new MySqlDumpStatsCollector({ statement: (s) => statements.push(s) });
  for (const chunk of chunks) c.push(chunk);
  return { stats: c.finish(), items: c.items, tablesSeen: c.tablesSeen };
}

/** Every statement as the lexer hands it over: its text without comments, and its span. */
function split(chunks: Buffer[]) {
  const out: string[] = [];
  let parts: Buffer[] = [];
  const lexer = new MySqlScriptLexer({
    text: (chunk, start, end) => parts.push(Buffer.from(chunk.subarray(start, end))),
    gap: () => parts.push(Buffer.from(' ')),
    statementEnd: (start, end) => {
      out.push(`${start}-${end}: ${Buffer.concat(parts).toString('utf8')}`);
      parts = [];
    },
    lineComment: (text, start, inStatement) => out.push(`${start} comment${inStatement ? ' in statement' : ''}: ${text}`),
    delimiter: (d, at) => out.push(`${at} delimiter ${d}`),
  });
  for (const chunk of chunks) lexer.write(chunk);
  lexer.end();
  return { out, open: lexer.openUnit };
}

describe('splitting SQL as the mariadb client does', () => {
  const whole = split([Buffer.from(DUMP)]);

  it('ends statements only at the delimiter outside strings, names and comments, and honours DELIMITER lines', () => {
    const statements = whole.out.filter((s) => /^\d+-\d+: /.test(s)).map((s) => s.replace(/^\d+-\d+: /, ''));
    expect(statements).toContain("INSERT INTO `second` (`x`, `y`) VALUES (1,'a'),(2,\"b;\"),(3,`c`)");
    expect(statements).toContain('CREATE TABLE `empty` (`id` int)   ENGINE=InnoDB');
    expect(statements).toContain('SELECT 1--1');
    // The trigger and the procedure are one statement each, their inner semicolons and the ';;' in a string included.
    const trigger = statements.find((s) => s.includes('TRIGGER t1'))!;
    expect(trigger).toMatch(/^\s+CREATE\s+DEFINER=`admin`@`%`\s+TRIGGER t1 .*SET @x = 'a;;b'; END\s+$/);
    const procedure = statements.find((s) => s.includes('PROCEDURE'))!;
    expect(procedure).toContain("INSERT INTO `empty` VALUES (1);  \n  SELECT \"DELIMITER ;\";\nEND ");
    expect(whole.out.filter((s) => s.includes(' delimiter '))).toHaveLength(2);
    expect(whole.out.some((s) => s.includes('comment: -- Dump completed on'))).toBe(true);
    expect(whole.out.some((s) => s.includes('comment in statement: -- a comment ;; in a body'))).toBe(true);
    // The sandbox line is a comment; /*!…*/ markers are gone but their content is code.
    expect(statements[0]).toMatch(/^ SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT +$/);
    expect(whole.open).toBe('nothing');
  });

  it('gives the same statements at the same offsets for every chunk size', () => {
    for (let size = 1; size <= 80; size++) expect(split(chunked(DUMP, size)), `chunks of ${size}`).toEqual(whole);
  });

  it('takes DELIMITER only on a line of its own before any statement text', () => {
    const { out } = split([Buffer.from("SELECT 'x'\nDELIMITER ;;\n;\n  delimiter   //  trailing words\nSELECT 1//\nDELIMITER ';'\nSELECT 2;\n")]);
    // "DELIMITER ;;" after statement text is text: its first ';' ends the statement.
    expect(out).toEqual(["0-22: SELECT 'x'\nDELIMITER ", '28 delimiter //', '59-69: SELECT 1', '70 delimiter ;', '84-93: SELECT 2']);
  });

  it('knows what a cut stream was inside', () => {
    const open = (text: string) => split([Buffer.from(text)]).open;
    expect(open("INSERT INTO t VALUES ('abc")).toBe('string');
    expect(open('INSERT INTO `t')).toBe('identifier');
    expect(open('SELECT 1; /* a comment')).toBe('comment');
    expect(open('SELECT 1')).toBe('statement');
    expect(open('/*!40101 SET x=1 */')).toBe('statement');
    expect(open('SELECT 1;\n-- a last comment without newline')).toBe('nothing');
  });
});

describe('statistics from a mariadb-dump stream', () => {
  const statements: MySqlStatement[] = [];
  const whole = collect([Buffer.from(DUMP)], statements);

  it('counts and fingerprints the rows of every base table, tables without rows and awkward names included, views not', () => {
    expect(whole.stats.complete).toBe(true);
    expect(whole.stats.ending).toBeUndefined();
    expect(Object.keys(whole.stats.tables).sort()).toEqual(['empty', 'odd `t` ;name', 'second']);
    for (const [table, rows] of Object.entries(ROWS)) {
      expect(whole.stats.tables[table], table).toEqual({ rows: rows.length, fingerprint: fingerprintOf(rows) });
    }
    expect(whole.stats.tables.empty!.fingerprint).toBe('0000000000000000');
    expect(whole.stats.sequences).toEqual({ 'my `seq': { value: '5100', isCalled: false }, used: { value: '-7', isCalled: true } });
    expect(whole.tablesSeen).toBe(3); // `odd…`, `empty`, and the placeholder `old_v` before its view replaced it
    expect(whole.items).toBe(1);
    expect(statements.filter((s) => s.insert).map((s) => s.insert)).toEqual([
      { table: 'odd `t` ;name', rows: 6 },
      { table: 'second', rows: 3 },
      { table: 'second', rows: 1 },
    ]);
    expect(statements.find((s) => s.insert?.rows === 6)!.text).toBe('INSERT INTO `odd ``t`` ;name` VALUES\n');
    expect(statements.filter((s) => s.created).map((s) => `${s.created!.kind} ${s.created!.name}`)).toEqual(['TABLE odd `t` ;name', 'TABLE empty', 'VIEW v', 'TABLE old_v', 'TRIGGER t1', 'PROCEDURE p q', 'VIEW old_v', 'SEQUENCE my `seq']);
  });

  it('has the surface and shape the PostgreSQL collector has, so the engine seam and compareStatistics take it', () => {
    const stats: DumpStats = whole.stats;
    const surface: Pick<DumpStatsCollector, 'push' | 'finish' | 'bytesSeen' | 'items'> = new MySqlDumpStatsCollector();
    surface.push(Buffer.from('SELECT 1;'));
    expect(surface.bytesSeen).toBe(9);
    expect(stats.complete).toBe(true);
  });

  it('gives the same result for every chunk size, whatever a chunk cuts (a UTF-8 character, a quote, a backslash, a marker)', () => {
    for (let size = 1; size <= 80; size++) expect(collect(chunked(DUMP, size)), `chunks of ${size}`).toEqual(whole);
    for (const size of [97, 128, 1000, 4096]) expect(collect(chunked(DUMP, size)), `chunks of ${size}`).toEqual(whole);
  });

  it('ignores row order and statement grouping, but sees any changed, added or removed row', () => {
    const table = (rows: string[], perStatement = rows.length) => {
      const inserts: string[] = [];
      for (let i = 0; i < rows.length; i += perStatement) inserts.push(`INSERT INTO \`t\` VALUES ${rows.slice(i, i + perStatement).map((r) => `(${r})`).join(',')};`);
      return collect([Buffer.from(`CREATE TABLE t (a int);\n${inserts.join('\n')}\n-- Dump completed\n`)]).stats.tables.t!;
    };
    const rows = ["1,'a'", "2,'b'", "3,'c'", "3,'c'"];
    const base = table(rows);
    expect(base.rows).toBe(4);
    expect(table([...rows].reverse())).toEqual(base);
    expect(table(rows, 1)).toEqual(base);
    expect(table(rows, 3)).toEqual(base);
    expect(table(["1,'a'", "2,'b'", "3,'c'", "3,'d'"]).fingerprint).not.toBe(base.fingerprint);
    expect(table(["1,'a'", "2,'b'", "3,'c'"]).rows).toBe(3);
    expect(table(["1,'a'", "2,'b'", "3,'c'", "3,'c'", "3,'c'"]).fingerprint).not.toBe(base.fingerprint);
    expect(table(["1,'a'", "2,'b'", "3,'c'", "3,'c'"].map((r) => r.replace("'a'", "'a '"))).fingerprint).not.toBe(base.fingerprint);
  });

  it('streams a multi-megabyte row in small chunks to the same fingerprint as its text', () => {
    const big = `1,'${'x\\\\y\\\''.repeat(1_000_000)}',0x${'AB'.repeat(1_000_000)}`;
    const text = `CREATE TABLE big (a int);\nINSERT INTO \`big\` VALUES (${big});\n-- Dump completed\n`;
    const stats = collect(chunked(text, 65536)).stats;
    expect(stats.tables.big).toEqual({ rows: 1, fingerprint: fingerprintOf([big]) });
    expect(stats.complete).toBe(true);
  });

  it('counts no rows from INSERTs inside strings, comments, routine bodies, or statements that are not INSERT … VALUES', () => {
    const text = [
      "SELECT 'INSERT INTO `t` VALUES (1);';",
      '/* INSERT INTO `t` VALUES (2); */',
      'CREATE PROCEDURE p() INSERT INTO `t` VALUES (3);',
      'INSERT INTO `t` SELECT 4 FROM dual WHERE 1 IN (1);',
      'INSERT INTO `t` SET a = (5);',
      'INSERT IGNORE INTO db.`t` VALUES (6);',
      'REPLACE INTO `t` VALUE (7);',
      '-- Dump completed',
    ].join('\n');
    expect(collect([Buffer.from(text)]).stats.tables).toEqual({ t: { rows: 2, fingerprint: fingerprintOf(['6', '7']) } });
  });

  it('is complete only with the trailer after the last statement, and says how a cut dump ends', () => {
    const bytes = Buffer.from(DUMP);
    const trailerEnd = bytes.indexOf('-- Dump completed') + '-- Dump completed'.length;
    for (let cut = 0; cut < bytes.length; cut++) {
      const { stats } = collect([bytes.subarray(0, cut)]);
      expect(stats.complete, `cut at ${cut}`).toBe(cut >= trailerEnd);
      if (!stats.complete) expect(howMySqlScriptEnds(stats), `cut at ${cut}`).toMatch(/cut short/);
    }
    expect(collect([Buffer.from(`${DUMP}SELECT 1;\n`)]).stats.complete).toBe(false);
    expect(collect([Buffer.from(`${DUMP}-- more comments\n\n`)]).stats.complete).toBe(true);
  });

  it('says in words where a cut dump stopped', () => {
    const ends = (text: string) => howMySqlScriptEnds(collect([Buffer.from(text)]).stats);
    expect(ends("CREATE TABLE t (a int);\nINSERT INTO `t` VALUES (1,'a'),(2,'b")).toBe('it stops inside the rows of table t (60 B of SQL), so it was cut short');
    expect(ends("SELECT 'abc")).toMatch(/^its last 11 B \(from byte 0 of 11 B of SQL\) are a statement whose quoted string never closes/);
    expect(ends('SELECT 1;\n/* abc')).toMatch(/^its last 6 B \(from byte 10 of 16 B of SQL\) are a comment that never closes/);
    expect(ends('SELECT 1;\nSELECT 2')).toMatch(/^its last 8 B \(from byte 10 of 18 B of SQL\) are a statement that never reaches its delimiter/);
    expect(ends('SELECT 1;\n')).toMatch(/^every statement in its 10 B of SQL ends, but mariadb-dump's completion trailer \("-- Dump completed"\) is missing/);
  });
});
