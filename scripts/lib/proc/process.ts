/**
 * The one way the kit starts a child process, whatever it is (pg_dump, pg_restore, psql,
 * pg_basebackup, tar, pg_ctl, initdb, age, a version probe, the user's migration command, a kit
 * command run from the menu): argument arrays, the connection in the child's environment, the
 * parent-death signal, cancellation by AbortSignal (SIGTERM, then SIGKILL after a grace), stdin
 * ignored, piped or fed from a stream or buffer, a stderr tail bounded in bytes, every exit status
 * checked, and a failure turned into a typed ProcessFailure quoting the tail of the child's own
 * stderr. The other entry points (runProgram, age's run, spawnTool) are thin wrappers over it.
 * zx remains for bench and tests only; data never flows through zx.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KitError, type ErrorCode } from '../errors.js';
import { redact } from '../redact.js';

/** Keep the last `limit` bytes of a child's stderr: enough to quote, never unbounded. */
export class StderrTail {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = false;
  constructor(private readonly limit = 64 * 1024) {}
  push(chunk: Buffer | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.chunks.push(bytes);
    this.size += bytes.length;
    if (this.size <= this.limit * 2) return;
    // Compact only now and then, so a chatty child costs one copy per `limit` bytes.
    const all = Buffer.concat(this.chunks);
    this.chunks = [all.subarray(all.length - this.limit)];
    this.size = this.limit;
    this.dropped = true;
  }
  toString(): string {
    const all = Buffer.concat(this.chunks);
    const kept = all.length > this.limit ? all.subarray(all.length - this.limit) : all;
    // A cut may split a character: drop what is left of it rather than print a replacement mark.
    const text = kept.toString('utf8');
    return redact((this.dropped || all.length > this.limit ? text.replace(/^\uFFFD+/, '') : text).trim());
  }
  /** The last error line the tool printed, the most useful one to quote. */
  lastError(): string {
    const lines = this.toString().split('\n').filter((l) => l.trim());
    const errors = lines.filter((l) => /error|fatal|could not|failed/i.test(l));
    return (errors.at(-1) ?? lines.at(-1) ?? '').trim();
  }
}

export type FailureReason = 'missing' | 'interrupted' | 'failed';

/**
 * How a child failed, typed: the program, its arguments with secrets masked, its exit status or
 * signal and the tail of its stderr. It is a KitError carrying the caller's code, so a caller that
 * has nothing to add just lets it through; one that has (age, the restore) maps it to its own.
 */
export class ProcessFailure extends KitError {
  readonly program: string;
  readonly file: string;
  readonly args: readonly string[];
  readonly reason: FailureReason;
  /** The exit status, or null when the child was killed by a signal or never started. */
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderrTail: string;

  constructor(code: ErrorCode, message: string, facts: { program: string; file: string; args: readonly string[]; reason: FailureReason; status?: number | null; signal?: NodeJS.Signals | null; stderrTail?: string; cause?: unknown }) {
    // Only a child that ran and failed has words of its own to quote.
    super(code, message, { detail: facts.reason === 'failed' ? (facts.stderrTail ?? '') : undefined, cause: facts.cause });
    this.program = facts.program;
    this.file = facts.file;
    this.args = facts.args.map((a) => redact(a));
    this.reason = facts.reason;
    this.status = facts.status ?? null;
    this.signal = facts.signal ?? null;
    this.stderrTail = facts.stderrTail ?? '';
  }

  /** "exited with status 1" or "was killed by SIGKILL", as messages quote it. */
  get how(): string {
    return this.signal ? `was killed by ${this.signal}` : `exited with status ${this.status}`;
  }
}

export interface RunningProcess {
  child: ChildProcess;
  stderr: StderrTail;
  /** Resolves when the child exits 0 (and its input was fed); rejects with a ProcessFailure otherwise. */
  done: Promise<void>;
  /** SIGTERM now, SIGKILL if it is still there after the grace period; `done` still settles. */
  stop(): void;
}

export interface ProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as another user (root starting a server as its data directory's owner). */
  uid?: number;
  gid?: number;
  /** Aborting stops the child (SIGTERM, then SIGKILL after `graceMs`); `done` still waits for it to exit. */
  signal?: AbortSignal;
  /** How long a stopped child may take to exit before SIGKILL (default 10 s). */
  graceMs?: number;
  /** Default: stdin ignored, stdout and stderr piped. stderr is always read into the tail when piped. */
  stdio?: SpawnOptions['stdio'];
  /** Bytes for stdin: a stream (its failure fails `done`), or a buffer written whole. Implies a piped stdin. */
  input?: Readable | Buffer | string;
  /**
   * Lead a process group of its own, stopped as a whole and killed as a whole if the kit dies:
   * for programs that start helpers of their own (pg_basebackup's WAL streamer), which the
   * parent-death signal does not reach. Not for a child that reads the terminal.
   */
  ownGroup?: boolean;
  /** Bytes of stderr kept for messages (default 64 KiB). */
  stderrLimit?: number;
  /** The code of the error thrown when the child exits non-zero (default INTERNAL). */
  failure?: ErrorCode;
  /** The code when the program cannot be started at all (default PG_TOOL_MISSING). */
  missing?: ErrorCode;
  /** How the child is named in messages (default: the program's file name). */
  name?: string;
  /** Called with each stderr chunk (progress lines from --verbose). */
  onStderr?: (chunk: string) => void;
  /** Classify well-known failures from the child's stderr before the generic message. */
  explain?: (stderr: string, failure: ProcessFailure) => KitError | undefined;
}

const SETPRIV = '/usr/bin/setpriv';
const canSetDeathSignal = process.platform === 'linux' && existsSync(SETPRIV);
const GRACE_MS = 10_000;

/**
 * A kit killed outright (kill -9) must not leave children behind that go on holding locks and
 * writing files: on Linux each child is started through util-linux's setpriv, which asks the
 * kernel to send it SIGTERM when the kit dies, then runs the program itself (same process).
 */
export function dyingWithParent(file: string, args: readonly string[]): [string, string[]] {
  if (!canSetDeathSignal || !path.isAbsolute(file) || !existsSync(file)) return [file, [...args]];
  return [SETPRIV, ['--pdeathsig', 'TERM', '--', file, ...args]];
}

function stdioOf(options: ProcessOptions): SpawnOptions['stdio'] {
  const stdio = options.stdio ?? ['ignore', 'pipe', 'pipe'];
  if (options.input === undefined) return stdio;
  return typeof stdio === 'string' ? ['pipe', stdio, stdio] : ['pipe', ...stdio.slice(1)];
}

/**
 * The watchdog: one small shell per kit holding the list of process groups the kit leads. When
 * the kit ends, however it ends, the shell reads the end of its stdin and stops every group still
 * listed (SIGTERM, then SIGKILL). It lives in a session of its own, out of reach of the terminal's
 * Ctrl-C, and does not keep the kit running.
 */
const WATCHDOG = `groups=' '
while read -r op g; do
  case "$op" in
    +) groups="$groups$g " ;;
    -) kept=' '; for x in $groups; do [ "$x" = "$g" ] || kept="$kept$x "; done; groups=$kept ;;
  esac
done
[ "$groups" = ' ' ] && exit 0
for g in $groups; do kill -s TERM -- "-$g" 2>/dev/null; done
for i in 1 2 3 4 5 6 7 8 9 10; do
  left=''; for g in $groups; do kill -s 0 -- "-$g" 2>/dev/null && left="$left $g"; done
  [ -z "$left" ] && exit 0
  sleep 0.5
done
for g in $left; do kill -s KILL -- "-$g" 2>/dev/null; done
`;

let watchdog: Writable | null | undefined;

function watchdogInput(): Writable | null {
  if (watchdog !== undefined) return watchdog;
  const dog = spawn('/bin/sh', ['-c', WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  dog.once('error', () => (watchdog = null));
  dog.unref();
  (dog.stdin as Writable & { unref?: () => void }).unref?.();
  dog.stdin!.on('error', () => (watchdog = null));
  watchdog = dog.stdin!;
  return watchdog;
}

/** Tell the watchdog about a group the kit now leads (`+`) or no longer does (`-`). */
function guardGroup(child: ChildProcess): void {
  const dog = watchdogInput();
  if (!dog || child.pid === undefined) return;
  const pid = child.pid;
  dog.write(`+ ${pid}\n`);
  child.once('exit', () => watchdog?.write(`- ${pid}\n`));
}

/** SIGTERM, then SIGKILL after `graceMs` unless the child has exited by then; to its whole group if it leads one. */
function stopper(child: ChildProcess, graceMs: number, group: boolean): () => void {
  let timer: NodeJS.Timeout | undefined;
  child.once('exit', () => clearTimeout(timer));
  const send = (signal: NodeJS.Signals) => {
    if (!group || child.pid === undefined) return child.kill(signal);
    try {
      process.kill(-child.pid, signal);
    } catch {
      child.kill(signal);
    }
  };
  return () => {
    if (child.exitCode !== null || child.signalCode !== null || timer) return;
    send('SIGTERM');
    timer = setTimeout(() => send('SIGKILL'), graceMs);
    timer.unref();
  };
}

/** Feed `input` into the child's stdin. A stream's failure stops the child and fails the run. */
function feed(child: ChildProcess, input: ProcessOptions['input'], stop: () => void): Promise<void> {
  const stdin = child.stdin;
  if (input === undefined || !stdin) return Promise.resolve();
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    // A child that exits without reading all of it makes the write fail (EPIPE): its exit status tells.
    stdin.on('error', () => undefined);
    stdin.end(input);
    return Promise.resolve();
  }
  const fed = pipeline(input, stdin);
  fed.catch(stop);
  return fed;
}

/** Start `file` with `args`; the returned `done` settles only after the child has exited. */
export function startProcess(file: string, args: readonly string[], options: ProcessOptions = {}): RunningProcess {
  const [program, argv] = dyingWithParent(file, args);
  const child = spawn(program, argv, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: stdioOf(options),
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
    detached: options.ownGroup === true,
  });
  if (options.ownGroup) guardGroup(child);
  const stop = stopper(child, options.graceMs ?? GRACE_MS, options.ownGroup === true);
  const stderr = new StderrTail(options.stderrLimit);
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr.push(chunk);
    options.onStderr?.(chunk.toString());
  });
  if (options.signal?.aborted) stop();
  else options.signal?.addEventListener('abort', stop, { once: true });
  child.once('exit', () => options.signal?.removeEventListener('abort', stop));
  const fed = feed(child, options.input, stop);
  const exited = outcome(child, file, args, stderr, options);
  const done = exited.then(() => fed);
  // A caller that only awaits a later stage must not see this rejection reported as unhandled.
  fed.catch(() => undefined);
  done.catch(() => undefined);
  return { child, stderr, done, stop };
}

/** Settles when the child has exited: resolved on status 0, else the typed failure (or the caller's). */
function outcome(child: ChildProcess, file: string, args: readonly string[], stderr: StderrTail, options: ProcessOptions): Promise<void> {
  const name = options.name ?? path.basename(file);
  const facts = { program: name, file, args };
  return new Promise<void>((resolve, reject) => {
    let startError: Error | undefined;
    child.once('error', (error) => {
      startError = error;
      // Never started: no 'close' follows. Otherwise wait for the exit below, so nobody deletes
      // a directory the child is still writing into.
      if (child.pid === undefined) reject(new ProcessFailure(options.missing ?? 'PG_TOOL_MISSING', `Could not start ${file}: ${error.message}`, { ...facts, reason: 'missing', cause: error }));
    });
    child.once('close', (status, signal) => {
      if (status === 0 && !startError) return resolve();
      const stderrTail = stderr.toString();
      const failed = { ...facts, status, signal, stderrTail, cause: startError };
      if (options.signal?.aborted) return reject(new ProcessFailure('INTERRUPTED', `${name} was stopped: the run was interrupted.`, { ...failed, reason: 'interrupted' }));
      const how = signal ? `was killed by ${signal}` : `exited with status ${status}`;
      const last = stderr.lastError();
      const failure = new ProcessFailure(options.failure ?? 'INTERNAL', `${name} ${how}${last ? `: ${last}` : ''}`, { ...failed, reason: 'failed' });
      reject(options.explain?.(stderrTail, failure) ?? failure);
    });
  });
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
      running.stop();
      return;
    }
    chunks.push(chunk);
  });
  await running.done;
  if (size > limit) throw new KitError(options.failure ?? 'INTERNAL', `${options.name ?? path.basename(file)} printed more than ${limit} bytes.`);
  return Buffer.concat(chunks).toString('utf8');
}

export interface ExitReport {
  status: number | null;
  signal: NodeJS.Signals | null;
  /** The tail of its stderr, when stderr was piped. */
  stderr: string;
  /** As a shell reports it: the status, else 128 for a signal (1 when neither is known). */
  code: number;
}

/**
 * Run to completion and report how it ended without judging it: for children whose status the
 * caller interprets (the user's migration command, a kit command started from the menu, a probe).
 * Only a program that cannot be started at all is an error.
 */
export async function runToExit(file: string, args: readonly string[], options: Omit<ProcessOptions, 'explain'> = {}): Promise<ExitReport> {
  const running = startProcess(file, args, { ...options, explain: undefined });
  running.child.stdout?.resume();
  try {
    await running.done;
    return { status: 0, signal: null, stderr: running.stderr.toString(), code: 0 };
  } catch (error) {
    if (!(error instanceof ProcessFailure) || error.reason === 'missing') throw error;
    return { status: error.status, signal: error.signal, stderr: error.stderrTail, code: error.status ?? (error.signal ? 128 : 1) };
  }
}

/** `<program> --version`'s output, or undefined when it does not run or answer in time. */
export async function probeOutput(file: string, args: readonly string[], timeoutMs: number): Promise<string | undefined> {
  try {
    return await captureProcess(file, args, { signal: AbortSignal.timeout(timeoutMs), graceMs: 1_000 });
  } catch {
    return undefined;
  }
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
    for (const c of stopped) c.stop();
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
