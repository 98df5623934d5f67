/**
 * CSV as PostgreSQL's `COPY … (FORMAT csv)` writes it (RFC 4180: `,` between fields, `"` around
 * fields that need it, `""` for a quote inside, records ended by a newline that may also occur
 * inside a quoted field). NULL is an unquoted empty field; an empty string is `""`.
 *
 * Two streaming readers, both byte-level (the separators are ASCII, so UTF-8 passes through):
 *  - CsvRecordCounter counts records without keeping any (row counts of an export as it streams);
 *  - CsvToCopyText re-encodes CSV into COPY's text format. The kit loads exports through psql,
 *    and psql ends COPY data at any line that is exactly `\.`, even inside a quoted CSV field;
 *    in the text format a backslash is always escaped, so no data line can ever look like that.
 */
import { Transform, type TransformCallback } from 'node:stream';

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const TAB = 0x09;

/** Counts CSV records (the header included) in a stream of chunks. */
export class CsvRecordCounter {
  private inQuotes = false;
  private lastByte = LF;
  records = 0;

  push(chunk: Buffer): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.inQuotes) {
        const q = chunk.indexOf(QUOTE, pos);
        if (q === -1) break;
        // `""` inside quotes is two toggles: out and straight back in.
        this.inQuotes = false;
        pos = q + 1;
      } else {
        const q = chunk.indexOf(QUOTE, pos);
        let nl = chunk.indexOf(LF, pos);
        const stop = q === -1 ? n : q;
        while (nl !== -1 && nl < stop) {
          this.records++;
          nl = chunk.indexOf(LF, nl + 1);
        }
        if (q === -1) break;
        this.inQuotes = true;
        pos = q + 1;
      }
    }
    if (n > 0) this.lastByte = chunk[n - 1]!;
  }

  /** Records seen, counting a last record without its newline. */
  total(): number {
    return this.records + (this.lastByte === LF ? 0 : 1);
  }
}

/** What a header row or a record looks like once parsed: each field, and whether it was quoted. */
export interface CsvField {
  value: Buffer;
  quoted: boolean;
}

/**
 * Streams CSV (with a header row) out as COPY text-format rows. The header's fields are kept in
 * `header`; `rows` counts the data rows written. A record whose field count differs from the
 * header's is an error naming its row.
 */
export class CsvToCopyText extends Transform {
  header: string[] | undefined;
  rows = 0;
  private fields: Buffer[] = [];
  private field: number[] = [];
  private quoted = false;
  private inQuotes = false;
  private afterQuote = false;
  private pendingCr = false;
  private out: Buffer[] = [];
  private outBytes = 0;

  constructor(private readonly label: string) {
    super({ highWaterMark: 1 << 18 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(chunk);
      this.flushOut();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.inQuotes) throw new Error(`${this.label}: the file ends inside a quoted field; it was cut short.`);
      if (this.pendingCr || this.field.length || this.fields.length || this.quoted) this.endRecord();
      this.flushOut();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  private consume(chunk: Buffer): void {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.inQuotes) {
        if (c === QUOTE) {
          this.inQuotes = false;
          this.afterQuote = true;
        } else {
          this.field.push(c);
        }
        continue;
      }
      if (this.pendingCr) {
        this.pendingCr = false;
        this.endRecord();
        if (c === LF) continue;
      }
      if (c === QUOTE) {
        if (this.afterQuote) this.field.push(QUOTE); // `""` inside a quoted field
        else if (this.field.length) throw new Error(`${this.label}, row ${this.rows + 1}: a quote in the middle of an unquoted field.`);
        this.inQuotes = true;
        this.quoted = true;
        this.afterQuote = false;
      } else if (c === COMMA) {
        this.endField();
      } else if (c === LF) {
        this.endRecord();
      } else if (c === CR) {
        this.pendingCr = true;
      } else {
        if (this.afterQuote) throw new Error(`${this.label}, row ${this.rows + 1}: text after a closing quote.`);
        this.field.push(c);
      }
    }
  }

  private endField(): void {
    // NULL is COPY's unquoted empty field; anything else, even "", is a value.
    this.fields.push(!this.quoted && this.field.length === 0 ? NULL_MARK : Buffer.from(this.field));
    this.field = [];
    this.quoted = false;
    this.afterQuote = false;
  }

  private endRecord(): void {
    this.endField();
    const fields = this.fields;
    this.fields = [];
    if (this.header === undefined) {
      this.header = fields.map((f) => (f === NULL_MARK ? '' : f.toString('utf8')));
      return;
    }
    if (fields.length !== this.header.length) {
      throw new Error(`${this.label}, row ${this.rows + 1}: ${fields.length} fields where the header has ${this.header.length}.`);
    }
    this.rows++;
    for (let f = 0; f < fields.length; f++) {
      if (f > 0) this.emit1(TAB);
      const value = fields[f]!;
      if (value === NULL_MARK) this.emitBytes(NULL_TEXT);
      else this.emitEscaped(value);
    }
    this.emit1(LF);
  }

  private emitEscaped(value: Buffer): void {
    let start = 0;
    for (let i = 0; i < value.length; i++) {
      const c = value[i]!;
      const escape = c === BACKSLASH ? BACKSLASH : c === LF ? 0x6e : c === CR ? 0x72 : c === TAB ? 0x74 : 0;
      if (escape) {
        if (i > start) this.emitBytes(value.subarray(start, i));
        this.emitBytes(Buffer.from([BACKSLASH, escape]));
        start = i + 1;
      }
    }
    if (start < value.length) this.emitBytes(value.subarray(start));
  }

  private emit1(byte: number): void {
    this.emitBytes(Buffer.from([byte]));
  }

  private emitBytes(bytes: Buffer): void {
    this.out.push(bytes);
    this.outBytes += bytes.length;
    if (this.outBytes >= 1 << 16) this.flushOut();
  }

  private flushOut(): void {
    if (this.outBytes === 0) return;
    this.push(Buffer.concat(this.out, this.outBytes));
    this.out = [];
    this.outBytes = 0;
  }
}

const NULL_MARK = Buffer.alloc(0);
const NULL_TEXT = Buffer.from('\\N');

/** One CSV line of names, quoted the way COPY's HEADER writes them (only when needed). */
export function csvHeaderLine(names: string[]): string {
  return names.map((n) => (/[",\r\n]/.test(n) || n === '' ? `"${n.replace(/"/g, '""')}"` : n)).join(',') + '\n';
}

/** One CSV field as COPY's csv format writes it: NULL unquoted and empty, '' as "", quoted when it must be. */
export function csvField(value: string | null): string {
  if (value === null) return '';
  return value === '' || value === '\\.' || /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
