/**
 * Every command the kit prints for a person to run next reaches the target the printing command
 * worked on: run word for word as printed, a restore's undo, a drop's undo and a backup's restore
 * hint act on the database given with --url, never on the environment's own one.
 */
import { describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { fingerprint } from '../support/backups.js';
import { cli, cluster, createDatabase, makeProject } from '../support/harness.js';
import { runPrinted } from '../support/printed.js';

const SHOP = "CREATE TABLE orders (id int PRIMARY KEY, item text); INSERT INTO orders SELECT g, 'shop ' || g FROM generate_series(1, 30) g;";
const COPY = "CREATE TABLE orders (id int PRIMARY KEY, item text); INSERT INTO orders VALUES (1, 'only in the copy'); CREATE TABLE notes (n text);";

/** A project whose environment's own database is `shop`. */
function projectFor(shopUrl: string): { project: string; env: NodeJS.ProcessEnv } {
  return { project: makeProject({ 'packages/database/.env': `DATABASE_URL=${shopUrl}\n` }), env: {} };
}

/**
 * A printed --url carries no password; the user adds it back (or keeps it in ~/.pgpass, which
 * node-pg reads through a lookup that has been seen to stall, so the test does not rely on it).
 */
function withPassword(line: string): string {
  const c = cluster();
  return line.replace(`postgresql://postgres@${c.host}:${c.port}/`, `postgresql://postgres:${c.password}@${c.host}:${c.port}/`);
}

describe('printed commands reach the same target', () => {
  it('issue 20.4: a restore, a drop and a backup given --url print commands that act on that database, without its password', async () => {
    const shop = await createDatabase({ sql: SHOP });
    const copy = await createDatabase({ sql: COPY });
    const { project, env } = projectFor(shop.url);
    const shopBefore = await fingerprint(shop.url);
    const copyBefore = await fingerprint(copy.url);
    const made = await cli('pg-backup', ['--format', 'dump', '--json'], { cwd: project, env });
    expect(made.code, made.stderr).toBe(0);

    // the environment's backup restored into the copy: the undo brings the copy back, shop untouched
    const restored = await cli('pg-restore', [made.json<BackupResult>().files[0]!.path, '--url', copy.url, '--force', '--json'], { cwd: project, env });
    expect(restored.code, restored.stderr).toBe(0);
    const undo = restored.json<{ undo: string }>().undo;
    expect(undo).toContain(`--url postgresql://postgres@${cluster().host}:${cluster().port}/${copy.name}`);
    expect(undo + restored.stderr + restored.stdout).not.toContain(cluster().password);
    expect((await fingerprint(copy.url)).tables).toEqual(shopBefore.tables);
    const undone = await runPrinted(withPassword(undo), { cwd: project, env });
    expect(undone.code, undone.stderr).toBe(0);
    expect(await fingerprint(copy.url)).toEqual(copyBefore);
    expect(await fingerprint(shop.url)).toEqual(shopBefore);

    // a drop of the copy: its undo restores the copy's pre-drop backup into the copy
    const dropped = await cli('drop-all', ['--url', copy.url, '--force'], { cwd: project, env });
    expect(dropped.code, dropped.stderr).toBe(0);
    const dropUndo = /^To undo: (.+)$/m.exec(dropped.stdout + dropped.stderr)?.[1];
    expect(dropUndo).toContain('--url');
    const redone = await runPrinted(withPassword(dropUndo!), { cwd: project, env });
    expect(redone.code, redone.stderr).toBe(0);
    expect(await fingerprint(copy.url)).toEqual(copyBefore);
    expect(await fingerprint(shop.url)).toEqual(shopBefore);

    // a backup of the copy: its restore hint restores it into the copy, not into shop
    const copied = await cli('pg-backup', ['--url', copy.url, '--format', 'dump'], { cwd: project, env });
    expect(copied.code, copied.stderr).toBe(0);
    const hint = /^Restore with: (.+)$/m.exec(copied.stdout)?.[1];
    expect(hint).toContain('--url');
    const hinted = await runPrinted(withPassword(`${hint!} --force`), { cwd: project, env });
    expect(hinted.code, hinted.stderr).toBe(0);
    expect(await fingerprint(copy.url)).toEqual(copyBefore);
    expect(await fingerprint(shop.url)).toEqual(shopBefore);
  }, 400_000);

  it('issue 20.4: --latest takes the newest backup of the target\'s own database, never another database\'s safety backup', async () => {
    const shop = await createDatabase({ sql: SHOP });
    const copy = await createDatabase({ sql: COPY });
    const { project, env } = projectFor(shop.url);
    const made = await cli('pg-backup', ['--format', 'dump', '--json'], { cwd: project, env });
    expect(made.code, made.stderr).toBe(0);
    const shopBackup = made.json<BackupResult>();
    // a restore into the copy leaves a newer pre-restore safety backup of the copy beside it
    const intoCopy = await cli('pg-restore', [shopBackup.files[0]!.path, '--url', copy.url, '--force', '--json'], { cwd: project, env });
    expect(intoCopy.code, intoCopy.stderr).toBe(0);
    expect(intoCopy.json<{ otherDatabase: string }>().otherDatabase).toBe(shop.name);
    const safetyId = intoCopy.json<{ safetyBackup: { id: string } }>().safetyBackup.id;

    const verified = await cli('verify', ['--latest', '--json'], { cwd: project, env });
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.json<{ verified: Array<{ id: string }> }>().verified.map((v) => v.id)).toEqual([shopBackup.id]);
    const latest = await cli('pg-restore', ['--latest', '--force', '--no-safety-backup', '--json'], { cwd: project, env });
    expect(latest.code, latest.stderr).toBe(0);
    expect(latest.json<{ backup: { id: string }; otherDatabase: string | null }>()).toMatchObject({ backup: { id: shopBackup.id } });
    expect(latest.json<{ otherDatabase?: string }>().otherDatabase).toBeUndefined();
    // asked for, the safety backup is there to take
    const withSafety = await cli('verify', ['--latest', '--include-safety', '--json', '--url', copy.url], { cwd: project, env });
    expect(withSafety.json<{ verified: Array<{ id: string }> }>().verified.map((v) => v.id)).toEqual([safetyId]);
  }, 400_000);
});
