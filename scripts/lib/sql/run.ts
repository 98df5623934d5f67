/**
 * db:sql's core: statements run in one transaction the kit owns, read-only unless --write (and
 * read-only the way PostgreSQL enforces it: a READ ONLY transaction that has already taken its
 * snapshot, so it cannot be switched to read-write). Destructive statements are confirmed before
 * anything runs. The last query's rows stream through a cursor: to a CSV file in constant memory,
 * or into the first rows kept for display.
 *
 * Every session runs with db:export's settings (UTC, ISO dates, shortest-exact floats, hex bytea,
 * UTF-8), on every path: a query gives the same text in the terminal, in --json and in --csv,
 * whether its rows come through the cursor or through COPY, and the same bytes db:export writes.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { rename, rm } from 'node:fs/promises';
import { KitError } from '../errors.js';
import type { Target } from '../config/target.js';
import { connectWithWait, serverFacts, type Client } from '../pg/connect.js';
import { childEnv } from '../config/target.js';
import { locateTool } from '../proc/pg-tools.js';
import { copyToFile } from '../export/copy.js';
import { sessionSettingsSql } from '../export/snapshot.js';
import type { CommandContext } from '../context.js';
import { classifySql, type ClassifiedStatement } from './classify.js';

export interface SqlOptions {
  sql: string;
  write: boolean;
  force: boolean;
  confirm: string | undefined;
  /** Write the last query's rows here as CSV (header row, NULL as an empty unquoted field). */
  csvFile: string | undefined;
  /** Rows kept in the result for display or --json; the rest are counted. */
  keepRows: number;
  waitSeconds: number;
}

export interface SqlUi {
  interactive: boolean;
  /** Ask about destructive statements; on a protected target the database name must be typed. */
  confirmDestructive(statements: ClassifiedStatement[], target: Target): Promise<boolean>;
}

export interface SqlResult {
  database: string;
  readOnly: boolean;
  statements: Array<{ command: string; rowCount: number | null }>;
  columns: string[];
  rows: Array<Array<string | null>>;
  totalRows: number;
  truncated: boolean;
  csvFile: string | undefined;
  durationMs: number;
  /** The kit's own peak memory (for the benchmark: a CSV of any size keeps it flat). */
  peakRssBytes: number;
}

/** Rows per FETCH: small batches keep the kit's memory flat (measured by pnpm bench). */
const FETCH = 1000;
const TEXT_TYPES = { getTypeParser: () => (value: string) => value };

/** Refuse what must not run, and confirm what destroys; throws before anything is sent. */
export async function checkStatements(statements: ClassifiedStatement[], options: Pick<SqlOptions, 'write' | 'force' | 'confirm'>, target: Target, ui: SqlUi): Promise<void> {
  if (statements.length === 0) throw new KitError('USAGE', 'No SQL statement given. Pass it as an argument (pnpm db:sql -- "SELECT …") or on standard input.');
  const meta = statements.filter((s) => s.effect === 'meta');
  if (meta.length) throw new KitError('USAGE', `${meta[0]!.command} is a psql command, not SQL; db:sql runs SQL statements only.`);
  const control = statements.filter((s) => s.effect === 'transaction');
  if (control.length) {
    throw new KitError('USAGE', `db:sql runs your statements in one transaction of its own (read-only unless --write, committed at the end); "${control[0]!.text}" would change that. Leave it out.`);
  }
  const destructive = statements.filter((s) => s.effect === 'destroy');
  if (destructive.length === 0) return;
  const list = destructive.map((s) => `${s.reason}: ${s.text.length > 80 ? `${s.text.slice(0, 77)}…` : s.text}`).join('\n  ');
  if (!options.write) throw new KitError('READ_ONLY', `This changes data and db:sql is read-only by default:\n  ${list}\nAdd --write (destructive statements are also confirmed).`);
  if (options.force) {
    if (target.protected && options.confirm !== target.database) {
      throw new KitError('PROTECTED_TARGET', `"${target.env}" is a protected environment. To run destructive statements there without a prompt, pass --force --confirm ${target.database}${options.confirm !== undefined ? ` (got --confirm ${options.confirm})` : ''}.`);
    }
    return;
  }
  if (!ui.interactive) {
    throw new KitError('DESTRUCTIVE_STATEMENT', `Refusing to run a destructive statement without confirmation, and there is no terminal to ask:\n  ${list}\nPass --force${target.protected ? ` --confirm ${target.database}` : ''} to run it anyway. Nothing was run.`);
  }
  if (!(await ui.confirmDestructive(destructive, target))) throw new KitError('NOT_CONFIRMED', 'Not confirmed; nothing was run.');
}

/** One CSV field as COPY's csv format writes it. */
export function csvField(value: string | null): string {
  if (value === null) return '';
  return value === '' || value === '\\.' || /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

async function streamCursor(client: Client, statement: ClassifiedStatement, options: SqlOptions, result: SqlResult): Promise<void> {
  await client.query(`DECLARE kit_sql_cursor NO SCROLL CURSOR FOR ${statement.text}`);
  const partial = options.csvFile ? `${options.csvFile}.partial` : undefined;
  const out = partial ? createWriteStream(partial, { mode: 0o600 }) : undefined;
  try {
    for (let first = true; ; first = false) {
      const batch = await client.query<string[]>({ text: `FETCH ${FETCH} FROM kit_sql_cursor`, rowMode: 'array', types: TEXT_TYPES });
      if (first) {
        result.columns = batch.fields.map((f) => f.name);
        if (out) out.write(result.columns.map(csvField).join(',') + '\n');
      }
      for (const row of batch.rows) if (result.rows.length < options.keepRows) result.rows.push(row);
      if (out && batch.rows.length) {
        // one string per batch: fewer, larger writes
        let text = '';
        for (const row of batch.rows) text += row.map(csvField).join(',') + '\n';
        if (!out.write(text)) await once(out, 'drain');
      }
      result.totalRows += batch.rows.length;
      if (batch.rows.length < FETCH) break;
    }
    result.truncated = result.totalRows > result.rows.length;
    await client.query('CLOSE kit_sql_cursor');
    if (out) {
      out.end();
      await once(out, 'close');
      await rename(partial!, options.csvFile!);
      result.csvFile = options.csvFile;
    }
  } catch (error) {
    out?.destroy();
    if (partial) await rm(partial, { force: true });
    throw error;
  }
  result.statements.push({ command: statement.command, rowCount: result.totalRows });
}

function failure(error: unknown, statement: ClassifiedStatement | undefined): KitError {
  const e = error as { code?: string; message?: string };
  if (error instanceof KitError) return error;
  const what = statement ? ` (in: ${statement.text.length > 80 ? `${statement.text.slice(0, 77)}…` : statement.text})` : '';
  if (e.code === '25006') return new KitError('READ_ONLY', `${e.message}${what}. db:sql is read-only by default; add --write to change anything. Nothing was changed.`);
  return new KitError('SQL_FAILED', `PostgreSQL said: ${e.message ?? String(error)}${what}. The transaction was rolled back; nothing was changed.`);
}

/** Run already-checked statements in one transaction; the last plain query's rows are the output. */
export async function executeStatements(client: Client, statements: ClassifiedStatement[], options: SqlOptions, signal: AbortSignal): Promise<SqlResult> {
  const result: SqlResult = { database: '', readOnly: !options.write, statements: [], columns: [], rows: [], totalRows: 0, truncated: false, csvFile: undefined, durationMs: 0, peakRssBytes: 0 };
  const output = [...statements].reverse().find((s) => s.cursorable);
  let current: ClassifiedStatement | undefined;
  // Closing the connection ends the statement and rolls the transaction back.
  const stop = () => void client.end().catch(() => undefined);
  signal.addEventListener('abort', stop, { once: true });
  try {
    await client.query(`BEGIN ISOLATION LEVEL READ COMMITTED ${options.write ? 'READ WRITE' : 'READ ONLY'}`);
    // A snapshot taken now means SET TRANSACTION READ WRITE can no longer lift read-only.
    await client.query('SELECT 1');
    for (const statement of statements) {
      current = statement;
      signal.throwIfAborted();
      if (statement === output) await streamCursor(client, statement, options, result);
      else {
        const r = await client.query({ text: statement.text, types: TEXT_TYPES });
        result.statements.push({ command: r.command ?? statement.command, rowCount: r.rowCount });
      }
    }
    current = undefined;
    await client.query(options.write ? 'COMMIT' : 'ROLLBACK');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (signal.aborted) throw new KitError('INTERRUPTED', 'Interrupted; the transaction was rolled back.');
    throw failure(error, current);
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

/**
 * --csv with one plain query: `COPY (query) TO STDOUT WITH (FORMAT csv, HEADER)` in a READ ONLY
 * transaction, written by psql straight into the file, so no row passes through the kit and its
 * memory stays flat at any size (the same path, settings and bytes as db:export's files).
 */
async function copyQueryToFile(target: Target, statement: ClassifiedStatement, csvFile: string, serverMajor: number, ctx: CommandContext): Promise<Pick<SqlResult, 'statements' | 'totalRows' | 'csvFile'>> {
  const partial = `${csvFile}.partial`;
  try {
    const psql = await locateTool('psql', serverMajor, ctx.env);
    const written = await copyToFile(psql, childEnv(target, ctx.env), undefined, `(${statement.text}\n)`, partial, ctx.signal);
    await rename(partial, csvFile);
    return { statements: [{ command: statement.command, rowCount: written.rows }], totalRows: written.rows, csvFile };
  } catch (error) {
    await rm(partial, { force: true });
    if (ctx.signal.aborted) throw new KitError('INTERRUPTED', 'Interrupted; nothing was written.');
    const said = error instanceof KitError ? error.message.replace(/^psql (exited with status \d+|was killed by \w+): /, '').replace(/^psql:<stdin>:\d+: (ERROR|FATAL):\s+/, '') : String(error);
    throw new KitError(/read-only transaction/.test(said) ? 'READ_ONLY' : 'SQL_FAILED', `PostgreSQL said: ${said} (in: ${statement.text.length > 80 ? `${statement.text.slice(0, 77)}…` : statement.text}). Nothing was written.`);
  }
}

export async function runSql(target: Target, options: SqlOptions, ctx: CommandContext, ui: SqlUi): Promise<SqlResult> {
  const statements = classifySql(options.sql);
  await checkStatements(statements, options, target, ui);
  const client = await connectWithWait(target, options.waitSeconds, (attempt, error) => ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`), ctx.signal);
  const started = ctx.now();
  const finish = (result: SqlResult): SqlResult => ({ ...result, database: target.database, durationMs: ctx.now().getTime() - started.getTime(), peakRssBytes: process.resourceUsage().maxRSS * 1024 });
  try {
    const only = statements.length === 1 ? statements[0]! : undefined;
    if (options.csvFile && only?.cursorable) {
      const { major } = await serverFacts(client);
      await client.end();
      const copied = await copyQueryToFile(target, only, options.csvFile, major, ctx);
      return finish({ database: '', readOnly: true, columns: [], rows: [], truncated: false, durationMs: 0, peakRssBytes: 0, ...copied });
    }
    // The settings the COPY path's psql runs with (copyScript), here for the cursor path.
    await client.query(sessionSettingsSql());
    return finish(await executeStatements(client, statements, options, ctx.signal));
  } finally {
    await client.end().catch(() => undefined);
  }
}
