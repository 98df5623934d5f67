/**
 * Statistics read from pg_dump's plain output as it streams through the kit, so recording them
 * costs the server nothing: every COPY block gives the table's row count and a content
 * fingerprint, every setval() a sequence's value, and the trailer proves the dump is complete.
 *
 * The fingerprint is order-independent: each row line is hashed 32 bits at a time in two
 * independent lanes (a MurmurHash3 round and a multiply-xorshift, each finished with an
 * avalanche), and each lane's row hashes are summed modulo 2^32. Rows come back from a restore in any
 * order; the sums do not care. Because the rows are pg_dump's own text (its own DateStyle,
 * extra_float_digits, bytea_output…), verify recomputes the same numbers by streaming a pg_dump of
 * the restored database through this same collector.
 */

import type { ChildProcess } from 'node:child_process';
import { SqlLexer, type MetaCommand, type SqlStatement } from '../../format/sql-lexer.js';

export const FINGERPRINT_ALGORITHM = 'copy-row-hash-sum/v1';

export interface TableStats {
  rows: number;
  fingerprint: string;
}

export interface SequenceState {
  value: string;
  isCalled: boolean;
}

export interface DumpStats {
  tables: Record<string, TableStats>;
  sequences: Record<string, SequenceState>;
  /** pg_dump wrote its completion trailer: the stream was not cut short. */
  complete: boolean;
  bytes: number;
  /** Where the stream ended, when it did not end complete: inside what, from which byte. */
  ending?: { inside: 'statement' | 'copy data' | 'nothing'; from?: number };
}

const NEWLINE = 0x0a;
const TRAILER = '-- PostgreSQL database dump complete';

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

interface TableAccumulator {
  rows: number;
  sum1: number;
  sum2: number;
}

export interface ScriptObserver {
  /** Every top-level statement, for checks on what a script does (see engines/postgres/script.ts). */
  statement?(statement: SqlStatement): void;
  metaCommand?(meta: MetaCommand): void;
}

/**
 * Reads pg_dump's SQL through the lexer, so only real top-level statements count: a "COPY … FROM
 * stdin;" line inside a string, a comment or a function body is text, never a table.
 */
export class DumpStatsCollector {
  private table: TableAccumulator | undefined;
  private readonly tables = new Map<string, TableAccumulator>();
  private readonly sequences: Record<string, SequenceState> = {};
  private complete = false;
  private bytes = 0;
  private readonly lexer: SqlLexer;
  /** TOC section headers seen ("-- Name: …" / "-- Data for Name: …"), for restore progress. */
  items = 0;
  // the current COPY row
  private h1 = 0x811c9dc5;
  private h2 = 0x9747b28c;
  private rowLength = 0;
  // bytes of the current row not yet forming a whole 32-bit word
  private carry = 0;
  private carryBytes = 0;

  constructor(observer: ScriptObserver = {}) {
    this.lexer = new SqlLexer({
      statement: (statement) => {
        this.statement(statement);
        observer.statement?.(statement);
      },
      metaCommand: (meta) => observer.metaCommand?.(meta),
      comment: (text) => this.comment(text),
      copyData: (data, start, end) => this.rows(data, start, end),
      copyEnd: () => {
        if (this.rowLength > 0 || this.carryBytes > 0) this.endRow();
        this.table = undefined;
      },
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

  finish(): DumpStats {
    this.lexer.end();
    const tables: Record<string, TableStats> = {};
    for (const [name, acc] of this.tables) tables[name] = { rows: acc.rows, fingerprint: hex8(acc.sum1) + hex8(acc.sum2) };
    const complete = this.complete && this.lexer.atTopLevel;
    const ending: DumpStats['ending'] = this.lexer.inCopyData ? { inside: 'copy data' } : this.lexer.atTopLevel ? { inside: 'nothing' } : { inside: 'statement', from: this.lexer.unitStart };
    return { tables, sequences: this.sequences, complete, bytes: this.bytes, ...(complete ? {} : { ending }) };
  }

  private statement(statement: SqlStatement): void {
    if (statement.copyFromStdin) {
      const name = parseCopyTarget(statement.text);
      let acc = name === undefined ? undefined : this.tables.get(name);
      if (name !== undefined && !acc) this.tables.set(name, (acc = { rows: 0, sum1: 0, sum2: 0 }));
      this.table = acc;
    } else if (statement.command === 'SELECT') {
      const seq = parseSetval(statement.text);
      if (seq) this.sequences[seq.name] = { value: seq.value, isCalled: seq.isCalled };
    }
  }

  private comment(text: string): void {
    if (text === TRAILER) this.complete = true;
    else if (text.startsWith('-- Name: ') || text.startsWith('-- Data for Name: ')) this.items++;
  }

  /** COPY data: each line is a row. */
  private rows(chunk: Buffer, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      const newline = chunk.indexOf(NEWLINE, pos);
      const stop = newline === -1 || newline >= end ? end : newline;
      this.hashRowPart(chunk, pos, stop);
      if (stop === end) return;
      this.endRow();
      pos = stop + 1;
    }
  }

  private hashRowPart(chunk: Buffer, start: number, end: number): void {
    if (end <= start) return;
    this.rowLength += end - start;
    let i = start;
    // Finish a word left incomplete at the end of the previous chunk.
    while (this.carryBytes > 0 && this.carryBytes < 4 && i < end) {
      this.carry |= chunk[i++]! << (8 * this.carryBytes++);
    }
    if (this.carryBytes === 4) {
      this.mixWord(this.carry);
      this.carry = 0;
      this.carryBytes = 0;
    }
    let h1 = this.h1;
    let h2 = this.h2;
    const last = end - 3;
    for (; i < last; i += 4) {
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

  /** One 32-bit word into both lanes: a MurmurHash3 round and an independent multiply-xorshift. */
  private mixWord(k: number): void {
    let k1 = Math.imul(k, 0xcc9e2d51);
    k1 = Math.imul((k1 << 15) | (k1 >>> 17), 0x1b873593);
    this.h1 ^= k1;
    this.h1 = Math.imul((this.h1 << 13) | (this.h1 >>> 19), 5) + 0xe6546b64;
    let k2 = Math.imul(k, 0x9e3779b1);
    k2 ^= k2 >>> 15;
    this.h2 = Math.imul(this.h2 ^ k2, 0x85ebca77);
    this.h2 ^= this.h2 >>> 13;
  }

  private endRow(): void {
    if (this.table) {
      // The last 0-3 bytes, then the length, so "ab"+"c" and "a"+"bc" differ.
      const tail = this.carry ^ Math.imul(this.carryBytes + 1, 0x27d4eb2d);
      this.table.rows++;
      this.table.sum1 = (this.table.sum1 + fmix32(this.h1 ^ tail ^ this.rowLength)) >>> 0;
      this.table.sum2 = (this.table.sum2 + fmix32(this.h2 + Math.imul(tail, 0x165667b1) + Math.imul(this.rowLength, 0x27d4eb2d))) >>> 0;
    }
    this.h1 = 0x811c9dc5;
    this.h2 = 0x9747b28c;
    this.rowLength = 0;
    this.carry = 0;
    this.carryBytes = 0;
  }
}

/**
 * The one way a dump is streamed into the collector: a child writing SQL (pg_dump, or pg_restore
 * --file=-) read to its end, its exit checked (its `done` rejects otherwise), stopped on abort.
 */
export async function statsFromProcess(running: { child: ChildProcess; done: Promise<void> }, signal?: AbortSignal): Promise<{ stats: DumpStats; items: number }> {
  const collector = new DumpStatsCollector();
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

/** Read a possibly quoted, possibly schema-qualified name starting at `pos`. */
export function readQualifiedName(text: string, pos: number): { name: string; end: number } | undefined {
  let i = pos;
  for (;;) {
    if (text[i] === '"') {
      i++;
      for (;;) {
        const close = text.indexOf('"', i);
        if (close === -1) return undefined;
        if (text[close + 1] === '"') {
          i = close + 2;
          continue;
        }
        i = close + 1;
        break;
      }
    } else {
      const start = i;
      while (i < text.length && !' ."('.includes(text[i]!)) i++;
      if (i === start) return undefined;
    }
    if (text[i] !== '.') break;
    i++;
  }
  return { name: text.slice(pos, i), end: i };
}

/** "COPY public."Order Items" (id, "select") FROM stdin;" → 'public."Order Items"' */
export function parseCopyTarget(line: string): string | undefined {
  const command = /^COPY\s+/i.exec(line);
  return command ? readQualifiedName(line, command[0].length)?.name : undefined;
}

/** "SELECT pg_catalog.setval('public.\"my seq\"', 42, true);" → its name, value and is_called. */
export function parseSetval(line: string): { name: string; value: string; isCalled: boolean } | undefined {
  const prefix = "SELECT pg_catalog.setval('";
  if (!line.startsWith(prefix)) return undefined;
  let i = prefix.length;
  let name = '';
  for (;;) {
    const quote = line.indexOf("'", i);
    if (quote === -1) return undefined;
    name += line.slice(i, quote);
    if (line[quote + 1] === "'") {
      name += "'";
      i = quote + 2;
      continue;
    }
    i = quote + 1;
    break;
  }
  const rest = /^, (-?\d+), (true|false)\);$/.exec(line.slice(i));
  if (!rest?.[1]) return undefined;
  return { name, value: rest[1], isCalled: rest[2] === 'true' };
}
