/**
 * db:restore and db:verify --deep on a MySQL/MariaDB environment, run as a user runs them. One
 * story starts from db:backup; the others from mariadb-dump's own output with a .info as db:backup
 * writes one (statistics read from the script by the engine's reader), so that they do not
 * depend on the backup's other artifacts (its globals.sql of MySQL users).
 */
import { writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, createDatabase, makeProject, startCli, waitFor } from '../support/harness.js';
import { takeBackup } from '../support/backups.js';
import { fingerprintMariaDb, MARIADB_CORPUS, scratchLoaderOf, startMariaDb, type MariaDb } from '../support/mariadb.js';
import { buildInfo } from '../../lib/backup/backup.js';
import { MYSQL_FINGERPRINT_ALGORITHM, readMySqlScript } from '../../lib/engines/mysql/script.js';

let server: MariaDb;
let source: string;

const url = (database: string) => `mysql://admin:${server.password}@127.0.0.1:${server.port}/${database}`;

beforeAll(async () => {
  server = await startMariaDb();
  source = await server.createDatabase();
  await server.sql(readFileSync(MARIADB_CORPUS, 'utf8'), source);
}, 300_000);

afterAll(async () => {
  await server?.stop();
});

/** A backup of `database` in the project's default environment, as db:backup lays one out. */
async function mysqlBackup(project: string, database: string): Promise<string> {
  const started = new Date();
  const id = `backup_manual_${started.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15)}`;
  const dir = path.join(project, 'backups/default');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${id}.sql`);
  await server.tool('mariadb-dump', ['--single-transaction', '--routines', '--triggers', '--events', '--hex-blob', '--default-character-set=utf8mb4', database], { stdoutFile: file });
  const read = await readMySqlScript(file, false);
  const info = buildInfo({
    id,
    engine: 'mysql',
    environment: 'default',
    options: { type: 'manual', description: 'test', tables: [], excludeTables: [], schemas: [] },
    started,
    finished: new Date(started.getTime() + 1000),
    database: { name: database, host: '127.0.0.1', port: server.port, user: 'admin', serverVersion: '10.11', serverVersionNum: 101100, sizeBytes: 1, configuredBy: 'test', flavour: 'MariaDB' },
    pgDump: { path: 'mariadb-dump', version: '10.11' },
    snapshot: 'single-transaction',
    serverTime: started,
    artifacts: [{ file: `${id}.sql`, format: 'sql', bytes: read.bytes, sha256: read.sha256 }],
    stats: read.stats,
    source: 'plain-stream',
    largeObjects: 0,
  });
  info.statistics.algorithm = MYSQL_FINGERPRINT_ALGORITHM;
  writeFileSync(path.join(dir, `${id}.info`), JSON.stringify(info, null, 2));
  writeFileSync(path.join(dir, `${id}.sha256`), `${read.sha256}  ${id}.sql\n`);
  expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(read.sha256);
  return id;
}

async function kitDatabases(): Promise<string[]> {
  return (await server.sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '%\\_kit\\_%';")).split('\n').filter(Boolean);
}

describe('db:restore and db:verify on a MySQL/MariaDB environment', { timeout: 180_000 }, () => {
  it('db:restore --force replaces the target with the backup, equal to the source', async () => {
    const project = makeProject();
    const id = await mysqlBackup(project, source);
    const target = await server.createDatabase();
    await server.sql('CREATE TABLE junk (a INT); INSERT INTO junk VALUES (1);', target);
    const env = { DATABASE_URL: url(target) };

    const unconfirmed = await cli('pg-restore', [id, '--no-safety-backup'], { cwd: project, env });
    expect(unconfirmed.code).toBe(13);
    expect(unconfirmed.stderr).toMatch(/no terminal to confirm it\. Pass --force/);
    expect((await server.sql('SHOW TABLES;', target)).trim()).toBe('junk');

    const done = await cli('pg-restore', [id, '--force', '--no-safety-backup'], { cwd: project, env });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/row counts verified for \d+ tables \(\d+ rows\) before the swap/);
    expect(await fingerprintMariaDb(server, target)).toEqual(await fingerprintMariaDb(server, source));
    expect(done.stderr).not.toContain(server.password);
    expect(done.stdout).not.toContain(server.password);
    expect(await kitDatabases()).toEqual([]);
  });

  it('db:backup then db:restore of each artifact, with the safety backup; its undo command puts the target back', async () => {
    const project = makeProject();
    const backup = await cli('pg-backup', ['--json'], { cwd: project, env: { DATABASE_URL: url(source) } });
    expect(backup.code, backup.stderr).toBe(0);
    const id = backup.json<{ id: string }>().id;
    const target = await server.createDatabase();
    await server.sql('CREATE TABLE junk (a INT); INSERT INTO junk VALUES (1); CREATE PROCEDURE junk_proc() SELECT 1;', target);
    const before = await fingerprintMariaDb(server, target);
    const env = { DATABASE_URL: url(target) };
    let undo = '';
    for (const format of ['sql', 'sql.gz']) {
      const run = await cli('pg-restore', [`backups/default/${id}.${format}`, '--force'], { cwd: project, env });
      expect(run.code, run.stderr).toBe(0);
      expect(await fingerprintMariaDb(server, target)).toEqual(await fingerprintMariaDb(server, source));
      undo ||= /To undo: pnpm db:restore -- (\S+) --force/.exec(run.stdout)?.[1] ?? '';
    }
    expect(undo).toMatch(/^backups\/default\/backup_pre-restore_\d{8}_\d{6}\.sql\.gz$/);
    const undone = await cli('pg-restore', [undo, '--force', '--no-safety-backup'], { cwd: project, env });
    expect(undone.code, undone.stderr).toBe(0);
    expect(await fingerprintMariaDb(server, target)).toEqual(before);
    expect(await kitDatabases()).toEqual([]);
  });

  it('--create makes a database that does not exist; --keep-old keeps the replaced tables beside the target', async () => {
    const project = makeProject();
    const id = await mysqlBackup(project, source);
    const missing = `m_missing_${Date.now()}`;
    const created = await cli('pg-restore', [id, '--create', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: url(missing) } });
    expect(created.code, created.stderr).toBe(0);
    expect(await fingerprintMariaDb(server, missing)).toEqual(await fingerprintMariaDb(server, source));

    const target = await server.createDatabase();
    await server.sql('CREATE TABLE junk (a INT); INSERT INTO junk VALUES (7);', target);
    const kept = await cli('pg-restore', [id, '--keep-old', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: url(target) } });
    expect(kept.code, kept.stderr).toBe(0);
    const old = /the replaced database was kept as (\S+)/.exec(kept.stdout)?.[1];
    expect(old).toMatch(new RegExp(`^${target}_kit_old_\\d{8}_\\d{6}$`));
    expect((await server.sql('SELECT a FROM junk;', old)).trim()).toBe('7');
    expect(await fingerprintMariaDb(server, target)).toEqual(await fingerprintMariaDb(server, source));
    await server.sql(`DROP DATABASE \`${old}\`;`);
    expect(await kitDatabases()).toEqual([]);
  });

  it('a db:restore killed outright right after its RENAME is undone by the next db:restore, which then restores', async () => {
    const project = makeProject();
    const id = await mysqlBackup(project, source);
    const target = await server.createDatabase();
    await server.sql('CREATE TABLE junk (a INT); INSERT INTO junk VALUES (1); CREATE VIEW junk_view AS SELECT a FROM junk;', target);
    const before = await fingerprintMariaDb(server, target);
    const env = { DATABASE_URL: url(target) };
    const killed = startCli('pg-restore', [id, '--force', '--no-safety-backup'], { cwd: project, env: { ...env, PGKIT_TEST_PAUSE: 'after-rename' } });
    await waitFor('the swap to be half-way', () => (killed.output().stderr.includes('test pause: after-rename') ? true : undefined), 60_000);
    process.kill(killed.child.pid!, 'SIGKILL');
    await killed.result;
    expect(await fingerprintMariaDb(server, target)).not.toEqual(before);

    const again = await cli('pg-restore', [id, '--force', '--no-safety-backup'], { cwd: project, env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`undid a restore of ${target} that was killed while swapping tables`));
    expect(await fingerprintMariaDb(server, target)).toEqual(await fingerprintMariaDb(server, source));
    expect(await kitDatabases()).toEqual([]);
  });

  it('the mariadb client killed outright while it loads: the restore fails with exit 14, the target never changed, no kit database is left', async () => {
    // A source big enough that its load takes seconds: the client is caught and killed mid-way.
    const big = await server.createDatabase();
    await server.sql("CREATE TABLE filler (id INT PRIMARY KEY, body VARCHAR(400)) ENGINE=InnoDB; INSERT INTO filler SELECT seq, REPEAT(CONCAT('row ', seq, ' \u{1F600} '), 20) FROM seq_1_to_150000;", big);
    const project = makeProject();
    const id = await mysqlBackup(project, big);
    const target = await server.createDatabase();
    await server.sql('CREATE TABLE junk (a INT); INSERT INTO junk VALUES (3); CREATE VIEW junk_view AS SELECT a FROM junk;', target);
    const before = await fingerprintMariaDb(server, target);
    const running = startCli('pg-restore', [id, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: url(target) } });
    const loader = await waitFor('the mariadb client loading the scratch database', () => scratchLoaderOf(target), 60_000);
    process.kill(loader, 'SIGKILL');
    const failed = await running.result;
    expect(failed.code, failed.stderr).toBe(14);
    expect(failed.stderr).toMatch(/mariadb/);
    expect(failed.stderr).not.toContain(server.password);
    expect(await fingerprintMariaDb(server, target)).toEqual(before);
    expect(await kitDatabases()).toEqual([]);
  });

  it('refuses what a swap cannot do safely, naming why, before anything changes', async () => {
    const project = makeProject();
    const id = await mysqlBackup(project, source);
    const target = await server.createDatabase();
    await server.sql('CREATE TABLE junk (a INT);', target);
    for (const flag of [['--table', 'orders'], ['--data-only'], ['--schema-only'], ['--jobs', '2']]) {
      const run = await cli('pg-restore', [id, '--force', '--no-safety-backup', ...flag], { cwd: project, env: { DATABASE_URL: url(target) } });
      expect(run.code, run.stderr).not.toBe(0);
      expect(run.code).toBe(16);
      expect(run.stderr).toMatch(new RegExp(`${flag[0]} is not available for MySQL/MariaDB databases: their DDL is not transactional`));
      expect((await server.sql('SHOW TABLES;', target)).trim()).toBe('junk');
    }
  });

  it('db:verify --deep restores into a scratch database, compares with the .info, and leaves none behind', async () => {
    const project = makeProject();
    const id = await mysqlBackup(project, source);
    const run = await cli('verify', [id, '--deep', '--json'], { cwd: project, env: { DATABASE_URL: url(source) } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/"level": ?"deep"/);
    expect(await kitDatabases()).toEqual([]);

    // A backup whose recorded statistics differ from what its script restores is a mismatch.
    const infoFile = path.join(project, 'backups/default', `${id}.info`);
    const info = JSON.parse(readFileSync(infoFile, 'utf8'));
    info.statistics.tables.orders.rows += 1;
    writeFileSync(infoFile, JSON.stringify(info, null, 2));
    const bad = await cli('verify', [id, '--deep'], { cwd: project, env: { DATABASE_URL: url(source) } });
    expect(bad.code).toBe(15);
    expect(bad.stdout + bad.stderr).toMatch(/table orders: the backup recorded \d+ rows, the restored copy has \d+/);
    expect(await kitDatabases()).toEqual([]);
  });

  it('a PostgreSQL backup given to a MySQL environment is refused before anything changes', async () => {
    const project = makeProject();
    const pg = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const backup = await takeBackup(project, pg.url);
    const target = await server.createDatabase();
    await server.sql('CREATE TABLE junk (a INT); INSERT INTO junk VALUES (1);', target);
    const before = await fingerprintMariaDb(server, target);
    const run = await cli('pg-restore', [backup.id, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: url(target) } });
    expect(run.code).toBe(16);
    expect(run.stderr).toMatch(/is a PostgreSQL backup, and .* is a MySQL\/MariaDB database: a backup restores only into a database of the engine that made it\. Nothing was changed\./);
    expect(await fingerprintMariaDb(server, target)).toEqual(before);
    expect(await kitDatabases()).toEqual([]);
  });
});
