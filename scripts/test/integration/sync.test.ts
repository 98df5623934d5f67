import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { SyncResult } from '../../lib/sync/sync.js';
import { fingerprint, takeBackup } from '../support/backups.js';
import { cli, createDatabase, makeProject, query, urlFor } from '../support/harness.js';

async function writes(url: string, name: string): Promise<number> {
  // A backend flushes its statistics when it ends, and a client's disconnect does not wait for
  // that: count only once no other backend (the seeding session, the kit's) is left in the database.
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let tries = 0; tries < 100; tries++) {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      if (rows[0]!.n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ n: string }>('SELECT (tup_inserted + tup_updated + tup_deleted)::text AS n FROM pg_stat_database WHERE datname = $1', [name]);
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

async function prodAndDev() {
  // Autovacuum's ANALYZE of the fresh rows would write pg_statistic rows into prod's counters at a
  // moment of its choosing; keep it off this table so every write counted is someone's doing.
  const prod = await createDatabase({ sql: 'CREATE TABLE orders (id int PRIMARY KEY, total int) WITH (autovacuum_enabled = false); INSERT INTO orders SELECT g, g * 10 FROM generate_series(1, 500) g' });
  const dev = await createDatabase({ sql: "CREATE TABLE scratch (note text); INSERT INTO scratch VALUES ('dev only')" });
  const project = makeProject({ 'packages/database/.env.prod': `DATABASE_URL=${prod.url}\n`, 'packages/database/.env.dev': `DATABASE_URL=${dev.url}\n` });
  return { prod, dev, project };
}

describe('db:sync and db:refresh', () => {
  it('sync copies prod into dev in one step and never writes to prod', async () => {
    const { prod, dev, project } = await prodAndDev();
    const prodBefore = await fingerprint(prod.url);
    const writesBefore = await writes(prod.url, prod.name);
    const run = await cli('sync', ['--from', 'prod', '--env', 'dev', '--force', '--json'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    const result = run.json<SyncResult>();
    expect(result.source).toMatchObject({ environment: 'prod', database: prod.name, fresh: true });
    expect(result.restore.verifiedRows).toBe(500);
    expect((await fingerprint(dev.url)).tables).toEqual(prodBefore.tables);
    expect(await fingerprint(prod.url)).toEqual(prodBefore);
    expect(await writes(prod.url, prod.name)).toBe(writesBefore);
    expect(result.restore.safetyBackup?.file).toMatch(/backups\/dev\/backup_pre-restore_/);
  });

  it('refresh restores prod\'s newest existing backup, not prod as it is now', async () => {
    const { prod, dev, project } = await prodAndDev();
    await takeBackup(project, prod.url, ['--env', 'prod']);
    await query(prod.url, 'INSERT INTO orders VALUES (501, 0)');
    const run = await cli('refresh', ['--from', 'prod', '--env', 'dev', '--force'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Refreshed t_\w+ \(dev\) from prod .*\n {2}source backup: backup_manual_\d+_\d+ \(newest existing\)/);
    expect(await query(dev.url, 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 500 }]);
  });

  it('refuses a protected target without --allow-protected-target, and without --confirm', async () => {
    const { prod, dev, project } = await prodAndDev();
    const devBefore = await fingerprint(prod.url);
    const refused = await cli('sync', ['--from', 'dev', '--env', 'prod', '--force'], { cwd: project });
    expect(refused.code).toBe(13);
    expect(refused.stderr).toMatch(/"prod" is a protected environment; syncing into it replaces its data\. .*--allow-protected-target/);
    const unconfirmed = await cli('sync', ['--from', 'dev', '--env', 'prod', '--force', '--allow-protected-target'], { cwd: project });
    expect(unconfirmed.code).toBe(13);
    expect(unconfirmed.stderr).toMatch(new RegExp(`pass --force --confirm ${prod.name}`));
    expect(await fingerprint(prod.url)).toEqual(devBefore);
    void dev;
  });

  it('refuses when source and target are the same database under different names', async () => {
    const prod = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const sameViaLocalhost = urlFor(prod.name, { host: 'localhost' });
    const project = makeProject({ 'packages/database/.env.prod': `DATABASE_URL=${prod.url}\n`, 'packages/database/.env.dev': `DATABASE_URL=${sameViaLocalhost}\n` });
    const before = await fingerprint(prod.url);
    const run = await cli('sync', ['--from', 'prod', '--env', 'dev', '--force'], { cwd: project });
    expect(run.code).toBe(16);
    expect(run.stderr).toMatch(/are the same database on the same server\. Nothing was changed/);
    expect(await fingerprint(prod.url)).toEqual(before);
  });
});
