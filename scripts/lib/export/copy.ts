/**
 * The export's children: one psql per table running `COPY … TO STDOUT WITH (FORMAT csv, HEADER)`
 * inside the export's snapshot, and pg_dump for schema.sql from the same snapshot. Bytes stream
 * from the child to the file with their sha256 and record count taken on the way; nothing is
 * held in memory.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync } from 'node:fs';
import { once } from 'node:events';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { spawnTool, type LocatedTool } from '../proc/pg-tools.js';
import { CsvRecordCounter } from '../format/csv.js';
import { literal } from '../pg/quote.js';
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
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.countRecords) this.counter.push(chunk);
    callback(null, chunk);
  }

  result(): WrittenFile {
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }
}

/** The script one psql runs: the export's settings, its snapshot, then one query's CSV. */
export function copyScript(snapshotId: string | undefined, copyTarget: string): string {
  return [
    '\\set ON_ERROR_STOP 1',
    sessionSettingsSql(),
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;',
    snapshotId ? `SET TRANSACTION SNAPSHOT ${literal(snapshotId)};` : '',
    `COPY ${copyTarget} TO STDOUT WITH (FORMAT csv, HEADER);`,
    'COMMIT;',
    '',
  ].join('\n');
}

/**
 * Run one COPY into `file`. `copyTarget` is a table name (the same bytes `psql \copy … to … csv
 * header` writes) or a parenthesised query. psql writes straight into the file (its stdout is the
 * file itself: no pipe through the kit on the hot path); the file is then read back once for its
 * sha256 and row count, while other tables are still being copied.
 */
export async function copyToFile(psql: LocatedTool, env: NodeJS.ProcessEnv, snapshotId: string | undefined, copyTarget: string, file: string, signal: AbortSignal): Promise<WrittenFile & { rows: number }> {
  const fd = openSync(file, 'w', 0o600);
  let child;
  try {
    child = spawnTool(psql, ['-X', '-q', '-f', '-'], { env, failure: 'PG_DUMP_FAILED', stdio: ['pipe', fd, 'pipe'] });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  const stop = () => child.child.kill('SIGTERM');
  signal.addEventListener('abort', stop, { once: true });
  try {
    child.child.stdin!.end(copyScript(snapshotId, copyTarget));
    await child.done;
  } finally {
    signal.removeEventListener('abort', stop);
  }
  const tap = new FileTap(true);
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), tap, new Writable({ write: (_c, _e, cb) => cb() }));
  // The header is a record too; an empty table's file holds only it.
  return { ...tap.result(), rows: Math.max(0, tap.counter.total() - 1) };
}

/**
 * schema.sql: pg_dump's pre-data section, then its post-data section, both from the snapshot.
 * Together they are what `--schema-only` writes (plus the large objects' definitions, which only
 * the sections carry); import runs the data between them, as pg_restore would.
 */
export async function dumpSchema(pgDump: LocatedTool, env: NodeJS.ProcessEnv, snapshotId: string, scopeArgs: string[], file: string, signal: AbortSignal): Promise<WrittenFile & { preDataBytes: number }> {
  const hash = createHash('sha256');
  const out = createWriteStream(file, { mode: 0o600 });
  const closed = once(out, 'close');
  let bytes = 0;
  let preDataBytes = 0;
  try {
    for (const section of ['pre-data', 'post-data']) {
      const child = spawnTool(pgDump, [`--snapshot=${snapshotId}`, `--section=${section}`, ...scopeArgs], { env, failure: 'PG_DUMP_FAILED' });
      const stop = () => child.child.kill('SIGTERM');
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
