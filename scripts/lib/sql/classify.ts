/**
 * What a piece of SQL does, decided on its tokens, never on its raw text: a lexer that knows
 * strings ('', E'', $tag$…$tag$), quoted identifiers, comments (nested /* *\/ too) and psql's
 * backslash commands splits it into statements and words, so a `DROP` inside a string, a comment
 * or a function body is never mistaken for one, and `DELETE … WHERE` is told from `DELETE` alone.
 *
 * The one entry point is classifySql(); everything else here is its machinery.
 */

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

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
const isIdentStart = (c: string) => /[A-Za-z_\u0080-\uffff]/.test(c);
const isIdentChar = (c: string) => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

/** End of a quoted run starting at `i` (just after the opening quote), with `q` doubled inside. */
function skipQuoted(text: string, i: number, q: string, backslashes: boolean): number {
  for (; i < text.length; i++) {
    const c = text[i];
    if (backslashes && c === '\\') i++;
    else if (c === q) {
      if (text[i + 1] === q) i++;
      else return i + 1;
    }
  }
  return text.length;
}

function skipBlockComment(text: string, i: number): number {
  let depth = 1;
  for (i += 2; i < text.length && depth > 0; i++) {
    if (text[i] === '/' && text[i + 1] === '*') {
      depth++;
      i++;
    } else if (text[i] === '*' && text[i + 1] === '/') {
      depth--;
      i++;
    }
  }
  return i;
}

interface RawStatement {
  text: string;
  tokens: Token[];
}

/** Split into statements at top-level semicolons, with each statement's tokens. */
export function lexStatements(text: string): RawStatement[] {
  const out: RawStatement[] = [];
  let tokens: Token[] = [];
  let start = 0;
  let atomic = 0; // inside CREATE FUNCTION … BEGIN ATOMIC … END, semicolons do not end it
  const finish = (end: number) => {
    const body = text.slice(start, end).trim();
    if (tokens.length) out.push({ text: body, tokens });
    tokens = [];
    start = end + 1;
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1];
    if (isSpace(c)) i++;
    else if (c === '-' && next === '-') while (i < text.length && text[i] !== '\n') i++;
    else if (c === '/' && next === '*') i = skipBlockComment(text, i);
    else if (c === "'") {
      i = skipQuoted(text, i + 1, "'", false);
      tokens.push({ kind: 'string', value: '' });
    } else if ((c === 'E' || c === 'e') && next === "'") {
      i = skipQuoted(text, i + 2, "'", true);
      tokens.push({ kind: 'string', value: '' });
    } else if (c === '"') {
      const end = skipQuoted(text, i + 1, '"', false);
      tokens.push({ kind: 'ident', value: text.slice(i + 1, end - 1).replace(/""/g, '"') });
      i = end;
    } else if (c === '$' && /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.test(text.slice(i, i + 64))) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 64))![0];
      const end = text.indexOf(tag, i + tag.length);
      i = end === -1 ? text.length : end + tag.length;
      tokens.push({ kind: 'string', value: '' });
    } else if (c === '\\' && tokens.length === 0) {
      const end = text.indexOf('\n', i);
      tokens.push({ kind: 'meta', value: text.slice(i, end === -1 ? text.length : end).trim() });
      i = end === -1 ? text.length : end;
      finish(i);
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < text.length && isIdentChar(text[j]!)) j++;
      const word = text.slice(i, j).toUpperCase();
      tokens.push({ kind: 'word', value: word });
      if (word === 'ATOMIC' && tokens.at(-2)?.value === 'BEGIN') atomic++;
      else if (atomic && word === 'CASE') atomic++;
      else if (atomic && word === 'END') atomic--;
      i = j;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE_]/.test(text[j]!)) j++;
      tokens.push({ kind: 'number', value: text.slice(i, j) });
      i = j;
    } else if (c === ';' && atomic === 0) {
      finish(i);
      i++;
    } else {
      tokens.push({ kind: 'punct', value: c });
      i++;
    }
  }
  finish(text.length);
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
