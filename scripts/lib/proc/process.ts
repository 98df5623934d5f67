/**
 * The one way the kit runs a child process that carries data (a dump, a restore script, a
 * decompression): argument arrays, the connection in the child's environment, cancellation passed
 * to spawn, every exit status checked, and a failure turned into a typed KitError that quotes the
 * tail of the child's own stderr. Children that print little and carry no data (probes, installs,
 * the demo, bench's orchestration) use zx instead; zx buffers output and must never carry data.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KitError, type ErrorCode } from '../errors.js';
import { redact } from '../redact.js';

/** Keep the last `limit` characters of a child's stderr: enough to quote, never unbounded. */
export class StderrTail {
  private text = '';
  constructor(private readonly limit = 64 * 1024) {}
  push(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > this.limit) this.text = this.text.slice(-this.limit);
  }
  toString(): string {
    return redact(this.text.trim());
  }
  /** The last error line the tool printed, the most useful one to quote. */
  lastError(): string {
    const lines = this.toString().split('\n').filter((l) => l.trim());
    const errors = lines.filter((l) => /error|fatal|could not|failed/i.test(l));
    return (errors.at(-1) ?? lines.at(-1) ?? '').trim();
  }
}

export interface RunningProcess {
  child: ChildProcess;
  stderr: StderrTail;
  /** Resolves when the child exits 0; rejects with a KitError quoting its stderr otherwise. */
  done: Promise<void>;
}

export interface ProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Aborting kills the child (SIGTERM); `done` still waits for it to exit. */
  signal?: AbortSignal;
  /** Default: stdin ignored, stdout and stderr piped. stderr is always read into the tail when piped. */
  stdio?: SpawnOptions['stdio'];
  /** The code of the KitError thrown when the child exits non-zero (default INTERNAL). */
  failure?: ErrorCode;
  /** The code when the program cannot be started at all (default PG_TOOL_MISSING). */
  missing?: ErrorCode;
  /** How the child is named in messages (default: the program's file name). */
  name?: string;
  /** Called with each stderr chunk (progress lines from --verbose). */
  onStderr?: (chunk: string) => void;
  /** Classify well-known failures from the child's stderr before the generic message. */
  explain?: (stderr: string) => KitError | undefined;
}

const SETPRIV = '/usr/bin/setpriv';
const canSetDeathSignal = process.platform === 'linux' && existsSync(SETPRIV);

/**
 * A kit killed outright (kill -9) must not leave children behind that go on holding locks and
 * writing files: on Linux each child is started through util-linux's setpriv, which asks the
 * kernel to send it SIGTERM when the kit dies, then runs the program itself (same process).
 */
export function dyingWithParent(file: string, args: readonly string[]): [string, string[]] {
  if (!canSetDeathSignal || !path.isAbsolute(file) || !existsSync(file)) return [file, [...args]];
  return [SETPRIV, ['--pdeathsig', 'TERM', '--', file, ...args]];
}

/** Start `file` with `args`; the returned `done` settles only after the child has exited. */
export function startProcess(file: string, args: readonly string[], options: ProcessOptions = {}): RunningProcess {
  const name = options.name ?? path.basename(file);
  const [program, argv] = dyingWithParent(file, args);
  const child = spawn(program, argv, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    signal: options.signal,
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  const stderr = new StderrTail();
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr.push(chunk);
    options.onStderr?.(chunk.toString());
  });
  const done = new Promise<void>((resolve, reject) => {
    let startError: Error | undefined;
    child.once('error', (error) => {
      startError = error;
      // Never started: no 'close' follows. An abort: wait for the exit below, so nobody deletes
      // a directory the child is still writing into.
      if (child.pid === undefined) reject(new KitError(options.missing ?? 'PG_TOOL_MISSING', `Could not start ${file}: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      if (code === 0 && !startError) return resolve();
      if (options.signal?.aborted) return reject(new KitError('INTERRUPTED', `${name} was stopped: the run was interrupted.`, { cause: startError }));
      const text = stderr.toString();
      const explained = options.explain?.(text);
      if (explained) return reject(explained);
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      const last = stderr.lastError();
      reject(new KitError(options.failure ?? 'INTERNAL', `${name} ${how}${last ? `: ${last}` : ''}`, { detail: text }));
    });
  });
  // A caller that only awaits a later stage must not see this rejection reported as unhandled.
  done.catch(() => undefined);
  return { child, stderr, done };
}

/** Run to completion with nothing read from stdout. */
export async function runProcess(file: string, args: readonly string[], options: ProcessOptions = {}): Promise<void> {
  const stdio = options.stdio ?? ['ignore', 'ignore', 'pipe'];
  await startProcess(file, args, { ...options, stdio }).done;
}

/** Run to completion and return stdout as text (for small outputs only: it is held in memory). */
export async function captureProcess(file: string, args: readonly string[], options: ProcessOptions & { maxBytes?: number } = {}): Promise<string> {
  const limit = options.maxBytes ?? 16 * 1024 * 1024;
  const running = startProcess(file, args, { ...options, stdio: [options.stdio?.[0] ?? 'ignore', 'pipe', 'pipe'] as SpawnOptions['stdio'] });
  const chunks: Buffer[] = [];
  let size = 0;
  running.child.stdout?.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      running.child.kill('SIGTERM');
      return;
    }
    chunks.push(chunk);
  });
  await running.done;
  if (size > limit) throw new KitError(options.failure ?? 'INTERNAL', `${options.name ?? path.basename(file)} printed more than ${limit} bytes.`);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Wait for every running child and for the streams between them. If any part fails, every child
 * is stopped (one side failing leaves the other blocked on a pipe nobody serves any more), all
 * are waited for, and the first failure is thrown: no exit status is ever dropped.
 */
export async function settleAll(children: readonly RunningProcess[], streams: ReadonlyArray<Promise<unknown>> = []): Promise<void> {
  try {
    await Promise.all([...children.map((c) => c.done), ...streams]);
  } catch (error) {
    const stopped = children.filter((c) => c.child.exitCode === null && c.child.signalCode === null);
    for (const c of stopped) c.child.kill('SIGTERM');
    const outcomes = await Promise.allSettled(children.map((c) => c.done));
    // The cause is a child that failed on its own, not one stopped here, nor the broken pipe.
    const cause = outcomes.find((o, i) => o.status === 'rejected' && !stopped.includes(children[i]!));
    throw cause?.status === 'rejected' ? cause.reason : error;
  }
}

/** Stream `from`'s stdout into `into`'s stdin and wait for both (a checked `from | into`). */
export async function pipeProcesses(from: RunningProcess, into: RunningProcess): Promise<void> {
  const out: Readable | null = from.child.stdout;
  const input: Writable | null = into.child.stdin;
  if (!out || !input) throw new KitError('INTERNAL', 'pipeProcesses needs stdout piped on the first child and stdin piped on the second.');
  await settleAll([from, into], [pipeline(out, input)]);
}

/** Whether a process with this pid exists on this host (one we may not signal still exists). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
