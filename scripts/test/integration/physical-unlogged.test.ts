/**
 * UNLOGGED tables and physical backups: PostgreSQL copies none of their rows into a base backup
 * and recovery leaves them empty. The backup says so, naming them in every database; a deep
 * verification recovers them empty and does not call that a loss.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PhysicalBackupResult } from '../../lib/physical/backup.js';
import { cli } from '../support/harness.js';
import { startPrimary, type Primary } from '../support/physical-cluster.js';

describe('UNLOGGED tables in a physical backup', () => {
  let primary: Primary;
  beforeAll(async () => {
    primary = await startPrimary();
    await primary.query('CREATE DATABASE app');
    await primary.query(`CREATE UNLOGGED TABLE sessions (id int PRIMARY KEY, token text); INSERT INTO sessions SELECT g, md5(g::text) FROM generate_series(1, 500) g`, [], 'app');
    await primary.query(`CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 300)`, [], 'app');
    await primary.query(`CREATE SCHEMA "Work Queue"; CREATE UNLOGGED TABLE "Work Queue".jobs (id int); INSERT INTO "Work Queue".jobs VALUES (1), (2)`);
  });
  afterAll(() => primary?.destroy());

  it('the backup names every UNLOGGED table, in every database, and says a restore gives them back empty', async () => {
    const human = await cli('backup-physical', [], { cwd: primary.project, env: { DATABASE_URL: primary.url('app') } });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('Note: 2 UNLOGGED tables: PostgreSQL copies none of their rows into a base backup, and a restore gives them back empty');
    expect(human.stdout).toContain('    app: public.sessions\n');
    expect(human.stdout).toContain('    postgres: "Work Queue".jobs\n');
    expect(human.stdout).not.toContain('orders');
    const json = await cli('backup-physical', ['--json'], { cwd: primary.project, env: { DATABASE_URL: primary.url('app') } });
    expect(json.code, json.stderr).toBe(0);
    expect(json.json<PhysicalBackupResult>().unlogged).toEqual({ tables: ['app: public.sessions', 'postgres: "Work Queue".jobs'], unchecked: [] });
  });

  it('a deep verification recovers them empty and reports no loss', async () => {
    await primary.switchAndArchive();
    const run = await cli('verify-physical', ['--deep', '--json'], { cwd: primary.project });
    expect(run.code, run.stderr).toBe(0);
    const [result] = run.json<{ results: Array<{ ok: boolean; checks: string[]; deep: { unlogged: string[] } }> }>().results;
    expect(result!.ok).toBe(true);
    expect(result!.deep.unlogged).toEqual(['app: public.sessions', 'postgres: "Work Queue".jobs']);
    expect(result!.checks).toContainEqual(expect.stringMatching(/^2 UNLOGGED tables recovered empty, as PostgreSQL makes them \(no base backup holds their rows\): app: public.sessions, postgres: "Work Queue".jobs$/));
  });
});
