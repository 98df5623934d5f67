import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackupInfo } from '../../lib/format/metadata.js';
import type { RestoreResult } from '../../lib/restore/restore.js';
import { fileOf, fingerprint, takeBackup, writeInfo } from '../support/backups.js';
import { backupDir, cli, cluster, createDatabase, libpqEnv, makeProject, query } from '../support/harness.js';

/**
 * Partial restores (--table, --data-only) judged by what lands in the database: exactly the rows
 * of the tables named, in schemas and with names that pg_restore's own -t cannot express.
 */
const SCHEMA = `
  CREATE SCHEMA audit; CREATE TABLE audit.log (id int PRIMARY KEY, what text);
  CREATE TABLE public.log (id int PRIMARY KEY, what text);
  CREATE TABLE public.users (id int PRIMARY KEY, name text);
  CREATE TABLE public.orders (id int PRIMARY KEY, user_id int REFERENCES public.users, total int);
  CREATE SCHEMA "Billing Dept";
  CREATE TABLE "Billing Dept"."Invoice Lines" (id int PRIMARY KEY, amount int);
  CREATE TABLE "Billing Dept"."odd.name ""quoted""" (id int PRIMARY KEY);
  CREATE TABLE "Billing Dept"."Invoice" (id int PRIMARY KEY);`;

const SOURCE_ROWS = `
  INSERT INTO audit.log VALUES (1, 'backup a'), (2, 'backup b');
  INSERT INTO public.log VALUES (1, 'public backup');
  INSERT INTO public.users VALUES (1, 'ann'), (2, 'bob');
  INSERT INTO public.orders VALUES (10, 1, 5), (11, 2, 7);
  INSERT INTO "Billing Dept"."Invoice Lines" VALUES (1, 100), (2, 200), (3, 300);
  INSERT INTO "Billing Dept"."odd.name ""quoted""" VALUES (7), (8);
  INSERT INTO "Billing Dept"."Invoice" VALUES (1);`;

/** The target: same schema, other rows in every table. */
const TARGET_ROWS = `
  INSERT INTO audit.log VALUES (9, 'target');
  INSERT INTO public.log VALUES (9, 'target');
  INSERT INTO public.users VALUES (3, 'cy');
  INSERT INTO public.orders VALUES (30, 3, 1);
  INSERT INTO "Billing Dept"."Invoice Lines" VALUES (9, 900);
  INSERT INTO "Billing Dept"."odd.name ""quoted""" VALUES (9);
  INSERT INTO "Billing Dept"."Invoice" VALUES (9);`;

const ids = async (url: string, table: string) => (await query<{ id: number }>(url, `SELECT id FROM ${table} ORDER BY id`)).map((r) => r.id);

async function setUp() {
  const source = await createDatabase({ sql: SCHEMA + SOURCE_ROWS });
  const project = makeProject();
  const backup = await takeBackup(project, source.url);
  return { project, backup };
}

describe('db:restore --table takes schema.table patterns and restores exactly those rows', () => {
  it.each(['dump', 'tar'])('qualified, quoted (spaces, dots, quotes) and several at once, from a .%s', async (format) => {
    const { project, backup } = await setUp();
    const target = await createDatabase({ sql: SCHEMA + TARGET_ROWS });
    const run = await cli('pg-restore', [fileOf(backup, format), '--table', 'audit.log', '--table', '"Billing Dept"."Invoice Lines"',
      '--table', '"Billing Dept"."odd.name ""quoted"""', '--force', '--no-safety-backup', '--json'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(0);
    expect(await ids(target.url, 'audit.log')).toEqual([1, 2]);
    expect(await ids(target.url, '"Billing Dept"."Invoice Lines"')).toEqual([1, 2, 3]);
    expect(await ids(target.url, '"Billing Dept"."odd.name ""quoted"""')).toEqual([7, 8]);
    // a table of the same name in another schema, and one whose name only starts the same, stay
    expect(await ids(target.url, 'public.log')).toEqual([9]);
    expect(await ids(target.url, '"Billing Dept"."Invoice"')).toEqual([9]);
    expect(await ids(target.url, 'public.users')).toEqual([3]);
    const result = run.json<RestoreResult>();
    expect([result.verifiedTables, result.verifiedRows]).toEqual([3, 7]);
  });

  it('tables tied by a foreign key are restored together; an unqualified name found in one schema is that table', async () => {
    const { project, backup } = await setUp();
    const target = await createDatabase({ sql: SCHEMA + TARGET_ROWS });
    const run = await cli('pg-restore', [fileOf(backup, 'dump'), '--table', 'public.users', '--table', 'orders', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(0);
    expect(await query(target.url, 'SELECT id, name FROM public.users ORDER BY id')).toEqual([{ id: 1, name: 'ann' }, { id: 2, name: 'bob' }]);
    expect(await query(target.url, 'SELECT id, user_id FROM public.orders ORDER BY id')).toEqual([{ id: 10, user_id: 1 }, { id: 11, user_id: 2 }]);
    expect(await ids(target.url, 'audit.log')).toEqual([9]);
    expect(run.stderr).toMatch(/Mode: {4}data of public\.orders, public\.users replaced/); // what the patterns chose, shown before it starts

    // users alone would leave the target's order 30 pointing at a user that is gone: rolled back
    await query(target.url, 'INSERT INTO public.users VALUES (3, \'cy\'); INSERT INTO public.orders VALUES (30, 3, 1)');
    const before = await fingerprint(target.url);
    const orphaning = await cli('pg-restore', [fileOf(backup, 'tar'), '--table', 'public.users', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(orphaning.code, orphaning.stderr).toBe(14);
    expect(orphaning.stderr).toMatch(/would break foreign key orders_user_id_fkey \(rows of public\.orders with no match in public\.users\)/);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('refuses, changing nothing, a pattern that matches nothing, an unqualified name in two schemas, and a script', async () => {
    const { project, backup } = await setUp();
    const target = await createDatabase({ sql: SCHEMA + TARGET_ROWS });
    const before = await fingerprint(target.url);
    const env = { DATABASE_URL: target.url };

    const nothing = await cli('pg-restore', [fileOf(backup, 'dump'), '--table', 'audit.missing', '--force'], { cwd: project, env });
    expect(nothing.code, nothing.stderr).toBe(11);
    expect(nothing.stderr).toMatch(/--table audit\.missing matches no table of the backup \(it holds .*"Billing Dept"\."Invoice Lines".*, audit\.log, .*\)\. Patterns are schema\.table.*Nothing was changed\./);

    const ambiguous = await cli('pg-restore', [fileOf(backup, 'dump'), '--table', 'log', '--force'], { cwd: project, env });
    expect(ambiguous.code, ambiguous.stderr).toBe(2);
    expect(ambiguous.stderr).toMatch(/--table log names tables in more than one schema \(audit\.log, public\.log\).*--table audit\.log.*'\*\.log'.*Nothing was changed\./);

    const script = await cli('pg-restore', [fileOf(backup, 'sql.gz'), '--table', 'audit.log', '--force'], { cwd: project, env });
    expect(script.code, script.stderr).toBe(16);
    expect(script.stderr).toMatch(/--table needs a \.dump or \.tar archive/);

    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('checks each reloaded table against the row count the .info recorded for it, and rolls back on a difference', async () => {
    const { project, backup } = await setUp();
    const infoFile = path.join(backupDir(project), `${backup.id}.info`);
    const edited = JSON.parse(readFileSync(infoFile, 'utf8')) as BackupInfo;
    edited.statistics.tables['"Billing Dept"."Invoice Lines"']!.rows = 4;
    writeInfo(infoFile, edited);
    const target = await createDatabase({ sql: SCHEMA + TARGET_ROWS });
    const before = await fingerprint(target.url);
    const run = await cli('pg-restore', [backup.id, '--table', 'audit.log', '--table', '"Billing Dept"."Invoice Lines"', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(15);
    expect(run.stderr).toMatch(/table "Billing Dept"\."Invoice Lines" has 3 rows, the backup recorded 4\. The restore was rolled back/);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('a wildcard in a quoted schema, from an archive made elsewhere with no .info', async () => {
    const source = await createDatabase({ sql: SCHEMA + SOURCE_ROWS });
    const elsewhere = path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-foreign-')), 'nightly.tar');
    execFileSync(path.join(cluster().binDir, 'pg_dump'), ['-Ft', '-f', elsewhere], { env: libpqEnv(source.url) });
    const target = await createDatabase({ sql: SCHEMA + TARGET_ROWS });
    const run = await cli('pg-restore', [elsewhere, '--table', '"Billing Dept".*', '--force', '--no-safety-backup', '--json'], { cwd: makeProject(), env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(0);
    expect(await ids(target.url, '"Billing Dept"."Invoice Lines"')).toEqual([1, 2, 3]);
    expect(await ids(target.url, '"Billing Dept"."odd.name ""quoted"""')).toEqual([7, 8]);
    expect(await ids(target.url, '"Billing Dept"."Invoice"')).toEqual([1]);
    expect(await ids(target.url, 'audit.log')).toEqual([9]);
    const result = run.json<RestoreResult>();
    expect([result.verifiedTables, result.verifiedRows]).toEqual([3, 6]);
  });
});

describe('db:restore --data-only with large objects', () => {
  it('replaces the large objects the backup holds and keeps the others, content identical', async () => {
    const content = "decode(repeat('0123456789abcdef', 20000), 'hex')"; // 160 kB, several pages
    const source = await createDatabase({ sql: `CREATE TABLE docs (id int PRIMARY KEY, body oid);
      INSERT INTO docs VALUES (1, lo_from_bytea(424242, ${content})), (2, lo_from_bytea(434343, 'second'));` });
    const project = makeProject();
    const backup = await takeBackup(project, source.url);
    // The target came from the same backup, then changed: one object rewritten, one removed, one added.
    const target = await createDatabase();
    const full = await cli('pg-restore', [fileOf(backup, 'dump'), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(full.code, full.stderr).toBe(0);
    await query(target.url, `SELECT lo_put(424242, 0, 'changed'); SELECT lo_unlink(434343); SELECT lo_from_bytea(454545, 'kept');
                             DELETE FROM docs; INSERT INTO docs VALUES (3, 454545)`);

    for (const format of ['dump', 'tar']) {
      const run = await cli('pg-restore', [fileOf(backup, format), '--data-only', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
      expect(run.code, `${format}: ${run.stderr}`).toBe(0);
      const objects = 'SELECT oid::int AS oid, md5(lo_get(oid)) AS md5 FROM pg_largeobject_metadata ORDER BY oid';
      expect(await query(target.url, objects), format).toEqual([...(await query(source.url, objects)), { oid: 454545, md5: await md5(target.url, "'kept'") }]);
      expect(await query(target.url, 'SELECT id, body::int AS body FROM docs ORDER BY id'), format).toEqual([{ id: 1, body: 424242 }, { id: 2, body: 434343 }]);
    }
  });
});

async function md5(url: string, bytea: string): Promise<string> {
  return (await query<{ m: string }>(url, `SELECT md5(${bytea}::bytea) AS m`))[0]!.m;
}
