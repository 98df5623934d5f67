import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupDir, cli, createDatabase, listBackupFiles, makeProject } from '../support/harness.js';

const SEGMENT = '000000010000000000000001';

describe('bad input on the command line gets one clear message and its exit code', () => {
  it('wal-push and wal-fetch refuse an --env that is a path, and nothing is written outside the backup root', async () => {
    const project = makeProject();
    const segment = path.join(project, 'pg_wal', SEGMENT);
    mkdirSync(path.dirname(segment));
    writeFileSync(segment, Buffer.alloc(16384, 7));
    const escaped = path.join(project, 'escaped');
    const push = await cli('wal-push', [segment, '--project', project, '--env', '../escaped'], { cwd: project, env: {} });
    expect(push.code, push.stderr).toBe(2);
    expect(push.stderr).toMatch(/--env must be a simple name like "dev" or "prod" .* got "\.\.\/escaped"/);
    expect(existsSync(escaped)).toBe(false);
    const fetch = await cli('wal-fetch', [SEGMENT, path.join(project, 'restored'), '--project', project, '--env', '../escaped'], { cwd: project, env: {} });
    expect(fetch.code, fetch.stderr).toBe(2);
    expect(fetch.stderr).toMatch(/--env must be a simple name/);
    expect(existsSync(path.join(project, 'restored'))).toBe(false);
  });

  it('--env-file naming a directory is exit 3 with a message, not a crash; db:list says why it takes no --env-file', async () => {
    const db = await createDatabase();
    const project = makeProject();
    mkdirSync(path.join(project, 'settings'));
    for (const script of ['pg-backup', 'db-sql']) {
      const run = await cli(script, ['--env-file', 'settings', ...(script === 'db-sql' ? ['SELECT 1'] : [])], { cwd: project, env: { DATABASE_URL: db.url } });
      expect(run.code, `${script}: ${run.stderr}`).toBe(3);
      expect(run.stderr).toMatch(/--env-file settings is a directory, not a file\. Give the path of a file with DATABASE_URL=… in it\./);
      expect(run.stderr).not.toMatch(/EISDIR|Unexpected error|\n\s+at /);
    }
    // the default env file being a directory is named too
    mkdirSync(path.join(project, 'packages/database/.env'), { recursive: true });
    const fallback = await cli('pg-backup', [], { cwd: project, env: {} });
    expect(fallback.code, fallback.stderr).toBe(3);
    expect(fallback.stderr).toMatch(/packages\/database\/\.env is a directory, not a file/);
    const list = await cli('list', ['--env-file', 'settings'], { cwd: project, env: {} });
    expect(list.code, list.stderr).toBe(2);
    expect(list.stderr).toMatch(/--env-file names a database to connect to, and this command never connects to one/);
    expect(list.stderr).not.toMatch(/Unknown option/);
    expect(listBackupFiles(project)).toEqual([]);
  });

  it('a lock timeout beyond what PostgreSQL takes is refused before anything runs, naming the limit', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const project = makeProject();
    const env = { DATABASE_URL: db.url };
    for (const [value, message] of [
      ['99999999999h', /--lock-wait-timeout can be at most 2147483647ms \(PostgreSQL's limit, about 596h\), got "99999999999h"/],
      ['2147483648', /--lock-wait-timeout can be at most 2147483647ms/],
      ['0.4ms', /--lock-wait-timeout must be at least 1ms/],
    ] as const) {
      const run = await cli('pg-backup', ['--lock-wait-timeout', value], { cwd: project, env });
      expect(run.code, `${value}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
    }
    expect(existsSync(backupDir(project)) ? listBackupFiles(project) : []).toEqual([]);
    const fine = await cli('pg-backup', ['--lock-wait-timeout', '596h'], { cwd: project, env });
    expect(fine.code, fine.stderr).toBe(0);
    const drop = await cli('drop-all', ['--force', '--lock-timeout', '99999999999'], { cwd: project, env });
    expect(drop.code, drop.stderr).toBe(2);
    expect(drop.stderr).toMatch(/--lock-timeout can be at most 2147483\.647 seconds/);
  });
});
