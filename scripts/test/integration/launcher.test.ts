/**
 * The launcher (scripts/kit.mjs) as people meet it: the development path through tsx, a bundle
 * judged by content rather than modification time, stack traces that name the .ts sources, and
 * cron running as another user who cannot write the project's cache.
 */
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { $ } from 'zx/core';
import { EXIT_CHECK_ENV, exitCheckFailure, REPO } from '../support/harness.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the kit's sources in a new directory, with the repository's installed packages. */
/**
 * A copy of the kit with its own node_modules directory (so its cache is its own). By default it
 * points at the installed packages; `linked` hard-links them instead, for another user who cannot
 * reach the repository itself (a clone under a private directory).
 */
function copyOfKit(options: { linked?: boolean } = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-launcher-'));
  made.push(dir);
  chmodSync(dir, 0o755);
  cpSync(path.join(REPO, 'scripts'), path.join(dir, 'scripts'), { recursive: true, filter: (src) => !src.includes(`${path.sep}test${path.sep}`) });
  for (const file of ['package.json', 'tsconfig.json']) cpSync(path.join(REPO, file), path.join(dir, file));
  if (options.linked) {
    execFileSync('cp', ['-al', path.join(REPO, 'node_modules'), path.join(dir, 'node_modules')]);
    rmSync(path.join(dir, 'node_modules/.cache'), { recursive: true, force: true });
    return dir;
  }
  mkdirSync(path.join(dir, 'node_modules'));
  for (const entry of readdirSync(path.join(REPO, 'node_modules'))) {
    if (entry !== '.cache') symlinkSync(path.join(REPO, 'node_modules', entry), path.join(dir, 'node_modules', entry));
  }
  return dir;
}

function edit(file: string, change: (text: string) => string): void {
  const before = statSync(file);
  writeFileSync(file, change(readFileSync(file, 'utf8')));
  // A copy that keeps old times (cp -p, rsync -t, a restored archive): the mtime says "unchanged".
  utimesSync(file, before.atime, before.mtime);
}

const node = async (dir: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
  const run = await $({ cwd: dir, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...EXIT_CHECK_ENV, ...env }, nothrow: true, quiet: true })`${process.execPath} ${path.join(dir, 'scripts/kit.mjs')} ${args}`;
  const lingered = exitCheckFailure(run.stderr);
  if (lingered) throw lingered;
  return run;
};

describe('the launcher', () => {
  it('`pnpm tsx scripts/<command>.ts` runs a command straight from its source', async () => {
    const backups = mkdtempSync(path.join(tmpdir(), 'pgkit-tsx-'));
    made.push(backups);
    const run = await $({ cwd: REPO, env: { ...process.env, BACKUP_DIR: backups, ...EXIT_CHECK_ENV }, nothrow: true, quiet: true })`pnpm -s tsx scripts/list.ts --env tsx`;
    expect(exitCheckFailure(run.stderr)).toBeUndefined();
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain(`No backups in ${path.join(backups, 'tsx')}`);
  });

  it('`pnpm db:backup -- --env-file <missing>` and the package.json scripts give the kit\'s own message and exit code, not Node\'s', async () => {
    const logs = mkdtempSync(path.join(tmpdir(), 'pgkit-envfile-'));
    made.push(logs);
    const missing = path.join(logs, 'missing.env');
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_FILE: path.join(logs, 'log'), ...EXIT_CHECK_ENV };
    const viaPnpm = await $({ cwd: REPO, env, nothrow: true, quiet: true })`pnpm -s db:backup -- --env-file ${missing}`;
    // what package.json runs, with the flag straight after it (as pnpm would append it)
    const script = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).scripts['db:backup'] as string;
    const direct = await $({ cwd: REPO, env, nothrow: true, quiet: true })`sh -c ${`${script} --env-file ${missing}`}`;
    for (const run of [viaPnpm, direct]) {
      expect(exitCheckFailure(run.stderr)).toBeUndefined();
      expect(run.stderr).not.toMatch(/^node:/m);
      expect(run.stderr).toContain(`backup: error: --env-file ${missing} does not exist.`);
      expect(run.exitCode).toBe(3);
    }
  });

  it('rebuilds when a source changes even if its modification time does not', async () => {
    const dir = copyOfKit();
    const first = await node(dir, ['list', '--help']);
    expect(first.exitCode, first.stderr).toBe(0);
    edit(path.join(dir, 'scripts/lib/commands/list.ts'), (t) => t.replace('The complete backups of an environment', 'MARKER-42: the complete backups of an environment'));
    const second = await node(dir, ['list', '--help']);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toContain('MARKER-42');
  });

  it('stack traces name the TypeScript source and line, not the bundle', async () => {
    const dir = copyOfKit();
    const file = path.join(dir, 'scripts/lib/commands/list.ts');
    edit(file, (t) => t.replace('  async run(args, ctx) {', "  async run(args, ctx) {\n    if (args.type === 'boom') throw new Error('boom');"));
    const line = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes("throw new Error('boom')")) + 1;
    const run = await node(dir, ['list', '--type', 'boom']);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain(`${file}:${line}:`);
  });

  it.skipIf(process.getuid?.() !== 0)('runs as another user (cron) who cannot write the project cache', async () => {
    // The other user reads the packages through hard links: the clone itself may be private.
    const dir = copyOfKit({ linked: true });
    const readable = await $({ nothrow: true, quiet: true })`runuser -u nobody -- test -r ${path.join(dir, 'node_modules/pg/package.json')}`;
    expect(readable.exitCode, 'the installed packages are readable by other users').toBe(0);
    edit(path.join(dir, 'scripts/lib/commands/list.ts'), (t) => `${t}\n// not bundled yet\n`);
    const home = mkdtempSync(path.join(tmpdir(), 'pgkit-nobody-'));
    made.push(home);
    chmodSync(home, 0o777);
    // node_modules/ belongs to root: nobody can create node_modules/.cache there.
    const run = await $({ cwd: dir, nothrow: true, quiet: true })`runuser -u nobody -- env PATH=${process.env.PATH ?? ''} HOME=${home} TMPDIR=${home} BACKUP_DIR=${path.join(home, 'b')} KIT_EXIT_CHECK=${EXIT_CHECK_ENV.KIT_EXIT_CHECK} ${process.execPath} scripts/kit.mjs list --env cron`;
    expect(exitCheckFailure(run.stderr)).toBeUndefined();
    expect(run.stderr).not.toMatch(/esbuild|EACCES/);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('No backups in');
    const cache = readdirSync(home).find((n) => n.startsWith('pg-backup-kit-'));
    expect(cache).toBeDefined();
    expect(statSync(path.join(home, cache!)).mode & 0o777).toBe(0o700);
  });
});
