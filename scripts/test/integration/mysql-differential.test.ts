/**
 * Differential exports on MariaDB, driven through the CLI as a user runs them against a real
 * MariaDB 10.11: a chain of a full export and differentials (a DATETIME and a TIMESTAMP basis,
 * inserts, updates and deletes) imported with --until latest into a fresh database to the same
 * fingerprint; a table without a primary key refused, and taken in full with --skip-unsuitable;
 * a write by a transaction running across a differential's snapshot; a server time_zone other
 * than the kit's own.
 */
import { createConnection, type Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../lib/errors.js';
import { cli, makeProject } from '../support/harness.js';
import { fingerprintMariaDb, startMariaDb, type MariaDb } from '../support/mariadb.js';

let server: MariaDb;
const urlOf = (db: string) => `mysql://${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${server.port}/${db}`;

beforeAll(async () => {
  server = await startMariaDb();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

const SCHEMA = `
  CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(50), updated_at DATETIME(6) NOT NULL DEFAULT NOW(6) ON UPDATE NOW(6));
  CREATE TABLE tags (code VARCHAR(20) COLLATE utf8mb4_general_ci PRIMARY KEY, label TEXT, bytes VARBINARY(4), updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6));
  INSERT INTO orders (id, note) VALUES (1, 'one'), (2, 'two'), (3, 'three'), (10, NULL);
  INSERT INTO tags (code, label, bytes) VALUES ('a', 'lower a', UNHEX('00')), ('B', 'upper b', NULL), ('é', 'e acute', UNHEX('FF')), ('Z', '', ''), ('z2', 'Zoë 🐘', UNHEX('0A0D'));
`;

interface Exported {
  id: string;
  path: string;
  rows: number;
  chain?: { position: number; changedRows: number; deletedRows: number };
}

async function exportDifferential(project: string, db: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Exported> {
  const run = await cli('db-export', ['--differential', '--json', ...extra], { cwd: project, env: { DATABASE_URL: urlOf(db), ...env } });
  expect(run.code, run.stderr).toBe(0);
  return run.json<Exported>();
}

async function importChain(project: string, full: Exported, env: Record<string, string> = {}): Promise<string> {
  const copy = await server.createDatabase();
  const run = await cli('db-import', [full.id, '--until', 'latest', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: urlOf(copy), ...env } });
  expect(run.code, run.stderr).toBe(0);
  return copy;
}

async function connect(db: string): Promise<Connection> {
  return createConnection({ host: '127.0.0.1', port: server.port, user: server.user, password: server.password, database: db });
}

describe('db:export --differential on MariaDB', () => {
  it('refuses a table without a primary key, takes it in full with --skip-unsuitable, and a chain imports to the same fingerprint', async () => {
    const db = await server.createDatabase();
    await server.sql(`${SCHEMA} CREATE TABLE loose (n INT, updated_at DATETIME); INSERT INTO loose VALUES (1, NOW()), (1, NOW());`, db);
    // these few rows change by more than the default maxShare, which would start a new chain each time
    const project = makeProject({ 'backup-kit.json': JSON.stringify({ export: { differential: { maxShare: 1 } } }) });
    const refused = await cli('db-export', ['--differential'], { cwd: project, env: { DATABASE_URL: urlOf(db) } });
    expect(refused.code).toBe(EXIT_CODES.EXPORT);
    expect(refused.code).toBe(24);
    expect(refused.stderr).toMatch(/`loose` has no primary key/);

    const full = await exportDifferential(project, db, ['--skip-unsuitable']);
    expect(full.chain?.position).toBe(0);
    await server.sql(`UPDATE orders SET note = 'two!' WHERE id = 2; DELETE FROM orders WHERE id = 3; INSERT INTO orders (id, note) VALUES (4, 'four');
      UPDATE tags SET label = 'A!' WHERE code = 'a'; DELETE FROM tags WHERE code = 'é'; INSERT INTO tags (code, label) VALUES ('e', 'plain e'), ('ñ', 'tilde n');
      INSERT INTO loose VALUES (2, NOW());`, db);
    const first = await exportDifferential(project, db, ['--skip-unsuitable']);
    expect(first.chain).toMatchObject({ position: 1, deletedRows: 2 });
    // orders: 2 and 4; tags: a, e, ñ; loose: every row (3)
    expect(first.chain!.changedRows).toBe(2 + 3 + 3);
    await server.sql(`DELETE FROM orders WHERE id = 1; UPDATE orders SET note = 'ten' WHERE id = 10; DELETE FROM tags WHERE code IN ('B', 'e'); INSERT INTO tags (code, label, bytes) VALUES ('b', 'lower b', UNHEX('0102'));`, db);
    const second = await exportDifferential(project, db, ['--skip-unsuitable']);
    expect(second.chain).toMatchObject({ position: 2, deletedRows: 3 });

    const copy = await importChain(project, full);
    const [before, after] = [await fingerprintMariaDb(server, db), await fingerprintMariaDb(server, copy)];
    expect(after.tables).toEqual(before.tables);
  });

  it('a write by a transaction running across a differential\'s snapshot is in the next differential', async () => {
    const db = await server.createDatabase();
    await server.sql(SCHEMA, db);
    // the rows written just before the full export may count again (its bound is the writer's start less a second)
    const project = makeProject({ 'backup-kit.json': JSON.stringify({ export: { differential: { maxShare: 1 } } }) });
    const full = await exportDifferential(project, db);
    const writer = await connect(db);
    try {
      await writer.query('START TRANSACTION');
      await writer.query("UPDATE orders SET note = 'late' WHERE id = 1"); // stamped now, committed after the next snapshot
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const during = await exportDifferential(project, db);
      expect(during.chain!.changedRows).toBe(0);
      await writer.query('COMMIT');
    } finally {
      await writer.end();
    }
    const after = await exportDifferential(project, db);
    expect(after.chain!.position).toBe(2);
    expect(after.chain!.changedRows).toBeGreaterThanOrEqual(1);
    const copy = await importChain(project, full);
    expect(await server.sql('SELECT note FROM orders WHERE id = 1', copy)).toContain('late');
    expect((await fingerprintMariaDb(server, copy)).tables).toEqual((await fingerprintMariaDb(server, db)).tables);
  });

  it('reads DATETIME in the server\'s time_zone, not the kit\'s, and loses no row', async () => {
    const db = await server.createDatabase();
    await server.sql("SET GLOBAL time_zone = '-07:00'");
    try {
      await server.sql(SCHEMA, db);
      const project = makeProject();
      const env = { TZ: 'Asia/Tokyo' };
      const full = await exportDifferential(project, db, [], env);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await server.sql("UPDATE orders SET note = 'changed' WHERE id = 2; INSERT INTO orders (id, note) VALUES (5, 'five');", db);
      const next = await exportDifferential(project, db, [], env);
      expect(next.chain!.changedRows).toBe(2);
      const meta = await import('node:fs').then((fs) => JSON.parse(fs.readFileSync(`${next.path}/metadata.json`, 'utf8')) as { chain: { timeZone: string } });
      expect(meta.chain.timeZone).toBe('-07:00');
      const copy = await importChain(project, full, env);
      expect((await fingerprintMariaDb(server, copy)).tables).toEqual((await fingerprintMariaDb(server, db)).tables);
    } finally {
      await server.sql("SET GLOBAL time_zone = 'SYSTEM'");
    }
  });
});
