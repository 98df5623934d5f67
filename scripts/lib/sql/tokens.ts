/**
 * The tokens of one statement, read from its whole text. The lexer (format/sql-lexer.ts) decides
 * where statements start and end; this pass reads inside one of them and keeps what the lexer's
 * skeleton drops on purpose: the content of quoted identifiers and strings (`"pg_reload_conf"()`
 * calls the same function as `pg_reload_conf()`, and `COPY … TO '/file'` names a file), and every
 * token however long the statement is (the skeleton stops at a few kilobytes, and a guard that
 * stops reading there could be walked past with padding).
 *
 * It reads as the server does with standard_conforming_strings on, which db:sql sets for every
 * session it opens and refuses to let a statement change.
 */

import type { Token } from '../format/sql-token.js';

export type { Token, TokenKind } from '../format/sql-token.js';

const WORD = /[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/y;
const NUMBER = /[0-9][0-9.eE_]*|\.[0-9][0-9eE_]*/y;
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;

function match(re: RegExp, text: string, at: number): string | undefined {
  re.lastIndex = at;
  return re.exec(text)?.[0];
}

/** Past a block comment starting at `at` ("/*"); they nest. */
function skipBlockComment(text: string, at: number): number {
  let depth = 0;
  let i = at;
  while (i < text.length) {
    if (text.startsWith('/*', i)) {
      depth++;
      i += 2;
    } else if (text.startsWith('*/', i)) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return i;
}

/**
 * A quoted part starting at `at` (its opening quote): its content and where it ends. The quote
 * doubles to stand for itself; with `backslash` (E'' strings) a backslash escapes the next char.
 */
function readQuoted(text: string, at: number, quote: string, backslash: boolean): { content: string; end: number } {
  let content = '';
  let i = at + 1;
  while (i < text.length) {
    const c = text[i]!;
    if (backslash && c === '\\' && i + 1 < text.length) {
      content += text[i + 1];
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
  return { content, end: i };
}

/** A U&"…" identifier's escapes (\XXXX, \+XXXXXX, a doubled escape character) decoded. */
export function decodeUnicodeEscapes(raw: string, escape = '\\'): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== escape) {
      out += raw[i];
      continue;
    }
    if (raw[i + 1] === escape) {
      out += escape;
      i++;
    } else if (raw[i + 1] === '+' && /^[0-9A-Fa-f]{6}$/.test(raw.slice(i + 2, i + 8))) {
      out += String.fromCodePoint(Number.parseInt(raw.slice(i + 2, i + 8), 16));
      i += 7;
    } else if (/^[0-9A-Fa-f]{4}$/.test(raw.slice(i + 1, i + 5))) {
      out += String.fromCodePoint(Number.parseInt(raw.slice(i + 1, i + 5), 16));
      i += 4;
    } else out += raw[i];
  }
  return out;
}

interface Unicode {
  token: Token;
  raw: string;
}

/** One quoted part or word at `at`, with what it is; undefined when `at` holds neither. */
function readQuotedOrWord(text: string, at: number, unicode: Unicode[]): { token: Token; end: number } | undefined {
  const c = text[at]!;
  if (c === "'") {
    const q = readQuoted(text, at, "'", false);
    return { token: { kind: 'string', value: '', text: q.content }, end: q.end };
  }
  if (c === '"') {
    const q = readQuoted(text, at, '"', false);
    return { token: { kind: 'ident', value: '', text: q.content }, end: q.end };
  }
  const word = match(WORD, text, at);
  if (word === undefined) return undefined;
  const next = at + word.length;
  if ((word === 'E' || word === 'e') && text[next] === "'") {
    const q = readQuoted(text, next, "'", true);
    return { token: { kind: 'string', value: '', text: q.content }, end: q.end };
  }
  if ((word === 'U' || word === 'u') && text[next] === '&' && (text[next + 1] === '"' || text[next + 1] === "'")) {
    const quote = text[next + 1]!;
    const q = readQuoted(text, next + 1, quote, false);
    const token: Token = { kind: quote === '"' ? 'ident' : 'string', value: '', text: decodeUnicodeEscapes(q.content) };
    unicode.push({ token, raw: q.content });
    return { token, end: q.end };
  }
  return { token: { kind: 'word', value: word.toUpperCase() }, end: next };
}

/** A dollar-quoted string at `at`, or undefined when the `$` starts something else ($1). */
function readDollarQuoted(text: string, at: number): { token: Token; end: number } | undefined {
  const tag = match(DOLLAR_TAG, text, at);
  if (tag === undefined) return undefined;
  const close = text.indexOf(tag, at + tag.length);
  const end = close === -1 ? text.length : close + tag.length;
  return { token: { kind: 'string', value: '', text: text.slice(at + tag.length, close === -1 ? text.length : close) }, end };
}

/** `U&"…" UESCAPE '!'`: the identifier's escapes are read again with the character given. */
function applyUescape(tokens: Token[], unicode: Unicode[]): Token[] {
  for (const { token, raw } of unicode) {
    const i = tokens.indexOf(token);
    const [keyword, escape] = [tokens[i + 1], tokens[i + 2]];
    if (keyword?.kind === 'word' && keyword.value === 'UESCAPE' && escape?.kind === 'string' && escape.text?.length === 1) {
      token.text = decodeUnicodeEscapes(raw, escape.text);
      tokens.splice(i + 1, 2);
    }
  }
  return tokens;
}

/** Every token of one statement's text; comments and white space are dropped. */
export function tokenizeStatement(text: string): Token[] {
  const tokens: Token[] = [];
  const unicode: Unicode[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (text.startsWith('--', i)) {
      const eol = text.indexOf('\n', i);
      i = eol === -1 ? text.length : eol + 1;
      continue;
    }
    if (text.startsWith('/*', i)) {
      i = skipBlockComment(text, i);
      continue;
    }
    const read = (c === '$' ? readDollarQuoted(text, i) : undefined) ?? readQuotedOrWord(text, i, unicode);
    if (read) {
      tokens.push(read.token);
      i = read.end;
      continue;
    }
    const number = match(NUMBER, text, i);
    tokens.push(number !== undefined ? { kind: 'number', value: number } : { kind: 'punct', value: c });
    i += number?.length ?? 1;
  }
  return applyUescape(tokens, unicode);
}
