/**
 * db:sql on MySQL/MariaDB: the statements db:sql's guard allowed (read with the MySQL dialect),
 * run in one `START TRANSACTION READ ONLY` (READ WRITE with --write) on one connection, ended by
 * ROLLBACK (COMMIT with --write). The server refuses a write to any table inside a read-only
 * transaction (error 1792), the guard refuses what it would not stop (files, locks, session and
 * server settings) and DDL, which MySQL commits implicitly, ending any transaction.
 *
 * The session is set to read statements as the guard read them: sql_mode without ANSI_QUOTES
 * ("…" is a string) and NO_BACKSLASH_ESCAPES (a backslash escapes), and UTC (db:export's zone).
 * The last query's rows stream from the server as it sent them: text as text, bytes as hex (the
 * same bytes db:export writes), to a CSV file in constant memory or into the rows kept for display.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { rename, rm } from 'node:fs/promises';
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import type { CommandContext } from '../../context.js';
import { csvField } from '../../format/csv.js';
import type { SqlOutcome, SqlRun, SqlStatement } from '../engine.js';
import type { MySqlClient, RawColumn } from './client.js';
import { connectMySqlWithWait, killMySqlConnection } from './connect.js';
import { quoteMySqlIdentifier } from './quote.js';

/** sql_mode flags that would make the server read a statement differently from the guard. */
const UNREAD_MODES = new Set(['ANSI_QUOTES', 'NO_BACKSLASH_ESCAPES']);
/** Statements MySQL commits implicitly, ending the kit's transaction. */
const IMPLICIT_COMMIT = new Set(['CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE', 'GRANT', 'REVOKE', 'ANALYZE', 'OPTIMIZE', 'REPAIR', 'INSTALL', 'UNINSTALL']);
const ER_READ_ONLY_TRANSACTION = 1792;

/** One wire value as db:sql shows it and db:export writes it: bytes as upper-case hex, the rest as the server's text. */
export function mySqlText(value: Buffer | null, column: RawColumn): string | null {
  if (value === null) return null;
  return column.binary ? value.toString('hex').toUpperCase() : value.toString('utf8');
}

/** The server's sql_mode without the flags the guard does not read, and its name for itself. */
export async function readLikeTheGuard(client: MySqlClient): Promise<{ server: string }> {
  const { rows } = await client.query<{ mode: string; version: string }>('SELECT @@SESSION.sql_mode AS mode, VERSION() AS version');
  const mode = (rows[0]?.mode ?? '').split(',').filter((m) => m && !UNREAD_MODES.has(m)).join(',');
  await client.query("SET SESSION sql_mode = ?, time_zone = '+00:00'", [mode]);
  return { server: /mariadb/i.test(rows[0]?.version ?? '') ? 'MariaDB' : 'MySQL' };
}

interface Output {
  columns: string[];
  rows: Array<Array<string | null>>;
  totalRows: number;
}

/** The rows of `statement`, streamed: kept up to keepRows, and all of them into the CSV file when there is one. */
async function streamRows(client: MySqlClient, statement: SqlStatement, run: SqlRun, out: Output): Promise<void> {
  const { columns, rows } = client.streamRaw(statement.text);
  const partial = run.csvFile ? `${run.csvFile}.partial` : undefined;
  const file = partial ? createWriteStream(partial, { mode: 0o600 }) : undefined;
  try {
    // the server describes the result before its first row
    const described = await columns;
    out.columns = described.map((c) => c.name);
    let batch = file ? out.columns.map(csvField).join(',') + '\n' : '';
    for await (const raw of rows) {
      const row = raw.map((v, i) => mySqlText(v, described[i]!));
      if (out.rows.length < run.keepRows) out.rows.push(row);
      out.totalRows++;
      if (!file) continue;
      batch += row.map(csvField).join(',') + '\n';
      if (batch.length >= 1 << 16) {
        if (!file.write(batch)) await once(file, 'drain');
        batch = '';
      }
    }
    if (file) {
      file.end(batch);
      await once(file, 'close');
      await rename(partial!, run.csvFile!);
    }
  } catch (error) {
    file?.destroy();
    if (partial) await rm(partial, { force: true });
    throw error;
  }
}

function failure(error: unknown, statement: SqlStatement | undefined, server: string): KitError {
  if (error instanceof KitError) return error;
  const e = error as NodeJS.ErrnoException & { errno?: number; sqlMessage?: string };
  if ((e.syscall === 'write' || e.syscall === 'open') && e.sqlMessage === undefined && !['EPIPE', 'ECONNRESET'].includes(e.code ?? '')) return new KitError('SQL_FAILED', `Writing the CSV file failed: ${e.message}. The transaction was rolled back; nothing was changed.`);
  const what = statement ? ` (in: ${statement.text.length > 80 ? `${statement.text.slice(0, 77)}…` : statement.text})` : '';
  const said = e.sqlMessage ?? e.message ?? String(error);
  if (e.errno === ER_READ_ONLY_TRANSACTION) return new KitError('READ_ONLY', `${server} said: ${said}${what}. db:sql is read-only by default; add --write to change anything. Nothing was changed.`);
  return new KitError('SQL_FAILED', `${server} said: ${said}${what}. The transaction was rolled back; nothing was changed.`);
}

/** The statements in one transaction; `done` counts those that finished (so a failure names the next). */
async function execute(client: MySqlClient, statements: SqlStatement[], run: SqlRun, out: SqlOutcome): Promise<void> {
  const output = [...statements].reverse().find((s) => s.cursorable);
  await client.query(`START TRANSACTION ${run.write ? 'READ WRITE' : 'READ ONLY'}`);
  for (const statement of statements) {
    if (statement === output) {
      await streamRows(client, statement, run, out);
      out.statements.push({ command: statement.command, rowCount: out.totalRows });
      out.truncated = out.totalRows > out.rows.length;
      if (run.csvFile) out.csvFile = run.csvFile;
      continue;
    }
    const result = await client.query(statement.text);
    out.statements.push({ command: statement.command, rowCount: result.affectedRows ?? result.rows.length });
  }
  await client.query(run.write ? 'COMMIT' : 'ROLLBACK');
}

export async function runMySqlStatements(target: Target, statements: SqlStatement[], run: SqlRun, ctx: CommandContext): Promise<SqlOutcome> {
  if (run.readOnlyRole) {
    throw new KitError('BAD_CONFIG', `${run.readOnlyRole.where} names a read-only role, which the kit applies on PostgreSQL only; on ${target.env}, a MySQL/MariaDB environment, db:sql's read-only guard is its statement checks and a READ ONLY transaction. Remove the setting for this environment.`);
  }
  const ddl = statements.filter((s) => IMPLICIT_COMMIT.has(s.command));
  if (run.write && ddl.length) ctx.reporter.notice(`MySQL and MariaDB commit ${ddl.map((s) => s.command).join(', ')} at once: a failure after it does not undo it`);
  const client = await connectMySqlWithWait(target, run.waitSeconds, (attempt, error) => ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`), ctx.signal);
  const stop = () => void killMySqlConnection(target, client.threadId);
  ctx.signal.addEventListener('abort', stop, { once: true });
  const out: SqlOutcome = { statements: [], columns: [], rows: [], totalRows: 0, truncated: false, csvFile: undefined, ...(run.write ? {} : { guard: 'statements' }) };
  let server = 'The server';
  try {
    server = (await readLikeTheGuard(client)).server;
    await execute(client, statements, run, out);
    return out;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (ctx.signal.aborted) throw new KitError('INTERRUPTED', 'Interrupted; the transaction was rolled back.');
    throw failure(error, statements[out.statements.length], server);
  } finally {
    ctx.signal.removeEventListener('abort', stop);
    await client.end().catch(() => undefined);
  }
}

/** Tables, views and their columns, in backticks, for the console's completion. */
export async function mySqlCompletionNames(target: Target): Promise<{ tables: string[]; columns: string[] }> {
  const client = await connectMySqlWithWait(target, 0);
  try {
    const { rows } = await client.query<{ t: string; c: string }>('SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION', [target.database]);
    return { tables: [...new Set(rows.map((r) => quoteMySqlIdentifier(r.t)))], columns: [...new Set(rows.map((r) => quoteMySqlIdentifier(r.c)))].sort() };
  } finally {
    await client.end();
  }
}
