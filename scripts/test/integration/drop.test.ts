import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DropResult } from '../../lib/drop/drop.js';
import { startCluster, type Cluster } from '../../lib/engines/postgres/cluster.js';
import { fingerprint } from '../support/backups.js';
import { cli, createDatabase, holdLock, listBackupFiles, makeProject, pidsOf, query, startCli, urlFor, waitFor } from '../support/harness.js';

/** A database owned by an ordinary login role, filled by that role. */
async function ownedByApp() {
  const role = `app_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const admin = await createDatabase();
  await query(admin.url, `CREATE ROLE ${role} LOGIN PASSWORD '${password}'; CREATE ROLE ${role}_reader; ALTER DATABASE ${admin.name} OWNER TO ${role}`);
  const url = urlFor(admin.name, { user: role, password });
  await query(url, `CREATE SCHEMA app;
                    CREATE TABLE public.users (id int PRIMARY KEY, name text); INSERT INTO public.users VALUES (1, 'ada'), (2, 'grace');
                    CREATE TABLE app.items (id serial PRIMARY KEY, user_id int REFERENCES public.users); INSERT INTO app.items (user_id) VALUES (1), (2), (2);
                    GRANT USAGE ON SCHEMA public TO ${role}_reader;
                    COMMENT ON SCHEMA public IS 'the app''s schema';`);
  return { admin, url, role };
}

const publicSchema = (url: string) => query(url, `SELECT nspowner::regrole::text AS owner, nspacl::text AS acl, obj_description(oid, 'pg_namespace') AS comment FROM pg_namespace WHERE nspname = 'public'`);

describe('db:drop', () => {
  it('as a database owner who is not a superuser: backs up, empties, keeps public\'s owner and privileges, and can be undone', async () => {
    const { admin, url } = await ownedByApp();
    const project = makeProject({ 'packages/database/.env.dev': `DATABASE_URL=${url}\n` });
    const before = await fingerprint(admin.url);
    const publicBefore = await publicSchema(admin.url);
    const run = await cli('drop-all', ['--env', 'dev', '--yes', '--json'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    const result = run.json<DropResult>();
    expect(result.dropped).toEqual(expect.arrayContaining(['schema app', 'schema public']));
    expect(result.notDropped).toEqual([]);
    expect(await query(admin.url, `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'app')`)).toEqual([{ n: 0 }]);
    expect(await publicSchema(admin.url)).toEqual(publicBefore);
    expect(result.undo).toBe('pnpm db:restore -- --latest --type pre-drop --force --env dev');

    const undo = await cli('pg-restore', ['--latest', '--type', 'pre-drop', '--env', 'dev', '--force', '--no-safety-backup'], { cwd: project });
    expect(undo.code, undo.stderr).toBe(0);
    expect(await fingerprint(admin.url)).toEqual(before);
  });

  it('says plainly what it could not drop', async () => {
    const { admin, url } = await ownedByApp();
    await query(admin.url, 'CREATE SCHEMA superuser_owned; CREATE TABLE superuser_owned.audit (id int)');
    const project = makeProject({ 'packages/database/.env.dev': `DATABASE_URL=${url}\n` });
    const run = await cli('drop-all', ['--env', 'dev', '--force', '--skip-backup'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Could not drop \(owned by other roles or needing a superuser\):\n {2}table superuser_owned\.audit \(not yours to drop\)/);
    expect(await query(admin.url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname IN ('public', 'app')")).toEqual([{ n: 0 }]);
  });

  it('on a protected environment needs --confirm with --force and refuses --skip-backup; without a terminal it needs --force', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const project = makeProject({ 'packages/database/.env.prod': `DATABASE_URL=${db.url}\n`, 'packages/database/.env.dev': `DATABASE_URL=${db.url}\n` });
    const before = await fingerprint(db.url);
    const noConfirm = await cli('drop-all', ['--env', 'prod', '--force'], { cwd: project });
    expect(noConfirm.code).toBe(13);
    expect(noConfirm.stderr).toMatch(new RegExp(`pass --force --confirm ${db.name}\\.`));
    const skip = await cli('drop-all', ['--env', 'prod', '--force', '--confirm', db.name, '--skip-backup'], { cwd: project });
    expect(skip.code).toBe(13);
    expect(skip.stderr).toMatch(/--skip-backup is refused on the protected environment "prod"/);
    const noTerminal = await cli('drop-all', ['--env', 'dev'], { cwd: project });
    expect(noTerminal.code).toBe(13);
    expect(noTerminal.stderr).toMatch(/there is no terminal to confirm it\. Pass --force to drop everything there without a prompt\./);
    expect(await fingerprint(db.url)).toEqual(before);
  });
});

/** An application's session in the middle of a transaction that changed a row: it holds a table lock. */
async function applicationTransaction(url: string, sql: string): Promise<{ pid: number; end(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url, application_name: 'billing-app' });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('BEGIN');
  await client.query(sql);
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  return { pid, end: () => client.end().catch(() => undefined) };
}

const waitingForLock = (db: { url: string; name: string }) => async () =>
  (await query(db.url, "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pg-backup-kit' AND wait_event_type = 'Lock'", [db.name])).length > 0 || undefined;

describe('db:drop under faults', () => {
  it('waits at most --lock-timeout for a lock an application holds, names the session and table, drops nothing → 9', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE public.orders (id int PRIMARY KEY, total int); INSERT INTO orders VALUES (1, 5)' });
    const project = makeProject({ 'packages/database/.env.dev': `DATABASE_URL=${db.url}\n` });
    const before = await fingerprint(db.url);
    const app = await applicationTransaction(db.url, 'UPDATE orders SET total = 6 WHERE id = 1');
    try {
      const run = await cli('drop-all', ['--env', 'dev', '--force', '--lock-timeout', '1'], { cwd: project });
      expect(run.code, run.stderr).toBe(9);
      expect(run.stderr).toMatch(new RegExp(`waited 1s for a lock on ${db.name} held by another session and stopped: session ${app.pid} \\(user \\w+, application "billing-app", idle in transaction.*\\) holds a lock on orders`));
      expect(run.stderr).toMatch(/nothing was dropped/);
    } finally {
      await app.end();
    }
    expect(await fingerprint(db.url)).toEqual(before);
  });

  it('a signal while it waits to drop rolls everything back → 130', async () => {
    const db = await createDatabase({ sql: 'CREATE SCHEMA app; CREATE TABLE app.a (id int); CREATE TABLE public.orders (id int PRIMARY KEY, total int); INSERT INTO orders VALUES (1, 5)' });
    const project = makeProject({ 'packages/database/.env.dev': `DATABASE_URL=${db.url}\n` });
    const before = await fingerprint(db.url);
    const app = await applicationTransaction(db.url, 'UPDATE orders SET total = 6 WHERE id = 1');
    try {
      const { child, result } = startCli('drop-all', ['--env', 'dev', '--force', '--skip-backup', '--lock-timeout', '60'], { cwd: project });
      await waitFor('the drop to wait for the lock', waitingForLock(db));
      child.kill('SIGTERM');
      const run = await result;
      expect(run.code, run.stderr).toBe(130);
      expect(run.stderr).toMatch(/rolled back and nothing was dropped/);
    } finally {
      await app.end();
    }
    expect(await fingerprint(db.url)).toEqual(before);
  });

  it('a signal during the pre-drop backup stops before anything is dropped → 130', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE public.orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 100)' });
    const project = makeProject({ 'packages/database/.env.dev': `DATABASE_URL=${db.url}\n` });
    const before = await fingerprint(db.url);
    const lock = await holdLock(db.url, 'orders'); // pg_dump waits here
    try {
      const { child, result } = startCli('drop-all', ['--env', 'dev', '--force'], { cwd: project });
      await waitFor('pg_dump to start', () => (pidsOf('pg_dump', db.name).length > 0 ? true : undefined));
      child.kill('SIGTERM');
      const run = await result;
      expect(run.code, run.stderr).toBe(130);
    } finally {
      await lock.release();
    }
    expect(await fingerprint(db.url)).toEqual(before);
    expect(listBackupFiles(project, 'dev').filter((f) => f.endsWith('.info'))).toEqual([]);
  });
});

describe('db:drop when the server stops part-way', () => {
  let server: Cluster;
  beforeAll(async () => {
    server = await startCluster({ crashSafe: true }); // stopped with 'immediate' below
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('→ 4, and after a restart nothing was dropped', async () => {
    await query(server.url('postgres'), 'CREATE DATABASE shop');
    const db = { name: 'shop', url: server.url('shop') };
    await query(db.url, 'CREATE TABLE public.orders (id int PRIMARY KEY, total int); INSERT INTO orders VALUES (1, 5)');
    const project = makeProject({ 'packages/database/.env.dev': `DATABASE_URL=${db.url}\n` });
    const app = await applicationTransaction(db.url, 'UPDATE orders SET total = 6 WHERE id = 1');
    const { result } = startCli('drop-all', ['--env', 'dev', '--force', '--skip-backup', '--lock-timeout', '60'], { cwd: project });
    await waitFor('the drop to wait for the lock', waitingForLock(db));
    await server.stop('immediate');
    const run = await result;
    await app.end();
    await server.start();
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toMatch(/connection to the server was lost during the drop.*nothing was dropped/);
    expect(run.stderr).not.toMatch(/Unexpected error|\n\s+at /);
    expect(await query(db.url, 'SELECT total FROM orders')).toEqual([{ total: 5 }]);
  });
});
