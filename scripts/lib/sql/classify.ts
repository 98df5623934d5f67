/**
 * What a piece of SQL does, decided on its tokens, never on its raw text: the kit's SQL lexer
 * (strings, E'', $tag$…$tag$, quoted identifiers, nested comments, psql's backslash commands)
 * splits it into statements and their skeletons, so a `DROP` inside a string, a comment or a
 * function body is never mistaken for one, and `DELETE … WHERE` is told from `DELETE` alone.
 *
 * The one entry point is classifySql(); everything else here is its machinery.
 */

import { KitError } from '../errors.js';
import { SqlLexer, WHOLE_TEXT } from '../format/sql-lexer.js';
import { tokenizeStatement, type Token } from './tokens.js';
import { copiesToClient, nameOf, serverEffect } from './server-effects.js';
import { splitMySqlStatements } from '../format/mysql-lexer.js';
import { MYSQL_READ_COMMANDS, MYSQL_TRANSACTION_COMMANDS, mySqlServerEffect, setsGuardedMySql } from './mysql-rules.js';

export type { Token, TokenKind } from './tokens.js';

export interface ClassifiedStatement {
  /** The statement as written, without its semicolon. */
  text: string;
  /** First word, upper-case. */
  command: string;
  /**
   * What it may do: read; write (anything but a read: changes data or schema, locks, runs code);
   * destroy (see destroys() below); outside (acts on the server, outside the transaction: see
   * sql/server-effects.ts); transaction (would change the kit's own transaction or session).
   */
  effect: 'read' | 'write' | 'destroy' | 'outside' | 'transaction' | 'meta';
  /** For 'destroy' and 'outside': which rule, in words ("DELETE without WHERE"). */
  reason: string | undefined;
  /** Rows can be streamed through a cursor (a plain query). */
  cursorable: boolean;
}

interface RawStatement {
  text: string;
  tokens: Token[];
}

/**
 * Split into statements with the kit's psql-compatible lexer (format/sql-lexer.ts), which knows
 * strings, dollar quotes, identifiers, comments, BEGIN ATOMIC bodies and backslash commands.
 * A last statement without its semicolon counts; one cut off inside a quote is an error.
 */
export function lexStatements(text: string): RawStatement[] {
  const out: RawStatement[] = [];
  // A newline first ends a trailing -- comment; then the semicolon ends a last statement.
  const source = Buffer.from(`${text}\n;`, 'utf8');
  const lexer = new SqlLexer({
    statement(s) {
      const body = source.subarray(s.start, s.end).toString('utf8').trim().replace(/;$/, '').trim();
      // The whole text, not the skeleton: quoted names count, and so does every token of a long statement.
      const tokens = tokenizeStatement(body);
      if (tokens.length) out.push({ text: body, tokens });
    },
    metaCommand(m) {
      out.push({ text: m.text.trim(), tokens: [{ kind: 'meta', value: m.text.trim() }] });
    },
  }, WHOLE_TEXT);
  lexer.write(source);
  lexer.end();
  if (lexer.unitStart !== undefined || lexer.pendingCommand !== undefined) {
    throw new KitError('USAGE', 'The SQL ends inside a quoted string, identifier, dollar-quoted body or comment; close it and try again.');
  }
  return out;
}

const READ_COMMANDS = new Set(['SELECT', 'VALUES', 'TABLE', 'WITH', 'SHOW', 'EXPLAIN', 'FETCH', 'DECLARE', 'CLOSE', 'MOVE']);
const TRANSACTION_COMMANDS = new Set(['BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'SAVEPOINT', 'RELEASE', 'PREPARE', 'DISCARD']);
/**
 * Settings that would undo the read-only session or the kit's transaction, or change how the
 * server reads the statements after it (standard_conforming_strings: the kit reads them with it on).
 */
const GUARDED_SETTINGS = new Set(['TRANSACTION_READ_ONLY', 'DEFAULT_TRANSACTION_READ_ONLY', 'SESSION_AUTHORIZATION', 'ROLE', 'TRANSACTION', 'SESSION', 'ALL', 'STANDARD_CONFORMING_STRINGS']);

/** `SET [SESSION|LOCAL] <guarded>` or `RESET <guarded>`, the name quoted or not. */
function setsGuarded(tokens: Token[]): boolean {
  const command = tokens[0]?.value;
  if (command !== 'SET' && command !== 'RESET') return false;
  return tokens.slice(1, 3).some((t) => GUARDED_SETTINGS.has(nameOf(t)?.toUpperCase() ?? ''));
}

/**
 * A set_config() call anywhere whose setting is guarded, or is not a plain string (then what it
 * sets cannot be known): set_config('role', …) is SET ROLE by another name.
 */
function callsGuardedSetConfig(tokens: Token[]): boolean {
  return tokens.some((t, i) => {
    if (nameOf(t) !== 'set_config' || tokens[i + 1]?.value !== '(') return false;
    const [setting, comma] = [tokens[i + 2], tokens[i + 3]];
    if (setting?.kind !== 'string' || comma?.value !== ',') return true;
    return GUARDED_SETTINGS.has(setting.text!.trim().toUpperCase());
  });
}

/** DELETE/UPDATE as a statement (not GRANT UPDATE, ON UPDATE, FOR UPDATE, DO UPDATE, BEFORE UPDATE …). */
function isDmlAt(tokens: Token[], i: number): boolean {
  if (i === 0) return true;
  const prev = tokens[i - 1]!;
  return (prev.kind === 'punct' && (prev.value === '(' || prev.value === ')')) || ['INSTEAD', 'ALSO', 'EXPLAIN', 'ANALYZE', 'VERBOSE'].includes(prev.value);
}

/** Does the DELETE/UPDATE at `i` have a WHERE at its own depth before it ends? */
function hasWhere(tokens: Token[], i: number): boolean {
  let depth = 0;
  for (let j = i + 1; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (t.kind === 'punct' && t.value === '(') depth++;
    else if (t.kind === 'punct' && t.value === ')') {
      if (depth === 0) return false;
      depth--;
    } else if (depth === 0 && t.kind === 'word' && t.value === 'WHERE') {
      // WHERE CURRENT OF a cursor is one row; any other WHERE restricts the statement
      return true;
    }
  }
  return false;
}

function destroys(tokens: Token[]): string | undefined {
  const command = tokens[0]?.value;
  if (command === 'DROP') return 'DROP';
  if (command === 'TRUNCATE') return 'TRUNCATE';
  if (command === 'ALTER' && tokens.some((t, i) => i > 0 && t.kind === 'word' && t.value === 'DROP')) return 'ALTER … DROP';
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'word' || (t.value !== 'DELETE' && t.value !== 'UPDATE')) continue;
    if (isDmlAt(tokens, i) && !hasWhere(tokens, i)) return `${t.value} without WHERE`;
  }
  return undefined;
}

/**
 * Parentheses that do not balance are a syntax error to PostgreSQL, except where the kit wraps the
 * statement itself: `COPY (<statement>) TO STDOUT` for --csv would let `SELECT 1) TO PROGRAM '…'`
 * close the kit's parenthesis and choose where the COPY goes. So they are refused up front.
 */
function checkParentheses(raw: RawStatement): void {
  let depth = 0;
  for (const t of raw.tokens) {
    if (t.kind === 'punct' && t.value === '(') depth++;
    else if (t.kind === 'punct' && t.value === ')' && --depth < 0) break;
  }
  if (depth !== 0) throw new KitError('USAGE', `The parentheses in "${raw.text.length > 80 ? `${raw.text.slice(0, 77)}…` : raw.text}" do not balance; fix the statement and try again. Nothing was run.`);
}

/**
 * How one engine's SQL is read: where statements end and what their tokens are, and the engine's
 * own rules for reads, transaction control, guarded session settings and effects outside the
 * database. The destructive-statement rules (DROP, TRUNCATE, ALTER … DROP, DELETE or UPDATE
 * without WHERE) are the same for every engine.
 */
export interface SqlDialect {
  split(text: string): RawStatement[];
  readCommands: ReadonlySet<string>;
  transactionCommands: ReadonlySet<string>;
  /** Would change the kit's transaction or how the server reads what follows. */
  guardsSession(tokens: Token[]): boolean;
  /** Why the statement acts outside the database, or undefined. */
  serverEffect(tokens: Token[]): string | undefined;
  /** A read besides the read commands (PostgreSQL's COPY … TO STDOUT). */
  alsoReads(tokens: Token[], command: string): boolean;
  /** Words that write when they start a statement or a subquery. */
  writeWords: readonly string[];
}

const POSTGRESQL: SqlDialect = {
  split: lexStatements,
  readCommands: READ_COMMANDS,
  transactionCommands: TRANSACTION_COMMANDS,
  guardsSession: (tokens) => setsGuarded(tokens) || callsGuardedSetConfig(tokens),
  serverEffect,
  alsoReads: (tokens, command) => command === 'SET' || command === 'RESET' || (command === 'COPY' && copiesToClient(tokens)),
  writeWords: ['INSERT', 'UPDATE', 'DELETE', 'MERGE'],
};

const MYSQL: SqlDialect = {
  split: splitMySqlStatements,
  readCommands: MYSQL_READ_COMMANDS,
  transactionCommands: MYSQL_TRANSACTION_COMMANDS,
  guardsSession: setsGuardedMySql,
  serverEffect: mySqlServerEffect,
  alsoReads: () => false,
  writeWords: ['INSERT', 'UPDATE', 'DELETE', 'REPLACE'],
};

/** The dialects by the name an engine gives (Engine.sqlDialect). */
export const SQL_DIALECTS = { postgresql: POSTGRESQL, mysql: MYSQL } as const;
export type SqlDialectName = keyof typeof SQL_DIALECTS;

function writesDataIn(dialect: SqlDialect, tokens: Token[]): boolean {
  return tokens.some((t, i) => t.kind === 'word' && dialect.writeWords.includes(t.value) && isDmlAt(tokens, i))
    || (tokens[0]?.value === 'SELECT' && tokens.some((t) => t.kind === 'word' && t.value === 'INTO'));
}

function classifyOne(raw: RawStatement, dialect: SqlDialect): ClassifiedStatement {
  if (raw.tokens[0]?.kind !== 'meta') checkParentheses(raw);
  const first = raw.tokens[0]!;
  const command = first.kind === 'word' ? first.value : first.kind === 'meta' ? first.value.split(/\s/)[0]! : '';
  const base = { text: raw.text, command, reason: undefined, cursorable: false };
  if (first.kind === 'meta') return { ...base, effect: 'meta' };
  if (dialect.transactionCommands.has(command)) return { ...base, effect: 'transaction' };
  if (dialect.guardsSession(raw.tokens)) return { ...base, effect: 'transaction' };
  const outside = dialect.serverEffect(raw.tokens);
  if (outside) return { ...base, effect: 'outside', reason: outside };
  const reason = destroys(raw.tokens);
  if (reason) return { ...base, effect: 'destroy', reason };
  const read = dialect.readCommands.has(command) || dialect.alsoReads(raw.tokens, command);
  const write = !read || writesDataIn(dialect, raw.tokens);
  return { ...base, effect: write ? 'write' : 'read', cursorable: !write && ['SELECT', 'VALUES', 'TABLE', 'WITH'].includes(command) };
}

/** Every statement in `sql`, with what it does, read as the engine's server reads it (PostgreSQL by default). */
export function classifySql(sql: string, dialect: SqlDialectName = 'postgresql'): ClassifiedStatement[] {
  const rules = SQL_DIALECTS[dialect];
  return rules.split(sql).map((raw) => classifyOne(raw, rules));
}
