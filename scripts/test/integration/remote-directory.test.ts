/**
 * A mounted directory as the remote (`file:///mnt/…`), driven through the CLI as a user would:
 * the backup lands in both places, the local copy is lost, and list and restore work from the
 * directory alone; an unmounted (missing) directory is refused with its exit code, nothing written.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import type { ListResult } from '../../lib/commands/list.js';
import { fingerprint } from '../support/backups.js';
import { backupDir, cli, createDatabase, listBackupFiles, makeProject } from '../support/harness.js';

describe('a directory as the remote', () => {
  it('backs up into it, and with the local copy gone lists and restores from it alone', async () => {
    const source = await createDatabase({ seed: 'awkward' });
    const mount = mkdtempSync(path.join(tmpdir(), 'pgkit-mount-'));
    const remote = `file://${mount}`;
    const dir = makeProject({ 'backup-kit.json': JSON.stringify({ remote: { url: remote } }) });
    const env = { DATABASE_URL: source.url };
    const run = await cli('pg-backup', ['--json'], { cwd: dir, env });
    expect(run.code, run.stderr).toBe(0);
    const backup = run.json<BackupResult>();
    expect(readdirSync(path.join(mount, 'default')).sort()).toEqual(expect.arrayContaining([`${backup.id}.info`, `${backup.id}.sha256`]));

    rmSync(backupDir(dir), { recursive: true, force: true });
    const list = await cli('list', ['--json'], { cwd: dir, env });
    expect(list.code, list.stderr).toBe(0);
    expect(list.json<ListResult>().backups.map((b) => [b.id, b.store])).toEqual([[backup.id, 'remote']]);

    const target = await createDatabase({ sql: 'CREATE TABLE other (x int)' });
    const restore = await cli('pg-restore', ['--latest', '--from-remote', '--force'], { cwd: dir, env: { DATABASE_URL: target.url } });
    expect(restore.code, restore.stderr).toBe(0);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(source.url));
  }, 240_000);

  it('refuses a directory that is not there (an unmounted disk) with exit 20, writing nothing', async () => {
    const source = await createDatabase({ seed: 'awkward' });
    const missing = path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-mount-')), 'not-mounted');
    const dir = makeProject();
    const run = await cli('pg-backup', ['--remote', `file://${missing}`], { cwd: dir, env: { DATABASE_URL: source.url } });
    expect(run.code, run.stderr).toBe(20);
    expect(run.stderr).toContain(missing);
    expect(run.stderr.trim().split('\n').filter((l) => l.trim()).length).toBeLessThanOrEqual(3);
    expect(existsSync(missing)).toBe(false);
    expect(listBackupFiles(dir).filter((f) => f.endsWith('.info'))).toEqual([]);
  });
});
