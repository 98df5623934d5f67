/**
 * Failures part-way through restoring a database big enough that the restore is still running
 * when the fault arrives: killed children, a kit killed outright, a lock held by an application.
 * Each ends with its documented code and one message (never a stack trace), the target as it
 * was, and nothing left behind that the next run does not clean up by itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../lib/engines/postgres/cluster.js';
import type { BackupResult } from '../../lib/backup/backup.js';
import { fileOf, fingerprint, takeBackup } from '../support/backups.js';
import { cli, createDatabase, makeProject, pidsOf, query, startCli, urlFor, waitFor, type TestDatabase } from '../support/harness.js';

/** ~25 MB of mixed rows, made in a second or two. */
const BIG = `CREATE TABLE public.big (id int PRIMARY KEY, label text, amount numeric, at timestamptz, doc jsonb);
INSERT INTO public.big SELECT i, md5(i::text) || repeat('x', i % 50), i * 1.25, timestamptz '2024-01-01' + i * interval '1 second',
  jsonb_build_object('i', i, 'tag', md5((i * 7)::text)) FROM generate_series(1, 250000) i;
CREATE TABLE public.small (id int); INSERT INTO public.small VALUES (1), (2);`;

const OTHER = "CREATE TABLE app_users (id int PRIMARY KEY, name text); INSERT INTO app_users VALUES (1, 'someone else')";

const noStackTrace = (stderr: string) => expect(stderr).not.toMatch(/\n\s+at |Unexpected error/);

async function copying(db: TestDatabase | { name: string; url: string }, table: string): Promise<true | undefined> {
  const rows = await query(db.url, 'SELECT 1 FROM pg_stat_activity WHERE datname LIKE $1 AND query LIKE $2', [`${db.name}%`, `COPY public.${table} %`]);
  return rows.length > 0 || undefined;
}

/** The server's postgres database, on the server of `url` (the run's cluster when none is given). */
function adminOf(url: string): string {
  if (!url) return urlFor('postgres');
  const u = new URL(url);
  u.pathname = '/postgres';
  return u.toString();
}

async function databasesLike(url: string, pattern: string): Promise<Array<{ datname: string; datallowconn: boolean }>> {
  return query(adminOf(url), 'SELECT datname, datallowconn FROM pg_database WHERE datname LIKE $1 ORDER BY 1', [pattern]);
}

/**
 * A killed swap is repaired by whichever kit run next meets the server (a restore or verify
 * repairs every leftover of this host on it), so tests that kill a swap and then watch who
 * repairs it use a cluster no other test file touches.
 */
let isolated: Cluster | undefined;
async function isolatedDatabase(sql?: string): Promise<TestDatabase> {
  isolated ??= await startCluster();
  const name = `t_${Math.random().toString(16).slice(2, 12)}`;
  await query(isolated.url('postgres'), `CREATE DATABASE ${name}`);
  if (sql) await query(isolated.url(name), sql);
  return { name, url: isolated.url(name) };
}
afterAll(async () => {
  await isolated?.destroy();
});

/**
 * Freeze the kit the moment it stops connections to the target, then kill it: the swap's renames
 * are uncommitted. A freeze that came too late (the swap had committed) is undone by hand and
 * tried again. Returns the target's fingerprint before the restore; the target is left closed.
 */
async function killInsideSwap(target: TestDatabase, project: string, backup: BackupResult): Promise<Awaited<ReturnType<typeof fingerprint>>> {
  const watcher = new pg.Client({ connectionString: adminOf(target.url) });
  await watcher.connect();
  const allows = async () => (await watcher.query<{ allow: boolean | null }>('SELECT (SELECT datallowconn FROM pg_database WHERE datname = $1) AS allow', [target.name])).rows[0]!.allow;
  let before: Awaited<ReturnType<typeof fingerprint>> | undefined;
  let caught = false;
  try {
    for (let attempt = 0; attempt < 6 && !caught; attempt++) {
      for (const { datname } of await databasesLike(target.url, `${target.name}_kit_old_%`)) await watcher.query(`DROP DATABASE "${datname}" WITH (FORCE)`);
      before = await fingerprint(target.url);
      const { child, result } = startCli('pg-restore', [fileOf(backup, 'dump'), '--jobs', '2', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
      while ((await allows()) !== false && child.exitCode === null);
      child.kill('SIGSTOP');
      child.kill('SIGKILL');
      await result;
      // Only this run's sessions: other test files' kits use the same cluster's postgres database.
      const lingering = "SELECT 1 FROM pg_stat_activity WHERE application_name = 'pg-backup-kit' AND (datname LIKE $1 OR (datname = 'postgres' AND position($2 in query) > 0)) AND pid <> pg_backend_pid()";
      await waitFor('the killed kit\'s sessions to end', async () => ((await watcher.query(lingering, [`${target.name}\\_kit\\_%`, target.name])).rowCount === 0 ? true : undefined));
      caught = (await allows()) === false && (await databasesLike(target.url, `${target.name}_kit_new_%`)).length === 1 && (await databasesLike(target.url, `${target.name}_kit_old_%`)).length === 0;
    }
    expect(caught).toBe(true);
  } finally {
    await watcher.end();
  }
  return before!;
}

describe('a restore that fails part-way', () => {
  let backup: BackupResult;
  let project: string;
  let source: TestDatabase;
  beforeAll(async () => {
    source = await createDatabase({ sql: BIG });
    project = makeProject();
    backup = await takeBackup(project, source.url);
  });

  it('pg_restore killed → 14, said as a killed child (not a damaged archive), rolled back', async () => {
    const target = await createDatabase({ sql: OTHER });
    const before = await fingerprint(target.url);
    const { result } = startCli('pg-restore', [fileOf(backup, 'dump'), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    await waitFor('the big table being copied', () => copying(target, 'big'));
    for (const pid of pidsOf('pg_restore', target.name)) process.kill(pid, 'SIGKILL');
    const run = await result;
    expect(run.code, run.stderr).toBe(14);
    expect(run.stderr).toMatch(/pg_restore was killed by SIGKILL: it was stopped from outside the kit\. The restore was rolled back; the target is unchanged/);
    noStackTrace(run.stderr);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('psql killed while a .sql.gz streams → 14, rolled back', async () => {
    const target = await createDatabase({ sql: OTHER });
    const before = await fingerprint(target.url);
    const { result } = startCli('pg-restore', [fileOf(backup, 'sql.gz'), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    await waitFor('the big table being copied', () => copying(target, 'big'));
    for (const pid of pidsOf('psql', target.name)) process.kill(pid, 'SIGKILL');
    const run = await result;
    expect(run.code, run.stderr).toBe(14);
    expect(run.stderr).toMatch(/psql was killed by SIGKILL\. The restore was rolled back; the target is unchanged/);
    noStackTrace(run.stderr);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('a lock held by an application → 9 after --lock-timeout, naming the session and table, target unchanged', async () => {
    const target = await createDatabase({ sql: OTHER });
    const before = await fingerprint(target.url);
    const app = new pg.Client({ connectionString: target.url, application_name: 'billing-app' });
    await app.connect();
    await app.query("BEGIN; UPDATE app_users SET name = 'busy' WHERE id = 1");
    const pid = (await app.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    try {
      const run = await cli('pg-restore', [fileOf(backup, 'tar'), '--force', '--no-safety-backup', '--lock-timeout', '1'], { cwd: project, env: { DATABASE_URL: target.url } });
      expect(run.code, run.stderr).toBe(9);
      expect(run.stderr).toMatch(new RegExp(`The restore waited 1s for a lock on ${target.name} held by another session and stopped: session ${pid} \\(user \\w+, application "billing-app", idle in transaction.*\\) holds a lock on app_users\\. The restore was rolled back; the target is unchanged\\.`));
      noStackTrace(run.stderr);
    } finally {
      await app.end();
    }
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('the kit killed outright during --jobs: its children die with it, and the next restore cleans up by itself', async () => {
    const target = await createDatabase({ sql: OTHER });
    const before = await fingerprint(target.url);
    const { child, result } = startCli('pg-restore', [fileOf(backup, 'dump'), '--jobs', '2', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    await waitFor('the big table being copied', () => copying(target, 'big'));
    child.kill('SIGKILL');
    await result;
    await waitFor('pg_restore to die with the kit', () => (pidsForDatabasesLike('pg_restore', `${target.name}_kit_new_`).length === 0 ? true : undefined), 15_000);
    expect(await fingerprint(target.url)).toEqual(before);
    await waitFor('the killed restore\'s sessions to end', async () => ((await query(target.url, "SELECT 1 FROM pg_stat_activity WHERE datname LIKE $1", [`${target.name}_kit_new%`])).length === 0 ? true : undefined));
    expect(await databasesLike(target.url, `${target.name}_kit_new_%`)).toHaveLength(1);

    const again = await cli('pg-restore', [fileOf(backup, 'dump'), '--jobs', '2', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`dropped ${target.name}_kit_new_\\w+, left behind by a kit run \\(pid \\d+\\) that was killed`));
    expect(await databasesLike(target.url, `${target.name}_kit_%`)).toEqual([]);
    expect((await fingerprint(target.url)).tables['public.big']?.rows).toBe(250000);
  });

  it('the kit killed outright in the middle of the swap: the next run opens the target again, unchanged', async () => {
    const target = await isolatedDatabase(OTHER);
    const before = await killInsideSwap(target, project, backup);
    // any later run repairs first: here one that then stops at its own pre-check
    const next = await cli('pg-restore', [fileOf(backup, 'dump'), '--table', 'no_such_table', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(next.code, next.stderr).toBe(11);
    expect(next.stderr).toMatch(new RegExp(`repaired a restore that was killed while swapping databases: ${target.name} accepts connections again, unchanged`));
    expect(await databasesLike(target.url, `${target.name}_kit_%`)).toEqual([]);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('issue 20.5: after a kill inside the swap, db:backup and db:drop open the target again themselves; a database closed by hand is named with its fix', async () => {
    const target = await isolatedDatabase(OTHER);
    const own = makeProject();
    const env = { DATABASE_URL: target.url };
    const before = await killInsideSwap(target, own, backup);
    const backedUp = await cli('pg-backup', ['--format', 'dump', '--json'], { cwd: own, env });
    expect(backedUp.code, backedUp.stderr).toBe(0);
    expect(backedUp.stderr).toMatch(new RegExp(`repaired a restore that was killed while swapping databases: ${target.name} accepts connections again, unchanged \\(dropped ${target.name}_kit_new_\\w+, its unfinished copy\\)`));
    expect(await databasesLike(target.url, `${target.name}_kit_%`)).toEqual([]);
    expect(await fingerprint(target.url)).toEqual(before);
    // the backup it took is of the target as it was: restored elsewhere, the same rows
    const copy = await isolatedDatabase();
    const restored = await cli('pg-restore', [fileOf(backedUp.json<BackupResult>(), 'dump'), '--force', '--no-safety-backup'], { cwd: own, env: { DATABASE_URL: copy.url } });
    expect(restored.code, restored.stderr).toBe(0);
    expect((await fingerprint(copy.url)).tables).toEqual(before.tables);

    await killInsideSwap(target, own, backup);
    const dropped = await cli('drop-all', ['--force', '--skip-backup'], { cwd: own, env });
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.stderr).toMatch(/repaired a restore that was killed while swapping databases/);
    expect(await query(target.url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 0 }]);

    // closed by someone else: nothing repaired behind their back, the fix named, exit 4
    await query(adminOf(target.url), `ALTER DATABASE "${target.name}" WITH ALLOW_CONNECTIONS false`);
    try {
      const refused = await cli('pg-backup', [], { cwd: own, env });
      expect(refused.code, refused.stderr).toBe(4);
      expect(refused.stderr).toMatch(new RegExp(`^backup: error: Database "${target.name}" on \\S+ refuses connections: its connections are switched off \\(datallowconn is false\\), and no restore by this kit did that\\. Ask whoever closed it, or open it with: ALTER DATABASE "${target.name}" WITH ALLOW_CONNECTIONS true\\.$`, 'm'));
      noStackTrace(refused.stderr);
      expect(await databasesLike(target.url, target.name)).toEqual([{ datname: target.name, datallowconn: false }]);
    } finally {
      await query(adminOf(target.url), `ALTER DATABASE "${target.name}" WITH ALLOW_CONNECTIONS true`);
    }
  }, 400_000);

  it('verify --deep killed outright: the next deep verify drops the scratch database it left', async () => {
    const db = await createDatabase({ sql: BIG });
    const own = makeProject({ 'packages/database/.env': `DATABASE_URL=${db.url}\n` });
    const made = await takeBackup(own, db.url);
    const { child, result } = startCli('verify', [made.id, '--deep'], { cwd: own });
    await waitFor('the scratch copy being restored', async () => ((await query(db.url, "SELECT 1 FROM pg_stat_activity WHERE datname LIKE $1 AND query LIKE 'COPY public.big %'", [`${db.name}_kit_verify_%`])).length > 0 ? true : undefined));
    child.kill('SIGKILL');
    await result;
    await waitFor('the scratch sessions to end', async () => ((await query(db.url, 'SELECT 1 FROM pg_stat_activity WHERE datname LIKE $1', [`${db.name}_kit_verify_%`])).length === 0 ? true : undefined), 15_000);
    expect(await databasesLike(db.url, `${db.name}_kit_verify_%`)).toHaveLength(1);
    const again = await cli('verify', [made.id, '--deep'], { cwd: own });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(await databasesLike(db.url, `${db.name}_kit_verify_%`)).toEqual([]);
  });
});

/** pids of running `program` processes whose libpq environment targets a database named `prefix…`. */
function pidsForDatabasesLike(program: string, prefix: string): number[] {
  return readdirSync('/proc').filter((entry) => {
    try {
      if (!/^\d+$/.test(entry) || !readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0]!.endsWith(`/${program}`)) return false;
      return readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').some((v) => v.startsWith(`PGDATABASE=${prefix}`));
    } catch {
      return false;
    }
  }).map(Number);
}
