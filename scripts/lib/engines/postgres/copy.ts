/**
 * The export's children: one psql per table running `COPY … TO STDOUT WITH (FORMAT csv, HEADER)`
 * inside the export's snapshot (a big table split into ranges of its pages, one psql each), and
 * pg_dump for schema.sql from the same snapshot. psql writes straight into the file; the kit
 * takes the sha256 and record count by reading the file as it grows; nothing is held in memory.
 */
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, openSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { open, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { spawnTool, type LocatedTool } from './tools.js';
import { CsvRecordCounter } from '../../format/csv.js';
import { ident, literal } from './quote.js';
import type { ExportColumn } from '../../format/export-metadata.js';
import { sessionSettingsSql } from './snapshot.js';

export interface WrittenFile {
  bytes: number;
  sha256: string;
}

/** Passes bytes on unchanged, hashing and (for CSV) counting records. */
export class FileTap extends Transform {
  private readonly hash = createHash('sha256');
  readonly counter = new CsvRecordCounter();
  bytes = 0;

  constructor(private readonly countRecords: boolean) {
    super({ highWaterMark: 1 << 18 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.absorb(chunk);
    callback(null, chunk);
  }

  /** Hash and count bytes read elsewhere (not passed through the stream). */
  absorb(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.countRecords) this.counter.push(chunk);
  }

  result(): WrittenFile {
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }
}

/** The script one psql runs: the export's settings, its snapshot, then one query's CSV. */
export function copyScript(snapshotId: string | undefined, copyTarget: string, header = true): string {
  return [
    '\\set ON_ERROR_STOP 1',
    sessionSettingsSql(),
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;',
    snapshotId ? `SET TRANSACTION SNAPSHOT ${literal(snapshotId)};` : '',
    `COPY ${copyTarget} TO STDOUT WITH (FORMAT csv${header ? ', HEADER' : ''});`,
    'COMMIT;',
    '',
  ].join('\n');
}

/**
 * Read `file` from the start while a writer still appends to it, into `tap` (and on to `out`),
 * until `finished` has settled and the end is reached: the hashing overlaps the COPY instead of
 * following it.
 */
async function followFile(file: string, finished: Promise<unknown>, tap: FileTap, out?: WriteStream): Promise<void> {
  let settled = false;
  finished.then(() => (settled = true), () => (settled = true));
  const handle = await open(file, 'r');
  let buffer = Buffer.allocUnsafe(1 << 20);
  let position = 0;
  try {
    for (;;) {
      const writerDone = settled;
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead > 0) {
        const chunk = buffer.subarray(0, bytesRead);
        tap.absorb(chunk);
        position += bytesRead;
        if (out) {
          // the stream keeps the chunk until written: the next read needs a buffer of its own
          buffer = Buffer.allocUnsafe(1 << 20);
          if (!out.write(chunk)) await once(out, 'drain');
        }
      } else if (writerDone) {
        return;
      } else {
        await sleep(10);
      }
    }
  } finally {
    await handle.close();
  }
}

/** One psql running one COPY with its stdout on `file`; resolves when psql has exited cleanly. */
function runCopy(psql: LocatedTool, env: NodeJS.ProcessEnv, snapshotId: string | undefined, copyTarget: string, file: string, header: boolean, signal: AbortSignal): Promise<void> {
  const fd = openSync(file, 'w', 0o600);
  let child;
  try {
    child = spawnTool(psql, ['-X', '-q', '-f', '-'], { env, failure: 'PG_DUMP_FAILED', stdio: ['pipe', fd, 'pipe'] });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  const stop = () => child.stop();
  signal.addEventListener('abort', stop, { once: true });
  child.child.stdin!.end(copyScript(snapshotId, copyTarget, header));
  return child.done.then(
    () => signal.removeEventListener('abort', stop),
    (error: unknown) => {
      signal.removeEventListener('abort', stop);
      throw error;
    },
  );
}

/**
 * Run one COPY into `file`. `copyTarget` is a table name (the same bytes `psql \copy … to … csv
 * header` writes) or a parenthesised query. psql writes straight into the file (its stdout is the
 * file itself: no pipe through the kit on the hot path) while the kit reads it behind psql for
 * its sha256 and row count.
 */
export async function copyToFile(psql: LocatedTool, env: NodeJS.ProcessEnv, snapshotId: string | undefined, copyTarget: string, file: string, signal: AbortSignal): Promise<WrittenFile & { rows: number }> {
  const tap = new FileTap(true);
  const done = runCopy(psql, env, snapshotId, copyTarget, file, true, signal);
  const followed = followFile(file, done, tap);
  followed.catch(() => undefined);
  await done;
  await followed;
  // The header is a record too; an empty table's file holds only it.
  return { ...tap.result(), rows: Math.max(0, tap.counter.total() - 1) };
}

/**
 * One COPY whose CSV comes out of psql's stdout, through the kit's tap, into `add` (an entry of
 * a zip that must not touch the disk in plaintext); its sha256 and row count.
 */
export async function copyIntoEntry(psql: LocatedTool, env: NodeJS.ProcessEnv, snapshotId: string, copyTarget: string, add: (csv: Readable) => Promise<void>, signal: AbortSignal): Promise<WrittenFile & { rows: number }> {
  const child = spawnTool(psql, ['-X', '-q', '-f', '-'], { env, failure: 'PG_DUMP_FAILED', stdio: ['pipe', 'pipe', 'pipe'] });
  const stop = () => child.stop();
  signal.addEventListener('abort', stop, { once: true });
  try {
    child.child.stdin!.end(copyScript(snapshotId, copyTarget));
    const tap = new FileTap(true);
    child.child.stdout!.pipe(tap);
    await Promise.all([add(tap), child.done]);
    return { ...tap.result(), rows: Math.max(0, tap.counter.total() - 1) };
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

export interface SplittableTable {
  /** Quoted as needed. */
  name: string;
  columns: ExportColumn[];
  /** Pages on disk when the export began (pg_class.relpages: an estimate; the last range is open-ended). */
  pages: number;
  /** An extension configuration table's registered filter (`WHERE …`): only those rows are copied. */
  extensionFilter?: string;
}

/**
 * What one COPY of a table reads: the table itself, or for an extension's configuration table
 * the rows its filter keeps, as pg_dump reads them (`SELECT <columns> FROM <table> <filter>`,
 * without ONLY, exactly as pg_dump writes it). Pure.
 */
export function copySource(table: Pick<SplittableTable, 'name' | 'columns' | 'extensionFilter'>): string {
  if (!table.extensionFilter) return table.name;
  return `(SELECT ${table.columns.map((c) => ident(c.name)).join(', ')} FROM ${table.name} ${table.extensionFilter})`;
}

/** The COPY queries of a table cut into `parts` ranges of its pages, in page order (pure). */
export function pageRangeQueries(table: SplittableTable, parts: number): string[] {
  const step = Math.ceil(table.pages / parts);
  const columns = table.columns.map((c) => ident(c.name)).join(', ');
  return Array.from({ length: parts }, (_, i) => {
    const from = `ctid >= '(${i * step},0)'::tid`;
    const to = i === parts - 1 ? '' : ` AND ctid < '(${(i + 1) * step},0)'::tid`;
    // ONLY: COPY <table> TO never includes inheritance children, and neither may a range.
    return `(SELECT ${columns} FROM ONLY ${table.name} WHERE ${from}${to})`;
  });
}

/**
 * A big table's COPY in `parts` ranges of its pages (PostgreSQL 14+ reads each by a TID range
 * scan), all in the export's snapshot, run at once: the first range straight into `file` (with
 * the header), the others into files beside it, each read as it grows once the ranges before it
 * are read, hashed and appended to `file` in page order. Every row is in exactly one range, so
 * the file holds the table's rows once each, in physical order.
 */
export async function copyTableInRanges(psql: LocatedTool, env: NodeJS.ProcessEnv, snapshotId: string, table: SplittableTable, parts: number, file: string, signal: AbortSignal): Promise<WrittenFile & { rows: number }> {
  // A filtered table is read whole by one query: its filter decides the rows, not its pages.
  if (parts <= 1 || table.extensionFilter) return copyToFile(psql, env, snapshotId, copySource(table), file, signal);
  const queries = pageRangeQueries(table, parts);
  const files = queries.map((_, i) => (i === 0 ? file : `${file}.range-${i}`));
  const tap = new FileTap(true);
  try {
    const runs = queries.map((q, i) => runCopy(psql, env, snapshotId, q, files[i]!, i === 0, signal));
    const all = Promise.all(runs);
    all.catch(() => undefined);
    await followFile(file, runs[0]!, tap);
    await runs[0];
    const out = createWriteStream(file, { flags: 'a', mode: 0o600, highWaterMark: 1 << 20 });
    const closed = once(out, 'close');
    try {
      for (let i = 1; i < files.length; i++) {
        await followFile(files[i]!, runs[i]!, tap, out);
        await runs[i];
        await rm(files[i]!, { force: true });
      }
    } finally {
      out.end();
      await closed;
    }
    await all;
  } finally {
    await Promise.all(files.slice(1).map((f) => rm(f, { force: true })));
  }
  return { ...tap.result(), rows: Math.max(0, tap.counter.total() - 1) };
}

/**
 * schema.sql: pg_dump's pre-data section, then its post-data section, both from the snapshot.
 * Together they are what `--schema-only` writes (plus the large objects' definitions, which only
 * the sections carry); import runs the data between them, as pg_restore would.
 */
export async function dumpSchema(pgDump: LocatedTool, env: NodeJS.ProcessEnv, snapshotId: string, scopeArgs: string[], file: string | Writable, signal: AbortSignal): Promise<WrittenFile & { preDataBytes: number }> {
  const hash = createHash('sha256');
  const out = typeof file === 'string' ? createWriteStream(file, { mode: 0o600 }) : file;
  const closed = once(out, 'close');
  let bytes = 0;
  let preDataBytes = 0;
  try {
    for (const section of ['pre-data', 'post-data']) {
      const child = spawnTool(pgDump, [`--snapshot=${snapshotId}`, `--section=${section}`, ...scopeArgs], { env, failure: 'PG_DUMP_FAILED' });
      const stop = () => child.stop();
      signal.addEventListener('abort', stop, { once: true });
      child.done.catch(() => undefined);
      try {
        for await (const chunk of child.child.stdout! as AsyncIterable<Buffer>) {
          hash.update(chunk);
          bytes += chunk.length;
          if (!out.write(chunk)) await once(out, 'drain');
        }
        await child.done;
      } finally {
        signal.removeEventListener('abort', stop);
      }
      if (section === 'pre-data') preDataBytes = bytes;
    }
  } finally {
    out.end();
    await closed;
  }
  return { bytes, sha256: hash.digest('hex'), preDataBytes };
}

/** Run `work` over `items`, at most `jobs` at a time; the first failure stops new work. */
export async function runPool<T, R>(items: T[], jobs: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
  return results;
}
