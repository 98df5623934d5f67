/**
 * CSV records a chunk at a time, each with its fields' values and its own text (so a record can be
 * copied on unchanged). For key lists, which have millions of short records: each chunk's
 * complete records are decoded as one string and cut with string operations, so no record costs
 * a Buffer of its own; the file is never held whole.
 */
const LF = 0x0a;

export interface CsvRecord {
  fields: string[];
  /** The record's text, its newline included. */
  text: string;
}

/** The fields of one record (without its newline); `""` inside quotes is one quote. */
function parseFields(record: string): string[] {
  if (!record.includes('"')) return record.split(',');
  const fields: string[] = [];
  let pos = 0;
  for (;;) {
    if (record[pos] === '"') {
      let value = '';
      let from = pos + 1;
      for (;;) {
        const q = record.indexOf('"', from);
        if (q === -1) throw new Error('unterminated quoted field');
        value += record.slice(from, q);
        if (record[q + 1] === '"') {
          value += '"';
          from = q + 2;
        } else {
          pos = q + 1;
          break;
        }
      }
      fields.push(value);
    } else {
      const comma = record.indexOf(',', pos);
      const end = comma === -1 ? record.length : comma;
      fields.push(record.slice(pos, end));
      pos = end;
    }
    if (pos >= record.length) return fields;
    pos++; // the comma
  }
}

/** Where the record starting at `pos` ends (the index after its newline), or -1 if not in `text`. */
function recordEnd(text: string, pos: number, nextQuote: number): number {
  const nl = text.indexOf('\n', pos);
  if (nl === -1) return -1;
  if (nextQuote === -1 || nextQuote > nl) return nl + 1;
  // quotes in this record: newlines inside them belong to the field
  let inQuotes = false;
  for (let i = pos; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) inQuotes = !inQuotes;
    else if (c === LF && !inQuotes) return i + 1;
  }
  return -1;
}

/** Splits chunks of CSV into whole records, synchronously, a chunk's worth at a time. */
export class CsvRecordSplitter {
  /** Bytes after the chunk's last newline (a UTF-8 character may be cut there). */
  private bytes: Buffer[] = [];
  /** Decoded text of a record still open (a quoted field with a newline in it). */
  private carry = '';

  push(chunk: Buffer): CsvRecord[] {
    const lastLf = chunk.lastIndexOf(LF);
    if (lastLf === -1) {
      this.bytes.push(Buffer.from(chunk));
      return [];
    }
    const head = chunk.subarray(0, lastLf + 1);
    const decoded = (this.bytes.length ? Buffer.concat([...this.bytes, head]) : head).toString('utf8');
    this.bytes = lastLf + 1 < chunk.length ? [Buffer.from(chunk.subarray(lastLf + 1))] : [];
    return this.records(this.carry + decoded);
  }

  end(): CsvRecord[] {
    const rest = this.carry + Buffer.concat(this.bytes).toString('utf8');
    this.carry = '';
    this.bytes = [];
    if (!rest) return [];
    return [{ fields: parseFields(rest.endsWith('\n') ? rest.slice(0, -1) : rest), text: rest.endsWith('\n') ? rest : `${rest}\n` }];
  }

  private records(text: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    let pos = 0;
    let quote = text.indexOf('"');
    while (pos < text.length) {
      if (quote !== -1 && quote < pos) quote = text.indexOf('"', pos);
      const end = recordEnd(text, pos, quote);
      if (end === -1) break;
      out.push({ fields: parseFields(text.slice(pos, end - 1)), text: text.slice(pos, end) });
      pos = end;
    }
    this.carry = text.slice(pos);
    return out;
  }
}

/** Batches of records from a CSV stream (the header is the first record), one batch per chunk read. */
export async function* csvRecordBatches(input: AsyncIterable<Buffer>): AsyncGenerator<CsvRecord[]> {
  const splitter = new CsvRecordSplitter();
  for await (const chunk of input) {
    const batch = splitter.push(chunk);
    if (batch.length) yield batch;
  }
  const last = splitter.end();
  if (last.length) yield last;
}
