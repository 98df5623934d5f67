/**
 * A streaming splitter for SQL scripts as the `mariadb` command-line client reads them (its
 * add_line() in client/mysql.cc is the reference), so that what the kit counts in a dump is what
 * a restore through that client executes. It tracks '…' and "…" strings (backslash escapes; a
 * doubled quote closes and reopens, which splits the same), `identifiers` (no escapes), -- and #
 * comments, /* *\/ comments, /*!NNNNN … *\/ and /*M!NNNNNN … *\/ conditional comments (their content
 * is code; their markers are not), and the client's own DELIMITER command, which it honours only
 * on a line of its own before any text of a statement. Like the client, the delimiter is looked
 * for before anything else at code level, also inside a conditional comment.
 *
 * Chunks may split the text anywhere: a marker or delimiter that a chunk cuts in two is held
 * back (a few bytes) until the next chunk decides it. Offsets are absolute positions in the
 * stream. Memory is bounded: nothing is kept of a statement, whatever its size; the listener
 * sees its bytes as they pass.
 */
import { KitError } from '../../errors.js';

/** What a run of statement bytes is: code, or the inside of a quoted string or identifier (its quotes included). */
export type TextKind = typeof CODE | typeof QUOTED;
export const CODE = 0;
export const QUOTED = 1;

export interface ScriptLexerListener {
  /** Bytes of the statement in progress, in order; never comments, conditional-comment markers or the delimiter. */
  text(chunk: Buffer, start: number, end: number, kind: TextKind): void;
  /** A comment or conditional-comment marker inside a statement: a word boundary, nothing more. */
  gap(): void;
  /** The statement that started at `start` ended with the delimiter just before `end`. */
  statementEnd(start: number, end: number): void;
  /** A -- or # comment (its first 256 bytes, marker included); `inStatement` when a statement had begun. */
  lineComment(text: string, start: number, inStatement: boolean): void;
  /** A DELIMITER line changed the delimiter. */
  delimiter(delimiter: string, at: number): void;
}

/** Where the reader is. */
const Lex = { Code: 0, Single: 1, Double: 2, Backtick: 3, LineComment: 4, BlockComment: 5 } as const;
type LexState = (typeof Lex)[keyof typeof Lex];

/** What was open where a script ends. */
export type OpenUnit = 'nothing' | 'statement' | 'string' | 'identifier' | 'comment';

const HOLD = -1;
const NOT_A_COMMAND = -2;
const NL = 0x0a;
const HASH = 0x23;
const DASH = 0x2d;
const SLASH = 0x2f;
const STAR = 0x2a;
const BANG = 0x21;
const BACKSLASH = 0x5c;
const SINGLE = 0x27;
const DOUBLE = 0x22;
const BACKTICK = 0x60;
const UPPER_M = 0x4d;
const COMMENT_TEXT_CAP = 256;
/** A DELIMITER line longer than this is refused (the client's own delimiter is at most 16 bytes). */
const DELIMITER_LINE_CAP = 4096;
/** /*M!999999 … *\/ is for no server at all: mariadb-dump's "sandbox mode" line. */
const NEVER = '999999';
const WORD = 'delimiter';

const isSpace = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;

export class MySqlScriptLexer {
  private state: LexState = Lex.Code;
  /** The previous byte inside a '…' or "…" string was a backslash. */
  private escaped = false;
  /** The previous byte inside a /* *\/ comment was '*'. */
  private starSeen = false;
  /** Inside the content of a /*!…*\/ comment, where '*\/' ends it. */
  private conditional = false;
  /** The statement in progress has text (leading white space and comments are not text). */
  private started = false;
  /** Only white space since the last newline: where a DELIMITER line may begin. */
  private lineBlank = true;
  private held: Buffer | undefined;
  /** Absolute offset of the first byte of the buffer being read. */
  private base = 0;
  private delim = Buffer.from(';');
  /** Bytes that, at code level inside a statement, decide nothing: all but quotes, comment starts, newline and the delimiter's first byte. */
  private plain = plainBytes(this.delim);
  private comment: number[] = [];
  private commentStart = 0;
  private statementStart = 0;
  /** Where the statement, string or comment open now began (absolute). */
  unitStart = 0;
  // The run of statement bytes not yet handed to the listener, within the buffer being read.
  private runStart = -1;
  private runKind: TextKind = CODE;
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly listener: ScriptLexerListener) {}

  get delimiter(): string {
    return this.delim.toString('utf8');
  }

  /** No statement, string or comment is open (a line comment ends with its line or the stream). */
  get atTopLevel(): boolean {
    return this.openUnit === 'nothing';
  }

  get openUnit(): OpenUnit {
    if (this.state === Lex.Single || this.state === Lex.Double) return 'string';
    if (this.state === Lex.Backtick) return 'identifier';
    if (this.state === Lex.BlockComment) return 'comment';
    return this.started || this.conditional ? 'statement' : 'nothing';
  }

  write(chunk: Buffer): void {
    const buf = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = undefined;
    this.read(buf, false);
  }

  /** The stream ended: decide what was held back, and end a last line comment. */
  end(): void {
    const held = this.held;
    this.held = undefined;
    if (held) this.read(held, true);
    if (this.state === Lex.LineComment) {
      this.finishLineComment();
      this.state = Lex.Code;
    }
  }

  private read(buf: Buffer, eof: boolean): void {
    this.buf = buf;
    let i = 0;
    while (i < buf.length) {
      const next = this.step(buf, i, eof);
      if (next === HOLD) {
        this.flush(i);
        this.held = Buffer.from(buf.subarray(i));
        this.base += i;
        return;
      }
      i = next;
    }
    this.flush(buf.length);
    this.base += buf.length;
  }

  private step(buf: Buffer, i: number, eof: boolean): number {
    switch (this.state) {
      case Lex.Code:
        return this.code(buf, i, eof);
      case Lex.Single:
        return this.quoted(buf, i, SINGLE, true);
      case Lex.Double:
        return this.quoted(buf, i, DOUBLE, true);
      case Lex.Backtick:
        return this.quoted(buf, i, BACKTICK, false);
      case Lex.LineComment:
        return this.inLineComment(buf, i);
      default:
        return this.inBlockComment(buf, i);
    }
  }

  /** One decision at code level; returns where reading goes on, or HOLD for more bytes. */
  private code(buf: Buffer, i: number, eof: boolean): number {
    if (this.started && this.plain[buf[i]!]) return this.plainRun(buf, i);
    const b = buf[i]!;
    const avail = buf.length - i;
    if (b === this.delim[0]) {
      const n = this.delim.length;
      if (avail < n) {
        if (!eof && buf.compare(this.delim, 0, avail, i, buf.length) === 0) return HOLD;
      } else if (buf.compare(this.delim, 0, n, i, i + n) === 0) {
        this.flush(i);
        this.endStatement(i + n);
        return i + n;
      }
    }
    if (!this.started && this.lineBlank && (b | 0x20) === 0x64) {
      const next = this.delimiterCommand(buf, i, eof);
      if (next !== NOT_A_COMMAND) return next;
    }
    if (b === HASH) return this.startLineComment(i);
    if (b === DASH) {
      if (avail < 3 && !eof && (avail < 2 || buf[i + 1] === DASH)) return HOLD;
      if (buf[i + 1] === DASH && (avail < 3 || isSpace(buf[i + 2]!))) return this.startLineComment(i);
    }
    if (b === SLASH) {
      if (avail < 2 && !eof) return HOLD;
      if (buf[i + 1] === STAR) return this.startComment(buf, i, eof);
    }
    if (this.conditional && b === STAR) {
      if (avail < 2 && !eof) return HOLD;
      if (buf[i + 1] === SLASH) {
        this.flush(i);
        this.conditional = false;
        this.lineBlank = false;
        this.listener.gap();
        return i + 2;
      }
    }
    return this.codeByte(b, i);
  }

  /** Code bytes that decide nothing (most of a statement's bytes), in one tight loop. */
  private plainRun(buf: Buffer, i: number): number {
    this.open(i, CODE);
    const plain = this.plain;
    let j = i;
    let blank = true;
    for (; j < buf.length; j++) {
      const b = buf[j]!;
      if (!plain[b]) break;
      if (b > 0x20) blank = false;
    }
    if (!blank) this.lineBlank = false;
    return j;
  }

  private codeByte(b: number, i: number): number {
    if (b === SINGLE || b === DOUBLE || b === BACKTICK) {
      this.begin(i);
      this.lineBlank = false;
      this.state = b === SINGLE ? Lex.Single : b === DOUBLE ? Lex.Double : Lex.Backtick;
      this.open(i, QUOTED);
      return i + 1;
    }
    if (isSpace(b)) {
      if (b === NL) this.lineBlank = true;
      if (this.started) this.open(i, CODE);
      else this.flush(i);
      return i + 1;
    }
    this.begin(i);
    this.lineBlank = false;
    this.open(i, CODE);
    return i + 1;
  }

  /** Inside quotes: up to and including the closing quote, or to the end of the buffer. */
  private quoted(buf: Buffer, i: number, quote: number, escapes: boolean): number {
    this.open(i, QUOTED);
    let j = i;
    const length = buf.length;
    if (this.escaped) {
      this.escaped = false;
      j++;
    }
    for (; j < length; j++) {
      const b = buf[j];
      if (b === quote) {
        this.state = Lex.Code;
        return j + 1;
      }
      if (b === BACKSLASH && escapes) {
        if (++j === length) this.escaped = true;
      }
    }
    return length;
  }

  private startLineComment(i: number): number {
    this.flush(i);
    this.lineBlank = false;
    this.state = Lex.LineComment;
    this.comment = [];
    this.commentStart = this.base + i;
    if (!this.started) this.unitStart = this.commentStart;
    return i;
  }

  private inLineComment(buf: Buffer, i: number): number {
    for (let j = i; j < buf.length; j++) {
      const b = buf[j]!;
      if (b === NL) {
        this.finishLineComment();
        this.state = Lex.Code;
        return j; // the newline itself is white space at code level
      }
      if (this.comment.length < COMMENT_TEXT_CAP) this.comment.push(b);
    }
    return buf.length;
  }

  private finishLineComment(): void {
    const text = Buffer.from(this.comment).toString('utf8').replace(/\r$/, '');
    this.comment = [];
    if (this.started) this.listener.gap();
    this.listener.lineComment(text, this.commentStart, this.started);
  }

  /** At "/*": a plain comment, or a conditional one whose content is code. */
  private startComment(buf: Buffer, i: number, eof: boolean): number {
    const avail = buf.length - i;
    if (avail < 4 && !eof) return HOLD;
    let mark = 0;
    let digits = 0;
    if (buf[i + 2] === BANG) [mark, digits] = [3, 5];
    else if (buf[i + 2] === UPPER_M && buf[i + 3] === BANG) [mark, digits] = [4, 6];
    this.flush(i);
    this.lineBlank = false;
    if (mark === 0) return this.enterBlockComment(i, i + 2);
    if (avail < mark + digits && !eof) return HOLD;
    let end = i + mark;
    while (end < buf.length && end < i + mark + digits && isDigit(buf[end]!)) end++;
    if (buf.toString('latin1', i + mark, end) === NEVER) return this.enterBlockComment(i, end);
    this.conditional = true;
    this.listener.gap();
    return end;
  }

  private enterBlockComment(i: number, contentStart: number): number {
    this.state = Lex.BlockComment;
    this.starSeen = false;
    if (!this.started) this.unitStart = this.base + i;
    if (this.started) this.listener.gap();
    return contentStart;
  }

  private inBlockComment(buf: Buffer, i: number): number {
    for (let j = i; j < buf.length; j++) {
      const b = buf[j];
      if (this.starSeen && b === SLASH) {
        this.state = Lex.Code;
        this.starSeen = false;
        return j + 1;
      }
      this.starSeen = b === STAR;
    }
    return buf.length;
  }

  /** At a line's first word before any statement text: "DELIMITER x" is the client's, never the server's. */
  private delimiterCommand(buf: Buffer, i: number, eof: boolean): number {
    const avail = buf.length - i;
    for (let k = 0; k < Math.min(avail, WORD.length); k++) if ((buf[i + k]! | 0x20) !== WORD.charCodeAt(k)) return NOT_A_COMMAND;
    if (avail <= WORD.length) return eof ? NOT_A_COMMAND : HOLD;
    const after = buf[i + WORD.length]!;
    if (!isSpace(after) || after === NL) return NOT_A_COMMAND;
    const newline = buf.indexOf(NL, i);
    if (newline === -1 && !eof) {
      if (avail > DELIMITER_LINE_CAP) throw new KitError('INTEGRITY_FAILED', `The SQL script has a DELIMITER line longer than ${DELIMITER_LINE_CAP} bytes at byte ${this.base + i}; the mariadb client's delimiter is a few characters, so this is not a script the kit can read.`);
      return HOLD;
    }
    const lineEnd = newline === -1 ? buf.length : newline;
    const delimiter = delimiterArgument(buf.toString('utf8', i + WORD.length, lineEnd));
    this.flush(i);
    this.lineBlank = false;
    if (delimiter) {
      this.delim = Buffer.from(delimiter);
      this.plain = plainBytes(this.delim);
      this.listener.delimiter(delimiter, this.base + i);
    }
    return lineEnd;
  }

  private begin(i: number): void {
    if (this.started) return;
    this.started = true;
    this.statementStart = this.unitStart = this.base + i;
  }

  private endStatement(after: number): void {
    this.conditional = false;
    if (!this.started) return;
    this.started = false;
    this.listener.statementEnd(this.statementStart, this.base + after);
  }

  /** Byte i belongs to a run of the given kind. */
  private open(i: number, kind: TextKind): void {
    if (this.runStart >= 0 && this.runKind === kind) return;
    this.flush(i);
    this.runStart = i;
    this.runKind = kind;
  }

  /** Hand the run that ends before byte i to the listener. */
  private flush(i: number): void {
    if (this.runStart < 0) return;
    if (i > this.runStart) this.listener.text(this.buf, this.runStart, i, this.runKind);
    this.runStart = -1;
  }
}

function plainBytes(delimiter: Buffer): Uint8Array {
  const plain = new Uint8Array(256).fill(1);
  for (const b of [SINGLE, DOUBLE, BACKTICK, HASH, DASH, SLASH, STAR, NL, delimiter[0]!]) plain[b] = 0;
  return plain;
}

/** The client's argument rule: the first word, or a quoted string; undefined when there is none. */
export function delimiterArgument(rest: string): string | undefined {
  const text = rest.trimStart();
  const quote = text[0];
  if (quote === "'" || quote === '"' || quote === '`') {
    const close = text.indexOf(quote, 1);
    const inner = close === -1 ? text.slice(1) : text.slice(1, close);
    return inner || undefined;
  }
  const word = /^\S+/.exec(text)?.[0];
  return word || undefined;
}
