/**
 * The one module that owns PostgreSQL's client programs (pg_dump, pg_restore, psql). It finds a
 * binary whose major version fits the server, runs it with an argument array and the connection
 * in the child's environment (never in argv), and turns a failure into a KitError quoting the
 * tool's own stderr.
 */
import { randomBytes } from 'node:crypto';
import type { SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { KitError, type ErrorCode } from '../../errors.js';
import { probeOutput, startProcess, type RunningProcess } from '../../proc/process.js';
import { candidateDirs, parseToolVersion } from '../../proc/tool-dirs.js';
import { traceProbe } from '../../proc/trace.js';
import type { LocatedTool as EngineLocatedTool } from '../engine.js';

export type ToolName = 'pg_dump' | 'pg_dumpall' | 'pg_restore' | 'psql';

export interface ToolCandidate {
  dir: string;
  version: string;
  major: number;
}

/**
 * A located program as the engine seam shapes it (engines/engine.ts), with the directory it was
 * found in: what the seam hands back to this engine is one of these.
 */
export type LocatedTool = EngineLocatedTool & { dir?: string };

/**
 * Pick the best candidate for a server: the same major version if there is one (its output is
 * exactly what that server's own tools would write), otherwise the newest that is newer.
 */
export function chooseTool(candidates: ToolCandidate[], serverMajor: number): ToolCandidate | undefined {
  const fitting = candidates.filter((c) => c.major >= serverMajor);
  const exact = fitting.find((c) => c.major === serverMajor);
  if (exact) return exact;
  return [...fitting].sort((a, b) => b.major - a.major)[0];
}

/**
 * A binary's version, asked once per process: a restore locates pg_dump, pg_restore and psql for
 * one server, and each `--version` spawn costs a process start (a Perl start for Debian's
 * wrappers). Failures are remembered too: a path that did not answer is not asked again.
 */
const probed = new Map<string, Promise<{ version: string; major: number } | undefined>>();

function versionOf(file: string): Promise<{ version: string; major: number } | undefined> {
  let answer = probed.get(file);
  if (!answer) {
    traceProbe(file);
    answer = probeOutput(file, ['--version'], 10_000).then((out) => parseToolVersion(out ?? ''));
    probed.set(file, answer);
  }
  return answer;
}

async function probe(dir: string, name: ToolName): Promise<ToolCandidate | undefined> {
  const file = path.join(dir, name);
  if (!existsSync(file)) return undefined;
  const parsed = await versionOf(file);
  return parsed ? { dir, ...parsed } : undefined;
}

let bindir: Promise<string | undefined> | undefined;

function pgConfigBindir(): Promise<string | undefined> {
  if (!bindir) {
    traceProbe('pg_config');
    bindir = probeOutput('pg_config', ['--bindir'], 5_000).then((out) => out?.trim() || undefined);
  }
  return bindir;
}

const cache = new Map<string, LocatedTool & ToolCandidate>();

/** Find `name` fitting a server of `serverMajor`, or fail naming what to install. */
export async function locateTool(name: ToolName, serverMajor: number, env: NodeJS.ProcessEnv = process.env): Promise<LocatedTool & ToolCandidate> {
  const key = `${name}:${serverMajor}:${env.PG_BIN ?? ''}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const exact = env.PG_BIN ? undefined : await probe(`/usr/lib/postgresql/${serverMajor}/bin`, name);
  const dirs = exact ? [exact.dir] : candidateDirs(env, env.PG_BIN ? undefined : await pgConfigBindir(), serverMajor);
  const found: ToolCandidate[] = [];
  for (const dir of dirs) {
    const candidate = await probe(dir, name);
    if (!candidate) continue;
    found.push(candidate);
    if (candidate.major === serverMajor) break; // an exact match cannot be beaten
  }
  const chosen = chooseTool(found, serverMajor);
  if (!chosen) {
    const where = env.PG_BIN ? `PG_BIN (${env.PG_BIN})` : 'PATH, PG_BIN, pg_config --bindir, /usr/lib/postgresql/*/bin or Homebrew';
    if (found.length === 0) {
      throw new KitError('PG_TOOL_MISSING', `${name} was not found in ${where}. Install postgresql-client-${serverMajor} (Debian/Ubuntu) or postgresql@${serverMajor} (Homebrew), or set PG_BIN to its bin directory.`);
    }
    const newest = [...found].sort((a, b) => b.major - a.major)[0]!;
    throw new KitError('PG_DUMP_TOO_OLD', `${name} ${newest.version} (${path.join(newest.dir, name)}) is older than the server (PostgreSQL ${serverMajor}) and cannot read it safely. Install postgresql-client-${serverMajor} (Debian/Ubuntu) or postgresql@${serverMajor} (Homebrew), or set PG_BIN to a bin directory with ${name} ${serverMajor} or newer.`);
  }
  const located: LocatedTool & ToolCandidate = { ...chosen, name, path: path.join(chosen.dir, name) };
  cache.set(key, located);
  return located;
}

export { StderrTail } from '../../proc/process.js';
export { candidateDirs, parseToolVersion };
export type { RunningProcess as RunningTool } from '../../proc/process.js';

export interface SpawnToolOptions {
  env: NodeJS.ProcessEnv;
  stdio?: SpawnOptions['stdio'];
  /** Aborting stops the tool; `done` then rejects with INTERRUPTED after it exited. */
  signal?: AbortSignal;
  /** Error code used when the tool exits non-zero. */
  failure: ErrorCode;
  /** Called with each stderr chunk (progress lines from --verbose). */
  onStderr?: (chunk: string) => void;
  /** Classify well-known failures from the tool's stderr before the generic message. */
  explain?: (stderr: string) => KitError | undefined;
}

export function spawnTool(tool: LocatedTool, args: string[], options: SpawnToolOptions): RunningProcess {
  return startProcess(tool.path, args, { ...options, name: tool.name, missing: 'PG_TOOL_MISSING' });
}

/**
 * psql reading a script from stdin, for a load that must not commit before the kit has checked
 * it. Not quiet: psql prints each statement's tag, and "COPY n" is the server's own count of the
 * rows each COPY loaded (collected in `copied`). The caller writes `\echo <marker>` after the
 * last statement but COMMIT; `readyToCommit` resolves when psql prints it, proving it executed
 * everything before. A write into psql's closed stdin is left to psql's own exit to explain.
 */
export function startGatedPsql(psqlTool: LocatedTool, env: NodeJS.ProcessEnv) {
  const psql = spawnTool(psqlTool, ['-X', '-v', 'ON_ERROR_STOP=1', '-f', '-'], { env, failure: 'RESTORE_FAILED', stdio: ['pipe', 'pipe', 'pipe'] });
  const marker = `pg-backup-kit:ready-to-commit:${randomBytes(8).toString('hex')}`;
  const copied: number[] = [];
  const readyToCommit = new Promise<void>((resolve) => {
    let partial = '';
    psql.child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('latin1')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const copy = /^COPY (\d+)$/.exec(line);
        if (copy) copied.push(Number(copy[1]));
        else if (line === marker) resolve();
      }
    });
  });
  psql.child.stdin!.on('error', () => undefined);
  return { psql, marker, copied, readyToCommit };
}
