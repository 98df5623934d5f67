import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../support/backups.js';
import { cli, cluster, createDatabase, libpqEnv, makeProject, query } from '../support/harness.js';
import { FAILING_MIGRATIONS, migrateCommand, migrationsWith, sampleApp } from '../support/sample-app.js';

describe('db:migrate:safe', () => {
  it('rolls a migration that fails half-way back to the exact pre-migrate backup, and says so', async () => {
    const db = await sampleApp();
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${db.url}\n` });
    const before = await fingerprint(db.url);
    const run = await cli('migrate-safe', ['--command', migrateCommand(migrationsWith(FAILING_MIGRATIONS))], { cwd: project });
    expect(run.code, run.stderr).toBe(18);
    const announced = /pre-migrate backup (backup_pre-migrate_\d+_\d+) taken/.exec(run.stderr);
    expect(announced).not.toBeNull();
    expect(run.stderr.indexOf(announced![0])).toBeLessThan(run.stderr.indexOf('1763700200000_coupons')); // announced before migrating
    expect(run.stderr).toMatch(new RegExp(`Rolled back: ${db.name} was restored from ${announced![1]}, its state before the migration`));
    expect(await fingerprint(db.url)).toEqual(before);
  });

  it('migrates, keeping the pre-migrate backup, when the migrations succeed', async () => {
    const db = await sampleApp();
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${db.url}\n` });
    const good = migrationsWith({ '1763700200000_coupons.js': FAILING_MIGRATIONS['1763700200000_coupons.js'] });
    const run = await cli('migrate-safe', ['--json'], { cwd: project, env: { MIGRATE_COMMAND: migrateCommand(good) } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.json<{ backup: { id: string } }>().backup.id).toMatch(/^backup_pre-migrate_/);
    expect(await query(db.url, 'SELECT code FROM coupons')).toEqual([{ code: 'WELCOME' }]);
  });

  it('holds the environment\'s lock from the backup through the migration to the rollback, then lets it go', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${db.url}\n` });
    // The migration looks at the lock while it runs: no other backup or restore can start here now.
    const run = await cli('migrate-safe', ['--command', 'cat backups/default/.lock'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/"command":"migrate-safe"/);
    expect(existsSync(path.join(project, 'backups/default/.lock'))).toBe(false);
  });

  it('when the rollback fails too, the hint restores into the same environment (--env, --confirm), and works', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)' });
    const project = makeProject({ 'packages/database/.env.prod': `DATABASE_URL=${db.url}\n` });
    // A second, real fault: the failing migration also changes data and removes the backup's .info,
    // so the automatic rollback cannot find the backup; its .dump is still there.
    const command = "psql -X -q -c 'DELETE FROM t' && rm -f backups/prod/backup_pre-migrate_*.info && exit 1";
    const run = await cli('migrate-safe', ['--env', 'prod', '--command', command], { cwd: project, env: { PATH: `${cluster().binDir}:${process.env.PATH}`, ...libpqEnv(db.url) } });
    expect(run.code, run.stderr).toBe(19);
    const hint = new RegExp(`Restore it by hand: (pnpm db:restore -- (backups/prod/backup_pre-migrate_\\d+_\\d+\\.dump) --force --env prod --confirm ${db.name})$`, 'm').exec(run.stderr);
    expect(hint, run.stderr).not.toBeNull();
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 0 }]);
    // The hint as printed, run as the user would (pnpm's "--" and the flags as given).
    const [, , file] = hint!;
    const restore = await cli('pg-restore', [file!, '--force', '--env', 'prod', '--confirm', db.name], { cwd: project });
    expect(restore.code, restore.stderr).toBe(0);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 2 }]);
  });
});
