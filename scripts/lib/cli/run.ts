/**
 * The CLI layer every command shares: strict flag parsing from the command's option table,
 * target resolution, progress, rendering (human text or --json), $GITHUB_OUTPUT, the run log,
 * notifications, signals and exit codes. Commands return result objects; only this layer prints.
 * Everything after parsing, rendering included, runs inside the same error handling: whatever
 * throws still gives one `error:` line, the JSON failure object, a run-log entry and a webhook.
 */
import { appendFileSync } from 'node:fs';
import { EXIT_CODES, KitError, exitCodeOf } from '../errors.js';
import { redact, registerSecret } from '../redact.js';
import { checkEnvFile, resolveTarget, type Target } from '../config/target.js';
import { onConnectionRepair } from '../engines/postgres/connect.js';
import { withStores, type StoreContext } from '../store/environment.js';
import type { StoreOptions } from '../context.js';
import { configFor } from '../config/file.js';
import { checkEnvironmentName } from '../config/environment-name.js';
import { createReporter } from './progress.js';
import { optionTable, optionsHelp, parseCommandLine, type OptionTable, type SharedOption, type Values } from './options.js';
import { armExitCheck, leakOnPurpose } from './exit-check.js';
import { takeCommandLocks } from './locks.js';
import { appendRunLog, notify, type NotifySettings, type RunOutcome } from './outcome.js';

export type { Values } from './options.js';

export interface CommonArgs {
  json: boolean;
  quiet: boolean;
  progress: boolean;
  url: string | undefined;
  env: string | undefined;
  envFile: string | undefined;
}

export interface CliContext extends StoreContext {
  target(args: CommonArgs): Target;
}

export interface Command<A extends CommonArgs, R> {
  name: string;
  /** The usage line after "Usage: ", e.g. "pnpm db:list -- [--env <name>] [--type <type>]". */
  synopsis: string;
  /** What the command does: the paragraphs between the usage line and the options. */
  description: string;
  /** Arguments, exit statuses…: shown after the options block. */
  notes?: string;
  /** The command's own flags; the options block of --help is generated from them. */
  options: OptionTable;
  /** Which shared flags (--env, --env-file, --url, --no-progress) it honours; others are refused. */
  shared: readonly SharedOption[];
  /** Check raw flags and positionals; collect every problem into one KitError. */
  parse(values: Values, positionals: string[], common: CommonArgs): A;
  run(args: A, ctx: CliContext): Promise<R>;
  /** Human-readable result lines for stdout. */
  render(result: R): string[];
  /** key=value pairs for $GITHUB_OUTPUT. */
  githubOutput?(result: R): Record<string, string>;
  /** Extra fields for the run log line (no secrets). */
  logFields?(result: R): Record<string, unknown>;
}

/** Thrown by a command whose report matters even though it failed (verify, deps): both are shown. */
export class FailureWithReport<R> extends Error {
  constructor(readonly result: R, readonly error: KitError) {
    super(error.message);
  }
}

export function failWithReport<R>(result: R, error: KitError): never {
  throw new FailureWithReport(result, error);
}

export function usageText(command: Command<CommonArgs, unknown>): string {
  const parts = [`Usage: ${command.synopsis}`, command.description.trim(), optionsHelp(optionTable(command.options, command.shared)).join('\n')];
  if (command.notes) parts.push(command.notes.trim());
  return parts.join('\n\n') + '\n';
}

export function usageError(problems: string[], command: string): KitError {
  return new KitError('USAGE', `${problems.join('\n')}\nRun "${command} --help" for usage.`);
}

export function stringValue(values: Values, key: string): string | undefined {
  const v = values[key];
  return typeof v === 'string' ? v : undefined;
}

/** --wait <seconds>: 0 when absent; a problem is recorded for anything that is not a number ≥ 0. */
export function readWait(values: Values, problems: string[]): number {
  const text = stringValue(values, 'wait') ?? '0';
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) problems.push(`--wait takes a number of seconds, got "${text}".`);
  return seconds;
}

export function listValue(values: Values, key: string): string[] {
  const v = values[key];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
}

/** Where a run reads and writes; the process's own by default, a test's own when given. */
export interface CliIo {
  root: string;
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo = (): CliIo => ({
  root: process.cwd(),
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});

function writeGithubOutput(file: string, pairs: Record<string, string>): void {
  const lines = Object.entries(pairs).map(([k, v]) => {
    if (!v.includes('\n')) return `${k}=${v}\n`;
    const marker = `EOF_${Math.random().toString(36).slice(2)}`;
    return `${k}<<${marker}\n${v}\n${marker}\n`;
  });
  appendFileSync(file, lines.join(''));
}

interface Run<A extends CommonArgs, R> extends RunOutcome<A, R> {
  io: CliIo;
  controller: AbortController;
  notifySettings: NotifySettings;
  /** --remote, --endpoint, --from-remote, --remote-only: where backups are read and written. */
  storeOptions?: StoreOptions;
  /** Set at the command's point of no return: what can no longer be taken back. */
  committed?: string;
}

function storeOptionsOf(values: Values): StoreOptions {
  return {
    remote: stringValue(values, 'remote'),
    endpoint: stringValue(values, 'endpoint'),
    fromRemote: values['from-remote'] === true,
    remoteOnly: values['remote-only'] === true,
  };
}

/** --env is checked once, here, for every command, before anything reads or writes under its name. */
function checkedEnv(env: string | undefined): string | undefined {
  return env === undefined ? undefined : checkEnvironmentName(env);
}

function commonArgs(values: Values, io: CliIo): { common: CommonArgs; notifySettings: NotifySettings } {
  const common: CommonArgs = {
    json: values.json === true,
    quiet: values.quiet === true,
    progress: values['no-progress'] !== true,
    url: stringValue(values, 'url'),
    env: checkedEnv(stringValue(values, 'env')),
    envFile: stringValue(values, 'env-file'),
  };
  if (common.envFile !== undefined) checkEnvFile(io.root, common.envFile);
  let configured: { url?: string; onSuccess?: boolean } = {};
  try {
    configured = configFor(io.root).notify ?? {};
  } catch {
    // a broken config file is the command's error to report, not this lookup's
  }
  const notifySettings = {
    url: stringValue(values, 'notify') ?? (io.env.NOTIFY_URL || undefined) ?? configured.url,
    onSuccess: values['notify-success'] === true || configured.onSuccess === true,
  };
  // The webhook URL carries its own token: treated as a secret, never printed.
  registerSecret(notifySettings.url);
  return { common, notifySettings };
}

/** Ctrl-C or SIGTERM aborts the command's signal; a second one quits at once. Returns the untrap. */
function trapSignals(run: Run<CommonArgs, unknown>): () => void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(EXIT_CODES.INTERRUPTED);
    if (run.committed !== undefined) {
      // Stopping now could only leave the user unsure whether the change happened: it has.
      run.stderr(`${run.command.name}: ${signal} received too late to stop: ${run.committed}, so the command finishes (press Ctrl-C again to quit at once)`);
      return;
    }
    run.stderr(`${run.command.name}: ${signal} received, stopping and cleaning up (press Ctrl-C again to quit at once)`);
    run.controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

async function execute<A extends CommonArgs, R>(run: Run<A, R>, args: A): Promise<R> {
  const { io, common, command } = run;
  const intervalSeconds = Number(io.env.PROGRESS_INTERVAL ?? 10);
  const reporter = await createReporter({
    // A terminal that reports no width (some CI pseudo-terminals) cannot host a spinner.
    tty: process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0,
    quiet: common.quiet,
    progress: common.progress && !common.json,
    intervalMs: (Number.isFinite(intervalSeconds) && intervalSeconds > 0 ? intervalSeconds : 10) * 1000,
    label: command.name,
    write: run.stderr,
  });
  const ctx: CliContext = withStores<Omit<CliContext, 'environment'>>({
    root: io.root,
    env: io.env,
    signal: run.controller.signal,
    now: () => new Date(),
    reporter,
    storeOptions: run.storeOptions ?? {},
    pointOfNoReturn(what) {
      run.committed = what;
    },
    target(a) {
      run.target ??= resolveTarget({ url: a.url, env: a.env, envFile: a.envFile, root: io.root, processEnv: io.env });
      return run.target;
    },
  });
  const stopRepairNotices = onConnectionRepair((message) => reporter.notice(message));
  try {
    const release = await takeCommandLocks(command.name, args, ctx);
    try {
      return await command.run(args, ctx);
    } finally {
      release();
    }
  } finally {
    stopRepairNotices();
    reporter.stop();
  }
}

function recordFailure(run: Run<CommonArgs, unknown>, error: unknown): void {
  if (error instanceof FailureWithReport) {
    run.result = error.result;
    error = error.error;
  }
  const interrupted = run.controller.signal.aborted && !(error instanceof KitError && error.code === 'INTERRUPTED');
  run.failure = interrupted ? new KitError('INTERRUPTED', `Interrupted. ${error instanceof Error ? error.message : ''}`.trim()) : error;
}

function failureMessage(failure: unknown): string {
  return failure instanceof KitError ? failure.message : `Unexpected error: ${failure instanceof Error ? failure.stack ?? failure.message : String(failure)}`;
}

/** What stdout gets: the JSON object, or the rendered report (which may throw: the caller handles it). */
function stdoutText<A extends CommonArgs, R>(run: Run<A, R>): string {
  const { common, result, failure, command } = run;
  if (common.json) {
    const error = failure === undefined ? undefined : { code: failure instanceof KitError ? failure.code : 'INTERNAL', exitCode: exitCodeOf(failure), message: failureMessage(failure) };
    const body = { ok: failure === undefined, ...(result as object | undefined), ...(error ? { error } : {}) };
    return JSON.stringify(body, null, failure === undefined ? 2 : undefined) + '\n';
  }
  if (result === undefined || common.quiet) return '';
  return command.render(result).join('\n') + '\n';
}

/** Print the outcome. A throw while rendering becomes the run's failure, printed the same way. */
function emit<A extends CommonArgs, R>(run: Run<A, R>): void {
  let text = '';
  try {
    text = stdoutText(run);
    if (run.failure === undefined && run.result !== undefined && run.io.env.GITHUB_OUTPUT && run.command.githubOutput) {
      writeGithubOutput(run.io.env.GITHUB_OUTPUT, run.command.githubOutput(run.result));
    }
  } catch (error) {
    run.failure ??= error;
    run.result = undefined;
    text = run.common.json ? stdoutText(run) : '';
  }
  if (run.failure !== undefined) {
    run.stderr(`${run.command.name}: error: ${failureMessage(run.failure)}`);
    if (run.failure instanceof KitError && run.failure.detail && run.io.env.DEBUG) run.stderr(run.failure.detail);
  }
  if (text) run.io.stdout(redact(text));
}

/** Run one command from argv to exit status; sets process.exitCode and returns it. */
export async function runCli<A extends CommonArgs, R>(command: Command<A, R>, argv = process.argv.slice(2), io: CliIo = processIo()): Promise<number> {
  const { exitCode, target } = await runCommand(command, argv, io);
  process.exitCode = exitCode;
  // Everything is printed and reported: from here on, nothing of this run may keep the process alive.
  await leakOnPurpose(io.env, target);
  armExitCheck(io.env);
  return exitCode;
}

async function runCommand<A extends CommonArgs, R>(command: Command<A, R>, argv: string[], io: CliIo): Promise<{ exitCode: number; target: Target | undefined }> {
  const run: Run<A, R> = {
    command,
    io,
    root: io.root,
    env: io.env,
    controller: new AbortController(),
    started: new Date(),
    common: { json: false, quiet: false, progress: true, url: undefined, env: undefined, envFile: undefined },
    notifySettings: { url: undefined, onSuccess: false },
    target: undefined,
    result: undefined,
    failure: undefined,
    exitCode: 0,
    stderr: (line) => io.stderr(redact(line) + '\n'),
  };
  // Backups hold database contents: nothing the kit or its children create is for other users.
  process.umask(0o077);
  const untrap = trapSignals(run as Run<CommonArgs, unknown>);
  try {
    const { values, positionals } = parseCommandLine(argv, optionTable(command.options, command.shared));
    ({ common: run.common, notifySettings: run.notifySettings } = commonArgs(values, io));
    if (values.help === true) {
      io.stdout(usageText(command as Command<CommonArgs, unknown>));
      return { exitCode: 0, target: undefined };
    }
    const args = command.parse(values, positionals, run.common);
    run.storeOptions = storeOptionsOf(values);
    if (run.common.url !== undefined && /:\/\/[^/@]*:[^/@]+@/.test(run.common.url) && !run.common.quiet) {
      run.stderr(`${command.name}: warning: a password in --url is visible to other users in the process list; prefer DATABASE_URL in packages/database/.env`);
    }
    run.result = await execute(run, args);
  } catch (error) {
    recordFailure(run as Run<CommonArgs, unknown>, error);
  } finally {
    untrap();
  }
  emit(run);
  run.exitCode = run.failure === undefined ? 0 : exitCodeOf(run.failure);
  if (command.logFields !== undefined) appendRunLog(run);
  await notify(run, run.notifySettings);
  return { exitCode: run.exitCode, target: run.target };
}
