import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../support/backups.js';
import { REPO, cli, createDatabase, makeProject, query } from '../support/harness.js';
import { FAILING_MIGRATIONS, migrationsWith, sampleApp } from '../support/sample-app.js';
import { runJob, type StepRecord } from '../support/workflow.js';

const MIGRATE = path.join(REPO, '.github/workflows/migrate.yml');
const CI = path.join(REPO, '.github/workflows/ci.yml');
const CORPUS = path.join(REPO, '.github/workflows/corpus.yml');

async function runMigrateWorkflow(url: string, edit?: Parameters<typeof runJob>[2]['edit']) {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-actions-'));
  const steps = await runJob(MIGRATE, 'migrate', {
    secrets: { DATABASE_URL: url, NOTIFY_URL: '' },
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true', GITHUB_SHA: 'abc1234', BACKUP_DIR: path.join(dir, 'backups'), LOG_FILE: path.join(dir, '{command}.log'), MIGRATIONS_DIR: migrationsWith(FAILING_MIGRATIONS) },
    // the test machine already has pnpm, PostgreSQL's client and the dependencies
    skip: (step) => step.run === 'bash scripts/setup.sh',
    ...(edit ? { edit } : {}),
  });
  return { dir, steps };
}

const outcome = (steps: StepRecord[], name: string) => steps.find((s) => s.name === name)?.outcome;

describe('the GitHub workflows', () => {
  it.each([MIGRATE, CI, CORPUS])('%s is a valid workflow', (file) => {
    const result = parseWorkflow({ name: path.basename(file), content: readFileSync(file, 'utf8') }, new NoOperationTraceWriter());
    expect(result.context.errors.getErrors().map((e) => e.message)).toEqual([]);
    expect(result.value).toBeDefined();
  });

  it('migrate.yml, run step by step against a migration that fails half-way, leaves the database as it was', async () => {
    const db = await sampleApp();
    const before = await fingerprint(db.url);
    const { dir, steps } = await runMigrateWorkflow(db.url);
    expect(steps.map((s) => [s.name, s.outcome])).toEqual([
      ['actions/checkout@v4', 'not run here'],
      ['actions/setup-node@v4', 'not run here'],
      ['Install pnpm, the PostgreSQL client programs and the dependencies', 'not run here'],
      ['Back up before migrating', 'success'],
      ['Verify the backup', 'success'],
      ['Migrate', 'failure'],
      ['Test the application', 'skipped'],
      ['Roll back to the pre-migrate backup', 'success'],
      ['Keep the backup as a workflow artifact', 'not run here'],
    ]);
    expect(await fingerprint(db.url)).toEqual(before);

    // the rollback restored exactly the backup the backup step made, and the artifact holds it
    const backupLog = JSON.parse(readFileSync(path.join(dir, 'backup.log'), 'utf8').trim().split('\n')[0]!) as { id: string };
    const restoreLog = readFileSync(path.join(dir, 'restore.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { backup: string; outcome: string });
    expect(restoreLog).toEqual([expect.objectContaining({ backup: backupLog.id, outcome: 'success' })]);
    const artifact = steps.at(-1)!.with!;
    expect(artifact.name).toBe(backupLog.id);
    const files = artifact.path!.trim().split('\n');
    expect(files.map((f) => path.basename(f))).toEqual([`${backupLog.id}.dump`, `${backupLog.id}.info`]);
    for (const f of files) expect(existsSync(f)).toBe(true);
  });

  it('the same run without its rollback step would leave the database changed (the check above can fail)', async () => {
    const db = await sampleApp();
    const before = await fingerprint(db.url);
    const { steps } = await runMigrateWorkflow(db.url, (all) => all.filter((s) => s.name !== 'Roll back to the pre-migrate backup'));
    expect(outcome(steps, 'Migrate')).toBe('failure');
    expect(await fingerprint(db.url)).not.toEqual(before);
    expect(await query(db.url, "SELECT to_regclass('coupons')::text AS t")).toEqual([{ t: 'coupons' }]);
  });

  it('a rollback that restores some other backup than the backup step\'s is caught', async () => {
    const db = await sampleApp();
    const { dir, steps } = await runMigrateWorkflow(db.url, (all) =>
      all.map((s) => (s.name === 'Roll back to the pre-migrate backup' ? { ...s, env: {}, run: 'pnpm -s db:backup:pre-migrate >/dev/null && pnpm -s db:restore --latest --force' } : s)),
    );
    expect(outcome(steps, 'Roll back to the pre-migrate backup')).toBe('success');
    const backupId = (JSON.parse(readFileSync(path.join(dir, 'backup.log'), 'utf8').trim().split('\n')[0]!) as { id: string }).id;
    const restored = readFileSync(path.join(dir, 'restore.log'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { backup: string }).backup);
    expect(restored).not.toContain(backupId); // the assertion the real test makes would fail here
  });
});

// The manual's chapters on CI and cron: their blocks say `<!-- tested-by: … -->` this file, and
// scripts/test/unit/docs.test.ts holds them to it.
describe('the manual\'s CI and cron recipes', () => {
  const chapter = (file: string) => readFileSync(path.join(REPO, file), 'utf8');

  it('docs/03-ci-and-migrations.md points at the workflow files this test runs, and quotes them exactly', () => {
    const ci = chapter('docs/03-ci-and-migrations.md');
    expect(ci).toContain('.github/workflows/migrate.yml');
    expect(ci).toContain('.github/workflows/ci.yml');
    const quoted = /```yaml\n([\s\S]*?)```/.exec(ci)![1]!;
    const workflow = readFileSync(MIGRATE, 'utf8');
    for (const line of quoted.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#') && l.trim() !== '…')) expect(workflow, line).toContain(line);
  });

  it('docs/02-cron.md lines run as written: silent on success, and the scripts exist', async () => {
    const cron = chapter('docs/02-cron.md');
    const lines = [...cron.matchAll(/^[0-9*][^\n]*?cd \/srv\/app && (.+)$/gm)].map((m) => m[1]!);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT 1 AS id' });
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-cron-'));
    for (const line of lines) {
      const out = execFileSync('bash', ['-c', line], { cwd: REPO, env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url, BACKUP_DIR: dir, LOG_FILE: path.join(dir, '{command}.log') }, stdio: ['ignore', 'pipe', 'pipe'] });
      expect(out.toString(), line).toBe('');
    }
  });
});

/** The words of a shell line, quotes removed (the manual's kit lines use no other shell syntax). */
const words = (line: string) => [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);

/** `pnpm db:restore -- <args>` as the harness runs it: the entry and flags package.json gives the script, then the args. */
function asKitRun(line: string): { entry: string; args: string[] } {
  const scripts = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const [pnpm, script, ...rest] = words(line.replace(/\s#.*$/, ''));
  const run = /^node scripts\/kit\.mjs -- (.+)$/.exec(scripts[script!] ?? '');
  if (pnpm !== 'pnpm' || !run) throw new Error(`not a kit line: ${line}`);
  const [entry, ...own] = words(run[1]!);
  return { entry: entry!, args: [...own, ...rest.filter((w) => w !== '--')] };
}

// The recovery recipes of docs/10-how-it-works.md whose blocks say `<!-- tested-by: … -->` this
// file, run as written against an environment named prod (protected, so --confirm is needed).
describe('the manual\'s recovery recipes', () => {
  it('docs/10-how-it-works.md: database lost, migration gone wrong, one table damaged, each restores as written', async () => {
    const db = await createDatabase({ sql: "CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 50) g" });
    const project = makeProject({ 'packages/database/.env.prod': `DATABASE_URL=${db.url}\n` });
    const backup = async (type: string) => {
      const run = await cli('pg-backup', ['--env', 'prod', '--type', type, '--format', 'dump', '--no-progress', '--json'], { cwd: project });
      expect(run.code, run.stderr).toBe(0);
      return run.json<{ id: string }>().id;
    };
    const auto = await backup('auto');
    await backup('pre-migrate');

    const chapter = readFileSync(path.join(REPO, 'docs/10-how-it-works.md'), 'utf8');
    const blocks = [...chapter.matchAll(/<!-- tested-by: scripts\/test\/integration\/workflows\.test\.ts -->\n```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const lines = blocks.flatMap((b) => b.split('\n')).filter((l) => l.startsWith('pnpm '));
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const line of lines) {
      await query(db.url, 'DELETE FROM orders WHERE id > 40'); // a disaster for each recipe to repair
      const written = line.replaceAll('<database>', db.name).replace(/backup_auto_\d{8}_\d{6}/, auto);
      const { entry, args } = asKitRun(written);
      const run = await cli(entry, entry === 'list' ? args : [...args, '--no-progress'], { cwd: project });
      expect(run.code, `${line}\n${run.stderr}`).toBe(0);
      if (entry === 'pg-restore') expect(await query(db.url, 'SELECT count(*)::int AS n FROM orders'), line).toEqual([{ n: 50 }]);
    }

    // chapter 1's `db:verify -- --latest --type auto` picks the newest of that type, and
    // `db:verify -- --all` checks every backup the recipes left behind
    const ofType = await cli('verify', ['--latest', '--type', 'auto', '--env', 'prod', '--json'], { cwd: project });
    expect(ofType.code, ofType.stderr).toBe(0);
    expect(ofType.json<{ verified: Array<{ id: string }> }>().verified.map((v) => v.id)).toEqual([auto]);

    const all = await cli('verify', ['--all', '--env', 'prod', '--json'], { cwd: project });
    expect(all.code, all.stderr).toBe(0);
    expect(all.json<{ verified: unknown[] }>().verified.length).toBeGreaterThanOrEqual(3);
  });
});
