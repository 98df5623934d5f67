/**
 * The CLI layer every command shares: strict flag parsing, target resolution, progress, rendering
 * (human text or --json), $GITHUB_OUTPUT, the run log, signals and exit codes. Commands return
 * result objects; only this layer prints.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT_CODES, KitError, exitCodeOf } from '../errors.js';
import { redact, registerSecret } from '../redact.js';
import { resolveTarget, type Target } from '../config/target.js';
import { backupRoot } from '../context.js';
import { withStores, type StoreContext } from '../store/environment.js';
import { configFor } from '../config/file.js';
import { createReporter } from './progress.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

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
  usage: string;
  options: OptionsConfig;
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

const COMMON_OPTIONS: OptionsConfig = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  'no-progress': { type: 'boolean' },
  url: { type: 'string' },
  env: { type: 'string' },
  'env-file': { type: 'string' },
  notify: { type: 'string' },
  'notify-success': { type: 'boolean' },
};

export function usageError(problems: string[], command: string): KitError {
  return new KitError('USAGE', `${problems.join('\n')}\nRun "${command} --help" for usage.`);
}

function parseCommandLine(argv: string[], options: OptionsConfig): { values: Values; positionals: string[] } {
  // pnpm passes the "--" of `pnpm db:backup -- --env prod` through; it separates pnpm's flags
  // from ours and means nothing here.
  const args = argv.filter((a) => a !== '--');
  try {
    const { values, positionals } = parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, strict: true, allowPositionals: true });
    return { values: values as Values, positionals };
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(message);
    if (unknown) throw new KitError('UNKNOWN_FLAG', `Unknown option ${unknown[1]}.`);
    throw new KitError('USAGE', message.replace(/\. To specify a positional argument.*$/s, '.'));
  }
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

function writeGithubOutput(file: string, pairs: Record<string, string>): void {
  const lines = Object.entries(pairs).map(([k, v]) => {
    if (!v.includes('\n')) return `${k}=${v}\n`;
    const marker = `EOF_${Math.random().toString(36).slice(2)}`;
    return `${k}<<${marker}\n${v}\n${marker}\n`;
  });
  appendFileSync(file, lines.join(''));
}

export async function runCli<A extends CommonArgs, R>(command: Command<A, R>, argv = process.argv.slice(2)): Promise<void> {
  const started = new Date();
  const stderr = (line: string) => process.stderr.write(redact(line) + '\n');
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(EXIT_CODES.INTERRUPTED);
    stderr(`${command.name}: ${signal} received, stopping and cleaning up (press Ctrl-C again to quit at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Backups hold database contents: nothing the kit or its children create is for other users.
  process.umask(0o077);

  let common: CommonArgs = { json: false, quiet: false, progress: true, url: undefined, env: undefined, envFile: undefined };
  let target: Target | undefined;
  let result: R | undefined;
  let failure: unknown;
  let notifySettings: NotifySettings = { url: undefined, onSuccess: false };
  const root = process.cwd();
  const ctxBase = { root, env: process.env, signal: controller.signal, now: () => new Date() };
  let reporter = await createReporter({ tty: false, quiet: true, progress: false, intervalMs: 0, label: command.name, write: stderr });
  try {
    const { values, positionals } = parseCommandLine(argv, command.options);
    common = {
      json: values.json === true,
      quiet: values.quiet === true,
      progress: values['no-progress'] !== true,
      url: stringValue(values, 'url'),
      env: stringValue(values, 'env'),
      envFile: stringValue(values, 'env-file'),
    };
    // The webhook URL carries its own token: treated as a secret, never printed.
    const configured = (() => {
      try {
        return configFor(root).notify ?? {};
      } catch {
        return {};
      }
    })();
    notifySettings = {
      url: stringValue(values, 'notify') ?? (process.env.NOTIFY_URL || undefined) ?? configured.url,
      onSuccess: values['notify-success'] === true || configured.onSuccess === true,
    };
    registerSecret(notifySettings.url);
    if (values.help === true) {
      process.stdout.write(command.usage.trimEnd() + '\n');
      return;
    }
    const args = command.parse(values, positionals, common);
    if (common.url !== undefined && /:\/\/[^/@]*:[^/@]+@/.test(common.url) && !common.quiet) {
      stderr(`${command.name}: warning: a password in --url is visible to other users in the process list; prefer DATABASE_URL in packages/database/.env`);
    }
    const intervalSeconds = Number(process.env.PROGRESS_INTERVAL ?? 10);
    reporter = await createReporter({
      // A terminal that reports no width (some CI pseudo-terminals) cannot host a spinner.
      tty: process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0,
      quiet: common.quiet,
      progress: common.progress && !common.json,
      intervalMs: (Number.isFinite(intervalSeconds) && intervalSeconds > 0 ? intervalSeconds : 10) * 1000,
      label: command.name,
      write: stderr,
    });
    const ctx: CliContext = withStores<Omit<CliContext, 'environment'>>({
      ...ctxBase,
      reporter,
      target(a: CommonArgs) {
        target ??= resolveTarget({ url: a.url, env: a.env, envFile: a.envFile, root, processEnv: process.env });
        return target;
      },
    });
    result = await command.run(args, ctx);
  } catch (error) {
    failure = controller.signal.aborted && !(error instanceof KitError && error.code === 'INTERRUPTED')
      ? new KitError('INTERRUPTED', `Interrupted. ${error instanceof Error ? error.message : ''}`.trim())
      : error;
  } finally {
    reporter.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const exitCode = failure === undefined ? 0 : exitCodeOf(failure);
  if (failure !== undefined) {
    const message = failure instanceof KitError ? failure.message : `Unexpected error: ${failure instanceof Error ? failure.stack ?? failure.message : String(failure)}`;
    stderr(`${command.name}: error: ${message}`);
    if (failure instanceof KitError && failure.detail && process.env.DEBUG) stderr(failure.detail);
    if (common.json) {
      const code = failure instanceof KitError ? failure.code : 'INTERNAL';
      process.stdout.write(redact(JSON.stringify({ ok: false, error: { code, exitCode, message } })) + '\n');
    }
  } else if (result !== undefined) {
    if (common.json) process.stdout.write(redact(JSON.stringify({ ok: true, ...result }, null, 2)) + '\n');
    else if (!common.quiet) process.stdout.write(redact(command.render(result).join('\n')) + '\n');
    if (process.env.GITHUB_OUTPUT && command.githubOutput) writeGithubOutput(process.env.GITHUB_OUTPUT, command.githubOutput(result));
  }
  const outcome: RunOutcome<A, R> = { command, common, target, started, exitCode, failure, result, stderr };
  if (command.logFields !== undefined) appendRunLog(outcome);
  await notify(outcome, notifySettings);
  process.exitCode = exitCode;
}

/** How one run ended: what the run log and the notification both report. */
interface RunOutcome<A extends CommonArgs, R> {
  command: Command<A, R>;
  common: CommonArgs;
  target: Target | undefined;
  started: Date;
  exitCode: number;
  failure: unknown;
  result: R | undefined;
  stderr: (line: string) => void;
}

function errorOf(failure: unknown): { code: string; message: string } {
  return { code: failure instanceof KitError ? failure.code : 'INTERNAL', message: redact(failure instanceof Error ? failure.message : String(failure)) };
}

interface NotifySettings {
  url: string | undefined;
  onSuccess: boolean;
}

/**
 * Tell a webhook (Slack's, or anything taking JSON) about a failure, and about success when asked.
 * The message is the same redacted text the run log holds. A webhook that cannot be reached is
 * reported on stderr; it never changes the command's exit status.
 */
async function notify<A extends CommonArgs, R>(outcome: RunOutcome<A, R>, settings: NotifySettings): Promise<void> {
  const { command, common, target, started, exitCode, failure, result, stderr } = outcome;
  if (!settings.url || (failure === undefined && !settings.onSuccess)) return;
  const environment = target?.env ?? common.env ?? 'default';
  const where = target ? `${target.database} on ${target.host}` : environment;
  const what = failure === undefined
    ? `succeeded${command.logFields && result !== undefined ? `: ${JSON.stringify(command.logFields(result))}` : ''}`
    : `FAILED (exit ${exitCode}): ${failure instanceof Error ? failure.message : String(failure)}`;
  const body = {
    text: redact(`pg-backup-kit ${command.name} on ${hostname()} for ${where} (${environment}) ${what}`),
    command: command.name,
    outcome: failure === undefined ? 'success' : 'failure',
    exitCode,
    environment,
    host: hostname(),
    start: started.toISOString(),
    durationMs: Date.now() - started.getTime(),
    ...(failure !== undefined ? { error: errorOf(failure) } : {}),
  };
  try {
    const response = await fetch(settings.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    if (!response.ok) stderr(`${command.name}: warning: the notification webhook answered ${response.status}`);
  } catch (error) {
    stderr(`${command.name}: warning: could not send the notification (${(error as Error).message})`);
  }
}

function appendRunLog<A extends CommonArgs, R>(outcome: RunOutcome<A, R>): void {
  const { command, common, target, started, exitCode, failure, result, stderr } = outcome;
  const finished = new Date();
  let file: string;
  try {
    const configured = process.env.LOG_FILE || configFor(process.cwd()).logFile;
    file = configured
      ? path.resolve(process.cwd(), configured.replace('{command}', command.name))
      : path.join(backupRoot({ root: process.cwd(), env: process.env }), `${command.name}.log`);
  } catch {
    return; // a broken config file was already reported as the command's error
  }
  const entry = {
    command: command.name,
    start: started.toISOString(),
    end: finished.toISOString(),
    durationMs: finished.getTime() - started.getTime(),
    outcome: failure === undefined ? 'success' : 'failure',
    exitCode,
    environment: target?.env ?? common.env ?? 'default',
    database: target ? { name: target.database, host: target.host, port: target.port } : undefined,
    ...(failure === undefined && result !== undefined ? command.logFields?.(result) : {}),
    ...(failure !== undefined ? { error: errorOf(failure) } : {}),
  };
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    appendFileSync(file, redact(JSON.stringify(entry)) + '\n', { mode: 0o600 });
  } catch (error) {
    // When the backup directory itself is unwritable, the error above already said so.
    const sameCause = failure instanceof KitError && failure.code === 'BACKUP_DIR_UNWRITABLE';
    if (!sameCause) stderr(`${command.name}: warning: could not append to the run log ${file}: ${(error as Error).message}`);
  }
}
