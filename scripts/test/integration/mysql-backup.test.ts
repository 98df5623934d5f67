/**
 * `pnpm db:backup` on a MySQL/MariaDB environment, as a person runs it: a project whose .env names
 * a mysql:// database on a real MariaDB 10.11, the awkward corpus in it. The backup's files, their
 * checksums, its .info, its globals, its refusals, where the password goes (nowhere), and that
 * the raw client restores it to the same database, even with a writer busy during the backup.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { openMySql } from '../../lib/engines/mysql/client.js';
import { targetFromUrl } from '../../lib/config/target.js';
import { backupDir, cli, listBackupFiles, makeProject, readInfo, startCli, waitFor } from '../support/harness.js';
import { awkwardUsersSql, fingerprintMariaDb, MARIADB_CORPUS, startMariaDb, type MariaDb } from '../support/mariadb.js';

let server: MariaDb;
let source: string;

const urlOf = (database: string) => `mysql://${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}@${server.host}:${server.port}/${database}`;
const projectFor = (database: string) => makeProject({ 'packages/database/.env': `DATABASE_URL=${urlOf(database)}\n` });
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Every file under a directory, for "the password is in none of them". */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

async function counts(database: string, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of tables) out[table] = Number((await server.sql(`SELECT COUNT(*) FROM \`${table.replaceAll('`', '``')}\`;`, database)).trim());
  return out;
}

beforeAll(async () => {
  server = await startMariaDb();
  source = await server.createDatabase();
  await server.sql(readFileSync(MARIADB_CORPUS, 'utf8'), source);
  await server.sql(awkwardUsersSql(source));
  // A table --single-transaction cannot hold still: the backup must name it.
  await server.sql('CREATE TABLE legacy_notes (id INT PRIMARY KEY, note TEXT) ENGINE=MyISAM; INSERT INTO legacy_notes VALUES (1, \'kept\'), (2, \'also kept\');', source);
}, 180_000);

afterAll(async () => {
  await server?.stop();
});

describe('db:backup on a MariaDB environment', () => {
  it('writes .sql and .sql.gz from one dump, with checksums, an .info that says MariaDB, and globals, and the raw client restores it unchanged', async () => {
    const project = projectFor(source);
    const run = await cli('pg-backup', ['--format', 'sql,sql.gz', '--json'], { cwd: project });
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.code).toBe(0);
    const result = run.json<BackupResult>();
    const info = readInfo(project, result.id);

    // Files: .sql, .sql.gz and the globals, each as its sha256 says; .sql.gz is .sql compressed.
    expect(info.artifacts.map((a) => a.format).sort()).toEqual(['globals', 'sql', 'sql.gz']);
    for (const artifact of info.artifacts) expect(sha256(path.join(backupDir(project), artifact.file)), artifact.file).toBe(artifact.sha256);
    const sqlFile = path.join(backupDir(project), `${result.id}.sql`);
    const sql = readFileSync(sqlFile);
    expect(gunzipSync(readFileSync(path.join(backupDir(project), `${result.id}.sql.gz`))).equals(sql)).toBe(true);
    expect(sql.toString()).toMatch(/-- Dump completed on /);
    expect(readFileSync(path.join(backupDir(project), `${result.id}.sha256`), 'utf8')).toContain(`${info.artifacts[0]!.sha256}  ${info.artifacts[0]!.file}`);

    // .info: the engine, the flavour, the server's version, the dump program, the snapshot as it was taken.
    expect(info.engine).toBe('mysql');
    expect(info.database).toMatchObject({ name: source, flavour: 'MariaDB', host: server.host, port: server.port, user: server.user });
    expect(info.database.serverVersion).toMatch(/^10\.11\.\d+-MariaDB/);
    expect(info.database.serverVersionNum).toBeGreaterThanOrEqual(101100);
    expect(info.pgDump.path).toMatch(/mariadb-dump|mysqldump/);
    expect(info.pgDump.version).toMatch(/^10\.11\.\d+$/);
    expect(info.snapshot).toMatchObject({ id: 'single-transaction', isolation: 'repeatable read' });
    expect(info.restore.sql?.[1]).toMatch(/^mariadb /);

    // The non-transactional table is named in a warning.
    expect(run.stderr).toMatch(/warning: table legacy_notes \(MyISAM\) is not transactional/);

    // Row counts recorded from the same stream equal the database's own.
    const tables = Object.keys((await fingerprintMariaDb(server, source)).tables);
    expect(Object.keys(info.statistics.tables).sort()).toEqual([...tables].sort());
    const expected = await counts(source, tables);
    for (const table of tables) expect(info.statistics.tables[table]?.rows, table).toBe(expected[table]);
    expect(info.statistics.source).toBe('plain-stream');

    // The globals hold the database's users and their grants (hashes included), the .info only their names.
    const globals = readFileSync(path.join(backupDir(project), `${result.id}.globals.sql`), 'utf8');
    expect(globals).toMatch(/CREATE USER `app reader`@`%` IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}'/);
    expect(globals).toMatch(/GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE ON `[^`]+`\.\* TO `app_writer`@`127\.0\.0\.1`/);
    expect(info.roles?.roles).toEqual(expect.arrayContaining(['app reader@%', 'app_writer@127.0.0.1']));
    expect(JSON.stringify(info)).not.toMatch(/\*[0-9A-F]{40}/);

    // The password is nowhere: not in the output, the .info, the run log or any file the kit wrote.
    expect(run.stdout + run.stderr).not.toContain(server.password);
    const written = filesUnder(project).filter((f) => !f.endsWith(path.join('packages', 'database', '.env')));
    expect(written.length).toBeGreaterThan(4);
    for (const file of written) expect(readFileSync(file).includes(server.password), file).toBe(false);

    // The raw client restores the .sql into a fresh database: the same rows and definitions.
    const copy = await server.createDatabase();
    await server.tool('mariadb', ['--default-character-set=utf8mb4', copy], { stdinFile: sqlFile });
    expect(await fingerprintMariaDb(server, copy)).toEqual(await fingerprintMariaDb(server, source));
  });

  it('takes sql and sql.gz when no --format is given, and db:list shows the backup', async () => {
    const project = projectFor(source);
    const run = await cli('pg-backup', ['--json'], { cwd: project });
    expect(run.code).toBe(0);
    const { id } = run.json<BackupResult>();
    expect(readInfo(project, id).artifacts.map((a) => a.format).sort()).toEqual(['globals', 'sql', 'sql.gz']);
    const list = await cli('list', [], { cwd: project });
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(id);
  });

  it.each([
    [['--format', 'dump'], /--format dump: MySQL\/MariaDB backups are sql and sql\.gz only/],
    [['--format', 'sql,tar'], /--format tar: MySQL\/MariaDB backups are sql and sql\.gz only/],
    [['--schema', 'public'], /--schema has no meaning for MySQL\/MariaDB/],
  ])('refuses %j with one message, exit 2, and nothing written', async (args, message) => {
    const project = projectFor(source);
    const run = await cli('pg-backup', args, { cwd: project });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.split('\n').filter((l) => l.includes('error:'))).toHaveLength(1);
    expect(listBackupFiles(project).filter((f) => f.startsWith('backup_'))).toEqual([]);
  });

  it('refuses a wrong password in the kit\'s words, without printing it', async () => {
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=mysql://${server.user}:wrong-${randomBytes(4).toString('hex')}@${server.host}:${server.port}/${source}\n` });
    const run = await cli('pg-backup', [], { cwd: project });
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/rejected user "admin"/);
    expect(run.stderr).not.toMatch(/wrong-[0-9a-f]{8}/);
  });
});

describe('db:backup on MariaDB, narrowed to some tables', () => {
  it('dumps only the tables named, leaves out the excluded ones, and refuses a table that is not there', async () => {
    const project = projectFor(source);
    const run = await cli('pg-backup', ['--format', 'sql', '--table', 'customers', '--table', `${source}.orders`, '--json'], { cwd: project });
    expect(run.code).toBe(0);
    const only = readInfo(project, run.json<BackupResult>().id);
    expect(Object.keys(only.statistics.tables).sort()).toEqual(['customers', 'orders']);
    expect(only.scope).toMatchObject({ tables: ['customers', `${source}.orders`], complete: false });

    const all = Object.keys((await fingerprintMariaDb(server, source)).tables);
    const without = await cli('pg-backup', ['--format', 'sql', '--exclude-table', 'audit', '--json'], { cwd: project });
    expect(without.code).toBe(0);
    expect(Object.keys(readInfo(project, without.json<BackupResult>().id).statistics.tables).sort()).toEqual(all.filter((t) => t !== 'audit').sort());

    const before = listBackupFiles(project);
    const missing = await cli('pg-backup', ['--format', 'sql', '--table', 'no_such_table'], { cwd: project });
    expect(missing.code).toBe(11);
    expect(missing.stderr).toMatch(/Couldn't find table.*no_such_table.*Check the --table names/);
    expect(listBackupFiles(project)).toEqual(before);
  });
});

describe('db:backup on MariaDB as a user with rights on its database only', () => {
  it('refuses a dump that would lose a routine it may not read, naming the grant, and writes nothing', async () => {
    await server.sql(`CREATE USER IF NOT EXISTS 'limited'@'127.0.0.1' IDENTIFIED BY 'lim-pw-7'; GRANT ALL ON \`${source}\`.* TO 'limited'@'127.0.0.1';`);
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=mysql://limited:lim-pw-7@${server.host}:${server.port}/${source}\n` });
    const run = await cli('pg-backup', ['--format', 'sql'], { cwd: project });
    expect(run.code).toBe(10);
    expect(run.stderr).toMatch(/limited may not read the body of function `order_weight`, so the backup would lose it\. Grant it SELECT ON mysql\.proc/);
    // The routines' definer is an account it may not read: said, never with a hash.
    expect(run.stderr).toMatch(/the backup's globals leave out admin@127\.0\.0\.1 \(ER_DBACCESS_DENIED_ERROR\)/);
    expect(run.stderr).not.toContain('lim-pw-7');
    expect(listBackupFiles(project).filter((f) => f.startsWith('backup_'))).toEqual([]);
  });
});

describe('db:backup on MariaDB, encrypted', () => {
  it('age-encrypts every artifact before it is stored; age -d gives back the .sql the .info describes', async () => {
    const project = projectFor(source);
    const key = path.join(project, 'key.txt');
    execFileSync('age-keygen', ['-o', key], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', key]).toString().trim();
    const run = await cli('pg-backup', ['--format', 'sql', '--json'], { cwd: project, env: { AGE_RECIPIENTS: recipient } });
    expect(run.stderr).not.toMatch(/error:/);
    expect(run.code).toBe(0);
    const { id } = run.json<BackupResult>();
    const info = readInfo(project, id);
    expect(info.encryption).toMatchObject({ method: 'age', recipients: [recipient] });
    expect(info.artifacts.map((a) => a.file).sort()).toEqual([`${id}.globals.sql.age`, `${id}.sql.age`]);
    expect(listBackupFiles(project).filter((f) => f.endsWith('.sql'))).toEqual([]);
    const stored = path.join(backupDir(project), `${id}.sql.age`);
    expect(readFileSync(stored).subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    const plain = execFileSync('age', ['-d', '-i', key, stored]);
    const sqlArtifact = info.artifacts.find((a) => a.format === 'sql')!;
    expect(createHash('sha256').update(plain).digest('hex')).toBe(sqlArtifact.plain!.sha256);
    expect(plain.toString()).toMatch(/-- Dump completed on /);
    expect(sha256(stored)).toBe(sqlArtifact.sha256);
  });
});

describe('db:backup on MariaDB when the server stops during the dump', () => {
  it('says the server went away, exits 4 and leaves no backup', async () => {
    const own = await startMariaDb();
    try {
      const database = await own.createDatabase();
      await own.sql('CREATE TABLE big (id INT PRIMARY KEY, body VARCHAR(400)) ENGINE=InnoDB; INSERT INTO big SELECT seq, REPEAT(MD5(seq), 12) FROM seq_1_to_400000;', database);
      const project = makeProject({ 'packages/database/.env': `DATABASE_URL=mysql://${encodeURIComponent(own.user)}:${encodeURIComponent(own.password)}@${own.host}:${own.port}/${database}\n` });
      const running = startCli('pg-backup', ['--format', 'sql,sql.gz'], { cwd: project });
      await waitFor('mariadb-dump to run', () => dumpCommandLines(database)[0], 60_000);
      await own.stop();
      const run = await running.result;
      expect(run.code).toBe(4);
      expect(run.stderr).toMatch(/The connection to the server was lost during the backup/);
      expect(listBackupFiles(project).filter((f) => f.startsWith('backup_'))).toEqual([]);
    } finally {
      await own.stop();
    }
  }, 180_000);
});

describe('db:backup on MariaDB under a concurrent writer', () => {
  it('reads every table in one snapshot: two tables written in one transaction each come back with the same count, and no program saw the password', async () => {
    const database = await server.createDatabase();
    // Dumped in name order: a_pair, then the big m_filler, then z_pair. Read outside one
    // snapshot, z_pair would have the rows written while m_filler was being dumped.
    await server.sql(
      `CREATE TABLE a_pair (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6)) ENGINE=InnoDB;
       CREATE TABLE m_filler (id INT PRIMARY KEY, body VARCHAR(400)) ENGINE=InnoDB;
       CREATE TABLE z_pair (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6)) ENGINE=InnoDB;
       INSERT INTO m_filler SELECT seq, REPEAT(MD5(seq), 12) FROM seq_1_to_300000;`,
      database,
    );
    const writer = await openMySql(targetFromUrl(urlOf(database), 'the test', 'default'));
    let writing = true;
    let written = 0;
    const loop = (async () => {
      while (writing) {
        await writer.query('START TRANSACTION');
        await writer.query('INSERT INTO a_pair (at) VALUES (NOW(6))');
        await writer.query('INSERT INTO z_pair (at) VALUES (NOW(6))');
        await writer.query('COMMIT');
        written++;
      }
    })();
    try {
      await waitFor('the writer to start', () => written > 20 || undefined);
      const project = projectFor(database);
      const running = startCli('pg-backup', ['--format', 'sql', '--json'], { cwd: project });
      // The dump program, seen while it runs: its command line carries an option file, never the password.
      const seen = await waitFor('mariadb-dump to run', () => dumpCommandLines(database)[0], 60_000);
      expect(seen).toMatch(/--defaults-extra-file=/);
      expect(seen).not.toContain(server.password);
      const run = await running.result;
      expect(run.code).toBe(0);
      const { id } = run.json<BackupResult>();
      const writtenDuring = written;
      expect(writtenDuring).toBeGreaterThan(20);

      const info = readInfo(project, id);
      expect(info.statistics.tables.a_pair!.rows).toBe(info.statistics.tables.z_pair!.rows);
      const copy = await server.createDatabase();
      await server.tool('mariadb', ['--default-character-set=utf8mb4', copy], { stdinFile: path.join(backupDir(project), `${id}.sql`) });
      const restored = await counts(copy, ['a_pair', 'z_pair', 'm_filler']);
      expect(restored.a_pair).toBe(restored.z_pair);
      expect(restored.m_filler).toBe(300_000);
      expect(restored.a_pair).toBe(info.statistics.tables.a_pair!.rows);
    } finally {
      writing = false;
      await loop.catch(() => undefined);
      await writer.end();
    }
  });
});

/** Command lines of running mariadb-dump (or mysqldump) processes that dump `database`. */
function dumpCommandLines(database: string): string[] {
  const lines: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (/(mariadb-dump|mysqldump)$/.test(args[0] ?? '') && args.includes(database)) lines.push(args.join(' '));
    } catch {
      // it ended while being read
    }
  }
  return lines;
}

