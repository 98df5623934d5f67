/**
 * db:sql on PostgreSQL: the statements db:sql's guard allowed, run in one transaction the kit owns,
 * read-only unless --write (and read-only the way PostgreSQL enforces it: a READ ONLY transaction
 * that has already taken its snapshot, so it cannot be switched to read-write). The last query's
 * rows stream through a cursor: to a CSV file in constant memory, or into the first rows kept for
 * display.
 *
 * Every session runs with db:export's settings (UTC, ISO dates, shortest-exact floats, hex bytea,
 * UTF-8), on every path: a query gives the same text in the terminal, in --json and in --csv,
 * whether its rows come through the cursor or through COPY, and the same bytes db:export writes.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { rename, rm } from 'node:fs/promises';
import { KitError } from '../../errors.js';
import { childEnv, type Target } from '../../config/target.js';
import type { CommandContext } from '../../context.js';
import { csvField } from '../../format/csv.js';
import type { SqlOutcome, SqlRun, SqlStatement } from '../engine.js';
import { connectWithWait, serverFacts, type Client } from './connect.js';
import { copyToFile } from './copy.js';
import { sessionSettingsSql } from './snapshot.js';
import { locateTool } from './tools.js';
import { ident } from './quote.js';

/**
 * The guard read each statement with standard_conforming_strings on (a backslash in '…' is just a
 * backslash). A database whose default is off would read `'a\', '` differently and could see a
 * call where the guard saw a string, so every db:sql session sets it on before the first statement.
 */
const READ_AS_CLASSIFIED = '-c standard_conforming_strings=on';

/** Rows per FETCH: small batches keep the kit's memory flat (measured by pnpm bench). */
const FETCH = 1000;
const TEXT_TYPES = { getTypeParser: () => (value: string) => value };

async function streamCursor(client: Client, statement: SqlStatement, options: SqlRun, result: SqlOutcome): Promise<void> {
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

/** A failure writing --csv's file (the disk filled, the directory went away) is the file's, not PostgreSQL's. */
function csvWriteFailure(error: unknown, after: string): KitError | undefined {
  const e = error as NodeJS.ErrnoException;
  if (error instanceof KitError || typeof e.syscall !== 'string') return undefined;
  return new KitError('SQL_FAILED', `Writing the CSV file failed: ${e.message}. ${after}`);
}

function failure(error: unknown, statement: SqlStatement | undefined): KitError {
  const e = error as { code?: string; message?: string };
  if (error instanceof KitError) return error;
  const written = csvWriteFailure(error, 'The transaction was rolled back; nothing was changed.');
  if (written) return written;
  const what = statement ? ` (in: ${statement.text.length > 80 ? `${statement.text.slice(0, 77)}…` : statement.text})` : '';
  if (e.code === '25006') return new KitError('READ_ONLY', `${e.message}${what}. db:sql is read-only by default; add --write to change anything. Nothing was changed.`);
  return new KitError('SQL_FAILED', `PostgreSQL said: ${e.message ?? String(error)}${what}. The transaction was rolled back; nothing was changed.`);
}

/** Run already-checked statements in one transaction; the last plain query's rows are the output. */
async function executeStatements(client: Client, statements: SqlStatement[], options: SqlRun, signal: AbortSignal, role?: string): Promise<SqlOutcome> {
  const result: SqlOutcome = { statements: [], columns: [], rows: [], totalRows: 0, truncated: false, csvFile: undefined };
  const output = [...statements].reverse().find((s) => s.cursorable);
  let current: SqlStatement | undefined;
  // Closing the connection ends the statement and rolls the transaction back.
  const stop = () => void client.end().catch(() => undefined);
  signal.addEventListener('abort', stop, { once: true });
  try {
    await client.query(`BEGIN ISOLATION LEVEL READ COMMITTED ${options.write ? 'READ WRITE' : 'READ ONLY'}`);
    // for this transaction only; SET ROLE, RESET ROLE and set_config('role', …) are refused (classify.ts)
    if (role !== undefined) await client.query(`SET LOCAL ROLE ${ident(role)}`);
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
 * The configured read-only role, checked before it is trusted: it must exist, the connecting user
 * must be able to SET ROLE to it, and it must not be able to run programs or touch the server's
 * files (superuser, or a member of pg_execute_server_program, pg_write_server_files or
 * pg_read_server_files), or it would guard nothing.
 */
async function checkReadOnlyRole(client: Client, role: string, where: string): Promise<void> {
  const { rows } = await client.query<{ member: boolean; superuser: boolean; files: boolean }>(
    `SELECT pg_has_role(current_user, r.oid, 'MEMBER') AS member, r.rolsuper AS superuser,
            pg_has_role(r.oid, 'pg_execute_server_program', 'MEMBER') OR pg_has_role(r.oid, 'pg_write_server_files', 'MEMBER')
              OR pg_has_role(r.oid, 'pg_read_server_files', 'MEMBER') AS files
       FROM pg_roles r WHERE r.rolname = $1`,
    [role],
  );
  const found = rows[0];
  const fix = `Create a role without those rights (CREATE ROLE ${ident(role)} NOLOGIN; GRANT pg_read_all_data TO ${ident(role)}; GRANT ${ident(role)} TO <the kit's user>) or change ${where}.`;
  if (!found) throw new KitError('BAD_CONFIG', `${where} names the role "${role}", which does not exist. ${fix}`);
  if (!found.member) throw new KitError('BAD_CONFIG', `${where} names the role "${role}", which the connecting user cannot SET ROLE to: GRANT ${ident(role)} TO the kit's user, or change ${where}.`);
  if (found.superuser || found.files) throw new KitError('BAD_CONFIG', `${where} names the role "${role}", which can run programs or read and write files on the server (superuser, or a member of pg_execute_server_program, pg_write_server_files or pg_read_server_files), so it guards nothing. ${fix}`);
}

/** `-c role=…` for a libpq options string: spaces and backslashes escaped. */
function roleOption(role: string | undefined): string | undefined {
  return role === undefined ? undefined : `-c role=${role.replace(/([\\ ])/g, '\\$1')}`;
}

/**
 * --csv with one plain query: `COPY (query) TO STDOUT WITH (FORMAT csv, HEADER)` in a READ ONLY
 * transaction, written by psql straight into the file, so no row passes through the kit and its
 * memory stays flat at any size (the same path, settings and bytes as db:export's files).
 */
async function copyQueryToFile(target: Target, statement: SqlStatement, csvFile: string, serverMajor: number, ctx: CommandContext, role: string | undefined): Promise<Pick<SqlOutcome, 'statements' | 'totalRows' | 'csvFile'>> {
  const partial = `${csvFile}.partial`;
  try {
    const psql = await locateTool('psql', serverMajor, ctx.env);
    const env = childEnv(target, ctx.env);
    const written = await copyToFile(psql, { ...env, PGOPTIONS: [env.PGOPTIONS, READ_AS_CLASSIFIED, roleOption(role)].filter(Boolean).join(' ') }, undefined, `(${statement.text}\n)`, partial, ctx.signal);
    await rename(partial, csvFile);
    return { statements: [{ command: statement.command, rowCount: written.rows }], totalRows: written.rows, csvFile };
  } catch (error) {
    await rm(partial, { force: true });
    if (ctx.signal.aborted) throw new KitError('INTERRUPTED', 'Interrupted; nothing was written.');
    const written = csvWriteFailure(error, 'Nothing was written.');
    if (written) throw written;
    const said = error instanceof KitError ? error.message.replace(/^psql (exited with status \d+|was killed by \w+): /, '').replace(/^psql:<stdin>:\d+: (ERROR|FATAL):\s+/, '') : String(error);
    throw new KitError(/read-only transaction/.test(said) ? 'READ_ONLY' : 'SQL_FAILED', `PostgreSQL said: ${said} (in: ${statement.text.length > 80 ? `${statement.text.slice(0, 77)}…` : statement.text}). Nothing was written.`);
  }
}

/** The read-only role in force for this run (none with --write), checked; and the guard, in words. */
async function readOnlyGuard(client: Client, run: SqlRun): Promise<{ role: string | undefined; guard: string | undefined }> {
  if (run.write) return { role: undefined, guard: undefined };
  if (run.readOnlyRole === undefined) return { role: undefined, guard: 'statements' };
  await checkReadOnlyRole(client, run.readOnlyRole.name, run.readOnlyRole.where);
  return { role: run.readOnlyRole.name, guard: `statements, role ${run.readOnlyRole.name}` };
}

export async function runStatements(target: Target, statements: SqlStatement[], run: SqlRun, ctx: CommandContext): Promise<SqlOutcome> {
  const client = await connectWithWait(target, run.waitSeconds, (attempt, error) => ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`), ctx.signal);
  try {
    const { role, guard } = await readOnlyGuard(client, run);
    if (role !== undefined) ctx.reporter.notice(`read-only: statements checked, and run as role ${role}`);
    const withGuard = (result: SqlOutcome): SqlOutcome => ({ ...result, ...(guard ? { guard } : {}) });
    const only = statements.length === 1 ? statements[0]! : undefined;
    if (run.csvFile && only?.cursorable) {
      const { major } = await serverFacts(client);
      await client.end();
      const copied = await copyQueryToFile(target, only, run.csvFile, major, ctx, role);
      return withGuard({ columns: [], rows: [], truncated: false, ...copied });
    }
    // The settings the COPY path's psql runs with (copyScript), here for the cursor path; and
    // the server reads the statements as the kit's guard read them (see READ_AS_CLASSIFIED).
    await client.query(`${sessionSettingsSql()}\nSET standard_conforming_strings = on;`);
    return withGuard(await executeStatements(client, statements, run, ctx.signal, role));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Tables, views and their columns, quoted as SQL names them, for the console's completion. */
export async function completionNames(target: Target): Promise<{ tables: string[]; columns: string[] }> {
  const client = await connectWithWait(target, 0);
  try {
    const { rows } = await client.query<{ t: string; cols: string[] }>(`
      SELECT format('%I.%I', n.nspname, c.relname) AS t, array_agg(quote_ident(a.attname) ORDER BY a.attnum) AS cols
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
       GROUP BY 1 ORDER BY 1`);
    return { tables: rows.map((r) => r.t), columns: [...new Set(rows.flatMap((r) => r.cols))].sort() };
  } finally {
    await client.end();
  }
}
