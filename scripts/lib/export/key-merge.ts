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

/** Writes the previous list's header and every key of it the current list lacks; returns how many. */
export async function writeDeletedKeys(previous: AsyncIterable<Buffer>, current: AsyncIterable<Buffer>, compare: Compare, out: Writable, what: { previous: string; current: string }): Promise<number> {
  const prev = new KeyCursor(previous, compare, what.previous);
  const cur = new KeyCursor(current, compare, what.current);
  const header = await prev.current();
  if (!header) throw new KitError('EXPORT_DAMAGED', `${what.previous} is empty (it has no header). Start a new chain: pnpm db:export -- --differential --new-chain`);
  prev.skip();
  if (await cur.current()) cur.skip();
  const pending: string[] = [header.text];
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
