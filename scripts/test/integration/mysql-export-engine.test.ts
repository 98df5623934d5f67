/**
 * The MySQL engine's export, import and drop against a real MariaDB 10.11 and the awkward corpus:
 * CSVs whose rows equal the tables (NULL apart from '', blobs as hex), an import into a fresh
 * database with the same fingerprint, and a drop that leaves nothing.
 */
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Target } from '../../lib/config/target.js';
import { silentReporter } from '../../lib/context.js';
import { dataFileName, EXPORT_SCHEMA, EXPORT_VERSION, type ExportMetadata, type ExportTable } from '../../lib/format/export-metadata.js';
import { dumpMySqlSchema, openMySqlExport } from '../../lib/engines/mysql/export.js';
import { importIntoMySql } from '../../lib/engines/mysql/import.js';
import { emptyMySqlDatabase, mySqlObjects } from '../../lib/engines/mysql/drop.js';
import { openMySql } from '../../lib/engines/mysql/client.js';
import { awkwardUsersSql, fingerprintMariaDb, MARIADB_CORPUS, startMariaDb, type MariaDb } from '../support/mariadb.js';

describe('MySQL export, import and drop (engine level)', () => {
  let server: MariaDb;
  let work: string;
  const targetOf = (database: string): Target => ({ host: '127.0.0.1', port: server.port, user: server.user, password: server.password, database, params: {}, env: 'default', source: 'test', protected: false });
  const signal = new AbortController().signal;

  beforeAll(async () => {
    server = await startMariaDb();
    work = mkdtempSync(path.join(tmpdir(), 'pgkit-mysql-export-'));
  });
  afterAll(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** An export of `db` into `dir`, written the way db:export lays one out. */
  async function exportInto(db: string, dir: string): Promise<ExportMetadata> {
    mkdirSync(path.join(dir, 'data'), { recursive: true });
    const session = await openMySqlExport(targetOf(db), 0);
    try {
      const tables: ExportTable[] = [];
      for (const t of session.tables) {
        const file = dataFileName(t.schema, t.table);
        const written = await session.writeTable(t, createWriteStream(path.join(dir, file)), signal);
        tables.push({ name: t.name, schema: t.schema, table: t.table, file, columns: t.columns, ...written });
      }
      await session.commit();
      const schema = await dumpMySqlSchema(targetOf(db), undefined, createWriteStream(path.join(dir, 'schema.sql')), signal);
      return {
        schema: EXPORT_SCHEMA, version: EXPORT_VERSION, id: 'x', kit: { version: '0', node: process.version },
        server: { version: session.facts.version, versionNum: session.facts.versionNum },
        database: { name: db, host: '127.0.0.1', port: server.port, environment: 'default' },
        snapshot: { id: session.snapshot.id, takenAt: session.snapshot.takenAt, isolation: 'repeatable read' },
        startedAt: '', finishedAt: '', settings: {}, scope: { tables: [], excludeTables: [], schemas: [], complete: true },
        schemaFile: { file: 'schema.sql', bytes: schema.bytes, sha256: schema.sha256, preDataBytes: schema.preDataBytes },
        tables, sequences: {}, largeObjects: undefined,
      };
    } finally {
      await session.close();
    }
  }

  it('exports the awkward corpus to CSVs whose rows are the tables’, and imports them back to the same fingerprint', async () => {
    const source = await server.createDatabase();
    await server.sql(readFileSync(MARIADB_CORPUS, 'utf8'), source);
    await server.sql(awkwardUsersSql(source));
    const dir = path.join(work, 'export');
    const meta = await exportInto(source, dir);
    expect(meta.tables.map((t) => t.table)).toContain("odd table `name` 'q'");
    // NULL is an empty field, '' is "" — in a text column and in a binary one
    const customers = readFileSync(path.join(dir, dataFileName(source, 'customers')), 'utf8');
    expect(customers).toMatch(/\n3,Empty note,empty@example.com,"",2000-01-01 00:00:00.000000,0.0000,,gone,staff\n/);
    expect(customers).toMatch(/\n4,Null note,null@example.com,,/);
    expect(customers).toContain('Zoë 🐘 Ångström');
    const blobs = readFileSync(path.join(dir, dataFileName(source, 'blobs')), 'utf8').split('\n');
    expect(blobs[0]).toBe('id,fixed,var_bytes,content,small,bits');
    expect(blobs[1]!.startsWith('1,0001020304050607,00FF00FF0A0D5C27,00FFFE0A0D1A5C2722')).toBe(true);
    expect(blobs[1]!.endsWith(',"",0AAA')).toBe(true);
    expect(blobs[2]).toBe('2,,"",,,');
    // the generated columns are the server's to compute: not in the file
    expect(readFileSync(path.join(dir, dataFileName(source, 'orders')), 'utf8').split('\n')[0]).toBe('id,customer_id,quantity,unit_price,details');
    expect(meta.tables.find((t) => t.table === 'customers')!.rows).toBe(4);

    const copy = await server.createDatabase();
    await server.sql('CREATE TABLE leftover (id INT); CREATE VIEW leftover_view AS SELECT 1 AS one;', copy);
    const open = async (file: string) => createReadStream(path.join(dir, file));
    await importIntoMySql(targetOf(copy), { location: dir, metadata: meta, open }, silentReporter, signal);
    const [before, after] = [await fingerprintMariaDb(server, source), await fingerprintMariaDb(server, copy)];
    expect(after.tables).toEqual(before.tables);
    expect(after.definitions).toEqual(before.definitions);
  });

  it('loads with multi-row INSERTs where the server refuses LOAD DATA LOCAL, to the same fingerprint', async () => {
    const source = await server.createDatabase();
    await server.sql(readFileSync(MARIADB_CORPUS, 'utf8'), source);
    // more rows than one INSERT carries, and characters that a chunk boundary could cut
    await server.sql("CREATE TABLE many (id INT PRIMARY KEY, t TEXT, b BLOB); INSERT INTO many SELECT seq, CONCAT(REPEAT('é🐘', seq % 7), IF(seq % 5 = 0, '\\\t\\n', '')), IF(seq % 3 = 0, NULL, UNHEX(HEX(seq))) FROM seq_1_to_2500;", source);
    const dir = path.join(work, 'inserts');
    const meta = await exportInto(source, dir);
    const copy = await server.createDatabase();
    const notices: string[] = [];
    await server.sql('SET GLOBAL local_infile = 0;');
    try {
      const open = async (file: string) => createReadStream(path.join(dir, file), { highWaterMark: 1000 });
      await importIntoMySql(targetOf(copy), { location: dir, metadata: meta, open }, { ...silentReporter, notice: (m) => notices.push(m) }, signal);
    } finally {
      await server.sql('SET GLOBAL local_infile = 1;');
    }
    expect(notices.join('\n')).toMatch(/local_infile is off.*multi-row INSERTs/);
    const [before, after] = [await fingerprintMariaDb(server, source), await fingerprintMariaDb(server, copy)];
    expect(after.tables).toEqual(before.tables);
    expect(after.tables.many).toMatch(/^2500 /);
  });

  it('refuses a damaged file before committing a row, and the drop then empties the database', async () => {
    const source = await server.createDatabase();
    await server.sql('CREATE TABLE a (id INT PRIMARY KEY, v TEXT); INSERT INTO a VALUES (1, "x"), (2, NULL);', source);
    const dir = path.join(work, 'damaged');
    const meta = await exportInto(source, dir);
    const file = path.join(dir, meta.tables[0]!.file);
    const text = readFileSync(file, 'utf8');
    const copy = await server.createDatabase();
    const open = async (name: string) => (name === meta.tables[0]!.file ? createReadStream(file).map((c: Buffer) => Buffer.from(c.toString().replace('x', 'y'))) : createReadStream(path.join(dir, name)));
    expect(text).toContain(',x\n');
    await expect(importIntoMySql(targetOf(copy), { location: dir, metadata: meta, open }, silentReporter, signal)).rejects.toMatchObject({ code: 'EXPORT_DAMAGED' });
    expect((await server.sql('SELECT COUNT(*) FROM a;', copy)).trim()).toBe('0');

    await server.sql(readFileSync(MARIADB_CORPUS, 'utf8'), copy);
    const client = await openMySql(targetOf(copy));
    try {
      const { dropped } = await emptyMySqlDatabase(client, copy, signal);
      expect(dropped).toEqual(expect.arrayContaining(['event purge_event_log', 'trigger orders_audit', 'procedure close customer', 'function order_weight', 'view big spenders', 'table orders']));
      expect(await mySqlObjects(client, copy)).toEqual([]);
    } finally {
      await client.end();
    }
  });
});
