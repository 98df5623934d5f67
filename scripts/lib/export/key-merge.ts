/**
 * Deleted rows by key-set comparison: the previous export's key list and the current one, both
 * sorted by the server in the chain's key order (format/key-order.ts), merged as two streams. A
 * key in the previous list and not in the current one was deleted. Neither list is ever held in
 * memory; each is checked to be strictly increasing on the way, so an order the kit and the server
 * disagree on fails loudly instead of inventing deletes.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { KitError } from '../errors.js';
import { csvRecords, type CsvRecord } from '../format/csv-records.js';

type Compare = (a: string[], b: string[]) => number;

function ordered(records: AsyncGenerator<CsvRecord>, compare: Compare, what: string): AsyncGenerator<CsvRecord> {
  return (async function* () {
    let last: string[] | undefined;
    for await (const record of records) {
      if (last && compare(last, record.fields) >= 0) {
        throw new KitError('EXPORT_DAMAGED', `${what} is not in the chain's key order (${JSON.stringify(last)} before ${JSON.stringify(record.fields)}). Start a new chain: pnpm db:export -- --differential --new-chain`);
      }
      last = record.fields;
      yield record;
    }
  })();
}

async function write(out: Writable, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

/** Writes the previous list's header and every key of it the current list lacks; returns how many. */
export async function writeDeletedKeys(previous: AsyncIterable<Buffer>, current: AsyncIterable<Buffer>, compare: Compare, out: Writable, what: { previous: string; current: string }): Promise<number> {
  const prev = csvRecords(previous);
  const cur = csvRecords(current);
  const header = await prev.next();
  await cur.next(); // its header
  if (header.done) throw new KitError('EXPORT_DAMAGED', `${what.previous} is empty (it has no header). Start a new chain: pnpm db:export -- --differential --new-chain`);
  await write(out, header.value.raw);
  const prevKeys = ordered(prev, compare, what.previous);
  const curKeys = ordered(cur, compare, what.current);
  let deleted = 0;
  let c = await curKeys.next();
  for await (const p of prevKeys) {
    while (!c.done && compare(c.value.fields, p.fields) < 0) c = await curKeys.next();
    if (!c.done && compare(c.value.fields, p.fields) === 0) continue;
    deleted++;
    await write(out, p.raw);
  }
  // drain the rest of the current list so its order is checked too
  while (!c.done) c = await curKeys.next();
  return deleted;
}
