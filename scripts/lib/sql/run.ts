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
import { engineForTarget } from '../engines/registry.js';
import type { Client, Engine } from '../engines/engine.js';
import type { CommandContext } from '../context.js';
import { classifySql, type ClassifiedStatement } from './classify.js';
import { configFor, readOnlyRole } from '../config/file.js';

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
  /** What kept a read-only session from acting outside the database ('statements', or 'statements, role <name>'). */
  guard?: string;
}

/**
 * The guard read each statement with standard_conforming_strings on (a backslash in '…' is just a
 * backslash). A database whose default is off would read `'a\', '` differently and could see a
 * call where the guard saw a string, so every db:sql session sets it on before the first statement.
 */
const READ_AS_CLASSIFIED = '-c standard_conforming_strings=on';

/** Rows per FETCH: small batches keep the kit's memory flat (measured by pnpm bench). */
const FETCH = 1000;
const TEXT_TYPES = { getTypeParser: () => (value: string) => value };

/**
 * node-postgres's query form, which the cursor and the text type parsers need: db:sql's session is
 * PostgreSQL's (its transaction and cursor statements are), and its client is node-postgres's.
 */
interface PgSession {
  query<Row>(config: { text: string; rowMode?: 'array'; types: typeof TEXT_TYPES }): Promise<{ rows: Row[]; fields: Array<{ name: string }>; command: string | null; rowCount: number | null }>;
}
const pgSession = (client: Client) => client as unknown as PgSession;

const shown = (s: ClassifiedStatement) => `${s.reason ? `${s.reason}: ` : ''}${s.text.length > 80 ? `${s.text.slice(0, 77)}…` : s.text}`;

/** What the kit refuses whatever the flags: psql commands, and statements that take over its transaction. */
function refuseForeign(statements: ClassifiedStatement[]): void {
  if (statements.length === 0) throw new KitError('USAGE', 'No SQL statement given. Pass it as an argument (pnpm db:sql -- "SELECT …") or on standard input.');
  const meta = statements.filter((s) => s.effect === 'meta');
  if (meta.length) throw new KitError('USAGE', `${meta[0]!.command} is a psql command, not SQL; db:sql runs SQL statements only.`);
  const control = statements.filter((s) => s.effect === 'transaction');
  if (control.length) {
    throw new KitError('USAGE', `db:sql runs your statements in one transaction of its own (read-only unless --write, committed at the end); "${control[0]!.text}" would change that. Leave it out.`);
  }
}

/**
 * Without --write only reads are sent. A READ ONLY transaction alone is not the guard: PostgreSQL
 * lets COPY … TO PROGRAM, LOCK, DO and the server-admin functions run in one.
 */
function refuseUnlessRead(statements: ClassifiedStatement[]): void {
  const outside = statements.filter((s) => s.effect === 'outside');
  if (outside.length) {
    throw new KitError('READ_ONLY', `This acts outside the database, where db:sql's read-only transaction does not reach:\n  ${outside.map(shown).join('\n  ')}\nNothing was run. If you mean it, add --write (it is then confirmed first).`);
  }
  const destructive = statements.filter((s) => s.effect === 'destroy');
  if (destructive.length) throw new KitError('READ_ONLY', `This changes data and db:sql is read-only by default:\n  ${destructive.map(shown).join('\n  ')}\nAdd --write (destructive statements are also confirmed).`);
  const writes = statements.filter((s) => s.effect === 'write');
  if (writes.length) {
    throw new KitError('READ_ONLY', `db:sql runs a read-only transaction unless --write, and this is not a read:\n  ${writes.map(shown).join('\n  ')}\nNothing was run. Add --write to run it (committed at the end).`);
  }
}

/** Refuse what must not run, and confirm what destroys or acts outside the database; throws before anything is sent. */
export async function checkStatements(statements: ClassifiedStatement[], options: Pick<SqlOptions, 'write' | 'force' | 'confirm'>, target: Target, ui: SqlUi): Promise<void> {
  refuseForeign(statements);
  if (!options.write) return refuseUnlessRead(statements);
  const confirmable = statements.filter((s) => s.effect === 'destroy' || s.effect === 'outside');
  if (confirmable.length === 0) return;
  const list = confirmable.map(shown).join('\n  ');
  if (options.force) {
    if (target.protected && options.confirm !== target.database) {
      throw new KitError('PROTECTED_TARGET', `"${target.env}" is a protected environment. To run destructive statements there without a prompt, pass --force --confirm ${target.database}${options.confirm !== undefined ? ` (got --confirm ${options.confirm})` : ''}.`);
    }
    return;
  }
  if (!ui.interactive) {
    throw new KitError('DESTRUCTIVE_STATEMENT', `Refusing to run a destructive statement without confirmation, and there is no terminal to ask:\n  ${list}\nPass --force${target.protected ? ` --confirm ${target.database}` : ''} to run it anyway. Nothing was run.`);
  }
  if (!(await ui.confirmDestructive(confirmable, target))) throw new KitError('NOT_CONFIRMED', 'Not confirmed; nothing was run.');
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
      const batch = await pgSession(client).query<string[]>({ text: `FETCH ${FETCH} FROM kit_sql_cursor`, rowMode: 'array', types: TEXT_TYPES });
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

function failure(error: unknown, statement: ClassifiedStatement | undefined): KitError {
  const e = error as { code?: string; message?: string };
  if (error instanceof KitError) return error;
  const written = csvWriteFailure(error, 'The transaction was rolled back; nothing was changed.');
  if (written) return written;
  const what = statement ? ` (in: ${statement.text.length > 80 ? `${statement.text.slice(0, 77)}…` : statement.text})` : '';
  if (e.code === '25006') return new KitError('READ_ONLY', `${e.message}${what}. db:sql is read-only by default; add --write to change anything. Nothing was changed.`);
  return new KitError('SQL_FAILED', `PostgreSQL said: ${e.message ?? String(error)}${what}. The transaction was rolled back; nothing was changed.`);
}

/** Run already-checked statements in one transaction; the last plain query's rows are the output. */
export async function executeStatements(engine: Engine, client: Client, statements: ClassifiedStatement[], options: SqlOptions, signal: AbortSignal, role?: string): Promise<SqlResult> {
  const result: SqlResult = { database: '', readOnly: !options.write, statements: [], columns: [], rows: [], totalRows: 0, truncated: false, csvFile: undefined, durationMs: 0, peakRssBytes: 0 };
  const output = [...statements].reverse().find((s) => s.cursorable);
  let current: ClassifiedStatement | undefined;
  // Closing the connection ends the statement and rolls the transaction back.
  const stop = () => void client.end().catch(() => undefined);
  signal.addEventListener('abort', stop, { once: true });
  try {
    await client.query(`BEGIN ISOLATION LEVEL READ COMMITTED ${options.write ? 'READ WRITE' : 'READ ONLY'}`);
    // for this transaction only; SET ROLE, RESET ROLE and set_config('role', …) are refused (classify.ts)
    if (role !== undefined) await client.query(`SET LOCAL ROLE ${engine.quoteIdentifier(role)}`);
    // A snapshot taken now means SET TRANSACTION READ WRITE can no longer lift read-only.
    await client.query('SELECT 1');
    for (const statement of statements) {
      current = statement;
      signal.throwIfAborted();
      if (statement === output) await streamCursor(client, statement, options, result);
      else {
        const r = await pgSession(client).query({ text: statement.text, types: TEXT_TYPES });
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
async function checkReadOnlyRole(engine: Engine, client: Client, role: string, where: string): Promise<void> {
  const ident = (name: string) => engine.quoteIdentifier(name);
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
async function copyQueryToFile(engine: Engine, target: Target, statement: ClassifiedStatement, csvFile: string, serverMajor: number, ctx: CommandContext, role: string | undefined): Promise<Pick<SqlResult, 'statements' | 'totalRows' | 'csvFile'>> {
  const partial = `${csvFile}.partial`;
  try {
    const psql = await engine.locateTool('psql', serverMajor, ctx.env);
    const env = engine.childEnv(target, ctx.env);
    const written = await engine.copyToFile(psql, { ...env, PGOPTIONS: [env.PGOPTIONS, READ_AS_CLASSIFIED, roleOption(role)].filter(Boolean).join(' ') }, undefined, `(${statement.text}\n)`, partial, ctx.signal);
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
async function readOnlyGuard(engine: Engine, client: Client, target: Target, options: SqlOptions, ctx: CommandContext): Promise<{ role: string | undefined; guard: string | undefined }> {
  if (options.write) return { role: undefined, guard: undefined };
  const role = readOnlyRole(configFor(ctx.root), target.env);
  if (role === undefined) return { role, guard: 'statements' };
  await checkReadOnlyRole(engine, client, role, `backup-kit.json's sql.readOnlyRole (environment ${target.env})`);
  return { role, guard: `statements, role ${role}` };
}

export async function runSql(target: Target, options: SqlOptions, ctx: CommandContext, ui: SqlUi): Promise<SqlResult> {
  const statements = classifySql(options.sql);
  await checkStatements(statements, options, target, ui);
  const engine = engineForTarget(target);
  const client = await engine.connectWithWait(target, options.waitSeconds, (attempt, error) => ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`), ctx.signal);
  const started = ctx.now();
  try {
    const { role, guard } = await readOnlyGuard(engine, client, target, options, ctx);
    if (role !== undefined) ctx.reporter.notice(`read-only: statements checked, and run as role ${role}`);
    const finish = (result: SqlResult): SqlResult => ({ ...result, database: target.database, durationMs: ctx.now().getTime() - started.getTime(), peakRssBytes: process.resourceUsage().maxRSS * 1024, ...(guard ? { guard } : {}) });
    const only = statements.length === 1 ? statements[0]! : undefined;
    if (options.csvFile && only?.cursorable) {
      const { major } = await engine.serverFacts(client);
      await client.end();
      const copied = await copyQueryToFile(engine, target, only, options.csvFile, major, ctx, role);
      return finish({ database: '', readOnly: true, columns: [], rows: [], truncated: false, durationMs: 0, peakRssBytes: 0, ...copied });
    }
    // The settings the COPY path's psql runs with (copyScript), here for the cursor path; and
    // the server reads the statements as the kit's guard read them (see READ_AS_CLASSIFIED).
    await client.query(`${engine.sessionSettingsSql()}\nSET standard_conforming_strings = on;`);
    return finish(await executeStatements(engine, client, statements, options, ctx.signal, role));
  } finally {
    await client.end().catch(() => undefined);
  }
}
