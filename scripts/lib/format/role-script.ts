/**
 * The statements of `pg_dumpall --roles-only`, read as psql reads them: the kit's SQL lexer
 * splits the script (strings, quoted identifiers, dollar quotes, comments, meta-commands), and
 * each statement's leading words and names are then read with a tokenizer that knows the same
 * quoting, so every statement is classified by the role it concerns. A restore can then create
 * the roles that are missing and leave every existing role alone. Pure, for tests.
 */
import { SqlLexer, WHOLE_TEXT } from './sql-lexer.js';

export type RoleStatement =
  | { kind: 'session'; text: string }
  | { kind: 'meta'; text: string }
  /** CREATE ROLE, ALTER ROLE, COMMENT ON ROLE, SECURITY LABEL … ON ROLE. */
  | { kind: 'role'; action: 'create' | 'alter' | 'comment' | 'label'; role: string; text: string }
  /** GRANT <role> TO <member> …; `withoutGrantor` is the text with any GRANTED BY clause removed. */
  | { kind: 'membership'; role: string; member: string; grantor: string | undefined; text: string; withoutGrantor: string }
  | { kind: 'other'; text: string };

interface Token {
  /** word: an unquoted keyword or identifier (folded to lower case); ident: a quoted identifier. */
  type: 'word' | 'ident' | 'string' | 'punct';
  value: string;
  start: number;
}

const isWordStart = (c: string) => /[A-Za-z_\u0080-\uffff]/.test(c);
const isWordChar = (c: string) => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

/** Where the quoted thing starting at `i` ends (the index after it). */
function skipQuoted(text: string, i: number, quote: string, backslashes: boolean): number {
  let j = i + 1;
  while (j < text.length) {
    const c = text[j]!;
    if (backslashes && c === '\\') j += 2;
    else if (c === quote) {
      if (text[j + 1] === quote) j += 2;
      else return j + 1;
    } else j++;
  }
  return j;
}

function skipBlockComment(text: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < text.length) {
    if (text.startsWith('/*', j)) {
      depth++;
      j += 2;
    } else if (text.startsWith('*/', j)) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  return j;
}

const DOLLAR_TAG = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/;

/**
 * Walk a script: `onToken` for each token, `onEnd` at each `;` at top level, `onMeta` for a
 * meta-command (a backslash where a statement would begin, to the end of its line).
 */
function scan(text: string, onToken: (token: Token) => void, onEnd: (index: number) => void, onMeta: (from: number, to: number) => void = () => undefined): void {
  let i = 0;
  let atStart = true;
  const emit = (token: Token) => {
    atStart = false;
    onToken(token);
  };
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) i++;
    else if (text.startsWith('--', i)) {
      const eol = text.indexOf('\n', i);
      i = eol < 0 ? text.length : eol + 1;
    } else if (text.startsWith('/*', i)) i = skipBlockComment(text, i);
    else if (c === '\\' && atStart) {
      const eol = text.indexOf('\n', i);
      const to = eol < 0 ? text.length : eol;
      onMeta(i, to);
      i = to;
    } else if (c === "'") {
      const end = skipQuoted(text, i, "'", false);
      emit({ type: 'string', value: text.slice(i, end), start: i });
      i = end;
    } else if ((c === 'E' || c === 'e') && text[i + 1] === "'") {
      const end = skipQuoted(text, i + 1, "'", true);
      emit({ type: 'string', value: text.slice(i, end), start: i });
      i = end;
    } else if (c === '"') {
      const end = skipQuoted(text, i, '"', false);
      emit({ type: 'ident', value: text.slice(i + 1, end - 1).replace(/""/g, '"'), start: i });
      i = end;
    } else if (c === '$' && DOLLAR_TAG.test(text.slice(i, i + 66))) {
      const tag = DOLLAR_TAG.exec(text.slice(i, i + 66))![0];
      const close = text.indexOf(tag, i + tag.length);
      const end = close < 0 ? text.length : close + tag.length;
      emit({ type: 'string', value: text.slice(i, end), start: i });
      i = end;
    } else if (isWordStart(c)) {
      let j = i + 1;
      while (j < text.length && isWordChar(text[j]!)) j++;
      emit({ type: 'word', value: text.slice(i, j).toLowerCase(), start: i });
      i = j;
    } else if (c === ';') {
      onEnd(i);
      atStart = true;
      i++;
    } else {
      emit({ type: 'punct', value: c, start: i });
      i++;
    }
  }
}

/**
 * Split a script into statements (each with its `;`) and meta-command lines, with the kit's one
 * SQL lexer, exactly as a plain restore reads pg_dump's output.
 */
export function splitStatements(text: string): Array<{ text: string; meta: boolean }> {
  const pieces: Array<{ text: string; meta: boolean }> = [];
  const lexer = new SqlLexer({
    statement: (s) => pieces.push({ text: s.text.trim(), meta: false }),
    metaCommand: (m) => pieces.push({ text: m.text.trim(), meta: true }),
  }, WHOLE_TEXT);
  const bytes = Buffer.from(text, 'utf8');
  lexer.write(bytes);
  lexer.end();
  return pieces;
}

function tokensOf(statement: string): Token[] {
  const tokens: Token[] = [];
  scan(statement, (t) => tokens.push(t), () => undefined);
  return tokens;
}

const nameOf = (t: Token | undefined): string | undefined => (t && (t.type === 'word' || t.type === 'ident') ? t.value : undefined);

/** What one statement of a roles script does, and to which role. */
export function classifyRoleStatement(statement: string, meta = false): RoleStatement {
  if (meta) return { kind: 'meta', text: statement };
  const t = tokensOf(statement);
  const w = (n: number) => (t[n]?.type === 'word' ? t[n]!.value : undefined);
  if (w(0) === 'set' || w(0) === 'reset') return { kind: 'session', text: statement };
  if ((w(0) === 'create' || w(0) === 'alter') && (w(1) === 'role' || w(1) === 'user')) {
    const role = nameOf(t[2]);
    if (role !== undefined) return { kind: 'role', action: w(0) as 'create' | 'alter', role, text: statement };
  }
  if (w(0) === 'comment' && w(1) === 'on' && w(2) === 'role') {
    const role = nameOf(t[3]);
    if (role !== undefined) return { kind: 'role', action: 'comment', role, text: statement };
  }
  if (w(0) === 'security' && w(1) === 'label') {
    const on = t.findIndex((x, n) => n > 1 && x.type === 'word' && x.value === 'on');
    const role = on > 0 && w(on + 1) === 'role' ? nameOf(t[on + 2]) : undefined;
    if (role !== undefined) return { kind: 'role', action: 'label', role, text: statement };
  }
  if (w(0) === 'grant' && nameOf(t[1]) !== undefined && w(2) === 'to' && nameOf(t[3]) !== undefined) {
    const by = t.findIndex((x, n) => n > 3 && x.type === 'word' && x.value === 'granted' && t[n + 1]?.type === 'word' && t[n + 1]!.value === 'by');
    const grantor = by > 0 ? nameOf(t[by + 2]) : undefined;
    const withoutGrantor = by > 0 ? `${statement.slice(0, t[by]!.start).trimEnd()};` : statement;
    return { kind: 'membership', role: nameOf(t[1])!, member: nameOf(t[3])!, grantor, text: statement, withoutGrantor };
  }
  return { kind: 'other', text: statement };
}

/** Every statement of a roles script, classified. */
export function parseRoleScript(text: string): RoleStatement[] {
  return splitStatements(text).map((s) => classifyRoleStatement(s.text, s.meta));
}

/**
 * The part of a roles script that concerns `roles`: session settings, each role's own statements,
 * and memberships between two of them. Statements are kept verbatim, in their order.
 */
export function filterRoleScript(statements: RoleStatement[], roles: ReadonlySet<string>): RoleStatement[] {
  return statements.filter((s) => {
    if (s.kind === 'session') return true;
    if (s.kind === 'role') return roles.has(s.role);
    if (s.kind === 'membership') return roles.has(s.role) && roles.has(s.member);
    return false;
  });
}

export function renderRoleScript(statements: RoleStatement[], header: string): string {
  return `${header}\n\n${statements.map((s) => s.text).join('\n')}\n`;
}
