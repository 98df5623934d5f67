/**
 * CSV records one at a time from a stream, each with its fields' values and its own bytes (so a
 * record can be copied on unchanged). For the short records of key lists: a record is held whole,
 * the file never is.
 */
const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;

export interface CsvRecord {
  fields: string[];
  /** The record's bytes, its newline included. */
  raw: Buffer;
}

function parseRecord(raw: Buffer): string[] {
  const fields: string[] = [];
  let pos = 0;
  const end = raw[raw.length - 1] === LF ? raw.length - 1 : raw.length;
  for (;;) {
    if (raw[pos] === QUOTE) {
      const parts: Buffer[] = [];
      let from = pos + 1;
      for (;;) {
        const q = raw.indexOf(QUOTE, from);
        if (q === -1 || q >= end) throw new Error('unterminated quoted field');
        parts.push(raw.subarray(from, q));
        if (raw[q + 1] === QUOTE) {
          parts.push(raw.subarray(q, q + 1));
          from = q + 2;
        } else {
          pos = q + 1;
          break;
        }
      }
      fields.push(Buffer.concat(parts).toString('utf8'));
    } else {
      let comma = raw.indexOf(COMMA, pos);
      if (comma === -1 || comma > end) comma = end;
      fields.push(raw.subarray(pos, comma).toString('utf8'));
      pos = comma;
    }
    if (pos >= end) return fields;
    pos++; // the comma
  }
}

/** Records of a CSV stream (the header is the first one). */
export async function* csvRecords(input: AsyncIterable<Buffer>): AsyncGenerator<CsvRecord> {
  let pending: Buffer[] = [];
  let inQuotes = false;
  for await (const chunk of input) {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === QUOTE) inQuotes = !inQuotes;
      else if (b === LF && !inQuotes) {
        pending.push(chunk.subarray(start, i + 1));
        const raw = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
        pending = [];
        start = i + 1;
        yield { fields: parseRecord(raw), raw };
      }
    }
    if (start < chunk.length) pending.push(Buffer.from(chunk.subarray(start)));
  }
  if (pending.length) {
    const raw = Buffer.concat(pending);
    yield { fields: parseRecord(raw), raw };
  }
}
