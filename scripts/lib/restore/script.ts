/**
 * The SQL script of a restore, streamed from pg_restore (or a .sql file) to psql. The kit owns
 * the transaction: it sends BEGIN and its prelude first, and the final checks and COMMIT only
 * after the source has ended cleanly (see applyInTransaction), so a source that dies half-way can
 * never commit half a database.
 *
 * pg_dump wraps large objects in their own BEGIN/COMMIT; inside such a section those lines are
 * dropped. Any other top-level COMMIT would end the kit's transaction early, so it stops the
 * restore before it is sent. Ownership and privilege statements can be dropped for restores
 * across environments (what pg_restore --no-owner/--no-privileges do for archives).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { KitError } from '../errors.js';
import { parseCopyTarget } from '../format/stats.js';

export interface ScriptOptions {
  prelude: string;
  dropOwnership: boolean;
  dropPrivileges: boolean;
  /** Called for each TOC section header passed on (progress). */
  onItem?: (header: string) => void;
}

const NEWLINE = 0x0a;
const TRAILER = '-- PostgreSQL database dump complete';
/** A line that is exactly "\." ends COPY data. */
const COPY_END = Buffer.from('\n\\.\n');
const COPY_END_LINE = Buffer.from('\\.\n');

export class RestoreScript extends Transform {
  private inCopy = false;
  private largeObjects = false;
  /** The start of a line whose end has not arrived yet; not passed on until it has. */
  private carry: Buffer | undefined;
  private started = false;
  /** The source's completion trailer went by: it was not cut short. */
  complete = false;
  items = 0;
  /** Tables in the order their COPY statements went by (psql reports "COPY n" in this order). */
  readonly copies: string[] = [];

  constructor(private readonly options: ScriptOptions) {
    super({ highWaterMark: 1 << 18 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      if (!this.started) {
        this.started = true;
        this.push(`BEGIN;\n${this.options.prelude}\n`);
      }
      let pos = 0;
      let runStart = 0; // bytes from here up to `pos` are passed on unchanged
      if (this.carry) {
        const newline = chunk.indexOf(NEWLINE);
        if (newline === -1) {
          this.carry = Buffer.concat([this.carry, chunk]);
          return callback();
        }
        const held = this.carry;
        this.carry = undefined;
        if (this.inspect(Buffer.concat([held, chunk.subarray(0, newline)]))) this.push(held);
        else runStart = newline + 1;
        pos = newline + 1;
      }
      for (;;) {
        // COPY data is most of a dump: skip whole runs of it natively, stopping at its end line.
        // (Within three bytes of the chunk's end, ordinary line handling decides.)
        if (this.inCopy && pos + 3 <= chunk.length && chunk.compare(COPY_END_LINE, 0, 3, pos, pos + 3) !== 0) {
          const end = chunk.indexOf(COPY_END, pos);
          if (end !== -1) {
            pos = end + 1;
          } else {
            const last = chunk.lastIndexOf(NEWLINE);
            if (last >= pos) pos = last + 1;
            break;
          }
        }
        const newline = chunk.indexOf(NEWLINE, pos);
        if (newline === -1) break;
        if (!this.inspect(chunk.subarray(pos, newline))) {
          if (pos > runStart) this.push(chunk.subarray(runStart, pos));
          runStart = newline + 1;
        }
        pos = newline + 1;
      }
      if (pos > runStart) this.push(chunk.subarray(runStart, pos));
      if (pos < chunk.length) this.carry = Buffer.from(chunk.subarray(pos));
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.carry && this.inspect(this.carry)) this.push(this.carry);
      this.carry = undefined;
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  /** Decide whether a complete line is passed on; track COPY data and TOC sections. */
  private inspect(line: Buffer): boolean {
    if (this.inCopy) {
      if (line.length === 2 && line[0] === 0x5c && line[1] === 0x2e) this.inCopy = false;
      return true;
    }
    const first = line[0];
    if (first !== 0x2d /* - */ && first !== 0x43 /* C */ && first !== 0x42 /* B */ && first !== 0x41 /* A */ && first !== 0x47 /* G */ && first !== 0x52 /* R */ && first !== 0x45 /* E */) {
      return true;
    }
    const text = line.toString('utf8');
    if (text.startsWith('-- ')) {
      const section = /^-- (?:Data for )?Name: .*; Type: ([^;]+);/.exec(text);
      if (section) {
        this.largeObjects = /BLOB|LARGE OBJECT/i.test(section[1]!);
        this.items++;
        this.options.onItem?.(text.slice(3));
      } else if (text === TRAILER) {
        this.complete = true;
      }
      return true;
    }
    if (text.startsWith('COPY ') && text.endsWith(' FROM stdin;')) {
      this.inCopy = true;
      this.copies.push(parseCopyTarget(text) ?? text);
      return true;
    }
    if (text === 'BEGIN;') return false; // inside the kit's transaction it would only warn
    if (text === 'COMMIT;' || text === 'END;' || text === 'ROLLBACK;' || text === 'ABORT;') {
      if (this.largeObjects && text === 'COMMIT;') return false;
      throw new KitError('UNSUPPORTED_MODE', `The script ends its transaction itself ("${text}" outside pg_dump's large-object section), so it cannot be restored all-or-nothing. Restore the backup's .dump instead, or apply the script with psql yourself.`);
    }
    if (this.options.dropOwnership && /^ALTER [A-Z ]+ .+ OWNER TO .+;$/.test(text)) return false;
    if (this.options.dropPrivileges && /^(GRANT|REVOKE) .+;$/.test(text)) return false;
    return true;
  }
}
