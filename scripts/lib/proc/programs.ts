/**
 * The programs physical backups need besides pg_dump and friends: pg_basebackup, pg_verifybackup
 * and pg_ctl (found like the client tools, by major version), and system programs (tar, lz4,
 * zstd). Same rules as pg-tools.ts: argument arrays, connection in the environment, every exit
 * status checked, the tool's own stderr quoted in the error.
 */
import { execFile, spawn, type SpawnOptions } from 'node:child_process';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { KitError, type ErrorCode } from '../errors.js';
import { dyingWithParent, StderrTail } from './process.js';
import { candidateDirs, parseToolVersion } from './tool-dirs.js';

const execFileAsync = promisify(execFile);

export type ServerToolName = 'pg_basebackup' | 'pg_verifybackup' | 'pg_ctl' | 'pg_controldata' | 'psql';

export interface Program {
  name: string;
  path: string;
  version?: string;
  major?: number;
}

const located = new Map<string, Program>();

/**
 * A PostgreSQL program of the server's major version, or newer when `newerFits` (pg_basebackup
 * reads older servers; pg_ctl must be the data directory's own version).
 */
export async function locateServerTool(name: ServerToolName, serverMajor: number, env: NodeJS.ProcessEnv, newerFits: boolean): Promise<Program> {
  const key = `${name}:${serverMajor}:${newerFits}:${env.PG_BIN ?? ''}`;
  const cached = located.get(key);
  if (cached) return cached;
  const found: Program[] = [];
  for (const dir of candidateDirs(env, undefined, serverMajor)) {
    const file = path.join(dir, name);
    if (!existsSync(file)) continue;
    try {
      const { stdout } = await execFileAsync(file, ['--version'], { timeout: 10_000 });
      const version = parseToolVersion(stdout);
      if (version) found.push({ name, path: file, ...version });
    } catch {
      // not runnable: look further
    }
  }
  const exact = found.find((p) => p.major === serverMajor);
  const newer = newerFits ? found.filter((p) => (p.major ?? 0) > serverMajor).sort((a, b) => (b.major ?? 0) - (a.major ?? 0))[0] : undefined;
  const chosen = exact ?? newer;
  if (!chosen) {
    const have = found.map((p) => `${p.version} (${p.path})`).join(', ');
    const code: ErrorCode = found.length ? 'PG_DUMP_TOO_OLD' : 'PG_TOOL_MISSING';
    throw new KitError(code, `${name} for PostgreSQL ${serverMajor}${newerFits ? ' or newer' : ''} was not found${have ? ` (found ${have})` : ''}. Install postgresql-${serverMajor} or postgresql-client-${serverMajor} (Debian/Ubuntu), or set PG_BIN to its bin directory.`);
  }
  located.set(key, chosen);
  return chosen;
}

/** A program on PATH (tar, lz4, zstd), or a message naming the package to install. */
export async function locateSystemProgram(name: string, debianPackage: string, env: NodeJS.ProcessEnv = process.env): Promise<Program> {
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(path.delimiter)) {
    const file = path.join(dir, name);
    if (dir && existsSync(file)) return { name, path: file };
  }
  throw new KitError('PG_TOOL_MISSING', `${name} was not found on PATH. Install it (Debian/Ubuntu: apt-get install ${debianPackage}).`);
}

export interface RunProgramOptions {
  env?: NodeJS.ProcessEnv;
  stdio?: SpawnOptions['stdio'];
  cwd?: string;
  /** Run as another user (root starting a server as its data directory's owner). */
  uid?: number;
  gid?: number;
  signal?: AbortSignal;
  failure: ErrorCode;
  onStderr?: (chunk: string) => void;
  explain?: (stderr: string) => KitError | undefined;
}

export interface ProgramRun {
  stdout: string;
  stderr: string;
}

/**
 * Run a program to its end. Its stdout is kept (bounded to the last 1 MB): these programs print
 * little, and data never flows through here.
 */
export function runProgram(program: Program, args: string[], options: RunProgramOptions): Promise<ProgramRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(...dyingWithParent(program.path, args), {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
      ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
      ...(options.signal ? { signal: options.signal, killSignal: 'SIGTERM' as const } : {}),
    });
    const stderr = new StderrTail();
    const stdout = new StderrTail(1 << 20);
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      options.onStderr?.(chunk.toString());
    });
    child.once('error', (error) => {
      if ((error as NodeJS.ErrnoException).code === 'ABORT_ERR') return; // reported at close
      reject(new KitError('PG_TOOL_MISSING', `Could not start ${program.path}: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      if (code === 0) return resolve({ stdout: stdout.toString(), stderr: stderr.toString() });
      if (options.signal?.aborted) return reject(new KitError('INTERRUPTED', `${program.name} was stopped: interrupted.`));
      const text = stderr.toString();
      const explained = options.explain?.(text);
      if (explained) return reject(explained);
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      const last = stderr.lastError();
      reject(new KitError(options.failure, `${program.name} ${how}${last ? `: ${last}` : ''}`, { detail: text }));
    });
  });
}

/**
 * Run a program fed from a stream (tar reading an archive the kit is hashing on the way). Both
 * the feeding pipeline and the exit status are checked; either failing fails the run.
 */
export async function runProgramWithInput(program: Program, args: string[], input: Readable, options: RunProgramOptions): Promise<ProgramRun> {
  let feed: Promise<void> | undefined;
  const run = new Promise<ProgramRun>((resolve, reject) => {
    const child = spawn(...dyingWithParent(program.path, args), {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal, killSignal: 'SIGTERM' as const } : {}),
    });
    const stderr = new StderrTail();
    child.stdout.on('data', () => undefined);
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    feed = pipeline(input, child.stdin);
    feed.catch(() => child.kill('SIGTERM'));
    child.once('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ABORT_ERR') reject(new KitError('PG_TOOL_MISSING', `Could not start ${program.path}: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      if (code === 0) return resolve({ stdout: '', stderr: stderr.toString() });
      if (options.signal?.aborted) return reject(new KitError('INTERRUPTED', `${program.name} was stopped: interrupted.`));
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      reject(new KitError(options.failure, `${program.name} ${how}: ${stderr.lastError()}`, { detail: stderr.toString() }));
    });
  });
  const result = await run;
  await feed;
  return result;
}
