/**
 * Ctrl-C on either side of the restore's COMMIT, with a real SIGINT. The test-only pause
 * (PGKIT_TEST_PAUSE) holds the restore at the point until the signal has arrived, so the window
 * is hit every time: before COMMIT the restore rolls back (exit 130, target unchanged); after it
 * the kit says the signal came too late, finishes, and exits 0 with the data restored; the same
 * once a --jobs restore has begun to swap its fresh database in.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { fileOf, fingerprint, takeBackup } from '../support/backups.js';
import { createDatabase, makeProject, startCli, waitFor, type TestDatabase } from '../support/harness.js';

const OTHER = "CREATE TABLE app_users (id int PRIMARY KEY, name text); INSERT INTO app_users VALUES (1, 'someone else')";

describe('SIGINT during the restore\'s COMMIT handshake', () => {
  let source: TestDatabase;
  let project: string;
  let backup: BackupResult;
  beforeAll(async () => {
    source = await createDatabase({ seed: 'awkward' });
    project = makeProject();
    backup = await takeBackup(project, source.url);
  });

  async function interruptAt(point: 'before-commit' | 'after-commit' | 'swap', target: TestDatabase, extra: string[] = []) {
    const run = startCli('pg-restore', [fileOf(backup, 'dump'), '--force', '--no-safety-backup', ...extra], { cwd: project, env: { DATABASE_URL: target.url, PGKIT_TEST_PAUSE: point } });
    await waitFor(`the restore to reach ${point}`, () => run.output().stderr.includes(`test pause: ${point}`));
    run.child.kill('SIGINT');
    return run.result;
  }

  it('before COMMIT: the restore is rolled back, exit 130, the target as it was', async () => {
    const target = await createDatabase({ sql: OTHER });
    const before = await fingerprint(target.url);
    const run = await interruptAt('before-commit', target);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toMatch(/SIGINT received, stopping and cleaning up/);
    expect(run.stderr).toMatch(/Interrupted\. The restore was rolled back; the target is unchanged/);
    expect(run.stdout).not.toMatch(/Restored/);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('after COMMIT was sent: told the signal came too late, exit 0, the backup restored', async () => {
    const target = await createDatabase({ sql: OTHER });
    const run = await interruptAt('after-commit', target);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/SIGINT received too late to stop: the restore's COMMIT has been sent, so the command finishes/);
    expect(run.stderr).not.toMatch(/stopping and cleaning up|Interrupted|rolled back/);
    expect(run.stdout).toMatch(/Restored/);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(source.url));
  });

  it('--jobs, once the swap has begun: told the signal came too late, exit 0, the backup in place', async () => {
    const target = await createDatabase({ sql: OTHER });
    const run = await interruptAt('swap', target, ['--jobs', '2']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/SIGINT received too late to stop: the restored database is being swapped in, so the command finishes/);
    expect(run.stderr).not.toMatch(/stopping and cleaning up|Interrupted|rolled back/);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(source.url));
  });
});
