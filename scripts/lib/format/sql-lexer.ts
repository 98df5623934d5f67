/**
 * A streaming lexer for SQL scripts as psql reads them (PostgreSQL's src/fe_utils/psqlscan.l is
 * the reference). It knows where each top-level statement starts and ends, and never mistakes the
 * inside of a string, a dollar-quoted body, a quoted identifier or a comment for SQL: single
 * quotes (standard_conforming_strings on or off, as the script sets it), E'' strings, dollar
 * quotes with tags, "identifiers", -- and nested /* *\/ comments, psql's own rule that semicolons
 * inside CREATE FUNCTION … BEGIN ATOMIC … END do not end the statement, backslash meta-commands,
 * and COPY … FROM stdin data up to its "\." line.
 *
 * Chunks may split the text anywhere. COPY data, most of a dump's bytes, is skipped with native
 * searches for the end-of-data line, never byte by byte. Offsets given to the listener are
 * absolute positions in the stream.
 */

export interface SqlStatement {
  /** Absolute offset of the statement's first byte. */
  start: number;
  /** Absolute offset just after its terminating semicolon. */
  end: number;
  /** The statement as written, up to its first `limits.text` bytes (see textComplete). */
  text: string;
  /** `text` is the whole statement. */
  textComplete: boolean;
  /**
   * Its keywords and punctuation: quoted parts emptied ('' "" $$), comments and runs of white
   * space as one space. What a statement is, is decided on this, never on its text.
   *
   * A statement of any length is classified the same way: past its first `limits.skeleton`
   * characters, the skeleton keeps everything outside parentheses (the words that decide what a
   * statement is: `) FROM stdin`, `OWNER TO x`) and writes "…" for what it leaves out inside them,
   * such as a COPY's column list; of a very long run outside parentheses it keeps the last
   * `limits.skeleton` characters. `skeletonElided` says whether anything was left out.
   */
  skeleton: string;
  skeletonElided: boolean;
  /** The first word, upper-case ("" when the statement starts with something else). */
  command: string;
  /** A COPY … FROM STDIN: its data follows. */
  copyFromStdin: boolean;
}

export interface MetaCommand {
  start: number;
  /** Just after the line's newline. */
  end: number;
  /** From the backslash to the end of its line, up to `limits.line` bytes (see textComplete). */
  text: string;
  /** `text` is the whole line: a check of what a meta-command does must refuse one that is not. */
  textComplete: boolean;
  /** It came in the middle of a statement (psql would run it there). */
  inStatement: boolean;
}

/**
 * How much of each unit the lexer keeps in memory while it streams. A limit bounds memory only:
 * what a statement is never depends on it (see SqlStatement.skeleton), and what it cuts is flagged
 * (textComplete, skeletonElided) so a caller can refuse instead of misreading. A caller that holds
 * the whole text in memory already passes WHOLE_TEXT and gets every unit whole.
 */
export interface LexerLimits {
  /** Bytes of a statement's text. */
  text: number;
  /** Characters of a skeleton's head, and of the run kept after it. */
  skeleton: number;
  /** Bytes of a comment line or a meta-command line. */
  line: number;
}

export const STREAM_LIMITS: LexerLimits = { text: 64 * 1024, skeleton: 4096, line: 4096 };
export const WHOLE_TEXT: LexerLimits = { text: Infinity, skeleton: Infinity, line: Infinity };

const ELIDED = '\u2026';

/**
 * pg_dump writes no psql meta-command but `\restrict KEY` and `\unrestrict KEY` between
 * statements. Anything else (or a line cut short, which could hide a second command after the
 * key) is not pg_dump's.
 */
export function isPgDumpMetaCommand(meta: Pick<MetaCommand, 'text' | 'textComplete' | 'inStatement'>): boolean {
  return meta.textComplete && !meta.inStatement && /^\\(restrict|unrestrict) [A-Za-z0-9]+\s*$/.test(meta.text);
}

export interface SqlListener {
  statement?(statement: SqlStatement): void;
  metaCommand?(meta: MetaCommand): void;
  /** A whole `--` comment line between statements, from its dashes. */
  comment?(text: string): void;
  /** COPY data bytes (rows, possibly split anywhere). The end-of-data line is never included. */
  copyData?(data: Buffer, start: number, end: number): void;
  /** The end-of-data line went by. */
  copyEnd?(): void;
}


// States
const CODE = 0;
const DASH = 1; // a '-' that may start a comment
const SLASH = 2; // a '/' that may start a block comment
const LINE_COMMENT = 3;
const BLOCK = 4;
const BLOCK_STAR = 5;
const BLOCK_SLASH = 6;
const SQUOTE = 7;
const SQUOTE_END = 8;
const EQUOTE = 9;
const EQUOTE_ESC = 10;
const EQUOTE_END = 11;
const DQUOTE = 12;
const DQUOTE_END = 13;
const DOLLAR_OPEN = 14;
const DOLLAR = 15;
const META = 16;
const COPY_EOL = 17;
const COPY_DATA = 18;

const NL = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const END_OF_DATA = Buffer.from('\n\\.');

// Byte classes, as lookup tables: the lexer's hot loops run on them.
const SPACE = new Uint8Array(256);
const IDENT_START = new Uint8Array(256);
const IDENT_CONT = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  SPACE[b] = b === 0x20 || (b >= 0x09 && b <= 0x0d) ? 1 : 0;
  IDENT_START[b] = (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f || b >= 0x80 ? 1 : 0;
  IDENT_CONT[b] = IDENT_START[b] || (b >= 0x30 && b <= 0x39) || b === 0x24 ? 1 : 0;
}
function isSpace(b: number): boolean {
  return SPACE[b] === 1;
}
function isIdentStart(b: number): boolean {
  return IDENT_START[b] === 1;
}
function isIdentCont(b: number): boolean {
  return IDENT_CONT[b] === 1;
}

export class SqlLexer {
  private state = CODE;
  /** Absolute offset of the current chunk's first byte. */
  private base = 0;
  private stdStrings = true;

  // the statement in progress
  private inStatement = false;
  private stmtStart = 0;
  private textParts: Buffer[] = [];
  private textLength = 0;
  private textComplete = true;
  /** The skeleton's first `limits.skeleton` characters, then what is kept after them. */
  private skeletonHead = '';
  private skeletonTail = '';
  private skeletonElided = false;
  private command = '';
  /** psql's heuristics: parentheses, and BEGIN … END inside CREATE FUNCTION/PROCEDURE. */
  private parenDepth = 0;
  private beginDepth = 0;
  private identifierCount = 0;
  private identifiers = ['', '', '', ''];
  private ident = '';
  private inIdent = false;
  private commandKnown = false;
  private ending = false;
  private prevIdentChar = false;

  // quoted parts
  private blockDepth = 0;
  private dollarTag = '';
  private dollarDelim: Buffer = Buffer.alloc(0);
  private dollarTail: Buffer = Buffer.alloc(0);
  private dashStart = 0;

  // comments and meta-commands
  private lineText = '';
  private lineComplete = true;
  private lineIsTopLevel = false;
  private metaStart_ = 0;
  private metaInStatement = false;

  // COPY data: how much of "\n\\." (preceded by a line start) the end of the last chunk matched
  private copyMatched = 0;
  private copyCr = false;

  constructor(
    private readonly listener: SqlListener,
    private readonly limits: LexerLimits = STREAM_LIMITS,
  ) {}

  /** The first word of the statement in progress, once it is known. */
  get pendingCommand(): string | undefined {
    return this.inStatement && this.commandKnown ? this.command : undefined;
  }

  /** Where bytes must be held from because a statement or meta-command is being read (absolute). */
  get unitStart(): number | undefined {
    if (this.state === META) return this.metaStart_;
    if (this.inStatement) return this.stmtStart;
    if (this.state === DASH || this.state === SLASH) return this.dashStart;
    return undefined;
  }

  /** Where the meta-command being read starts (absolute), while one is. */
  get metaStart(): number | undefined {
    return this.state === META ? this.metaStart_ : undefined;
  }

  /** The text ended outside every statement, string, comment and COPY block. */
  get atTopLevel(): boolean {
    return !this.inStatement && (this.state === CODE || this.state === LINE_COMMENT);
  }

  get inCopyData(): boolean {
    return this.state === COPY_DATA || this.state === COPY_EOL;
  }

  get offset(): number {
    return this.base;
  }

  write(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    let textFrom = this.inStatement ? 0 : -1;
    while (i < n) {
      const state = this.state;
      if (state === COPY_DATA) {
        i = this.copyData(chunk, i);
        continue;
      }
      if (state === COPY_EOL) {
        const nl = chunk.indexOf(NL, i);
        if (nl === -1) {
          i = n;
        } else {
          i = nl + 1;
          this.state = COPY_DATA;
          this.copyMatched = 1; // at a line start
        }
        continue;
      }
      if (state === SQUOTE) {
        const q = chunk.indexOf(0x27, i);
        if (q === -1) i = n;
        else {
          i = q + 1;
          this.state = SQUOTE_END;
        }
        continue;
      }
      if (state === DOLLAR) {
        i = this.dollarBody(chunk, i);
        continue;
      }
      if (state === LINE_COMMENT) {
        const nl = chunk.indexOf(NL, i);
        const end = nl === -1 ? n : nl;
        if (this.lineIsTopLevel) this.collectLine(chunk, i, end);
        if (nl === -1) {
          i = n;
        } else {
          i = nl + 1;
          this.state = CODE;
          if (this.lineIsTopLevel) this.listener.comment?.(Buffer.from(this.lineText, 'latin1').toString('utf8'));
          else this.skel(' ');
        }
        continue;
      }
      if (state === META) {
        const nl = chunk.indexOf(NL, i);
        const end = nl === -1 ? n : nl;
        this.collectLine(chunk, i, end);
        if (nl === -1) {
          i = n;
        } else {
          i = nl + 1;
          this.state = CODE;
          this.emitMeta(this.base + i);
        }
        continue;
      }
      if (state === CODE) {
        // runs of an identifier's letters or of white space, without a step per byte
        const run = this.inIdent ? this.identRun(chunk, i) : SPACE[chunk[i]!] ? this.spaceRun(chunk, i) : i;
        if (run > i) {
          i = run;
          continue;
        }
      }
      const b = chunk[i]!;
      const before = this.inStatement;
      const consumed = this.step(b, i);
      if (!before && this.inStatement) textFrom = this.stmtStart - this.base;
      if (this.ending) {
        // the statement ended at this byte, its semicolon
        this.collectText(chunk, Math.max(textFrom, 0), i + 1);
        this.endStatement(i + 1);
        textFrom = -1;
      }
      if (consumed) i++;
    }
    if (this.inStatement) this.collectText(chunk, Math.max(textFrom, 0), n);
    this.base += n;
  }

  private identRun(chunk: Buffer, from: number): number {
    const n = chunk.length;
    let j = from;
    while (j < n && IDENT_CONT[chunk[j]!]) j++;
    if (j > from) {
      if (this.ident.length < 16) this.ident += chunk.toString('latin1', from, Math.min(j, from + 16 - this.ident.length)).toLowerCase();
      if (this.inStatement) this.appendSkeleton(chunk.toString('latin1', from, j));
    }
    return j;
  }

  private spaceRun(chunk: Buffer, from: number): number {
    const n = chunk.length;
    let j = from;
    while (j < n && SPACE[chunk[j]!]) j++;
    this.skel(' ');
    this.prevIdentChar = false;
    return j;
  }

  /** One byte of SQL outside COPY data and the runs skipped natively. Returns false to see it again. */
  private step(b: number, i: number): boolean {
    switch (this.state) {
      case CODE:
        return this.code(b, i);
      case DASH:
      case SLASH:
        return this.commentStart(b);
      case BLOCK:
      case BLOCK_STAR:
      case BLOCK_SLASH:
        return this.blockComment(b);
      case SQUOTE_END:
      case EQUOTE:
      case EQUOTE_ESC:
      case EQUOTE_END:
      case DQUOTE:
      case DQUOTE_END:
        return this.quoted(b);
      case DOLLAR_OPEN:
        return this.dollarOpen(b);
      default:
        throw new Error(`sql lexer: unexpected state ${this.state}`);
    }
  }

  /** After "-" or "/": a comment begins, or the byte was ordinary code. */
  private commentStart(b: number): boolean {
    switch (this.state) {
      case DASH:
        if (b === 0x2d) {
          this.beginLineComment();
          return true;
        }
        this.state = CODE;
        this.codeByte(0x2d, this.dashStart);
        return false;
      case SLASH:
        if (b === 0x2a) {
          this.state = BLOCK;
          this.blockDepth = 0;
          return true;
        }
        this.state = CODE;
        this.codeByte(0x2f, this.dashStart);
        return false;
      default:
        throw new Error(`sql lexer: unexpected state ${this.state}`);
    }
  }

  /** Inside a block comment, which nests. */
  private blockComment(b: number): boolean {
    switch (this.state) {
      case BLOCK:
        if (b === 0x2a) this.state = BLOCK_STAR;
        else if (b === 0x2f) this.state = BLOCK_SLASH;
        return true;
      case BLOCK_STAR:
        if (b === 0x2f) {
          if (this.blockDepth === 0) {
            this.state = CODE;
            this.skel(' ');
          } else {
            this.blockDepth--;
            this.state = BLOCK;
          }
          return true;
        }
        this.state = BLOCK;
        return b === 0x2a ? ((this.state = BLOCK_STAR), true) : false;
      case BLOCK_SLASH:
        if (b === 0x2a) {
          this.blockDepth++;
          this.state = BLOCK;
          return true;
        }
        this.state = BLOCK;
        return false;
      default:
        throw new Error(`sql lexer: unexpected state ${this.state}`);
    }
  }

  /** Inside a string or quoted identifier, or just after its closing quote (a doubled quote goes on). */
  private quoted(b: number): boolean {
    switch (this.state) {
      case SQUOTE_END:
        if (b === 0x27) {
          this.state = SQUOTE;
          return true;
        }
        this.state = CODE;
        this.skel("'");
        this.prevIdentChar = false;
        return false;
      case EQUOTE:
        if (b === BACKSLASH) this.state = EQUOTE_ESC;
        else if (b === 0x27) this.state = EQUOTE_END;
        return true;
      case EQUOTE_ESC:
        this.state = EQUOTE;
        return true;
      case EQUOTE_END:
        if (b === 0x27) {
          this.state = EQUOTE;
          return true;
        }
        this.state = CODE;
        this.skel("'");
        this.prevIdentChar = false;
        return false;
      case DQUOTE:
        if (b === 0x22) this.state = DQUOTE_END;
        return true;
      case DQUOTE_END:
        if (b === 0x22) {
          this.state = DQUOTE;
          return true;
        }
        this.state = CODE;
        this.skel('"');
        this.prevIdentChar = false;
        return false;
      default:
        throw new Error(`sql lexer: unexpected state ${this.state}`);
    }
  }

  /** After "$": a dollar-quote tag being read, or ordinary text. */
  private dollarOpen(b: number): boolean {
    switch (this.state) {
      case DOLLAR_OPEN:
        if (b === 0x24) {
          this.state = DOLLAR;
          this.dollarDelim = Buffer.from(`$${this.dollarTag}$`, 'latin1');
          this.dollarTail = Buffer.alloc(0);
          this.skel('$$');
          return true;
        }
        if (isIdentStart(b) || (this.dollarTag !== '' && b >= 0x30 && b <= 0x39)) {
          this.dollarTag += String.fromCharCode(b);
          return true;
        }
        // not a dollar quote: "$" and what followed were ordinary text
        this.state = CODE;
        this.skel(`$${this.dollarTag}`);
        this.prevIdentChar = this.dollarTag !== '';
        return false;
      default:
        throw new Error(`sql lexer: unexpected state ${this.state}`);
    }
  }

  private code(b: number, i: number): boolean {
    if (this.inIdent) {
      if (isIdentCont(b)) {
        if (this.ident.length < 16) this.ident += String.fromCharCode(b).toLowerCase();
        this.skel(String.fromCharCode(b));
        return true;
      }
      this.endIdent();
      if (b === 0x27 && this.ident === 'e') {
        this.skel("'");
        this.state = EQUOTE;
        return true;
      }
    }
    const pos = this.base + i;
    if (isSpace(b)) {
      this.skel(' ');
      this.prevIdentChar = false;
      return true;
    }
    if (b === 0x2d || b === 0x2f) {
      this.state = b === 0x2d ? DASH : SLASH;
      this.dashStart = pos;
      return true;
    }
    if (b === BACKSLASH) {
      this.state = META;
      this.metaStart_ = pos;
      this.metaInStatement = this.inStatement;
      this.lineText = '\\';
      this.lineComplete = true;
      return true;
    }
    this.codeByte(b, pos);
    return true;
  }

  /** A byte of code (not white space, not a comment): it may start a statement. */
  private codeByte(b: number, pos: number): void {
    if (!this.inStatement) this.beginStatement(pos, b);
    if (b === 0x27) {
      this.skel("'");
      this.state = this.stdStrings ? SQUOTE : EQUOTE;
      this.prevIdentChar = false;
      return;
    }
    if (b === 0x22) {
      this.skel('"');
      this.state = DQUOTE;
      this.prevIdentChar = false;
      return;
    }
    if (b === 0x24 && !this.prevIdentChar) {
      this.state = DOLLAR_OPEN;
      this.dollarTag = '';
      return;
    }
    if (isIdentStart(b) && !this.prevIdentChar) {
      this.inIdent = true;
      this.ident = String.fromCharCode(b).toLowerCase();
      this.skel(String.fromCharCode(b));
      this.prevIdentChar = true;
      return;
    }
    this.prevIdentChar = isIdentCont(b);
    this.skel(String.fromCharCode(b));
    if (b === 0x28) this.parenDepth++;
    else if (b === 0x29) {
      if (this.parenDepth > 0) this.parenDepth--;
    } else if (b === 0x3b && this.parenDepth === 0 && this.beginDepth === 0) {
      this.ending = true; // write() ends the statement here
    }
  }

  /** psql's rule: inside CREATE [OR REPLACE] FUNCTION|PROCEDURE, BEGIN … END holds semicolons. */
  private endIdent(): void {
    this.inIdent = false;
    const word = this.ident;
    if (!this.commandKnown) {
      this.command = word.toUpperCase();
      this.commandKnown = true;
    }
    if (this.identifierCount === 0) this.identifiers = ['', '', '', ''];
    if (['create', 'function', 'procedure', 'or', 'replace'].includes(word) && this.identifierCount < 4) this.identifiers[this.identifierCount] = word[0]!;
    this.identifierCount++;
    const id = this.identifiers;
    const inRoutine = id[0] === 'c' && (id[1] === 'f' || id[1] === 'p' || (id[1] === 'o' && id[2] === 'r' && (id[3] === 'f' || id[3] === 'p')));
    if (inRoutine && this.parenDepth === 0) {
      if (word === 'begin') this.beginDepth++;
      else if (word === 'case' && this.beginDepth >= 1) this.beginDepth++;
      else if (word === 'end' && this.beginDepth > 0) this.beginDepth--;
    }
  }

  private beginStatement(pos: number, first: number): void {
    this.inStatement = true;
    this.stmtStart = pos;
    this.textParts = [];
    this.textLength = 0;
    this.skeletonHead = '';
    this.skeletonTail = '';
    this.skeletonElided = false;
    this.textComplete = true;
    this.command = '';
    this.commandKnown = !isIdentStart(first);
    this.identifierCount = 0;
    // a "-" or "/" held over from the previous chunk starts the statement
    if (pos < this.base) {
      this.textParts.push(Buffer.from([first]));
      this.textLength = 1;
    }
  }

  private beginLineComment(): void {
    this.state = LINE_COMMENT;
    this.lineIsTopLevel = !this.inStatement;
    this.lineText = '--';
    this.lineComplete = true;
  }

  private skel(s: string): void {
    if (!this.inStatement) return;
    if (s === ' ') {
      const last = this.skeletonTail || this.skeletonHead;
      if (last === '' || last.endsWith(' ')) return;
    }
    this.appendSkeleton(s);
  }

  /**
   * The head takes the first characters; past it, what lies outside parentheses is kept (a ")"
   * that closes to depth 0 included) and what lies inside becomes one "…". The depth is the one
   * before `s` is counted (codeByte counts a parenthesis after recording it).
   */
  private appendSkeleton(s: string): void {
    const limit = this.limits.skeleton;
    let rest = s;
    if (this.skeletonHead.length < limit) {
      const room = limit - this.skeletonHead.length;
      if (rest.length <= room) {
        this.skeletonHead += rest;
        return;
      }
      this.skeletonHead += rest.slice(0, room);
      rest = rest.slice(room);
    }
    if (this.parenDepth === 0 || (rest === ')' && this.parenDepth === 1)) {
      this.skeletonTail += rest;
      if (this.skeletonTail.length > 2 * limit) this.dropTailStart();
    } else if (!this.skeletonTail.endsWith(ELIDED)) {
      this.skeletonTail += ELIDED;
      this.skeletonElided = true;
    }
  }

  /** Keep the last `limits.skeleton` characters of the run after the head, from a word's start. */
  private dropTailStart(): void {
    const tail = this.skeletonTail.slice(-this.limits.skeleton);
    const space = tail.indexOf(' ');
    this.skeletonTail = `${ELIDED}${space === -1 ? tail : tail.slice(space)}`;
    this.skeletonElided = true;
  }

  private collectText(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const room = this.limits.text - this.textLength;
    const take = Math.min(to - from, room);
    if (take < to - from) this.textComplete = false;
    if (take <= 0) return;
    this.textParts.push(Buffer.from(chunk.subarray(from, from + take)));
    this.textLength += take;
  }

  /** A comment's or meta-command's line, up to `limits.line` bytes. */
  private collectLine(chunk: Buffer, from: number, to: number): void {
    const room = this.limits.line - this.lineText.length;
    if (to - from > room) this.lineComplete = false;
    if (room > 0) this.lineText += chunk.toString('latin1', from, Math.min(to, from + room));
  }

  private emitMeta(end: number): void {
    this.listener.metaCommand?.({ start: this.metaStart_, end, text: Buffer.from(this.lineText, 'latin1').toString('utf8'), textComplete: this.lineComplete, inStatement: this.metaInStatement });
  }

  private endStatement(chunkPos: number): void {
    if (this.inIdent) this.endIdent();
    const skeleton = (this.skeletonHead + this.skeletonTail).trim();
    const statement: SqlStatement = {
      start: this.stmtStart,
      end: this.base + chunkPos,
      text: Buffer.concat(this.textParts).toString('utf8'),
      textComplete: this.textComplete,
      skeleton,
      skeletonElided: this.skeletonElided,
      command: this.command,
      copyFromStdin: this.command === 'COPY' && /\bFROM\s+STDIN\b/i.test(skeleton),
    };
    this.textParts = [];
    this.identifierCount = 0;
    this.prevIdentChar = false;
    this.inStatement = false;
    this.ending = false;
    this.noteSettings(statement);
    if (statement.copyFromStdin) {
      this.state = COPY_EOL;
      this.copyCr = false;
    }
    this.listener.statement?.(statement);
  }

  /** psql learns standard_conforming_strings from the server after a SET; follow the script's SETs. */
  private noteSettings(statement: SqlStatement): void {
    if (statement.command !== 'SET' && statement.command !== 'RESET') return;
    const set = /^SET\s+(?:SESSION\s+|LOCAL\s+)?standard_conforming_strings\s*(?:=|TO)\s*'?(\w+)'?\s*;$/i.exec(statement.text);
    if (set) this.stdStrings = !/^(off|false|no|0)$/i.test(set[1]!);
    else if (/^RESET\s+(standard_conforming_strings|ALL)\s*;$/i.test(statement.text)) this.stdStrings = true;
  }

  /** Skip COPY rows natively, up to a line that is exactly "\." (psql also accepts "\.\r"). */
  private copyData(chunk: Buffer, from: number): number {
    const n = chunk.length;
    // finish a possible end-of-data line begun in the previous chunk
    if (this.copyMatched > 0) {
      const resolved = this.continueEndOfData(chunk, from);
      if (resolved !== undefined) return resolved;
      if (this.copyMatched > 0) return n; // still undecided: the chunk was too short
    }
    let searchFrom = from;
    for (;;) {
      const hit = chunk.indexOf(END_OF_DATA, searchFrom);
      if (hit === -1) {
        // hold back a tail that may begin the end-of-data line
        let keep = 0;
        if (chunk[n - 1] === NL) keep = 1;
        else if (n >= 2 && chunk[n - 2] === NL && chunk[n - 1] === BACKSLASH) keep = 2;
        this.emitData(chunk, from, n - keep + (keep > 0 ? 1 : 0));
        this.copyMatched = keep;
        this.copyCr = false;
        return n;
      }
      const after = hit + 3;
      if (after < n) {
        if (chunk[after] === NL || (chunk[after] === CR && after + 1 < n && chunk[after + 1] === NL)) {
          this.emitData(chunk, from, hit + 1);
          this.endCopy();
          return after + (chunk[after] === NL ? 1 : 2);
        }
        if (chunk[after] === CR && after + 1 === n) {
          this.emitData(chunk, from, hit + 1);
          this.copyMatched = 3;
          this.copyCr = true;
          return n;
        }
        searchFrom = hit + 1;
        continue;
      }
      // "\n\\." at the very end of the chunk
      this.emitData(chunk, from, hit + 1);
      this.copyMatched = 3;
      this.copyCr = false;
      return n;
    }
  }

  /**
   * The previous chunk ended inside what may be an end-of-data line (copyMatched bytes of "\n\\."
   * and perhaps "\r"; 1 also means "at a line start"). Returns where to continue when decided.
   */
  private continueEndOfData(chunk: Buffer, from: number): number | undefined {
    const n = chunk.length;
    let i = from;
    let matched = this.copyMatched;
    let cr = this.copyCr;
    const held = (): Buffer => Buffer.from(`${'\n\\.'.slice(1, matched)}${cr ? '\r' : ''}`, 'latin1');
    while (i < n) {
      const b = chunk[i]!;
      if (matched === 1 && b === BACKSLASH) matched = 2;
      else if (matched === 2 && b === DOT) matched = 3;
      else if (matched === 3 && !cr && b === CR) cr = true;
      else if (matched === 3 && b === NL) {
        this.copyMatched = 0;
        this.copyCr = false;
        this.endCopy();
        return i + 1;
      } else {
        // not the end: what was held back is data after all
        const data = held();
        if (data.length) this.listener.copyData?.(data, 0, data.length);
        this.copyMatched = 0;
        this.copyCr = false;
        return i;
      }
      i++;
    }
    this.copyMatched = matched;
    this.copyCr = cr;
    return undefined;
  }

  private emitData(chunk: Buffer, from: number, to: number): void {
    if (to > from) this.listener.copyData?.(chunk, from, to);
  }

  private endCopy(): void {
    this.state = CODE;
    this.copyMatched = 0;
    this.listener.copyEnd?.();
  }

  private dollarBody(chunk: Buffer, from: number): number {
    const delim = this.dollarDelim;
    const n = chunk.length;
    const tail = this.dollarTail;
    if (tail.length) {
      // a closing delimiter may straddle the chunks
      const joined = Buffer.concat([tail, chunk.subarray(from, from + delim.length - 1)]);
      const hit = joined.indexOf(delim);
      if (hit !== -1) {
        this.closeDollar();
        return from + hit + delim.length - tail.length;
      }
    }
    const hit = chunk.indexOf(delim, from);
    if (hit !== -1) {
      this.closeDollar();
      return hit + delim.length;
    }
    const keep = delim.length - 1;
    this.dollarTail = n - from >= keep ? Buffer.from(chunk.subarray(n - keep)) : Buffer.concat([tail, chunk.subarray(from)]).subarray(-keep);
    return n;
  }

  private closeDollar(): void {
    this.state = CODE;
    this.dollarTail = Buffer.alloc(0);
    this.prevIdentChar = false;
  }

  /** The stream ended. */
  end(): void {
    if (this.state === DASH || this.state === SLASH) {
      const b = this.state === DASH ? 0x2d : 0x2f;
      this.state = CODE;
      this.codeByte(b, this.dashStart);
    }
    if (this.state === META) {
      this.state = CODE;
      this.emitMeta(this.base);
    }
    if (this.state === LINE_COMMENT && this.lineIsTopLevel) {
      this.state = CODE;
      this.listener.comment?.(Buffer.from(this.lineText, 'latin1').toString('utf8'));
    }
    if (this.state === COPY_DATA && this.copyMatched > 1) {
      const data = Buffer.from(`${'\n\\.'.slice(1, this.copyMatched)}${this.copyCr ? '\r' : ''}`, 'latin1');
      this.listener.copyData?.(data, 0, data.length);
      this.copyMatched = 0;
    }
  }
}
