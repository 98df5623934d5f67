import { describe, expect, it } from 'vitest';
import { fingerprint } from '../support/backups.js';
import { cli, makeProject, query } from '../support/harness.js';
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
});
