/**
 * The kit's restores are PostgreSQL's own: for each artifact of a database shaped like a real
 * application (the awkward database widened with dozens of routines, triggers, rules, views over
 * views, policies, comments, several owners and grants), a restore by the kit and a restore by
 * psql / pg_restore themselves give the same database: schema, data, owners and privileges.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fileOf, fingerprint, takeBackup } from '../support/backups.js';
import { cli, createDatabase, makeProject, runTool } from '../support/harness.js';

const OTHER = "CREATE TABLE leftover (id int); INSERT INTO leftover VALUES (1); SELECT lo_from_bytea(0, 'stray')";

/** PostgreSQL's own way to restore each artifact into an empty database. */
async function restoredByPostgres(format: string, file: string, url: string, crossEnvironment: boolean): Promise<void> {
  const filter = crossEnvironment ? ['--no-owner', '--no-privileges'] : [];
  if (format === 'dump' || format === 'tar') {
    await runTool('pg_restore', ['--exit-on-error', '--single-transaction', ...filter, '--dbname', new URL(url).pathname.slice(1), file], url);
  } else {
    const input = format === 'sql.gz' ? createReadStream(file).pipe(createGunzip()) : createReadStream(file);
    await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], url, input);
  }
}

describe('the kit restores as PostgreSQL does', () => {
  it('every artifact of an application-shaped database: the same schema, data, owners and privileges', async () => {
    const source = await createDatabase({ seed: 'application' });
    const project = makeProject();
    const backup = await takeBackup(project, source.url);
    const expected = await fingerprint(source.url);
    expect(expected.ownership.some((line) => line.includes('owner=kit_awkward_owner'))).toBe(true);
    for (const format of ['sql', 'sql.gz', 'dump', 'tar']) {
      const own = await createDatabase();
      await restoredByPostgres(format, fileOf(backup, format), own.url, false);
      const kit = await createDatabase({ sql: OTHER });
      const run = await cli('pg-restore', [fileOf(backup, format), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: kit.url } });
      expect(run.code, `${format}: ${run.stderr}`).toBe(0);
      const theirs = await fingerprint(own.url);
      expect(await fingerprint(kit.url), format).toEqual(theirs);
      expect(theirs, format).toEqual(expected);
    }
  });

  it('across environments, as pg_restore --no-owner --no-privileges does', async () => {
    const source = await createDatabase({ seed: 'application' });
    const project = makeProject({ 'packages/database/.env.origin': `DATABASE_URL=${source.url}\n` });
    const backup = await takeBackup(project, source.url, ['--env', 'origin']);
    const own = await createDatabase();
    await restoredByPostgres('dump', fileOf(backup, 'dump'), own.url, true);
    const theirs = await fingerprint(own.url);
    expect(theirs.ownership.some((line) => line.includes('kit_awkward'))).toBe(false);
    for (const format of ['sql', 'sql.gz', 'dump', 'tar']) {
      const kit = await createDatabase({ sql: OTHER });
      const run = await cli('pg-restore', [fileOf(backup, format), '--from', 'origin', '--env', 'copy', '--url', kit.url, '--force', '--no-safety-backup'], { cwd: project });
      expect(run.code, `${format}: ${run.stderr}`).toBe(0);
      expect(await fingerprint(kit.url), format).toEqual(theirs);
    }
  });
});
