/**
 * Statistics read from mariadb-dump's SQL as it streams through the kit, so recording them costs
 * the server nothing: every table its CREATE TABLE names (a table without rows counts 0), the rows
 * of every `INSERT INTO … VALUES (…),(…);` with an order-independent fingerprint, and the
 * "-- Dump completed" trailer that proves the dump was not cut short.
 *
 * The text is read as the `mariadb` client reads it (script-lexer.ts), never line by line: a
 * "VALUES (" inside a string, a comment or a routine body is text. What a statement is, is decided
 * on its tokens outside parentheses (a few dozen at most are kept), never on how long it is; its
 * rows stream through the hash, so memory stays bounded whatever the size of a row or statement.
 *
 * A row's canonical text is its value tuple exactly as mariadb-dump prints it, between the outer
 * parentheses ("1,'O\'Brien',0x00FF,NULL"): deterministic for the same data, so a dump of a
 * restored copy gives the same fingerprints. Each row is hashed 32 bits at a time in two lanes
 * (a MurmurHash3 round and a multiply-xorshift, each finished with an avalanche), and each lane's
 * row hashes are summed modulo 2^32: the rows may come back in any order.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { KitError } from '../../errors.js';
import { traceHashPass } from '../../proc/trace.js';
import { formatBytes } from '../../text/units.js';
import { CODE, MySqlScriptLexer, QUOTED, type OpenUnit, type TextKind } from './script-lexer.js';

export const MYSQL_FINGERPRINT_ALGORITHM = 'mysql-insert-row-hash-sum/v1';
const TRAILER = '-- Dump completed';
/** mariadb-dump's section headers ("-- Table structure for table `t`", …): restore progress counts them. */
const SECTION_HEADERS = ['-- Table structure for ', '-- Dumping data for ', '-- Temporary table structure for ', '-- Temporary view structure for ', '-- Final view structure for ', '-- Dumping events for ', '-- Dumping routines for '];
/** How much of a statement's text an observer sees. */
const TEXT_CAP = 4096;
/** Tokens kept per statement (outside parentheses), and bytes per token: what classifies a statement. */
const TOKEN_CAP = 48;
const TOKEN_BYTES_CAP = 1024;

export interface MySqlTableStats {
  rows: number;
  fingerprint: string;
}

/** The shape of the PostgreSQL engine's DumpStats, so compareStatistics and the .info take it unchanged. */
export interface MySqlDumpStats {
  tables: Record<string, MySqlTableStats>;
  /** MariaDB sequences, from mariadb-dump's "DO SETVAL(`s`, next, 0);": the value and whether it was used. */
  sequences: Record<string, { value: string; isCalled: boolean }>;
  /** mariadb-dump wrote its "-- Dump completed" trailer after the last statement. */
  complete: boolean;
  /** Bytes of SQL read. */
  bytes: number;
  /** Where the stream ended, when it did not end complete: inside what, from which byte. */
  ending?: { inside: 'statement' | 'nothing'; from?: number; within?: Exclude<OpenUnit, 'nothing'> | 'rows'; table?: string };
}

/** One top-level statement, as an observer (progress, a restore's checks) sees it. */
export interface MySqlStatement {
  /** Absolute offsets of its first byte and of the byte after its delimiter. */
  start: number;
  end: number;
  /** Its first word, upper-case ("" when it starts with something else). */
  command: string;
  /** Its text outside comments, up to the first TEXT_CAP bytes; an INSERT's rows are never in it. */
  text: string;
  /** The table an INSERT's rows went to, with how many rows it carried. */
  insert?: { table: string; rows: number };
  /** What a CREATE made: a table or a view, by name. */
  created?: { kind: string; name: string };
}

export interface MySqlScriptObserver {
  statement?(statement: MySqlStatement): void;
  delimiter?(delimiter: string, at: number): void;
}

type Token = { kind: 'word' | 'quoted' | 'punct' | 'group'; text: string };

interface TableAccumulator {
  rows: number;
  sum1: number;
  sum2: number;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

/** One row's text hashed as it streams, in pieces cut anywhere. */
export class RowHash {
  private h1 = 0x811c9dc5;
  private h2 = 0x9747b28c;
  private length = 0;
  private carry = 0;
  private carryBytes = 0;

  update(chunk: Buffer, start: number, end: number): void {
    if (end <= start) return;
    this.length += end - start;
    let i = start;
    while (this.carryBytes > 0 && this.carryBytes < 4 && i < end) this.carry |= chunk[i++]! << (8 * this.carryBytes++);
    if (this.carryBytes === 4) {
      this.mix(this.carry);
      this.carry = 0;
      this.carryBytes = 0;
    }
    let h1 = this.h1;
    let h2 = this.h2;
    const last = end - 3;
    for (; i < last; i += 4) {
      // mix(), inlined: this loop is where a dump's bytes go.
      const k = chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16) | (chunk[i + 3]! << 24);
      let k1 = Math.imul(k, 0xcc9e2d51);
      k1 = Math.imul((k1 << 15) | (k1 >>> 17), 0x1b873593);
      h1 ^= k1;
      h1 = Math.imul((h1 << 13) | (h1 >>> 19), 5) + 0xe6546b64;
      let k2 = Math.imul(k, 0x9e3779b1);
      k2 ^= k2 >>> 15;
      h2 = Math.imul(h2 ^ k2, 0x85ebca77);
      h2 ^= h2 >>> 13;
    }
    this.h1 = h1;
    this.h2 = h2;
    for (; i < end; i++) this.carry |= chunk[i]! << (8 * this.carryBytes++);
  }

  /** The row's two lane values, and a fresh start for the next row. */
  finish(): [number, number] {
    // The last 0-3 bytes, then the length, so "ab"+"c" and "a"+"bc" differ.
    const tail = this.carry ^ Math.imul(this.carryBytes + 1, 0x27d4eb2d);
    const lanes: [number, number] = [fmix32(this.h1 ^ tail ^ this.length), fmix32(this.h2 + Math.imul(tail, 0x165667b1) + Math.imul(this.length, 0x27d4eb2d))];
    this.h1 = 0x811c9dc5;
    this.h2 = 0x9747b28c;
    this.length = 0;
    this.carry = 0;
    this.carryBytes = 0;
    return lanes;
  }

  private mix(k: number): void {
    let k1 = Math.imul(k, 0xcc9e2d51);
    k1 = Math.imul((k1 << 15) | (k1 >>> 17), 0x1b873593);
    this.h1 ^= k1;
    this.h1 = Math.imul((this.h1 << 13) | (this.h1 >>> 19), 5) + 0xe6546b64;
    let k2 = Math.imul(k, 0x9e3779b1);
    k2 ^= k2 >>> 15;
    this.h2 = Math.imul(this.h2 ^ k2, 0x85ebca77);
    this.h2 ^= this.h2 >>> 13;
  }
}

const OPEN = 0x28;
const CLOSE = 0x29;
const isWordByte = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f || b === 0x24 || b >= 0x80;
const isSpace = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);

/**
 * Reads mariadb-dump's SQL pushed through it in chunks: the same surface as the PostgreSQL
 * engine's DumpStatsCollector (push, bytesSeen, finish, items), so a backup's fan-out feeds it.
 */
export class MySqlDumpStatsCollector {
  private readonly lexer: MySqlScriptLexer;
  private readonly tables = new Map<string, TableAccumulator>();
  private readonly views = new Set<string>();
  private readonly sequences: MySqlDumpStats['sequences'] = {};
  private bytes = 0;
  private trailer = false;
  /** mariadb-dump's section headers seen, for restore progress. */
  items = 0;
  /** CREATE TABLE statements seen, for progress. */
  tablesSeen = 0;
  // The statement in progress.
  private text = Buffer.alloc(TEXT_CAP);
  private textLength = 0;
  private tokens: Token[] = [];
  private token: number[] | undefined;
  private tokenKind: Token['kind'] = 'word';
  private tokenOverflow = false;
  private depth = 0;
  /** Set while the rows of an INSERT stream by. */
  private rowsOf: { table: string; acc: TableAccumulator; rows: number } | undefined;
  private inRow = false;
  private readonly row = new RowHash();

  constructor(private readonly observer: MySqlScriptObserver = {}) {
    this.lexer = new MySqlScriptLexer({
      text: (chunk, start, end, kind) => this.onText(chunk, start, end, kind),
      gap: () => this.endToken(),
      statementEnd: (start, end) => this.onStatementEnd(start, end),
      lineComment: (text, _start, inStatement) => this.onLineComment(text, inStatement),
      delimiter: (delimiter, at) => observer.delimiter?.(delimiter, at),
    });
  }

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.lexer.write(chunk);
  }

  /** Bytes seen so far (for progress). */
  get bytesSeen(): number {
    return this.bytes;
  }

  finish(): MySqlDumpStats {
    this.lexer.end();
    const tables: Record<string, MySqlTableStats> = {};
    for (const [name, acc] of this.tables) tables[name] = { rows: acc.rows, fingerprint: hex8(acc.sum1) + hex8(acc.sum2) };
    const open = this.lexer.openUnit;
    const complete = this.trailer && open === 'nothing';
    if (complete) return { tables, sequences: this.sequences, complete, bytes: this.bytes };
    const ending: MySqlDumpStats['ending'] =
      open === 'nothing' ? { inside: 'nothing' } : { inside: 'statement', from: this.lexer.unitStart, within: this.rowsOf ? 'rows' : open, ...(this.rowsOf ? { table: this.rowsOf.table } : {}) };
    return { tables, sequences: this.sequences, complete, bytes: this.bytes, ending };
  }

  private onText(chunk: Buffer, start: number, end: number, kind: TextKind): void {
    if (this.rowsOf) return this.rowText(chunk, start, end, kind);
    if (kind === QUOTED) {
      this.keepText(chunk, start, end);
      if (this.depth === 0) this.quotedToken(chunk, start, end);
      return;
    }
    for (let p = start; p < end; p++) {
      const b = chunk[p]!;
      if (this.depth > 0) {
        if (b === OPEN) this.depth++;
        else if (b === CLOSE) this.depth--;
      } else if (isWordByte(b)) {
        if (!this.token || this.tokenKind !== 'word') this.startToken('word');
        this.addToTokenByte(b);
      } else {
        this.endToken();
        if (isSpace(b)) continue;
        if (b === OPEN && this.beginRows()) {
          // The rows start here: what follows in this run is theirs, not the statement's text.
          this.keepText(chunk, start, p);
          return this.rowText(chunk, p, end, CODE);
        }
        if (b === OPEN) this.depth = 1;
        this.pushToken(b === OPEN ? 'group' : 'punct', String.fromCharCode(b));
      }
    }
    this.keepText(chunk, start, end);
  }

  /** The first TEXT_CAP bytes of a statement, for its observer. */
  private keepText(chunk: Buffer, start: number, end: number): void {
    const n = Math.min(end - start, TEXT_CAP - this.textLength);
    if (n <= 0) return;
    chunk.copy(this.text, this.textLength, start, start + n);
    this.textLength += n;
  }

  private quotedToken(chunk: Buffer, start: number, end: number): void {
    if (!this.token || this.tokenKind !== 'quoted') this.startToken('quoted');
    for (let p = start; p < end; p++) this.addToTokenByte(chunk[p]!);
  }

  private startToken(kind: Token['kind']): void {
    this.endToken();
    this.token = [];
    this.tokenKind = kind;
  }

  private addToTokenByte(b: number): void {
    if (this.token!.length < TOKEN_BYTES_CAP) this.token!.push(b);
    else this.tokenOverflow = true;
  }

  private endToken(): void {
    if (!this.token) return;
    // An over-long token matches nothing: it is never cut into a shorter name.
    this.pushToken(this.tokenKind, this.tokenOverflow ? '\u0000' : Buffer.from(this.token).toString('utf8'));
    this.token = undefined;
    this.tokenOverflow = false;
  }

  private pushToken(kind: Token['kind'], text: string): void {
    if (this.tokens.length < TOKEN_CAP) this.tokens.push({ kind, text });
  }

  /** At a "(" outside parentheses: the rows of an INSERT … VALUES begin when the tokens so far say so. */
  private beginRows(): boolean {
    const table = insertTarget(this.tokens);
    if (table === undefined) return false;
    let acc = this.tables.get(table);
    if (!acc) this.tables.set(table, (acc = { rows: 0, sum1: 0, sum2: 0 }));
    this.rowsOf = { table, acc, rows: 0 };
    return true;
  }

  /** An INSERT's rows: each parenthesised tuple's inside is one row's canonical text. */
  private rowText(chunk: Buffer, start: number, end: number, kind: TextKind): void {
    if (kind === QUOTED) {
      if (this.inRow) this.row.update(chunk, start, end);
      return;
    }
    let from = start;
    let depth = this.depth;
    let inRow = this.inRow;
    for (let p = start; p < end; p++) {
      const b = chunk[p]!;
      if (b === OPEN) {
        if (depth++ === 0) {
          inRow = true;
          from = p + 1;
        }
      } else if (b === CLOSE && depth > 0 && --depth === 0) {
        this.row.update(chunk, from, p);
        this.endRow();
        inRow = false;
      }
    }
    this.depth = depth;
    this.inRow = inRow;
    if (inRow) this.row.update(chunk, from, end);
  }

  private endRow(): void {
    const [h1, h2] = this.row.finish();
    const rows = this.rowsOf!;
    rows.rows++;
    rows.acc.rows++;
    rows.acc.sum1 = (rows.acc.sum1 + h1) >>> 0;
    rows.acc.sum2 = (rows.acc.sum2 + h2) >>> 0;
    this.inRow = false;
  }

  private onStatementEnd(start: number, end: number): void {
    this.endToken();
    this.trailer = false;
    const tokens = this.tokens;
    const command = tokens[0]?.kind === 'word' ? tokens[0].text.toUpperCase() : '';
    const created = command === 'CREATE' ? createdObject(tokens) : undefined;
    if (created?.kind === 'TABLE' && !this.views.has(created.name)) {
      this.tablesSeen++;
      if (!this.tables.has(created.name)) this.tables.set(created.name, { rows: 0, sum1: 0, sum2: 0 });
    } else if (created?.kind === 'VIEW') {
      // mariadb-dump first creates a view as a placeholder (a table in older versions), then the view.
      this.views.add(created.name);
      this.tables.delete(created.name);
    }
    if (this.inRow) this.row.finish(); // a tuple the delimiter cut: not a row
    const statement: MySqlStatement = { start, end, command, text: this.text.toString('utf8', 0, this.textLength) };
    if ((command === 'DO' || command === 'SELECT') && isWord(tokens[1], 'SETVAL')) {
      const setval = parseSetval(statement.text);
      if (setval) this.sequences[setval.name] = { value: setval.value, isCalled: setval.isCalled };
    }
    if (this.rowsOf) statement.insert = { table: this.rowsOf.table, rows: this.rowsOf.rows };
    if (created) statement.created = created;
    this.tokens = [];
    this.textLength = 0;
    this.depth = 0;
    this.rowsOf = undefined;
    this.inRow = false;
    this.observer.statement?.(statement);
  }

  private onLineComment(text: string, inStatement: boolean): void {
    if (inStatement) return;
    if (text.startsWith(TRAILER)) this.trailer = true;
    else if (SECTION_HEADERS.some((h) => text.startsWith(h))) this.items++;
  }
}

const INSERT_MODIFIERS = new Set(['LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY', 'IGNORE']);
const OBJECT_KINDS = new Set(['TABLE', 'VIEW', 'TRIGGER', 'PROCEDURE', 'FUNCTION', 'EVENT', 'SEQUENCE', 'DATABASE', 'SCHEMA', 'INDEX', 'USER', 'ROLE', 'SERVER', 'TABLESPACE', 'PACKAGE', 'LOGFILE']);

const isWord = (token: Token | undefined, ...words: string[]) => token?.kind === 'word' && words.includes(token.text.toUpperCase());

/** A name token unquoted: `a``b` → a`b; a bare word as written. */
function nameOf(token: Token | undefined): string | undefined {
  if (token?.kind === 'word') return token.text;
  if (token?.kind === 'quoted' && token.text.startsWith('`') && token.text.endsWith('`') && token.text.length >= 2) return token.text.slice(1, -1).replaceAll('``', '`');
  return undefined;
}

/** A possibly qualified name from token k: its last part (the dump is of one database), and the token after it. */
function readName(tokens: Token[], k: number): { name: string; next: number } | undefined {
  let name = nameOf(tokens[k]);
  if (name === undefined) return undefined;
  let next = k + 1;
  while (tokens[next]?.kind === 'punct' && tokens[next]!.text === '.') {
    const part = nameOf(tokens[next + 1]);
    if (part === undefined) return undefined;
    name = part;
    next += 2;
  }
  return { name, next };
}

/** "DO SETVAL(`db`.`my seq`, 5100, 0)" → the sequence's name (last part, unquoted), value and is_used. Pure. */
export function parseSetval(text: string): { name: string; value: string; isCalled: boolean } | undefined {
  const match = /^\s*(?:DO|SELECT)\s+SETVAL\s*\(\s*((?:`(?:[^`]|``)*`|\w+)(?:\s*\.\s*(?:`(?:[^`]|``)*`|\w+))*)\s*,\s*(-?\d+)\s*,\s*([01])\s*(?:,\s*\d+\s*)?\)\s*$/i.exec(text);
  if (!match) return undefined;
  const last = /(`(?:[^`]|``)*`|\w+)$/.exec(match[1]!)![1]!;
  const name = last.startsWith('`') ? last.slice(1, -1).replaceAll('``', '`') : last;
  return { name, value: match[2]!, isCalled: match[3] === '1' };
}

/**
 * The table of "INSERT [modifiers] [INTO] name [PARTITION (…)] [(columns)] VALUES" when the tokens
 * before a "(" are exactly that, else undefined. Pure.
 */
function insertTarget(tokens: Token[]): string | undefined {
  if (!isWord(tokens[0], 'INSERT', 'REPLACE')) return undefined;
  let k = 1;
  while (tokens[k]?.kind === 'word' && INSERT_MODIFIERS.has(tokens[k]!.text.toUpperCase())) k++;
  if (isWord(tokens[k], 'INTO')) k++;
  const name = readName(tokens, k);
  if (!name) return undefined;
  k = name.next;
  if (isWord(tokens[k], 'PARTITION') && tokens[k + 1]?.kind === 'group') k += 2;
  if (tokens[k]?.kind === 'group') k++;
  return isWord(tokens[k], 'VALUES', 'VALUE') && k + 1 === tokens.length ? name.name : undefined;
}

/** What "CREATE [OR REPLACE] [ALGORITHM=…] [DEFINER=…] [SQL SECURITY …] [TEMPORARY] KIND [IF NOT EXISTS] name" makes. Pure. */
function createdObject(tokens: Token[]): { kind: string; name: string } | undefined {
  for (let k = 1; k < tokens.length; k++) {
    const token = tokens[k]!;
    if (token.kind === 'group') return undefined;
    if (token.kind !== 'word' || !OBJECT_KINDS.has(token.text.toUpperCase())) continue;
    let at = k + 1;
    if (isWord(tokens[at], 'IF') && isWord(tokens[at + 1], 'NOT') && isWord(tokens[at + 2], 'EXISTS')) at += 3;
    const name = readName(tokens, at);
    return name ? { kind: token.text.toUpperCase(), name: name.name } : undefined;
  }
  return undefined;
}

/**
 * The one way a dump is streamed into the collector: a child writing SQL (mariadb-dump) read to
 * its end, its exit checked (its `done` rejects otherwise), stopped on abort.
 */
export async function mysqlStatsFromProcess(running: { child: ChildProcess; done: Promise<void> }, signal?: AbortSignal): Promise<{ stats: MySqlDumpStats; items: number }> {
  const collector = new MySqlDumpStatsCollector();
  const stop = () => running.child.kill('SIGTERM');
  signal?.addEventListener('abort', stop, { once: true });
  try {
    for await (const chunk of running.child.stdout!) collector.push(chunk as Buffer);
    await running.done;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
  signal?.throwIfAborted();
  return { stats: collector.finish(), items: collector.items };
}

/**
 * Read a whole .sql or .sql.gz file once: its checksum, trailer and statistics. `hash: false`
 * for a file already proven against its .info (sha256 is then empty). `bytes` is the file's size.
 */
export async function readMySqlScript(file: string, gzipped: boolean, options: { hash?: boolean; observer?: MySqlScriptObserver } = {}): Promise<{ sha256: string; bytes: number; stats: MySqlDumpStats; items: number }> {
  const hashing = options.hash !== false;
  if (hashing) traceHashPass(file);
  const hash = createHash('sha256');
  let bytes = 0;
  const collector = new MySqlDumpStatsCollector(options.observer);
  const raw = createReadStream(file, { highWaterMark: 1 << 18 });
  raw.on('data', (c) => {
    if (hashing) hash.update(c as Buffer);
    bytes += (c as Buffer).length;
  });
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      try {
        collector.push(chunk);
        cb();
      } catch (error) {
        cb(error as Error);
      }
    },
  });
  try {
    if (gzipped) await pipeline(raw, createGunzip(), sink);
    else await pipeline(raw, sink);
  } catch (error) {
    if (error instanceof KitError) throw error;
    throw new KitError('INTEGRITY_FAILED', `${path.basename(file)} does not ${gzipped ? 'decompress' : 'read'}: ${(error as Error).message}. The file is damaged; restore another artifact of the backup. Nothing was changed.`);
  }
  return { sha256: hashing ? hash.digest('hex') : '', bytes, stats: collector.finish(), items: collector.items };
}

/** Why a script is not whole, in words: where it stopped, not a guess. */
export function howMySqlScriptEnds(stats: Pick<MySqlDumpStats, 'bytes' | 'ending'>): string {
  const size = formatBytes(stats.bytes);
  const ending = stats.ending;
  if (ending?.inside !== 'statement') {
    return `every statement in its ${size} of SQL ends, but mariadb-dump's completion trailer ("${TRAILER}") is missing, so it was cut short between statements or was not written by mariadb-dump`;
  }
  const from = ending.from ?? 0;
  const last = `its last ${formatBytes(stats.bytes - from)} (from byte ${from} of ${size} of SQL)`;
  switch (ending.within) {
    case 'rows':
      return `it stops inside the rows of table ${ending.table ?? '?'} (${size} of SQL), so it was cut short`;
    case 'string':
    case 'identifier':
      return `${last} are a statement whose quoted ${ending.within} never closes, so it was cut short or was not written by mariadb-dump`;
    case 'comment':
      return `${last} are a comment that never closes, so it was cut short or was not written by mariadb-dump`;
    default:
      return `${last} are a statement that never reaches its delimiter, so it was cut short or was not written by mariadb-dump`;
  }
}
