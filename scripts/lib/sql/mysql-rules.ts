/**
 * What a MySQL/MariaDB statement does outside the database or to db:sql's own session, read from
 * its tokens (mysql-tokens.ts). A `START TRANSACTION READ ONLY` keeps a statement from changing
 * tables, not from writing a file on the server (`SELECT … INTO OUTFILE`), reading one
 * (`LOAD_FILE()`, `LOAD DATA INFILE`), taking a named lock other sessions wait on (`GET_LOCK()`),
 * or acting on the server (`KILL`, `SET GLOBAL`, `FLUSH`, `SHUTDOWN`, replication commands); a
 * rollback undoes none of that. Session variables are not transactional either: `SET sql_mode`
 * (ANSI_QUOTES, NO_BACKSLASH_ESCAPES) would make the server read the statements after it
 * differently from the guard, `SET autocommit` or `SET SESSION TRANSACTION` would change the
 * kit's transaction, and `USE` would move the session to another database.
 */
import { nameOf } from './server-effects.js';
import type { Token } from './tokens.js';

const SERVER_FUNCTIONS: ReadonlyArray<[string, readonly string[]]> = [
  ['reads a file on the database server', ['load_file']],
  ['takes or releases a named lock, which other sessions wait on', ['get_lock', 'release_lock', 'release_all_locks']],
  ['waits on replication', ['master_pos_wait', 'source_pos_wait', 'master_gtid_wait', 'wait_for_executed_gtid_set', 'wait_until_sql_thread_after_gtids']],
  ['runs a program on the database server', ['sys_exec', 'sys_eval']],
];
const FUNCTION_REASON = new Map(SERVER_FUNCTIONS.flatMap(([why, names]) => names.map((n) => [n, why] as const)));

/** Statements that act on the server whatever their arguments. */
const SERVER_COMMANDS: Record<string, string> = {
  KILL: 'ends another session or its statement',
  SHUTDOWN: 'stops the server',
  FLUSH: 'acts on the server (FLUSH)',
  PURGE: 'removes the server’s binary logs',
  INSTALL: 'installs a plugin or component on the server',
  UNINSTALL: 'removes a plugin or component from the server',
  CHANGE: 'changes replication',
  RESET: 'resets server state (RESET MASTER, REPLICA, QUERY CACHE …)',
  BINLOG: 'replays binary log events',
  CACHE: 'loads index blocks into the server’s key cache',
  PREPARE: 'runs SQL from a string, which the kit cannot read',
  EXECUTE: 'runs SQL from a string, which the kit cannot read',
};
const REPLICATION_WORDS = new Set(['SLAVE', 'REPLICA', 'MASTER', 'BINLOG', 'ALL']);

/** Settings that change the kit's transaction, how the server reads what follows, or whose session this is. */
const GUARDED = new Set([
  'SQL_MODE', 'AUTOCOMMIT', 'TRANSACTION_READ_ONLY', 'TX_READ_ONLY', 'TRANSACTION_ISOLATION', 'TX_ISOLATION', 'COMPLETION_TYPE',
  'NAMES', 'CHARACTER', 'CHARSET', 'CHARACTER_SET_CLIENT', 'CHARACTER_SET_CONNECTION', 'COLLATION_CONNECTION', 'ROLE',
  'TRANSACTION', 'STATEMENT', 'PSEUDO_THREAD_ID', 'SQL_LOG_BIN', 'SESSION_TRACK_TRANSACTION_INFO', 'DEFAULT',
]);

/** Is the word at `i` a user variable's name (`@name`, not `@@name`)? */
function isUserVariable(tokens: Token[], i: number): boolean {
  return tokens[i - 1]?.value === '@' && tokens[i - 2]?.value !== '@';
}

/** `SET GLOBAL …`, `SET PERSIST …`, `SET @@global.…`: the server's settings, outside any session. */
function setsServer(tokens: Token[]): boolean {
  return tokens.some((t, i) => t.kind === 'word' && ['GLOBAL', 'PERSIST', 'PERSIST_ONLY'].includes(t.value) && !isUserVariable(tokens, i));
}

/** A SET of a guarded name (SET sql_mode, SET @@session.autocommit, SET NAMES, SET SESSION TRANSACTION, SET PASSWORD …). */
export function setsGuardedMySql(tokens: Token[]): boolean {
  if (tokens[0]?.value === 'USE') return true;
  if (tokens[0]?.value !== 'SET') return false;
  if (tokens[1]?.value === 'PASSWORD') return true;
  return tokens.some((t, i) => i > 0 && (t.kind === 'word' || t.kind === 'ident') && GUARDED.has((nameOf(t) ?? '').toUpperCase()) && !isUserVariable(tokens, i));
}

/** `INTO OUTFILE` / `INTO DUMPFILE` at any depth. */
function writesServerFile(tokens: Token[]): boolean {
  return tokens.some((t, i) => t.value === 'INTO' && (tokens[i + 1]?.value === 'OUTFILE' || tokens[i + 1]?.value === 'DUMPFILE'));
}

/** LOAD DATA/XML [LOCAL] INFILE: without LOCAL the server reads its own file. */
function loadReason(tokens: Token[]): string | undefined {
  if (tokens[0]?.value !== 'LOAD') return undefined;
  if (tokens[1]?.value === 'INDEX') return 'loads index blocks into the server’s key cache';
  const local = tokens.slice(1, 5).some((t) => t.value === 'LOCAL');
  return local ? undefined : 'LOAD … INFILE reads a file on the database server';
}

/** Why the statement acts outside the database (the first reason found), or undefined. */
export function mySqlServerEffect(tokens: Token[]): string | undefined {
  const first = tokens[0]?.kind === 'word' ? tokens[0].value : '';
  if (first in SERVER_COMMANDS && (first !== 'CHANGE' || REPLICATION_WORDS.has(tokens[1]?.value ?? ''))) return `${first} ${SERVER_COMMANDS[first]}`;
  if ((first === 'START' || first === 'STOP') && REPLICATION_WORDS.has(tokens[1]?.value ?? '')) return `${first} ${tokens[1]!.value} changes replication`;
  if (first === 'SET' && setsServer(tokens)) return 'SET GLOBAL changes the server’s settings for every session';
  const load = loadReason(tokens);
  if (load) return load;
  if (writesServerFile(tokens)) return 'SELECT … INTO OUTFILE/DUMPFILE writes a file on the database server';
  for (let i = 0; i < tokens.length; i++) {
    const name = nameOf(tokens[i]);
    if (name === undefined || tokens[i + 1]?.value !== '(') continue;
    const why = FUNCTION_REASON.get(name.toLowerCase());
    if (why) return `${name.toLowerCase()}() ${why}`;
  }
  return undefined;
}

/** SHOW, DESCRIBE and friends read; SET of a user variable or an unguarded session setting changes nothing stored. */
export const MYSQL_READ_COMMANDS = new Set(['SELECT', 'VALUES', 'TABLE', 'WITH', 'SHOW', 'EXPLAIN', 'DESCRIBE', 'DESC', 'HELP', 'SET']);
/** Statements that take over the kit's transaction (LOCK TABLES and XA end it too). */
export const MYSQL_TRANSACTION_COMMANDS = new Set(['BEGIN', 'START', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'XA', 'LOCK', 'UNLOCK']);
