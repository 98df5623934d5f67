import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { RestoreResult } from '../../lib/restore/restore.js';
import { fileOf, fingerprint, takeBackup } from '../support/backups.js';
import { cli, cluster, createDatabase, libpqEnv, makeProject, query } from '../support/harness.js';

const OTHER_DATA = `CREATE TABLE app_users (id int PRIMARY KEY, name text); INSERT INTO app_users VALUES (1, 'someone else');
                    CREATE SCHEMA app; CREATE TABLE app.stale (x int); INSERT INTO app.stale VALUES (42);
                    SELECT lo_from_bytea(0, 'a stray large object');`;

describe('db:restore round trips', () => {
  it('restores the awkward database from each of the four formats over different data, identically', async () => {
    const source = await createDatabase({ seed: 'awkward' });
    const project = makeProject();
    const backup = await takeBackup(project, source.url);
    const expected = await fingerprint(source.url);
    for (const format of ['dump', 'tar', 'sql', 'sql.gz']) {
      const target = await createDatabase({ sql: OTHER_DATA });
      const run = await cli('pg-restore', [fileOf(backup, format), '--force', '--json'], { cwd: project, env: { DATABASE_URL: target.url } });
      expect(run.code, `${format}: ${run.stderr}`).toBe(0);
      expect(await fingerprint(target.url), format).toEqual(expected);
      const result = run.json<RestoreResult>();
      expect(result.verifiedTables).toBe(Object.keys(expected.tables).filter((t) => !t.startsWith('app.event_counts')).length);
    }
  });

  it('takes a safety backup first, analyzes, and prints the command that undoes the restore (here without ANALYZE)', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10)' });
    const target = await createDatabase({ sql: OTHER_DATA });
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${target.url}\n` });
    const before = await fingerprint(target.url);
    const backup = await takeBackup(project, source.url);
    const run = await cli('pg-restore', [backup.id, '--force'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    const undo = /To undo: pnpm db:restore -- (\S+) --force/.exec(run.stdout);
    expect(undo, run.stdout).not.toBeNull();
    expect(run.stderr).toMatch(/Backup: {2}backup_manual_\d+_\d+ \(dump.*\n.*sha256 verified\nTarget: {2}t_\w+ on 127\.0\.0\.1/);
    expect((await query(target.url, 'SELECT count(*)::int AS n FROM t'))[0]).toEqual({ n: 10 });
    const analyzed = "SELECT relname, last_analyze IS NOT NULL AS analyzed FROM pg_stat_user_tables WHERE relname IN ('t', 'app_users')";
    expect(await query(target.url, analyzed)).toEqual([{ relname: 't', analyzed: true }]);
    const undone = await cli('pg-restore', [undo![1]!, '--force', '--no-safety-backup', '--no-analyze'], { cwd: project });
    expect(undone.code, undone.stderr).toBe(0);
    expect(await fingerprint(target.url)).toEqual(before);
    expect(await query(target.url, analyzed)).toEqual([{ relname: 'app_users', analyzed: false }]);
  });

  it('restores --latest of a type, and a dump made elsewhere with no .info after reading it through', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 5)' });
    const project = makeProject();
    await takeBackup(project, source.url, ['pre-migrate']);
    await query(source.url, 'INSERT INTO t VALUES (6)');
    await takeBackup(project, source.url, ['manual']);
    const target = await createDatabase();
    const run = await cli('pg-restore', ['--latest', '--type', 'pre-migrate', '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(0);
    expect((await query(target.url, 'SELECT count(*)::int AS n FROM t'))[0]).toEqual({ n: 5 });

    const elsewhere = path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-foreign-')), 'nightly.dump');
    execFileSync(path.join(cluster().binDir, 'pg_dump'), ['-Fc', '-f', elsewhere], { env: libpqEnv(source.url) });
    const foreign = await cli('pg-restore', [elsewhere, '--force', '--json'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(foreign.code, foreign.stderr).toBe(0);
    expect(foreign.json<RestoreResult>().backup.checksum).toMatch(/no \.info: archive read end to end/);
    expect(foreign.json<RestoreResult>().verifiedRows).toBe(6);
    expect((await query(target.url, 'SELECT count(*)::int AS n FROM t'))[0]).toEqual({ n: 6 });
  });
});

describe('db:restore modes', () => {
  const SCHEMA = `CREATE TABLE customers (id int PRIMARY KEY, name text);
                  CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total int);
                  CREATE TABLE audit (n int); CREATE FUNCTION log_order() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NEW; END $$;
                  CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION log_order();`;

  it('--data-only replaces the data of the backup\'s tables, with foreign keys and triggers handled', async () => {
    const source = await createDatabase({ sql: `${SCHEMA} INSERT INTO customers VALUES (1, 'a'), (2, 'b'); INSERT INTO orders VALUES (10, 1, 5), (11, 2, 7); DELETE FROM audit;` });
    const target = await createDatabase({ sql: `${SCHEMA} ALTER TABLE customers ADD COLUMN note text DEFAULT 'kept'; INSERT INTO customers VALUES (3, 'c'); INSERT INTO orders VALUES (12, 3, 9);` });
    const project = makeProject();
    const backup = await takeBackup(project, source.url);
    // the target's schema differs (an added column): its schema stays, its data becomes the backup's
    const failing = await cli('pg-restore', [fileOf(backup, 'dump'), '--data-only', '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(failing.code, failing.stderr).toBe(0);
    expect(await query(target.url, 'SELECT id, name, note FROM customers ORDER BY id')).toEqual([
      { id: 1, name: 'a', note: 'kept' }, // a column the backup lacks gets its default
      { id: 2, name: 'b', note: 'kept' },
    ]);
    expect(await query(target.url, 'SELECT id FROM orders ORDER BY id')).toEqual([{ id: 10 }, { id: 11 }]);
    expect(await query(target.url, 'SELECT count(*)::int AS n FROM audit')).toEqual([{ n: 0 }]); // triggers did not fire
  });

  it('--table replaces one table\'s data and leaves every other table alone', async () => {
    const source = await createDatabase({ sql: `${SCHEMA} INSERT INTO customers VALUES (1, 'a'), (2, 'b'); INSERT INTO orders VALUES (10, 1, 5);` });
    const project = makeProject();
    const backup = await takeBackup(project, source.url);
    await query(source.url, "DELETE FROM orders; UPDATE customers SET name = 'changed'; INSERT INTO orders VALUES (20, 2, 1)");
    const run = await cli('pg-restore', [fileOf(backup, 'dump'), '--table', 'customers', '--force'], { cwd: project, env: { DATABASE_URL: source.url } });
    expect(run.code, run.stderr).toBe(0);
    expect(await query(source.url, 'SELECT id, name FROM customers ORDER BY id')).toEqual([{ id: 1, name: 'a' }, { id: 2, name: 'b' }]);
    expect(await query(source.url, 'SELECT id FROM orders ORDER BY id')).toEqual([{ id: 20 }]);

    // reloading customers alone must not leave orders pointing at customers that are gone
    await query(source.url, "INSERT INTO customers VALUES (3, 'new'); INSERT INTO orders VALUES (30, 3, 1)");
    const before = await fingerprint(source.url);
    const orphaning = await cli('pg-restore', [fileOf(backup, 'dump'), '--table', 'customers', '--force'], { cwd: project, env: { DATABASE_URL: source.url } });
    expect(orphaning.code).toBe(14);
    expect(orphaning.stderr).toMatch(/would break foreign key orders_customer_id_fkey \(rows of public\.orders with no match in public\.customers\).*rolled back; the target is unchanged/);
    expect(await fingerprint(source.url)).toEqual(before);
  });

  it('--schema-only replaces the schema and restores no data', async () => {
    const source = await createDatabase({ sql: `${SCHEMA} INSERT INTO customers VALUES (1, 'a');` });
    const target = await createDatabase({ sql: OTHER_DATA });
    const project = makeProject();
    const backup = await takeBackup(project, source.url);
    const run = await cli('pg-restore', [fileOf(backup, 'tar'), '--schema-only', '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(0);
    expect((await fingerprint(target.url)).schema).toEqual((await fingerprint(source.url)).schema);
    expect(await query(target.url, 'SELECT count(*)::int AS n FROM customers')).toEqual([{ n: 0 }]);
  });

  it('--jobs restores into a fresh database and swaps it in, keeping the target\'s settings', async () => {
    const source = await createDatabase({ seed: 'awkward' });
    const target = await createDatabase({ sql: OTHER_DATA });
    await query(target.url, `ALTER DATABASE ${target.name} SET work_mem = '7MB'`);
    const project = makeProject();
    const backup = await takeBackup(project, source.url);
    const run = await cli('pg-restore', [fileOf(backup, 'dump'), '--jobs', '2', '--force', '--json'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(0);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(source.url));
    expect(await query(target.url, 'SHOW work_mem')).toEqual([{ work_mem: '7MB' }]);
    const leftovers = await query(target.url, "SELECT datname FROM pg_database WHERE datname LIKE $1", [`${target.name}_kit_%`]);
    expect(leftovers).toEqual([]);

    const kept = await cli('pg-restore', [fileOf(backup, 'dump'), '--jobs', '2', '--keep-old', '--force', '--json', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(kept.code, kept.stderr).toBe(0);
    const old = kept.json<RestoreResult>().oldDatabase!;
    expect(old).toMatch(new RegExp(`^${target.name}_kit_old_`));
    expect(await query(target.url, 'SELECT datname FROM pg_database WHERE datname = $1', [old])).toEqual([{ datname: old }]);
    await query(target.url, `DROP DATABASE "${old}"`);
  });

  it('--create recreates the database, even when it does not exist yet', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const project = makeProject();
    const backup = await takeBackup(project, source.url);
    const fresh = `t_created_${Date.now()}`;
    const url = source.url.replace(`/${source.name}`, `/${fresh}`);
    const run = await cli('pg-restore', [fileOf(backup, 'sql.gz'), '--create', '--force'], { cwd: project, env: { DATABASE_URL: url } });
    expect(run.code, run.stderr).toBe(0);
    expect(await query(url, 'SELECT id FROM t')).toEqual([{ id: 1 }]);
  });
});

describe('db:restore across environments', () => {
  it('prod → dev skips owners and privileges of roles dev does not have; the same restore within prod is refused before it starts', async () => {
    const suffix = Date.now().toString(36);
    const role = `prod_owner_${suffix}`;
    const prod = await createDatabase();
    await query(prod.url, `CREATE ROLE ${role}; CREATE TABLE accounts (id int); INSERT INTO accounts VALUES (1), (2); ALTER TABLE accounts OWNER TO ${role}; GRANT SELECT ON accounts TO ${role}`);
    const dev = await createDatabase({ sql: OTHER_DATA });
    const project = makeProject({ 'packages/database/.env.prod': `DATABASE_URL=${prod.url}\n`, 'packages/database/.env.dev': `DATABASE_URL=${dev.url}\n` });
    const backup = await takeBackup(project, prod.url, ['--env', 'prod']);
    expect(existsSync(path.join(project, 'backups/prod', `${backup.id}.info`))).toBe(true);
    // the role exists only "in prod": drop it so the cluster looks like a separate dev server
    await query(prod.url, `REASSIGN OWNED BY ${role} TO postgres; DROP OWNED BY ${role}; DROP ROLE ${role}`);
    const prodBefore = await fingerprint(prod.url);

    const run = await cli('pg-restore', ['--from', 'prod', '--env', 'dev', '--latest', '--force'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/owners and privileges skipped \(from prod into dev\)/);
    expect(await query(dev.url, "SELECT tableowner FROM pg_tables WHERE tablename = 'accounts'")).toEqual([{ tableowner: 'postgres' }]);
    expect(await query(dev.url, 'SELECT count(*)::int AS n FROM accounts')).toEqual([{ n: 2 }]);
    expect(await fingerprint(prod.url)).toEqual(prodBefore);

    const staging = await createDatabase({ sql: OTHER_DATA });
    const stagingBefore = await fingerprint(staging.url);
    const copy = path.join(project, 'backups/staging');
    execFileSync('mkdir', ['-p', copy]);
    for (const f of [`${backup.id}.dump`, `${backup.id}.info`]) copyFileSync(path.join(project, 'backups/prod', f), path.join(copy, f));
    const refused = await cli('pg-restore', [backup.id, '--force'], { cwd: project, env: { DATABASE_URL: staging.url }, ...{} });
    expect(refused.code).toBe(17); // not in default's directory
    const sameEnv = await cli('pg-restore', [backup.id, '--env', 'staging', '--force', '--url', staging.url], { cwd: project });
    expect(sameEnv.code).toBe(16);
    expect(sameEnv.stderr).toMatch(new RegExp(`roles that do not exist on .*: ${role}\\. Pass --with-roles to create them from the roles saved with the backup, create them first, or pass --no-owner`));
    expect(await fingerprint(staging.url)).toEqual(stagingBefore);
    expect(readFileSync(path.join(project, 'backups/restore.log'), 'utf8')).toContain('"outcome":"failure"');
  });
});
