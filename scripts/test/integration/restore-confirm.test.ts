import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileOf, fingerprint, takeBackup } from '../support/backups.js';
import { cli, createDatabase, makeProject, onTerminal, query } from '../support/harness.js';

async function prodSetup() {
  const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 3)' });
  const prod = await createDatabase({ sql: 'CREATE TABLE live (id int); INSERT INTO live VALUES (1)' });
  const project = makeProject({ 'packages/database/.env.prod': `DATABASE_URL=${prod.url}\n` });
  const backup = await takeBackup(project, source.url);
  return { prod, project, file: fileOf(backup, 'dump'), before: await fingerprint(prod.url) };
}

describe('db:restore asks before it changes anything', () => {
  it('without a terminal it needs --force, and on a protected target also --confirm <database>', async () => {
    const { prod, project, file, before } = await prodSetup();
    const attempt = (...args: string[]) => cli('pg-restore', [file, '--env', 'prod', ...args], { cwd: project });

    const plain = await attempt();
    expect(plain.code).toBe(13);
    expect(plain.stderr).toMatch(new RegExp(`there is no terminal to confirm it\\. Pass --force --confirm ${prod.name}`));
    const forced = await attempt('--force');
    expect(forced.code).toBe(13);
    expect(forced.stderr).toMatch(new RegExp(`"prod" is a protected environment\\. .*pass --force --confirm ${prod.name}\\.`));
    const wrong = await attempt('--force', '--confirm', 'some_other_db');
    expect(wrong.code).toBe(13);
    expect(wrong.stderr).toMatch(/\(got --confirm some_other_db\)/);
    const unsafe = await attempt('--force', '--confirm', prod.name, '--no-safety-backup');
    expect(unsafe.code).toBe(13);
    expect(unsafe.stderr).toMatch(/--no-safety-backup is refused on the protected environment "prod"/);
    expect(await fingerprint(prod.url)).toEqual(before);
    expect(readdirSync(path.join(project, 'backups/prod')).filter((f) => f.endsWith('.info'))).toEqual([]);

    const done = await attempt('--force', '--confirm', prod.name);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(new RegExp(`To undo: pnpm db:restore -- backups/prod/backup_pre-restore_\\d+_\\d+\\.dump --force --env prod --confirm ${prod.name}`));
    expect(await query(prod.url, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 3 }]);
  });

  it('an unprotected target without a terminal needs --force', async () => {
    const target = await createDatabase({ sql: 'CREATE TABLE live (id int)' });
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const project = makeProject();
    const backup = await takeBackup(project, source.url);
    const run = await cli('pg-restore', [backup.id], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code).toBe(13);
    expect(run.stderr).toMatch(/there is no terminal to confirm it\. Pass --force to restore into it without a prompt\./);
    expect(existsSync(path.join(project, 'backups/default/.lock'))).toBe(false);
  });

  it('in a terminal, a protected target needs its name typed; a wrong name changes nothing', async () => {
    const { prod, project, file, before } = await prodSetup();
    const refused = await onTerminal('pg-restore', [file, '--env', 'prod'], project, {}, (screen, type) => {
      if (screen.includes('Type the database name') && !screen.includes('nope\r')) type('nope\r');
    });
    expect(refused.code).toBe(13);
    expect(refused.screen).toMatch(/Target: {2}t_\w+ on 127\.0\.0\.1:\d+ \(environment prod, PROTECTED\)/);
    expect(refused.screen).toMatch(/Restore cancelled; nothing was changed/);
    expect(await fingerprint(prod.url)).toEqual(before);

    let typed = false;
    const accepted = await onTerminal('pg-restore', [file, '--env', 'prod'], project, {}, (screen, type) => {
      if (!typed && screen.includes('Type the database name')) {
        typed = true;
        type(`${prod.name}\r`);
      }
    });
    expect(accepted.code, accepted.screen).toBe(0);
    expect(await query(prod.url, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 3 }]);
  });

  it('in a terminal, with no backup named, offers a list to pick from', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const target = await createDatabase({ sql: 'CREATE TABLE live (id int)' });
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${target.url}\n` });
    await takeBackup(project, source.url, ['older', 'the older one']);
    await query(source.url, 'INSERT INTO t VALUES (2)');
    const newest = await takeBackup(project, source.url, ['newer', 'the newer one']);
    let step = 0;
    const run = await onTerminal('pg-restore', [], project, {}, (screen, type) => {
      if (step === 0 && screen.includes('Which backup?') && screen.includes(newest.id)) {
        step = 1;
        type('\r'); // the newest is first
      } else if (step === 1 && screen.includes('Replace data in')) {
        step = 2;
        type('y');
      }
    });
    expect(run.code, run.screen).toBe(0);
    expect(await query(target.url, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 2 }]);
  });
});
