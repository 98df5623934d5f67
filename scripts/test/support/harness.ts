/**
 * What integration tests use to act like a user: fresh databases on the run's cluster, a fresh
 * project directory, and the CLI spawned exactly as `pnpm db:*` runs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import type { BackupInfo } from '../../lib/format/metadata.js';
import { settleAll, startProcess } from '../../lib/proc/process.js';
import { EXIT_CHECK_MARKER } from '../../lib/cli/exit-check.js';
import { pipeline } from 'node:stream/promises';

export const REPO = path.resolve(import.meta.dirname, '../../..');
const LAUNCHER = path.join(REPO, 'scripts/kit.mjs');

export function cluster() {
  return inject('cluster');
}

export function urlFor(database: string, overrides: { password?: string; host?: string; port?: number; user?: string } = {}): string {
  const c = cluster();
  const user = overrides.user ?? 'postgres';
  const password = overrides.password ?? c.password;
  return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${overrides.host ?? c.host}:${overrides.port ?? c.port}/${encodeURIComponent(database)}`;
}

export async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
}

/**
 * Seeds: 'awkward' is content that is awkward to back up and restore; 'application' is that, plus
 * what real applications have (dozens of routines, triggers, rules, views over views, policies,
 * comments on everything, several owners and grants).
 */
export async function createDatabase(options: { seed?: 'awkward' | 'application'; sql?: string } = {}): Promise<TestDatabase> {
  const name = `t_${randomBytes(5).toString('hex')}`;
  await query(urlFor('postgres'), `CREATE DATABASE ${name}`);
  const url = urlFor(name);
  if (options.seed) await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', path.join(REPO, 'scripts/test/support/awkward.sql')], url);
  if (options.seed === 'application') await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', path.join(REPO, 'scripts/test/support/application.sql')], url);
  if (options.sql) await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', options.sql], url);
  return { name, url };
}

/** libpq environment for a URL: tests pass connections to real tools the way the kit does. */
export function libpqEnv(url: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  return {
    PATH: process.env.PATH,
    PGHOST: u.hostname,
    PGPORT: u.port,
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: decodeURIComponent(u.pathname.slice(1)),
  };
}

/**
 * Run a real PostgreSQL client tool (psql, pg_restore) from the cluster's bin directory, through
 * the kit's own process module: a dump fed on stdin is streamed, and every exit status checked.
 */
export async function runTool(tool: string, args: string[], url: string, stdin?: NodeJS.ReadableStream): Promise<{ stdout: string; stderr: string }> {
  const running = startProcess(path.join(cluster().binDir, tool), args, { env: libpqEnv(url), stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let stdout = '';
  running.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  await settleAll([running], stdin ? [pipeline(stdin, running.child.stdin!)] : []);
  return { stdout, stderr: running.stderr.toString() };
}

/** A fresh application directory: where the user runs `pnpm db:*` from. */
export function makeProject(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-project-'));
  mkdirSync(path.join(dir, 'packages/database'), { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), content);
  }
  return dir;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
}

export interface CliOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  /** A program to run the CLI under, with its arguments (e.g. faketime and a frozen clock). */
  under?: string[];
}

/**
 * Every run in the tests is a test build: once a command has printed its result it must exit
 * within this many seconds, or it names what it still holds open (scripts/lib/cli/exit-check.ts).
 */
export const EXIT_CHECK_ENV = { KIT_EXIT_CHECK: '5' };

/** The test's failure when a run did not end with its work: the open handles it named. */
export function exitCheckFailure(stderr: string): Error | undefined {
  const at = stderr.indexOf(EXIT_CHECK_MARKER);
  if (at === -1) return undefined;
  const named = stderr.slice(at).split('\n').filter((line) => line.startsWith('kit-exit-check:'));
  return new Error(`The command did not exit after its work ended; still open:\n${named.join('\n')}`);
}

/** The environment a user's shell would give the CLI, minus anything from this test process. */
function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME ?? tmpdir(), LANG: 'C.UTF-8', ...EXIT_CHECK_ENV, ...extra };
}

export interface RunningCli {
  child: ChildProcess;
  result: Promise<CliResult>;
  /** What it has printed so far, for waiting on a message while it runs. */
  output(): { stdout: string; stderr: string };
}

export function startCli(script: string, args: string[], options: CliOptions): RunningCli {
  const [program, ...before] = options.under ?? [];
  const command = [process.execPath, LAUNCHER, '--', script, ...args];
  const child = spawn(program ?? command[0]!, program ? [...before, ...command] : command.slice(1), {
    cwd: options.cwd,
    env: cliEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const result = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const lingered = exitCheckFailure(stderr);
      if (lingered) reject(lingered);
      else resolve({ code, signal, stdout, stderr, json: <T>() => JSON.parse(stdout) as T });
    });
  });
  return { child, result, output: () => ({ stdout, stderr }) };
}

export function cli(script: string, args: string[], options: CliOptions): Promise<CliResult> {
  return startCli(script, args, options).result;
}

export function backupDir(project: string, env = 'default'): string {
  return path.join(project, 'backups', env);
}

/** Every file name in an environment's backup directory (lock and hidden files excluded). */
export function listBackupFiles(project: string, env = 'default'): string[] {
  try {
    return readdirSync(backupDir(project, env)).filter((f) => !f.startsWith('.')).sort();
  } catch {
    return [];
  }
}

export function readInfo(project: string, id: string, env = 'default'): BackupInfo {
  return JSON.parse(readFileSync(path.join(backupDir(project, env), `${id}.info`), 'utf8')) as BackupInfo;
}

/** Wait until `predicate` holds, polling; fails the test with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, predicate: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** pids of running pg_dump processes whose libpq environment targets `database`. */
export function pgDumpPidsFor(database: string, port?: number): number[] {
  return pidsOf('pg_dump', database, port);
}

/** pids of running `program` processes (pg_dump, psql, …) whose libpq environment targets `database` (on `port`, when given). */
export function pidsOf(program: string, database: string, port?: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!cmd[0]?.endsWith(`/${program}`) && cmd[0] !== program) continue;
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`PGDATABASE=${database}`) && (port === undefined || environ.includes(`PGPORT=${port}`))) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** Hold an ACCESS EXCLUSIVE lock on a table so pg_dump waits: a deterministic "slow backup". */
export async function holdLock(url: string, table: string): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return {
    async release() {
      await client.query('COMMIT').catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

/** An `answer` for onTerminal: type each step's keys once its text has appeared on the screen, after the previous step's. */
export function typeWhenShown(steps: Array<[string, string]>): (screen: string, type: (keys: string) => void) => void {
  let next = 0;
  let seenUpTo = 0;
  return (screen, type) => {
    const step = steps[next];
    if (!step) return;
    const at = screen.indexOf(step[0], seenUpTo);
    if (at === -1) return;
    seenUpTo = at + step[0].length;
    next++;
    type(step[1]);
  };
}

/**
 * Run a command on a real pseudo-terminal (`script`), as a person at a shell would. `answer`
 * sees the screen so far after each output and may type keys; it returns nothing.
 */
export function onTerminal(
  script: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  answer: (screen: string, type: (keys: string) => void) => void,
): Promise<{ code: number | null; screen: string }> {
  const command = `stty cols 120 rows 40; node ${path.join(REPO, 'scripts/kit.mjs')} -- ${script} ${args.map((a) => `'${a}'`).join(' ')}`;
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, TERM: 'xterm-256color', ...EXIT_CHECK_ENV, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  const type = (keys: string) => child.stdin!.write(keys);
  child.stdout!.on('data', (c: Buffer) => {
    screen += c.toString();
    answer(screen, type);
  });
  // A prompt that never appears must fail the test with the screen it saw, not hang it.
  const giveUp = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) =>
    child.once('close', (code) => {
      clearTimeout(giveUp);
      const lingered = exitCheckFailure(screen);
      if (lingered) reject(lingered);
      else resolve({ code, screen });
    }),
  );
}
