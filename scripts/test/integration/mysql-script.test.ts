/**
 * The mariadb-dump reader (engines/mysql/script.ts) on real dumps of the awkward MySQL corpus:
 * its row counts are the server's COUNT(*) for every base table, its fingerprints survive a
 * restore and a second dump, and they see a single changed row in a single table. A cut dump is
 * never complete. The server is started by this file alone.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Target } from '../../lib/config/target.js';
import { howMySqlScriptEnds, mysqlStatsFromProcess, MySqlDumpStatsCollector, readMySqlScript, type MySqlDumpStats } from '../../lib/engines/mysql/script.js';
import { locateMySqlTool, startMySqlTool } from '../../lib/engines/mysql/tools.js';
import { compareStatistics } from '../../lib/engines/statistics.js';
import { MARIADB_CORPUS, quoteName, startMariaDb, type MariaDb } from '../support/mariadb.js';

const DUMP_ARGS = ['--single-transaction', '--routines', '--triggers', '--events', '--hex-blob', '--default-character-set=utf8mb4'];

/** Beyond the corpus: a table without rows, and a row of several megabytes that must stream. */
const EXTRA = [
  'CREATE TABLE `no rows` (id INT PRIMARY KEY) ENGINE=InnoDB;',
  "CREATE TABLE big_row (id INT PRIMARY KEY, body LONGTEXT, bytes LONGBLOB) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;",
  'CREATE SEQUENCE `order seq` START WITH 100 INCREMENT BY 5;',
  'SELECT NEXTVAL(`order seq`), NEXTVAL(`order seq`);',
  "INSERT INTO big_row VALUES (1, REPEAT('🐘 it''s \\\\ ; ( ) ', 150000), REPEAT(UNHEX('00275C3B28290A'), 300000)), (2, '', NULL);",
  '',
].join('\n');

describe('statistics read from real mariadb-dump output', () => {
  let server: MariaDb;
  let work: string;
  let source: string;

  beforeAll(async () => {
    server = await startMariaDb();
    work = mkdtempSync(path.join(tmpdir(), 'pgkit-mysql-script-'));
    source = await server.createDatabase();
    await server.sql(readFileSync(MARIADB_CORPUS, 'utf8') + EXTRA, source);
  });

  afterAll(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const dump = async (database: string, name: string): Promise<string> => {
    const file = path.join(work, name);
    await server.tool('mariadb-dump', [...DUMP_ARGS, database], { stdoutFile: file });
    return file;
  };

  /** Every base table and its row count, as the server counts them (views excluded). */
  const serverCounts = async (database: string): Promise<Record<string, number>> => {
    const names = (await server.sql(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${database}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME;`)).split('\n').filter(Boolean);
    const counts = (await server.sql(names.map((n) => `SELECT COUNT(*) FROM ${quoteName(n)};`).join('\n'), database)).split('\n').filter(Boolean);
    return Object.fromEntries(names.map((n, i) => [n, Number(counts[i])]));
  };

  const rowsOf = (stats: MySqlDumpStats) => Object.fromEntries(Object.entries(stats.tables).map(([t, s]) => [t, s.rows]));

  it('counts every base table as the server does, views and other objects not, and finds the trailer', async () => {
    const file = await dump(source, 'source.sql');
    const read = await readMySqlScript(file, false);
    expect(read.stats.complete).toBe(true);
    expect(read.bytes).toBe(statSync(file).size);
    expect(read.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    const counts = await serverCounts(source);
    expect(Object.keys(counts)).toHaveLength(11);
    expect(counts['no rows']).toBe(0);
    expect(rowsOf(read.stats)).toEqual(counts);
    expect(read.items).toBeGreaterThan(Object.keys(counts).length);
    // The same bytes gzipped read the same; without hashing the checksum is left out.
    writeFileSync(`${file}.gz`, gzipSync(readFileSync(file)));
    const gz = await readMySqlScript(`${file}.gz`, true, { hash: false });
    expect(gz.stats).toEqual(read.stats);
    expect(gz.sha256).toBe('');
  });

  it('gives the same fingerprints for a dump of a restored copy, and sees one changed row in one table only', async () => {
    const before = (await readMySqlScript(await dump(source, 'before.sql'), false)).stats;
    const copy = await server.createDatabase();
    await server.tool('mariadb', ['--default-character-set=utf8mb4', copy], { stdinFile: path.join(work, 'before.sql') });
    const after = (await readMySqlScript(await dump(copy, 'after.sql'), false)).stats;
    expect(after.tables).toEqual(before.tables);
    expect(Object.keys(before.sequences)).toEqual(['order seq']);
    expect(after.sequences).toEqual(before.sequences);
    expect(compareStatistics(before, after)).toEqual([]);

    await server.sql("UPDATE blobs SET var_bytes = UNHEX('00FF00FF0A0D5C28') WHERE id = 1;", copy);
    const changed = (await readMySqlScript(await dump(copy, 'changed.sql'), false)).stats;
    expect(changed.tables.blobs!.rows).toBe(before.tables.blobs!.rows);
    expect(changed.tables.blobs!.fingerprint).not.toBe(before.tables.blobs!.fingerprint);
    expect({ ...changed.tables, blobs: before.tables.blobs }).toEqual(before.tables);
    expect(compareStatistics(before, changed)).toEqual([expect.stringMatching(/^table blobs: 3 rows as recorded, but their content differs/)]);
  });

  it('counts exactly the rows the mariadb client inserts from an awkward script', async () => {
    const script = [
      'CREATE TABLE `a;b` (id INT, s TEXT);',
      'CREATE TABLE `c` (id INT, s TEXT);',
      "INSERT INTO `a;b` VALUES (1,'x;y'),(2,'it\\'s'),(3,\"dq;\\\"\");",
      "-- INSERT INTO `a;b` VALUES (100,'comment');",
      "# INSERT INTO `a;b` VALUES (101,'hash comment');",
      "/* INSERT INTO `a;b` VALUES (102,'block'); */",
      "INSERT INTO `c` VALUES (1,'/* not a comment */'),(2,'-- nor this'),(3,'# nor this');",
      "/*!40000 INSERT INTO `c` VALUES (4,'in a conditional comment') */;",
      'DELIMITER ;;',
      "CREATE PROCEDURE p() BEGIN INSERT INTO `c` VALUES (200,'body;'); END;;",
      "INSERT INTO `c` VALUES (5,'under ;; delimiter; still one');;",
      'DELIMITER ;',
      "INSERT INTO `a;b` VALUES (4,'back\\\\'),(5,'🐘'),((6),'(')  ;",
      'SELECT 1--1;',
      "INSERT INTO `c` VALUES (6,'x');",
      '-- Dump completed',
      '',
    ].join('\n');
    const file = path.join(work, 'awkward-script.sql');
    writeFileSync(file, script);
    const database = await server.createDatabase();
    await server.tool('mariadb', ['--default-character-set=utf8mb4', database], { stdinFile: file });
    const { stats } = await readMySqlScript(file, false);
    expect(rowsOf(stats)).toEqual(await serverCounts(database));
    expect(rowsOf(stats)).toEqual({ 'a;b': 6, c: 6 });
    expect(stats.complete).toBe(true);
  });

  const target = (database: string): Target => ({ host: server.host, port: server.port, user: server.user, password: server.password, database, params: {}, env: 'default', source: 'test', protected: false });

  it('reads the same statistics from mariadb-dump as it runs through the kit, and calls a killed dump incomplete', async () => {
    const tool = await locateMySqlTool('mariadb-dump');
    const fromFile = (await readMySqlScript(path.join(work, 'source.sql'), false)).stats;
    const streamed = await mysqlStatsFromProcess(startMySqlTool(tool, target(source), [...DUMP_ARGS, source], { failure: 'PG_DUMP_FAILED', stdio: ['ignore', 'pipe', 'pipe'] }));
    expect(streamed.stats.tables).toEqual(fromFile.tables);
    expect(streamed.stats.complete).toBe(true);

    // Killed after its first chunk: what came before is no dump.
    const running = startMySqlTool(tool, target(source), [...DUMP_ARGS, source], { failure: 'PG_DUMP_FAILED', stdio: ['ignore', 'pipe', 'pipe'] });
    const collector = new MySqlDumpStatsCollector();
    for await (const chunk of running.child.stdout!) {
      collector.push(chunk as Buffer);
      if (collector.bytesSeen > 10_000) running.child.kill('SIGKILL');
    }
    await expect(running.done).rejects.toThrow();
    const stats = collector.finish();
    expect(stats.complete).toBe(false);
    expect(collector.bytesSeen).toBeLessThan(statSync(path.join(work, 'source.sql')).size);
    expect(howMySqlScriptEnds(stats)).toMatch(/cut short/);
  });

  it('calls a cut dump incomplete and says where it stops', async () => {
    const whole = readFileSync(path.join(work, 'source.sql'));
    const cuts: Array<[number, RegExp]> = [
      [whole.indexOf('INSERT INTO `big_row`') + 100_000, /inside the rows of table big_row/],
      [whole.indexOf('CREATE TABLE `customers` (\n') + 27, /never reaches its delimiter/],
      [whole.indexOf('CREATE TABLE `customers`') + 15, /quoted identifier never closes/],
      [whole.indexOf('-- Dump completed'), /completion trailer \("-- Dump completed"\) is missing/],
    ];
    for (const [at, words] of cuts) {
      const file = path.join(work, `cut-${at}.sql`);
      writeFileSync(file, whole.subarray(0, at));
      const { stats } = await readMySqlScript(file, false);
      expect(stats.complete).toBe(false);
      expect(howMySqlScriptEnds(stats)).toMatch(words);
    }
  });
});
