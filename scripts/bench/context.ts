/** The BenchContext the cases run with: raw tools through zx, the kit through its launcher. */
import path from 'node:path';
import { $ } from 'zx/core';
import { CONNECTION_VARIABLES } from '../lib/config/target.js';
import type { BenchContext, RunOutcome } from './registry.js';
import type { Subject } from './subject.js';

// pnpm runs scripts from the repository root; the kit is started the way package.json starts it.
export const REPO = process.cwd();
export const LAUNCHER = path.join(REPO, 'scripts/kit.mjs');

function kitEnv(url: string, dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Only DATABASE_URL may say where to connect; a stray PGHOST or DB_HOST must not redirect the kit.
  for (const key of Object.keys(env)) {
    if ((key.startsWith('PG') && key !== 'PG_BIN') || (CONNECTION_VARIABLES as readonly string[]).includes(key)) delete env[key];
  }
  // A bench run inside a CI step must not publish its throw-away backups as step outputs.
  delete env.GITHUB_OUTPUT;
  return { ...env, DATABASE_URL: url, BACKUP_DIR: dir, LOG_FILE: path.join(dir, 'log') };
}

export function parseKitResult(stdout: string): RunOutcome {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(`the kit's --json output is not JSON: ${stdout.slice(0, 200)}`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new Error('the kit printed no JSON object');
  const result = parsed as Record<string, unknown>;
  if (result.ok !== true) throw new Error(`the kit reported failure: ${JSON.stringify(result.error)}`);
  if (typeof result.peakRssBytes !== 'number' || typeof result.durationMs !== 'number') {
    throw new Error("the kit's JSON result lacks peakRssBytes or durationMs");
  }
  return { peakRssBytes: result.peakRssBytes, innerMs: result.durationMs };
}

/** A kit command through the launcher with --json --quiet, `dir` as BACKUP_DIR and `url` as DATABASE_URL. */
export async function runKit(dir: string, args: string[], url: string, signal: AbortSignal, extraEnv: NodeJS.ProcessEnv = {}): Promise<RunOutcome> {
  const out = await $({ env: { ...kitEnv(url, dir), ...extraEnv }, cwd: REPO, signal, quiet: true, nothrow: true })`${process.execPath} ${LAUNCHER} -- ${args} --json --quiet`;
  if (out.exitCode !== 0) throw new Error(`the kit's ${args[0]} exited with ${out.exitCode ?? out.signal}: ${kitFailure(out.stdout, out.stderr)}`);
  return parseKitResult(out.stdout);
}

/** What a failed kit run said: its --json error's message, else the end of its stderr. */
function kitFailure(stdout: string, stderr: string): string {
  try {
    const error = (JSON.parse(stdout) as { error?: { message?: string } }).error;
    if (error?.message) return error.message;
  } catch {
    // not JSON: a usage error or a crash prints to stderr
  }
  return stderr.trim().split('\n').slice(-3).join(' ') || '(no output)';
}

export function benchContext(subject: Subject, signal: AbortSignal): BenchContext {
  const bin = (program: string) => path.join(subject.binDir, program);
  return {
    subject,
    signal,
    bin,
    tool: async (program, args, env = subject.env) => {
      const out = await $({ env, signal, quiet: true, nothrow: true })`${bin(program)} ${args}`;
      if (out.exitCode !== 0) throw new Error(`${program} ${args.join(' ')} ${out.signal ? `was killed by ${out.signal}` : `exited with status ${out.exitCode}`}: ${out.stderr.trim().slice(-2000) || '(no stderr)'}`);
    },
    kit: (dir, args, url = subject.url, extraEnv = {}) => runKit(dir, args, url, signal, extraEnv),
  };
}

/**
 * The launcher bundles the kit on first use after a change and caches the bundle; without a
 * warm-up the first timed kit run would carry that one-off cost, which no user pays twice.
 */
export async function warmUpKit(signal: AbortSignal): Promise<void> {
  await $({ cwd: REPO, signal, quiet: true })`${process.execPath} ${LAUNCHER} -- pg-backup --help`;
}
