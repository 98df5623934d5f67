/**
 * The programs physical backups need besides pg_dump and friends: pg_basebackup, pg_verifybackup
 * and pg_ctl (found like the client tools, by major version), and system programs (tar, lz4,
 * zstd). They start through process.ts like every child: argument arrays, connection in the
 * environment, every exit status checked, the tool's own stderr quoted in the error.
 */
import type { SpawnOptions } from 'node:child_process';
import type { Readable } from 'node:stream';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { KitError, type ErrorCode } from '../errors.js';
import { probeOutput, ProcessFailure, StderrTail, startProcess, type RunningProcess } from './process.js';
import { candidateDirs, parseToolVersion } from './tool-dirs.js';

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
    // not runnable or no version: look further
    const version = parseToolVersion((await probeOutput(file, ['--version'], 10_000)) ?? '');
    if (version) found.push({ name, path: file, ...version });
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

/** These programs have always said "interrupted" this way; the words stay. */
function interruptedAs(error: unknown): unknown {
  if (!(error instanceof ProcessFailure) || error.reason !== 'interrupted') return error;
  return new KitError('INTERRUPTED', `${error.program} was stopped: interrupted.`, { cause: error });
}

async function runToEnd(running: RunningProcess): Promise<ProgramRun> {
  // Kept (the last 1 MB) and read, so a child never blocks on a full pipe: these print little.
  const stdout = new StderrTail(1 << 20);
  running.child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  try {
    await running.done;
  } catch (error) {
    throw interruptedAs(error);
  }
  return { stdout: stdout.toString(), stderr: running.stderr.toString() };
}

/**
 * Run a program to its end, through the one process primitive, in a process group of its own (so
 * helpers it starts, like pg_basebackup's WAL streamer, stop and die with it). Data never flows
 * through here.
 */
export function runProgram(program: Program, args: string[], options: RunProgramOptions): Promise<ProgramRun> {
  return runToEnd(startProcess(program.path, args, { ...options, name: program.name, missing: 'PG_TOOL_MISSING', ownGroup: true }));
}

/**
 * Run a program fed from a stream (tar reading an archive the kit is hashing on the way). Both
 * the feeding pipeline and the exit status are checked; either failing fails the run.
 */
export function runProgramWithInput(program: Program, args: string[], input: Readable, options: RunProgramOptions): Promise<ProgramRun> {
  return runToEnd(startProcess(program.path, args, { ...options, input, name: program.name, missing: 'PG_TOOL_MISSING', ownGroup: true }));
}
