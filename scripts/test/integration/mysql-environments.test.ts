/**
 * MySQL/MariaDB environments through the seams every environment shares (issue 22), as a person
 * meets them: one project with a MariaDB environment beside a PostgreSQL one, each listing its own
 * backups; a backup of one engine refused by the other; push and pull to an S3-compatible store and
 * a file:// remote, restoring from the remote alone; age encryption; retention; db:sync between two
 * MariaDB databases; physical backups refused as PostgreSQL-only; and the password in no output,
 * no file, no run log and no webhook. One MariaDB server for the file, one database per story.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import type { ListResult } from '../../lib/commands/list.js';
import type { DepsResult } from '../../lib/deps/deps.js';
import type { RetentionResult } from '../../lib/commands/retention.js';
import type { SyncResult } from '../../lib/sync/sync.js';
import { acquireLock } from '../../lib/store/lock.js';
import { fingerprint } from '../support/backups.js';
import { backupDir, cli, createDatabase, makeProject, REPO, type CliOptions, type CliResult, type TestDatabase } from '../support/harness.js';
import { fingerprintMariaDb, MARIADB_CORPUS, startMariaDb, type MariaDb } from '../support/mariadb.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';

let server: MariaDb;
let s3: S3Server;
let pgDb: TestDatabase;
let webhook: { server: Server; url: string; bodies: string[] };
/** Everything the kit printed in this file, and every project it wrote into: the password must be in none. */
const printed: string[] = [];
const projects: string[] = [];

const mysqlUrl = (database: string) => `mysql://${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}@${server.host}:${server.port}/${database}`;

/** A run of the CLI whose output is kept for the final secrets check. */
async function run(script: string, args: string[], options: CliOptions): Promise<CliResult> {
  const result = await cli(script, args, options);
  printed.push(result.stdout, result.stderr);
  return result;
}

/** A project whose environments are these databases (mysql:// or postgresql:// URLs), with an optional backup-kit.json. */
function project(envs: Record<string, string>, config?: object): string {
  const files: Record<string, string> = {};
  for (const [env, url] of Object.entries(envs)) files[`packages/database/.env.${env}`] = `DATABASE_URL=${url}\n`;
  if (config) files['backup-kit.json'] = JSON.stringify(config);
  const dir = makeProject(files);
  projects.push(dir);
  return dir;
}

/** A fresh database holding the awkward corpus. */
async function corpusDatabase(): Promise<string> {
  const name = await server.createDatabase();
  await server.sql(readFileSync(MARIADB_CORPUS, 'utf8'), name);
  return name;
}

async function backupOf(dir: string, env: string, extra: string[] = [], processEnv: NodeJS.ProcessEnv = {}): Promise<BackupResult> {
  const made = await run('pg-backup', ['--env', env, '--json', ...extra], { cwd: dir, env: processEnv });
  expect(made.code, made.stderr).toBe(0);
  return made.json<BackupResult>();
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** The backup's own files in an environment's directory. */
function backupFiles(dir: string, env: string, id: string): string[] {
  return filesUnder(backupDir(dir, env)).filter((f) => path.basename(f).startsWith(`${id}.`));
}

beforeAll(async () => {
  server = await startMariaDb();
  s3 = await startS3Server();
  pgDb = await createDatabase({ sql: "CREATE TABLE invoices (id int PRIMARY KEY, note text); INSERT INTO invoices SELECT g, 'invoice ' || g FROM generate_series(1, 50) g" });
  const bodies: string[] = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const address = hook.address() as { port: number };
  webhook = { server: hook, url: `http://127.0.0.1:${address.port}/hook`, bodies };
}, 180_000);

afterAll(async () => {
  await new Promise((resolve) => webhook?.server.close(resolve));
  await s3?.stop();
  await server?.stop();
});

describe('a MySQL environment and a PostgreSQL environment in one project', () => {
  it('each backs up and lists its own backups with its engine; a backup of one engine is refused by the other, which stays as it was', async () => {
    const app = await corpusDatabase();
    const dir = project({ app: mysqlUrl(app), pg: pgDb.url });
    const mine = await backupOf(dir, 'app');
    const theirs = await backupOf(dir, 'pg');

    const appList = (await run('list', ['--env', 'app', '--json'], { cwd: dir })).json<ListResult>();
    const pgList = (await run('list', ['--env', 'pg', '--json'], { cwd: dir })).json<ListResult>();
    expect(appList.backups.map((b) => b.id)).toEqual([mine.id]);
    expect(pgList.backups.map((b) => b.id)).toEqual([theirs.id]);
    expect(appList.backups[0]).toMatchObject({ engine: 'mysql', flavour: 'MariaDB', formats: expect.arrayContaining(['sql']) });
    expect(appList.backups[0]!.serverVersion).toMatch(/^10\.11\.\d+-MariaDB/);
    expect(pgList.backups[0]).toMatchObject({ engine: 'postgresql' });
    expect(pgList.backups[0]).not.toHaveProperty('flavour');

    // db:deps asks each environment's server through its own engine and judges that engine's programs.
    const deps = await run('deps', ['--json'], { cwd: dir });
    expect(deps.code, deps.stderr).toBe(0);
    const report = deps.json<DepsResult>();
    expect(report.tools.map((t) => t.name)).toEqual(['pg_dump', 'pg_restore', 'psql', 'mariadb-dump', 'mariadb']);
    expect(report.environments).toEqual([
      expect.objectContaining({ environment: 'app', engine: 'mysql', serverKind: 'MariaDB', major: 10, fits: true, tools: [expect.objectContaining({ name: 'mariadb-dump' }), expect.objectContaining({ name: 'mariadb' })] }),
      expect.objectContaining({ environment: 'pg', engine: 'postgresql', serverKind: 'PostgreSQL', fits: true }),
    ]);

    // A PostgreSQL backup into the MariaDB environment, and the reverse: refused, nothing changed,
    // and the webhook hears of the failure.
    const appBefore = await fingerprintMariaDb(server, app);
    const pgBefore = await fingerprint(pgDb.url);
    const intoMySql = await run('pg-restore', [theirs.id, '--from', 'pg', '--env', 'app', '--force', '--notify', webhook.url], { cwd: dir });
    expect(intoMySql.code).toBe(16);
    expect(intoMySql.stderr).toMatch(/restore: error: .*is a PostgreSQL backup, and .* is a MySQL\/MariaDB database.* Nothing was changed\./);
    expect(await fingerprintMariaDb(server, app)).toEqual(appBefore);
    const intoPg = await run('pg-restore', [mine.id, '--from', 'app', '--env', 'pg', '--force'], { cwd: dir });
    expect(intoPg.code).toBe(16);
    expect(intoPg.stderr).toMatch(/restore: error: .*is a MySQL\/MariaDB backup, and .* is a PostgreSQL database.* Nothing was changed\./);
    expect(await fingerprint(pgDb.url)).toEqual(pgBefore);
    expect(webhook.bodies.some((b) => JSON.parse(b).command === 'restore' && JSON.parse(b).outcome === 'failure')).toBe(true);

    // db:sync between the two engines: refused before anything connects or is written.
    const sync = await run('sync', ['--from', 'pg', '--env', 'app', '--force'], { cwd: dir });
    expect(sync.code).toBe(16);
    expect(sync.stderr).toMatch(/sync: error: The source pg is a PostgreSQL database .* and the target app is a MySQL\/MariaDB database .*: a backup of one engine cannot be restored into the other\. Nothing was changed\./);
    expect(readdirSync(backupDir(dir, 'app')).filter((f) => f.startsWith('backup_pre-restore_'))).toEqual([]);
    expect(await fingerprintMariaDb(server, app)).toEqual(appBefore);
  });

  it('refuses physical backups and the WAL archive on the MySQL environment as PostgreSQL-only, before anything is written', async () => {
    const app = await server.createDatabase();
    const dir = project({ app: mysqlUrl(app) });
    const physical = await run('backup-physical', ['--env', 'app'], { cwd: dir });
    expect(physical.code).toBe(22);
    expect(physical.stderr).toMatch(/error: db:backup:physical: physical backups are PostgreSQL-only, and app is a MySQL\/MariaDB database .*Nothing was changed\. Back it up with pnpm db:backup -- --env app/);
    const wal = await run('wal-status', ['--env', 'app'], { cwd: dir });
    expect(wal.code).toBe(22);
    expect(wal.stderr).toMatch(/db:wal:status: physical backups are PostgreSQL-only/);
    expect(filesUnder(backupDir(dir, 'app'))).toEqual([]);
  });
});

describe('offsite copies of a MySQL backup', () => {
  it.each([
    ['an S3-compatible store', () => ({ remote: `s3://${s3.bucket}/mysql-envs`, env: s3.credentials, endpoint: ['--endpoint', s3.endpoint] })],
    ['a file:// remote', () => ({ remote: `file://${mkdtempSync(path.join(tmpdir(), 'pgkit-file-remote-'))}`, env: {}, endpoint: [] as string[] })],
  ])('push to %s, the local copy deleted, restore from the remote alone, pull back byte for byte', async (_name, where) => {
    const { remote, env, endpoint } = where();
    const app = await corpusDatabase();
    const dir = project({ app: mysqlUrl(app) });
    const made = await backupOf(dir, 'app');
    const wanted = await fingerprintMariaDb(server, app);
    const localBytes = new Map(backupFiles(dir, 'app', made.id).map((f) => [path.basename(f), readFileSync(f)]));

    const pushed = await run('push', ['--env', 'app', '--remote', remote, ...endpoint, '--json'], { cwd: dir, env });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.json<{ copied: Array<{ id: string }> }>().copied.map((c) => c.id)).toEqual([made.id]);
    for (const file of backupFiles(dir, 'app', made.id)) rmSync(file);

    const listed = (await run('list', ['--env', 'app', '--remote', remote, ...endpoint, '--json'], { cwd: dir, env })).json<ListResult>();
    expect(listed.backups).toEqual([expect.objectContaining({ id: made.id, engine: 'mysql', store: 'remote' })]);

    await server.sql('DELETE FROM order_lines; DELETE FROM orders; INSERT INTO customers (name, email) VALUES (\'after the backup\', \'late@example.com\');', app);
    const restored = await run('pg-restore', [made.id, '--env', 'app', '--remote', remote, ...endpoint, '--from-remote', '--force', '--no-safety-backup'], { cwd: dir, env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await fingerprintMariaDb(server, app)).toEqual(wanted);

    const pulled = await run('pull', [made.id, '--env', 'app', '--remote', remote, ...endpoint], { cwd: dir, env });
    expect(pulled.code, pulled.stderr).toBe(0);
    // The artifacts and checksums come back byte for byte; the .info also says where its copies live now.
    for (const [name, bytes] of localBytes) {
      const back = readFileSync(path.join(backupDir(dir, 'app'), name));
      if (name.endsWith('.info')) expect(JSON.parse(back.toString()).artifacts, name).toEqual(JSON.parse(bytes.toString()).artifacts);
      else expect(back.equals(bytes), name).toBe(true);
    }
  });
});

describe('encrypted MySQL backups', () => {
  it('writes only age-encrypted artifacts, no plaintext row on disk, and restores with the identity', async () => {
    const keyDir = mkdtempSync(path.join(tmpdir(), 'pgkit-age-'));
    const identity = path.join(keyDir, 'key.txt');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', identity]).toString().trim();
    const app = await corpusDatabase();
    const dir = project({ app: mysqlUrl(app) });
    const made = await backupOf(dir, 'app', [], { AGE_RECIPIENTS: recipient });
    const wanted = await fingerprintMariaDb(server, app);

    const artifacts = backupFiles(dir, 'app', made.id).filter((f) => !/\.(info|sha256)$/.test(f));
    expect(artifacts.length).toBeGreaterThan(0);
    for (const file of artifacts) {
      expect(file).toMatch(/\.age$/);
      expect(readFileSync(file).subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    }
    // A row of the corpus appears in no file of the backup directory.
    for (const file of filesUnder(backupDir(dir, 'app'))) expect(readFileSync(file).includes('zoe@example.com'), file).toBe(false);

    await server.sql('DELETE FROM order_lines;', app);
    const without = await run('pg-restore', [made.id, '--env', 'app', '--force'], { cwd: dir });
    expect(without.code).toBe(21);
    const restored = await run('pg-restore', [made.id, '--env', 'app', '--force', '--no-safety-backup', '--identity', identity], { cwd: dir });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await fingerprintMariaDb(server, app)).toEqual(wanted);
    rmSync(keyDir, { recursive: true, force: true });
  });
});

describe('retention of MySQL backups', () => {
  it('prunes by the policy: keeps the newest two, deletes the oldest whole, and the list agrees', async () => {
    const app = await server.createDatabase();
    await server.sql('CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2);', app);
    const dir = project({ app: mysqlUrl(app) });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await backupOf(dir, 'app')).id);
      // backup ids are stamped to the second
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    const planned = await run('retention', ['--env', 'app', '--daily', '0', '--weekly', '0', '--monthly', '0', '--keep-last', '2', '--json'], { cwd: dir });
    expect(planned.code, planned.stderr).toBe(0);
    const result = planned.json<RetentionResult>();
    expect(result.decisions.filter((d) => !d.keep).map((d) => d.id)).toEqual([ids[0]]);
    expect(backupFiles(dir, 'app', ids[0]!)).toEqual([]);
    for (const id of ids.slice(1)) expect(backupFiles(dir, 'app', id).some((f) => f.endsWith('.info'))).toBe(true);
    const listed = (await run('list', ['--env', 'app', '--json'], { cwd: dir })).json<ListResult>();
    expect(listed.backups.map((b) => b.id).sort()).toEqual(ids.slice(1).sort());
  });
});

describe('db:sync between two MySQL environments', () => {
  it('copies app into app2 (the source untouched), refreshes from its newest backup, and refuses two names for one database', async () => {
    const app = await corpusDatabase();
    const app2 = await server.createDatabase();
    await server.sql("CREATE TABLE scratch (note TEXT); INSERT INTO scratch VALUES ('app2 only');", app2);
    const sameAsApp = `DB_ENGINE=mysql\nDB_HOST=${server.host}\nDB_PORT=${server.port}\nDB_USER=${server.user}\nDB_PASSWORD=${server.password}\nDB_DATABASE=${app}\n`;
    const dir = project({ app: mysqlUrl(app), app2: mysqlUrl(app2) });
    writeFileSync(path.join(dir, 'packages/database/.env.same'), sameAsApp);
    const before = await fingerprintMariaDb(server, app);
    const app2Before = await fingerprintMariaDb(server, app2);

    // A run on the source holds the sync out: it locks the source as well as the target.
    mkdirSync(backupDir(dir, 'app'), { recursive: true });
    const held = acquireLock(backupDir(dir, 'app'), 'backup', 'app');
    const locked = await run('sync', ['--from', 'app', '--env', 'app2', '--force'], { cwd: dir });
    held.release();
    expect(locked.code).toBe(9);
    expect(locked.stderr).toMatch(/sync: error: Another run is using environment "app" \(pid \d+ .*backup since/);
    expect(await fingerprintMariaDb(server, app2)).toEqual(app2Before);

    const synced = await run('sync', ['--from', 'app', '--env', 'app2', '--force', '--json'], { cwd: dir });
    expect(synced.code, synced.stderr).toBe(0);
    const result = synced.json<SyncResult>();
    expect(result.source).toMatchObject({ environment: 'app', database: app, fresh: true });
    expect(await fingerprintMariaDb(server, app2)).toEqual(before);
    expect(await fingerprintMariaDb(server, app)).toEqual(before);

    // refresh takes app's newest existing backup (the one sync just took), not app as it is now.
    await server.sql("INSERT INTO customers (name, email) VALUES ('after the sync', 'later@example.com');", app);
    const refreshed = await run('refresh', ['--from', 'app', '--env', 'app2', '--force', '--no-safety-backup'], { cwd: dir });
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(refreshed.stdout).toContain(`source backup: ${result.source.backup} (newest existing)`);
    expect(await fingerprintMariaDb(server, app2)).toEqual(before);
    await server.sql("DELETE FROM customers WHERE email = 'later@example.com';", app);

    const same = await run('sync', ['--from', 'app', '--env', 'same', '--force'], { cwd: dir });
    expect(same.code).toBe(16);
    expect(same.stderr).toMatch(/are the same database on the same server\. Nothing was changed/);
    expect(await fingerprintMariaDb(server, app)).toEqual(before);
  });
});

describe('db:migrate:safe on a MySQL environment', () => {
  it('a failing migration is rolled back to the pre-migrate backup; the migration got a mysql:// DATABASE_URL', async () => {
    const app = await corpusDatabase();
    const dir = project({ app: mysqlUrl(app) });
    const before = await fingerprintMariaDb(server, app);
    // The application's migration: it changes the database through the URL it is given, then fails.
    const migration = path.join(dir, 'migrate.cjs');
    writeFileSync(
      migration,
      `const mysql = require(${JSON.stringify(path.join(REPO, 'node_modules/mysql2/promise'))});
       (async () => {
         if (!process.env.DATABASE_URL.startsWith('mysql://')) process.exit(9);
         const c = await mysql.createConnection(process.env.DATABASE_URL);
         await c.query('DELETE FROM order_lines');
         await c.query('ALTER TABLE customers ADD COLUMN half_done INT');
         await c.end();
         process.exit(3);
       })();`,
    );
    const migrated = await run('migrate-safe', ['--env', 'app', '--command', `node ${migration}`], { cwd: dir });
    expect(migrated.code, migrated.stderr).toBe(18);
    expect(migrated.stderr).toMatch(/The migration failed \(`node .*migrate\.cjs` exited with 3\)\. Rolled back: .* was restored from backup_pre-migrate_/);
    expect(await fingerprintMariaDb(server, app)).toEqual(before);
  });
});

describe('secrets', () => {
  it('the password is in no output, no backup file, no .info, no run log line and no webhook message', () => {
    const password = server.password;
    expect(printed.length).toBeGreaterThan(10);
    for (const text of printed) expect(text).not.toContain(password);
    let logLines = 0;
    for (const dir of projects) {
      for (const file of filesUnder(dir).filter((f) => !f.includes(`${path.sep}packages${path.sep}database${path.sep}`))) {
        expect(readFileSync(file).includes(password), file).toBe(false);
        if (file.endsWith('.log')) logLines += readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
      }
    }
    expect(logLines, 'the run log has lines to check').toBeGreaterThan(5);
    // Each line says which engine served its database.
    const backupLog = projects.flatMap((dir) => filesUnder(dir).filter((f) => path.basename(f) === 'backup.log')).flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { environment: string; database: { engine: string } }));
    expect(backupLog.find((e) => e.environment === 'app')?.database.engine).toBe('mysql');
    expect(backupLog.find((e) => e.environment === 'pg')?.database.engine).toBe('postgresql');
    for (const file of filesUnder(s3.dir)) expect(readFileSync(file).includes(password), file).toBe(false);
    expect(webhook.bodies.length).toBeGreaterThan(0);
    for (const body of webhook.bodies) expect(body).not.toContain(password);
  });
});
