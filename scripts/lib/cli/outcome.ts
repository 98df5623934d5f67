/**
 * What happens after a command ran, whatever the outcome: one JSON line in the run log and, when
 * configured, a webhook message. Both say the same redacted thing.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { KitError } from '../errors.js';
import { redact } from '../redact.js';
import type { Target } from '../config/target.js';
import { backupRoot } from '../context.js';
import { configFor } from '../config/file.js';
import { DEFAULT_ENGINE } from '../format/metadata.js';
import type { Command, CommonArgs } from './run.js';

/** How one run ended: what the run log and the notification both report. */
export interface RunOutcome<A extends CommonArgs, R> {
  command: Command<A, R>;
  common: CommonArgs;
  target: Target | undefined;
  started: Date;
  exitCode: number;
  failure: unknown;
  result: R | undefined;
  stderr: (line: string) => void;
  root: string;
  env: NodeJS.ProcessEnv;
}

/** The command's own log fields (a failed run that still reports has them too); never a crash here. */
function fieldsOf<A extends CommonArgs, R>(command: Command<A, R>, result: R | undefined): Record<string, unknown> {
  if (result === undefined || !command.logFields) return {};
  try {
    return command.logFields(result);
  } catch (error) {
    return { logFieldsError: error instanceof Error ? error.message : String(error) };
  }
}

function errorOf(failure: unknown): { code: string; message: string } {
  return { code: failure instanceof KitError ? failure.code : 'INTERNAL', message: redact(failure instanceof Error ? failure.message : String(failure)) };
}

export interface NotifySettings {
  url: string | undefined;
  onSuccess: boolean;
}

/**
 * Tell a webhook (Slack's, or anything taking JSON) about a failure, and about success when asked.
 * The message is the same redacted text the run log holds. A webhook that cannot be reached is
 * reported on stderr; it never changes the command's exit status.
 */
export async function notify<A extends CommonArgs, R>(outcome: RunOutcome<A, R>, settings: NotifySettings): Promise<void> {
  const { command, common, target, started, exitCode, failure, result, stderr } = outcome;
  if (!settings.url || (failure === undefined && !settings.onSuccess)) return;
  const environment = target?.env ?? common.env ?? 'default';
  const where = target ? `${target.database} on ${target.host}` : environment;
  const what = failure === undefined
    ? `succeeded${result !== undefined && command.logFields ? `: ${JSON.stringify(fieldsOf(command, result))}` : ''}`
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

export function appendRunLog<A extends CommonArgs, R>(outcome: RunOutcome<A, R>): void {
  const { command, common, target, started, exitCode, failure, result, stderr, root, env } = outcome;
  const finished = new Date();
  let file: string;
  try {
    const configured = env.LOG_FILE || configFor(root).logFile;
    file = configured
      ? path.resolve(root, configured.replace('{command}', command.name))
      : path.join(backupRoot({ root, env }), `${command.name}.log`);
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
    // Which engine served it, so a log shared by MySQL and PostgreSQL environments says which is which.
    database: target ? { engine: target.engine ?? DEFAULT_ENGINE, name: target.database, host: target.host, port: target.port } : undefined,
    ...fieldsOf(command, result),
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
