/**
 * SQL read as a MySQL or MariaDB server reads it, for db:sql's guard on a MySQL environment: the
 * same Token shapes as sql/tokens.ts gives for PostgreSQL, so sql/classify.ts decides on both with
 * one set of rules. (mariadb-dump's scripts are split by engines/mysql/script-lexer.ts, which
 * streams and keeps no tokens.) What differs from PostgreSQL is the lexing:
 *  - `backtick` identifiers (a doubled backtick stands for itself); "double quotes" are strings,
 *    as they are without ANSI_QUOTES, which db:sql keeps out of its session's sql_mode;
 *  - in '…' and "…" a backslash escapes the next character (NO_BACKSLASH_ESCAPES is kept out too),
 *    and a doubled quote stands for itself;
 *  - comments: `#` and `-- ` (two dashes and a space or control character: `1--1` is arithmetic)
 *    to the end of the line, and `/* … *\/`, which do not nest;
 *  - `/*! … *\/` and `/*M! … *\/` are not comments at all: the server runs what they hold (when its
 *    version is at least the number that may follow the `!`), so the guard reads it as code;
 *  - statements end at `;`, except inside a stored program's body (CREATE PROCEDURE, FUNCTION,
 *    TRIGGER, EVENT, or MariaDB's `BEGIN NOT ATOMIC`): there BEGIN … END and CASE … END nest.
 *    The client's DELIMITER command is the client's, not SQL: it is read as a meta command.
 */
import { KitError } from '../errors.js';
import type { Token } from './sql-token.js';

const WORD = /[A-Za-z_$\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/y;
const NUMBER = /[0-9][0-9.eE]*|\.[0-9][0-9eE]*/y;
const EXECUTABLE = /\/\*M?!\d{0,6}/y;

interface Positioned {
  token: Token;
  start: number;
  end: number;
}

function match(re: RegExp, text: string, at: number): string | undefined {
  re.lastIndex = at;
  return re.exec(text)?.[0];
}

/** A quoted part at `at`: content and end; `backslash` escapes as MySQL strings do. Unclosed: end undefined. */
function readQuoted(text: string, at: number, quote: string, backslash: boolean): { content: string; end: number | undefined } {
  let content = '';
  let i = at + 1;
  while (i < text.length) {
    const c = text[i]!;
    if (backslash && c === '\\' && i + 1 < text.length) {
      content += unescape(text[i + 1]!);
      i += 2;
    } else if (c === quote && text[i + 1] === quote) {
      content += quote;
      i += 2;
    } else if (c === quote) return { content, end: i + 1 };
    else {
      content += c;
      i++;
    }
  }
  return { content, end: undefined };
}

const ESCAPES: Record<string, string> = { '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a' };
function unescape(c: string): string {
  return ESCAPES[c] ?? c;
}

/** Where a comment starting at `at` ends, or undefined when `at` starts none. `unclosed` when it runs off the end. */
function commentEnd(text: string, at: number): { end: number; unclosed: boolean } | undefined {
  const c = text[at];
  const dashes = c === '-' && text[at + 1] === '-' && (at + 2 >= text.length || /[\s\x00-\x1f]/.test(text[at + 2]!));
  if (c === '#' || dashes) {
    const eol = text.indexOf('\n', at);
    return { end: eol === -1 ? text.length : eol + 1, unclosed: false };
  }
  if (c === '/' && text[at + 1] === '*' && match(EXECUTABLE, text, at) === undefined) {
    const close = text.indexOf('*/', at + 2);
    return close === -1 ? { end: text.length, unclosed: true } : { end: close + 2, unclosed: false };
  }
  return undefined;
}

/** Every token of `text` with where it stands; an unclosed string, identifier or comment throws. */
export function scanMySql(text: string): Positioned[] {
  const out: Positioned[] = [];
  let i = 0;
  let executable = 0;
  const unclosed = () => new KitError('USAGE', 'The SQL ends inside a quoted string, identifier or comment; close it and try again.');
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const comment = commentEnd(text, i);
    if (comment) {
      if (comment.unclosed) throw unclosed();
      i = comment.end;
      continue;
    }
    const opening = match(EXECUTABLE, text, i);
    if (opening !== undefined) {
      // Its content is code: the markers go, what they hold is read like any other text.
      executable++;
      i += opening.length;
      continue;
    }
    if (executable > 0 && text.startsWith('*/', i)) {
      executable--;
      i += 2;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      const q = readQuoted(text, i, c, c !== '`');
      if (q.end === undefined) throw unclosed();
      out.push({ token: { kind: c === '`' ? 'ident' : 'string', value: '', text: q.content }, start: i, end: q.end });
      i = q.end;
      continue;
    }
    const word = match(WORD, text, i);
    if (word !== undefined && !/^[0-9]/.test(word)) {
      out.push({ token: { kind: 'word', value: word.toUpperCase() }, start: i, end: i + word.length });
      i += word.length;
      continue;
    }
    const number = match(NUMBER, text, i);
    const end = i + (number?.length ?? 1);
    out.push({ token: number !== undefined ? { kind: 'number', value: number } : { kind: 'punct', value: c }, start: i, end });
    i = end;
  }
  if (executable > 0) throw unclosed();
  return out;
}

/** Every token of one statement's text (tokens.ts's tokenizeStatement, the MySQL way). */
export function tokenizeMySqlStatement(text: string): Token[] {
  return scanMySql(text).map((p) => p.token);
}

const PROGRAM_KINDS = new Set(['PROCEDURE', 'FUNCTION', 'TRIGGER', 'EVENT']);
/** `END IF`, `END LOOP`, … close what opened them without a BEGIN or CASE; every other END closes one. */
const OWN_ENDS = new Set(['IF', 'LOOP', 'WHILE', 'REPEAT']);

/** Does a statement whose tokens so far are `tokens` hold a stored program's body (where `;` does not end it)? */
function isStoredProgram(tokens: Token[]): boolean {
  const [first, second] = [tokens[0]?.value, tokens[1]?.value];
  if (first === 'BEGIN' && second === 'NOT') return true;
  if (first !== 'CREATE') return false;
  // CREATE [OR REPLACE] [DEFINER = …] [AGGREGATE] PROCEDURE|FUNCTION|TRIGGER|EVENT: the kind comes before any '('
  for (const t of tokens.slice(1)) {
    if (t.kind === 'punct' && t.value === '(') return false;
    if (t.kind === 'word' && PROGRAM_KINDS.has(t.value)) return true;
    if (t.kind === 'word' && ['TABLE', 'VIEW', 'INDEX', 'DATABASE', 'SCHEMA', 'USER', 'ROLE', 'SERVER', 'SEQUENCE'].includes(t.value)) return false;
  }
  return false;
}

/** BEGIN … END and CASE … END depth after `t`, within a stored program. */
function depthAfter(depth: number, t: Token, next: Token | undefined): number {
  if (t.kind !== 'word') return depth;
  if (t.value === 'BEGIN' || t.value === 'CASE') return depth + 1;
  if (t.value === 'END' && !(next?.kind === 'word' && OWN_ENDS.has(next.value))) return Math.max(0, depth - 1);
  return depth;
}

export interface MySqlStatement {
  text: string;
  tokens: Token[];
}

/** Where statements end: the indexes of the `;` tokens that end one (not those inside a stored program's body). */
function statementEnds(scanned: Positioned[]): number[] {
  const ends: number[] = [];
  let [from, depth, program] = [0, 0, false];
  for (let i = 0; i < scanned.length; i++) {
    const t = scanned[i]!.token;
    if (t.kind === 'punct' && t.value === ';' && depth === 0) {
      ends.push(i);
      [from, depth, program] = [i + 1, 0, false];
      continue;
    }
    // the program's kind comes within its first few words (CREATE DEFINER=`u`@`h` PROCEDURE …)
    if (!program && i - from < 40) program = isStoredProgram(scanned.slice(from, i + 1).map((p) => p.token));
    if (program) depth = depthAfter(depth, t, scanned[i + 1]?.token);
  }
  return ends;
}

/**
 * The statements of `text`, split where the server would see them end. A `DELIMITER …` line is
 * the mariadb client's and comes back as a meta token, so db:sql can refuse it by name.
 */
export function splitMySqlStatements(text: string): MySqlStatement[] {
  const scanned = scanMySql(text);
  const out: MySqlStatement[] = [];
  let from = 0;
  for (const end of [...statementEnds(scanned), scanned.length]) {
    const part = scanned.slice(from, end);
    if (part.length) out.push(statementOf(text, part));
    from = end + 1;
  }
  return out;
}

function statementOf(text: string, part: Positioned[]): MySqlStatement {
  const body = text.slice(part[0]!.start, part.at(-1)!.end).trim();
  // DELIMITER is the mariadb client's own command: whatever follows it is not SQL.
  if (part[0]!.token.kind === 'word' && part[0]!.token.value === 'DELIMITER') return { text: body, tokens: [{ kind: 'meta', value: body }] };
  return { text: body, tokens: part.map((p) => p.token) };
}
