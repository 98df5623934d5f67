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

export type TokenKind = 'word' | 'ident' | 'string' | 'number' | 'punct' | 'meta';

export interface Token {
  kind: TokenKind;
  /** Upper-case for words; the text for the rest (a quoted part's content is not kept). */
  value: string;
}

export interface ClassifiedStatement {
  /** The statement as written, without its semicolon. */
  text: string;
  /** First word, upper-case. */
  command: string;
  /** What it may do: read; write (changes data or schema); destroy (see DESTRUCTIVE below). */
  effect: 'read' | 'write' | 'destroy' | 'transaction' | 'meta';
  /** For 'destroy': which rule, in words ("DELETE without WHERE"). */
  reason: string | undefined;
  /** Rows can be streamed through a cursor (a plain query). */
  cursorable: boolean;
}

/** Words and punctuation of a skeleton, where every quoted part is already emptied ('' "" $$). */
function tokenize(skeleton: string): Token[] {
  const tokens: Token[] = [];
  const re = /(E?''|\$\$)|("")|([A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)|([0-9][0-9.eE_]*)|(\S)/g;
  for (let m = re.exec(skeleton); m; m = re.exec(skeleton)) {
    if (m[1]) tokens.push({ kind: 'string', value: '' });
    else if (m[2]) tokens.push({ kind: 'ident', value: '' });
    else if (m[3]) tokens.push({ kind: 'word', value: m[3].toUpperCase() });
    else if (m[4]) tokens.push({ kind: 'number', value: m[4] });
    else tokens.push({ kind: 'punct', value: m[5]! });
  }
  return tokens;
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
      const tokens = tokenize(s.skeleton).filter((t, i, all) => !(i === all.length - 1 && t.value === ';'));
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
/** Settings that would undo the read-only session or the kit's transaction. */
const GUARDED_SETTINGS = new Set(['TRANSACTION_READ_ONLY', 'DEFAULT_TRANSACTION_READ_ONLY', 'SESSION_AUTHORIZATION', 'ROLE', 'TRANSACTION', 'SESSION', 'ALL']);

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

function writesData(tokens: Token[]): boolean {
  return tokens.some((t, i) => t.kind === 'word' && ['INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(t.value) && isDmlAt(tokens, i))
    || (tokens[0]?.value === 'SELECT' && tokens.some((t) => t.kind === 'word' && t.value === 'INTO'));
}

function classifyOne(raw: RawStatement): ClassifiedStatement {
  const first = raw.tokens[0]!;
  const command = first.kind === 'word' ? first.value : first.kind === 'meta' ? first.value.split(/\s/)[0]! : '';
  const base = { text: raw.text, command, reason: undefined, cursorable: false };
  if (first.kind === 'meta') return { ...base, effect: 'meta' };
  if (TRANSACTION_COMMANDS.has(command)) return { ...base, effect: 'transaction' };
  if ((command === 'SET' || command === 'RESET') && raw.tokens.slice(1, 3).some((t) => t.kind === 'word' && GUARDED_SETTINGS.has(t.value))) return { ...base, effect: 'transaction' };
  const reason = destroys(raw.tokens);
  if (reason) return { ...base, effect: 'destroy', reason };
  const write = !READ_COMMANDS.has(command) || writesData(raw.tokens);
  return { ...base, effect: write ? 'write' : 'read', cursorable: !write && ['SELECT', 'VALUES', 'TABLE', 'WITH'].includes(command) };
}

/** Every statement in `sql`, with what it does. */
export function classifySql(sql: string): ClassifiedStatement[] {
  return lexStatements(sql).map(classifyOne);
}
