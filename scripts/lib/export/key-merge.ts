/**
 * Deleted rows by key-set comparison: the previous export's key list and the current one, both
 * sorted by the server in the chain's key order (format/key-order.ts), merged as two streams. A
 * key in the previous list and not in the current one was deleted. Neither list is ever held in
 * memory (a chunk of each at a time, merged synchronously); each is checked to be strictly
 * increasing on the way, so an order the kit and the server disagree on fails loudly instead of
 * inventing deletes.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { KitError } from '../errors.js';
import { csvRecordBatches, type CsvRecord } from '../format/csv-records.js';
import { compareIntegerText } from '../engines/postgres/key-order.js';

type Compare = (a: string[], b: string[]) => number;

/** A position in a sorted key list, refilled a batch at a time; checks the order as it goes. */
class KeyCursor {
  private batch: CsvRecord[] = [];
  private index = 0;
  private last: string[] | undefined;
  private readonly batches: AsyncGenerator<CsvRecord[]>;

  constructor(input: AsyncIterable<Buffer>, private readonly compare: Compare, private readonly what: string) {
    this.batches = csvRecordBatches(input);
  }

  /** The current record, refilling first when the batch is used up; undefined at the end. */
  async current(): Promise<CsvRecord | undefined> {
    while (this.index >= this.batch.length) {
      const next = await this.batches.next();
      if (next.done) return undefined;
      this.batch = next.value;
      this.index = 0;
    }
    return this.batch[this.index];
  }

  /** The current record without waiting, when it is already in the batch. */
  peek(): CsvRecord | undefined {
    return this.batch[this.index];
  }

  /** Past the header, which is not a key. */
  skip(): void {
    this.index++;
  }

  advance(): void {
    const record = this.batch[this.index++]!;
    if (this.last && this.compare(this.last, record.fields) >= 0) {
      throw new KitError('EXPORT_DAMAGED', `${this.what} is not in the chain's key order (${JSON.stringify(this.last)} before ${JSON.stringify(record.fields)}). Start a new chain: pnpm db:export -- --differential --new-chain`);
    }
    this.last = record.fields;
  }
}

/** Both lists positioned past their headers; the previous list's header line, which the output keeps. */
async function openPair(previous: AsyncIterable<Buffer>, other: AsyncIterable<Buffer>, compare: Compare, previousName: string, otherName: string): Promise<{ prev: KeyCursor; other: KeyCursor; header: string }> {
  const prev = new KeyCursor(previous, compare, previousName);
  const next = new KeyCursor(other, compare, otherName);
  const header = await prev.current();
  if (!header) throw new KitError('EXPORT_DAMAGED', `${previousName} is empty (it has no header). Start a new chain: pnpm db:export -- --differential --new-chain`);
  prev.skip();
  if (await next.current()) next.skip();
  return { prev, other: next, header: header.text };
}

/** Writes the previous list's header and every key of it the current list lacks; returns how many. */
export async function writeDeletedKeys(previous: AsyncIterable<Buffer>, current: AsyncIterable<Buffer>, compare: Compare, out: Writable, what: { previous: string; current: string }): Promise<number> {
  const { prev, other: cur, header } = await openPair(previous, current, compare, what.previous, what.current);
  const pending: string[] = [header];
  let deleted = 0;
  for (;;) {
    const p = prev.peek() ?? (await prev.current());
    if (!p) break;
    let c = cur.peek() ?? (await cur.current());
    while (c && compare(c.fields, p.fields) < 0) {
      cur.advance();
      c = cur.peek() ?? (await cur.current());
    }
    if (!c || compare(c.fields, p.fields) !== 0) {
      deleted++;
      pending.push(p.text);
      if (pending.length >= 4096) await flush(out, pending);
    }
    prev.advance();
  }
  // the rest of the current list is read too, so its order is checked to the end
  while (await cur.current()) cur.advance();
  await flush(out, pending);
  return deleted;
}

async function flush(out: Writable, pending: string[]): Promise<void> {
  if (!pending.length) return;
  const chunk = pending.join('');
  pending.length = 0;
  if (!out.write(chunk)) await once(out, 'drain');
}

/**
 * The previous key list joined with the keys of the rows changed since (both sorted in the chain's
 * key order), written as one sorted list with the previous list's header; returns how many keys.
 * When that many rows are in the table now, no key of the previous list is gone: this list is the
 * table's key list, found without reading every key from the server.
 */
export async function writeKeyUnion(previous: AsyncIterable<Buffer>, changed: AsyncIterable<Buffer>, compare: Compare, out: Writable, what: { previous: string; changed: string }): Promise<number> {
  const { prev, other: chg, header } = await openPair(previous, changed, compare, what.previous, what.changed);
  const pending: string[] = [header];
  let keys = 0;
  for (;;) {
    const p = prev.peek() ?? (await prev.current());
    const c = chg.peek() ?? (await chg.current());
    if (!p && !c) break;
    const order = !p ? 1 : !c ? -1 : compare(p.fields, c.fields);
    pending.push(order <= 0 ? p!.text : c!.text);
    if (order <= 0) prev.advance();
    if (order >= 0) chg.advance();
    keys++;
    if (pending.length >= 4096) await flush(out, pending);
  }
  await flush(out, pending);
  return keys;
}

const LF = 0x0a;
const MINUS = 0x2d;

/** The integer in `line[start, end)` against `key`, both decimal text as PostgreSQL writes them. */
function compareIntegerAt(line: Buffer, start: number, end: number, key: Buffer): number {
  const negLine = line[start] === MINUS;
  const negKey = key[0] === MINUS;
  if (negLine !== negKey) return negLine ? -1 : 1;
  let byMagnitude = end - start - key.length;
  // same length: the digits decide, first difference first (a loop: Buffer#compare with offsets
  // validates its arguments on every call, which costs more than these few bytes)
  for (let i = 0; byMagnitude === 0 && i < key.length; i++) byMagnitude = line[start + i]! - key[i]!;
  return negLine ? -byMagnitude : byMagnitude;
}

/**
 * writeKeyUnion for a single integer key, the common case, on bytes: the previous list is copied
 * through in whole slices and the changed keys are put in between, with no string or Buffer made
 * per key, so a list of millions of keys costs about what reading it does.
 */
export async function writeIntegerKeyUnion(previous: AsyncIterable<Buffer>, changed: AsyncIterable<Buffer>, out: Writable, what: { previous: string; changed: string }): Promise<number> {
  const chg = new KeyCursor(changed, (a, b) => compareIntegerText(a[0]!, b[0]!), what.changed);
  if (await chg.current()) chg.skip();
  // the next changed key's line, and the key alone (made once per changed key, not per line)
  let next: Buffer | undefined;
  let key: Buffer = Buffer.alloc(0);
  const advance = async () => {
    const record = chg.peek() ?? (await chg.current());
    if (record) chg.advance();
    next = record ? Buffer.from(record.text) : undefined;
    if (next) key = next.subarray(0, -1);
  };
  await advance();
  let carry: Buffer | undefined;
  let inHeader = true;
  let keys = 0;
  for await (const raw of previous) {
    const chunk = carry ? Buffer.concat([carry, raw]) : raw;
    const parts: Buffer[] = [];
    let [pos, copyFrom] = [0, 0];
    for (let nl = chunk.indexOf(LF, pos); nl !== -1; nl = chunk.indexOf(LF, pos)) {
      if (inHeader) {
        inHeader = false;
      } else {
        while (next && compareIntegerAt(chunk, pos, nl, key) > 0) {
          parts.push(chunk.subarray(copyFrom, pos), next);
          copyFrom = pos;
          keys++;
          await advance();
        }
        if (next && compareIntegerAt(chunk, pos, nl, key) === 0) await advance();
        keys++;
      }
      pos = nl + 1;
    }
    parts.push(chunk.subarray(copyFrom, pos));
    carry = pos < chunk.length ? Buffer.from(chunk.subarray(pos)) : undefined;
    if (!out.write(Buffer.concat(parts))) await once(out, 'drain');
  }
  if (inHeader || carry) throw new KitError('EXPORT_DAMAGED', `${what.previous} is empty or its last line is cut short. Start a new chain: pnpm db:export -- --differential --new-chain`);
  const rest: Buffer[] = [];
  for (; next; await advance()) {
    rest.push(next);
    keys++;
  }
  if (rest.length && !out.write(Buffer.concat(rest))) await once(out, 'drain');
  return keys;
}
