import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { REPO, cli, EXIT_CHECK_ENV, exitCheckFailure, cluster, createDatabase, holdLock, listBackupFiles, makeProject, pgDumpPidsFor, query, readInfo, startCli, waitFor } from '../support/harness.js';

type Json = BackupResult & { ok: boolean };
const SQL_ONLY = ['--format', 'sql', '--json'];

async function backedUp(project: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, envName = 'default'): Promise<string> {
  const run = await cli('pg-backup', [...SQL_ONLY, ...args], { cwd: project, env });
  // a password given on the command line is used, with a warning that argv is public
  if (args.includes('--url')) expect(run.stderr).toMatch(/^backup: warning: a password in --url is visible to other users/);
  else expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return readInfo(project, run.json<Json>().id, envName).database.name;
}

describe('db:backup finds its database by one precedence', () => {
  it('--url > environment > packages/database/.env > root .env', async () => {
    const [flag, environment, pkg, root] = await Promise.all([1, 2, 3, 4].map(() => createDatabase()));
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${pkg!.url}\n`, '.env': `DATABASE_URL=${root!.url}\n` });
    expect(await backedUp(project, ['--url', flag!.url], { DATABASE_URL: environment!.url })).toBe(flag!.name);
    expect(await backedUp(project, [], { DATABASE_URL: environment!.url })).toBe(environment!.name);
    expect(await backedUp(project)).toBe(pkg!.name);
    const latest = (await cli('pg-backup', SQL_ONLY, { cwd: project })).json<Json>();
    expect(readInfo(project, latest.id).database.configuredBy).toBe('packages/database/.env');
    const rootOnly = makeProject({ '.env': `DATABASE_URL=${root!.url}\n` });
    expect(await backedUp(rootOnly)).toBe(root!.name);
  });

  it('--env <name> reads packages/database/.env.<name> only, and keeps its backups apart', async () => {
    const [staging, local] = await Promise.all([createDatabase(), createDatabase()]);
    const project = makeProject({ 'packages/database/.env.staging': `DATABASE_URL=${staging.url}\n`, 'packages/database/.env': `DATABASE_URL=${local.url}\n` });
    expect(await backedUp(project, ['--env', 'staging'], {}, 'staging')).toBe(staging.name);
    expect(listBackupFiles(project, 'staging').filter((f) => f.endsWith('.info'))).toHaveLength(1);
    // the restore hint sends the backup back to its own environment, not to the default one
    const human = await cli('pg-backup', ['--env', 'staging', '--format', 'dump'], { cwd: project });
    expect(human.stdout).toMatch(/Restore with: pnpm db:restore -- backups\/staging\/backup_manual_\d+_\d+(_\d+)?\.dump --env staging$/m);
    expect(listBackupFiles(project, 'default')).toEqual([]);
    // no silent fallback from an environment that is not configured to the local database
    const run = await cli('pg-backup', ['--env', 'prod'], { cwd: project });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/No database configured for --env prod.*packages\/database\/\.env\.prod/);
  });

  it('accepts discrete DB_* variables, with the password kept out of everything written', async () => {
    const db = await createDatabase();
    const c = cluster();
    const project = makeProject({
      'packages/database/.env': `DB_HOST=${c.host}\nDB_PORT=${c.port}\nDB_USERNAME=postgres\nDB_PASSWORD=${c.password}\nDB_NAME=${db.name}\n`,
    });
    const run = await cli('pg-backup', SQL_ONLY, { cwd: project });
    expect(run.code).toBe(0);
    const info = readFileSync(path.join(project, 'backups/default', `${run.json<Json>().id}.info`), 'utf8');
    expect(info).toContain(`"name": "${db.name}"`);
    expect(info + run.stdout + readFileSync(path.join(project, 'backups/backup.log'), 'utf8')).not.toContain(c.password);
  });
});

describe('db:backup output for people, scripts, CI and cron', () => {
  it('--json prints one result object; under GitHub Actions the id and paths go to $GITHUB_OUTPUT', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT 1 AS id' });
    const project = makeProject();
    const outputFile = path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-gh-')), 'output');
    const run = await cli('pg-backup', ['pre-migrate', '--json'], { cwd: project, env: { DATABASE_URL: db.url, GITHUB_OUTPUT: outputFile } });
    expect(run.code).toBe(0);
    const result = run.json<Json>();
    expect(result).toMatchObject({ ok: true, environment: 'default', statistics: { source: 'plain-stream', totalRows: 1 } });
    expect(result.id).toMatch(/^backup_pre-migrate_/);
    expect(result.files.map((f) => f.format)).toEqual(['sql', 'sql.gz', 'dump', 'tar', 'globals']);
    const output = readFileSync(outputFile, 'utf8');
    expect(output).toContain(`backup_id=${result.id}\n`);
    expect(output).toContain(`backup_dump=${path.join(project, 'backups/default', `${result.id}.dump`)}\n`);
    expect(output).toContain(`backup_info=${result.info}\n`);
  });

  it('a backup that recorded no statistics says so, instead of "0 tables, 0 rows"', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT 1 AS id' });
    const project = makeProject();
    const none = await cli('pg-backup', ['--format', 'dump'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toMatch(/complete in [^\n]*, no per-table statistics recorded \(add --stats archive to record them; verify computes them from the archive\)\./);
    expect(none.stdout).not.toMatch(/0 tables/);
    const counted = await cli('pg-backup', ['--format', 'dump', '--stats', 'archive'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(counted.code, counted.stderr).toBe(0);
    expect(counted.stdout).toMatch(/complete in [^\n]*, 1 tables, 1 rows\./);
  });

  it('pnpm db:backup:auto prints nothing on success and leaves a log line', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT 1 AS id' });
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-auto-'));
    const out = execFileSync('pnpm', ['-s', 'db:backup:auto'], {
      cwd: REPO,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url, BACKUP_DIR: dir, LOG_FILE: path.join(dir, 'cron.log') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out.toString()).toBe('');
    const log = JSON.parse(readFileSync(path.join(dir, 'cron.log'), 'utf8')) as { outcome: string; id: string };
    expect(log.outcome).toBe('success');
    expect(log.id).toMatch(/^backup_auto_/);
  });

  it('without a terminal, prints a plain progress line at each interval; --quiet prints none', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 1000) g' });
    for (const quiet of [false, true]) {
      const project = makeProject();
      const lock = await holdLock(db.url, 'big');
      const { result } = startCli('pg-backup', quiet ? ['--quiet'] : [], { cwd: project, env: { DATABASE_URL: db.url, PROGRESS_INTERVAL: '0.5' } });
      await waitFor('pg_dump', () => (pgDumpPidsFor(db.name).length === 3 ? true : undefined));
      await new Promise((r) => setTimeout(r, 1600));
      await lock.release();
      const run = await result;
      expect(run.code).toBe(0);
      if (quiet) {
        expect(run.stdout + run.stderr).toBe('');
      } else {
        expect(run.stderr.match(/^backup: dumping \| \d+:\d\d/gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
        expect(run.stdout).toMatch(/^Backup backup_manual_\d+_\d+ of t_\w+ \(default\) complete/);
      }
    }
  });

  it('in a terminal, shows a spinner with elapsed time on stderr', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 1000) g' });
    const project = makeProject();
    const lock = await holdLock(db.url, 'big');
    // `script` runs the CLI on a real pseudo-terminal, as a developer's shell would
    const child = spawn('script', ['-qec', `stty cols 120 rows 40; node ${path.join(REPO, 'scripts/kit.mjs')} pg-backup --format sql`, '/dev/null'], {
      cwd: project,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url, TERM: 'xterm-256color', ...EXIT_CHECK_ENV },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (c: Buffer) => (screen += c.toString()));
    await waitFor('the spinner', () => (/backup: dumping \| 0:0\d/.test(screen) ? true : undefined), 20_000);
    await lock.release();
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(exitCheckFailure(screen)).toBeUndefined();
    expect(code).toBe(0);
    expect(screen).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏](\u001b\[\d+m)? backup: dumping/);
    expect(screen).toMatch(/Backup backup_manual_\d+_\d+ of t_\w+ \(default\) complete/);
  });

  it('a partial backup (--table) holds only that table and says so in .info', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE users (id int); CREATE TABLE orders (id int); INSERT INTO users VALUES (1), (2); INSERT INTO orders VALUES (1)' });
    const project = makeProject();
    const run = await cli('pg-backup', ['--table', 'users', '--json'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(run.code).toBe(0);
    const info = readInfo(project, run.json<Json>().id);
    expect(info.scope).toEqual({ tables: ['users'], excludeTables: [], schemas: [], complete: false });
    expect(Object.keys(info.statistics.tables)).toEqual(['public.users']);
    const sql = readFileSync(path.join(project, 'backups/default', `${info.id}.sql`), 'utf8');
    expect(sql).toContain('CREATE TABLE public.users');
    expect(sql).not.toContain('CREATE TABLE public.orders');
    const excluded = await cli('pg-backup', ['--exclude-table', 'orders', '--json'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(Object.keys(readInfo(project, excluded.json<Json>().id).statistics.tables)).toEqual(['public.users']);
    await query(db.url, 'CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int); INSERT INTO billing.invoices VALUES (7)');
    const schema = await cli('pg-backup', ['--schema', 'billing', '--json'], { cwd: project, env: { DATABASE_URL: db.url } });
    const scoped = readInfo(project, schema.json<Json>().id);
    expect(scoped.scope.schemas).toEqual(['billing']);
    expect(scoped.statistics.tables).toEqual({ 'billing.invoices': { rows: 1, fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) as string } });
  });
});
