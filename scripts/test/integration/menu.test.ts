import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { takeBackup } from '../support/backups.js';
import { cli, createDatabase, makeProject, onTerminal, typeWhenShown, query } from '../support/harness.js';

const DOWN = '\x1b[B';
const CTRL_C = '\x03';

describe('pnpm db (the menu), on a real terminal', () => {
  it('takes a backup, then leaves with 130 on Ctrl-C', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT 1 AS id' });
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${db.url}\n` });
    const run = await onTerminal('db', [], project, {}, typeWhenShown([
      ['what next?', '\r'], // "Back up" is first
      ['Backup type', '\r'],
      ['Description', '\r'],
      ['complete in', ''],
      ['what next?', CTRL_C],
    ]));
    expect(run.code, run.screen).toBe(130);
    expect(run.screen).toContain('▶ pnpm db:backup -- manual "Manual backup"');
    expect(readdirSync(path.join(project, 'backups/default')).filter((f) => f.endsWith('.info'))).toHaveLength(1);
  });

  it('restores a backup picked from the list', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t AS SELECT generate_series(1, 4) AS id' });
    const target = await createDatabase({ sql: 'CREATE TABLE other (x int)' });
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${target.url}\n` });
    const backup = await takeBackup(project, source.url);
    const run = await onTerminal('db', [], project, {}, typeWhenShown([
      ['what next?', `${DOWN}\r`], // "Restore a backup"
      [backup.id, '\r'], // the list shows it; take the first
      ['Replace data in', 'y'],
      ['Restored', ''],
      ['what next?', CTRL_C],
    ]));
    expect(run.code, run.screen).toBe(130);
    expect(run.screen).toContain('▶ pnpm db:restore');
    expect(await query(target.url, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 4 }]);
  });

  it('without a terminal prints usage and exits 2', async () => {
    const run = await cli('db', [], { cwd: makeProject() });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/pnpm db opens an interactive menu, which needs a terminal/);
  });
});
