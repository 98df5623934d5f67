/**
 * Loading an export in one psql transaction: BEGIN, the kit's prelude, schema.sql's pre-data part,
 * every table's CSV re-encoded as COPY text (see format/csv.ts for why), large objects, the
 * post-data part (indexes, constraints, triggers, policies, materialized view refreshes), the
 * sequences, then a handshake: COMMIT is written only once psql has executed all of it, every
 * file's sha256 matched metadata.json and every COPY loaded the rows the export recorded.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KitError } from '../errors.js';
import { startGatedPsql, type LocatedTool } from '../engines/postgres/tools.js';
import { CsvToCopyText } from '../format/csv.js';
import { isPgDumpMetaCommand, SqlLexer } from '../format/sql-lexer.js';
import type { ExportMetadata, ExportTable } from '../format/export-metadata.js';
import { ident, literal } from '../engines/postgres/quote.js';
import type { Reporter } from '../context.js';
import { FileTap } from '../engines/postgres/copy.js';
import { sessionSettingsSql } from '../engines/postgres/snapshot.js';
import type { ExportSource } from './source.js';

export interface LoadPlan {
  /** Whole export: schema and everything; else only these tables' rows are replaced. */
  tables: ExportTable[];
  full: boolean;
  /** SQL run after BEGIN (emptying the target). */
  prelude: string;
  /** SQL run before the handshake (foreign key checks after a partial reload). */
  checks: string;
  /**
   * A chain restore: after the whole export is loaded, each differential is applied in order
   * (chain-restore.ts); returns what it COPYed, with the row counts each must load.
   */
  after?: (stdin: Writable) => Promise<LoadedCopy[]>;
}

/** One COPY the script runs, and the rows it must report (undefined: not checked). */
export interface LoadedCopy {
  name: string;
  expected: number | undefined;
}

const ROLLED_BACK = 'The import was rolled back; the target is unchanged.';

function psqlFailure(stderr: string): KitError {
  const lines = stderr.split('\n').map((l) => l.replace(/^psql:<stdin>:\d+: /, '').trim()).filter(Boolean);
  const error = lines.find((l) => /^(ERROR|FATAL):/.test(l)) ?? lines.at(-1) ?? 'psql failed';
  const context = lines.find((l) => /^CONTEXT:/.test(l));
  return new KitError('RESTORE_FAILED', `The import failed and was rolled back; the target is unchanged. PostgreSQL said: ${error.replace(/^(ERROR|FATAL):\s+/, '')}${context ? ` (${context.replace(/^CONTEXT:\s+/, '')})` : ''}`, { detail: stderr });
}

export async function write(stdin: Writable, text: string | Buffer): Promise<void> {
  if (!stdin.write(text)) await once(stdin, 'drain');
}

/** Stream `file` from the export into psql, checking its sha256 on the way. */
export async function streamFile(source: ExportSource, file: string, expected: { sha256: string; bytes: number }, into: Writable, transform?: CsvToCopyText): Promise<void> {
  const tap = new FileTap(false);
  const input = await source.open(file);
  // Into psql's stdin by hand: stdin stays open for the next file, and a pipeline per file
  // would stack listeners on it.
  const sink = async function* (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) await write(into, chunk);
  };
  if (transform) await pipeline(input, tap, transform, sink);
  else await pipeline(input, tap, sink);
  const got = tap.result();
  if (got.sha256 !== expected.sha256 || got.bytes !== expected.bytes) {
    throw new KitError('EXPORT_DAMAGED', `${file} in ${source.location} is not the file the export wrote (sha256 or size differs from metadata.json). ${ROLLED_BACK}`);
  }
}

/** Only the first `limit` bytes (schema.sql's pre-data part), or everything after them. */
async function streamSchemaPart(source: ExportSource, meta: ExportMetadata, part: 'pre' | 'post', into: Writable): Promise<void> {
  const input = await source.open(meta.schemaFile.file);
  let offset = 0;
  const cut = meta.schemaFile.preDataBytes;
  for await (const raw of input as AsyncIterable<Buffer>) {
    const chunk = raw;
    const start = offset;
    offset += chunk.length;
    const from = part === 'pre' ? 0 : Math.max(0, cut - start);
    const to = part === 'pre' ? Math.min(chunk.length, Math.max(0, cut - start)) : chunk.length;
    if (to > from) await write(into, chunk.subarray(from, to));
  }
}

async function loadTable(source: ExportSource, table: ExportTable, stdin: Writable): Promise<void> {
  const converter = new CsvToCopyText(table.file);
  const columns = table.columns.map((c) => ident(c.name)).join(', ');
  await write(stdin, `COPY ${table.name} (${columns}) FROM STDIN;\n`);
  await streamFile(source, table.file, table, stdin, converter);
  const names = table.columns.map((c) => c.name);
  if (JSON.stringify(converter.header) !== JSON.stringify(names)) {
    throw new KitError('EXPORT_DAMAGED', `${table.file}'s header (${(converter.header ?? []).join(', ')}) does not name the columns metadata.json lists (${names.join(', ')}). ${ROLLED_BACK}`);
  }
  await write(stdin, '\\.\n');
}

export function sequencesSql(meta: ExportMetadata): string {
  return Object.entries(meta.sequences)
    .map(([name, s]) => `SELECT pg_catalog.setval(${literal(name)}::regclass, ${s.lastValue}, ${s.isCalled});`)
    .join('\n');
}

/**
 * schema.sql is checked whole before a byte of it runs: its sha256, and what psql would do with
 * it. pg_dump writes no backslash command but \restrict/\unrestrict, so any other (\! runs a
 * shell, \connect changes database) means the file was not written by the export: refused.
 */
async function checkSchemaFile(source: ExportSource): Promise<void> {
  const { file, sha256 } = source.metadata.schemaFile;
  const hash = createHash('sha256');
  const foreign: string[] = [];
  const lexer = new SqlLexer({
    metaCommand(m) {
      if (!isPgDumpMetaCommand(m)) foreign.push(m.text.trim());
    },
  });
  for await (const chunk of (await source.open(file)) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    lexer.write(chunk);
  }
  lexer.end();
  if (hash.digest('hex') !== sha256) throw new KitError('EXPORT_DAMAGED', `${file} in ${source.location} is not the file the export wrote (its sha256 differs from metadata.json). Nothing was changed.`);
  if (foreign.length) throw new KitError('EXPORT_DAMAGED', `${file} in ${source.location} holds psql commands pg_dump never writes (${foreign[0]}); refusing to run it. Nothing was changed.`);
}

/** The script's body, streamed into psql: returns the tables in the order of their COPY results. */
async function streamBody(source: ExportSource, plan: LoadPlan, stdin: Writable, reporter: Reporter): Promise<LoadedCopy[]> {
  const meta = source.metadata;
  const copies: LoadedCopy[] = [];
  await write(stdin, `BEGIN;\n${sessionSettingsSql()}\nSET client_min_messages = warning;\n${plan.prelude}\n`);
  if (plan.full) await checkSchemaFile(source);
  if (plan.full) await streamSchemaPart(source, meta, 'pre', stdin);
  let done = 0;
  for (const table of plan.tables) {
    reporter.progress({ phase: 'importing', bytes: 0, done: done++, total: plan.tables.length, detail: table.name });
    await loadTable(source, table, stdin);
    copies.push({ name: table.name, expected: table.rows });
  }
  if (plan.full && meta.largeObjects) {
    await write(stdin, 'CREATE TEMPORARY TABLE kit_large_objects (oid oid, data bytea) ON COMMIT DROP;\nCOPY pg_temp.kit_large_objects FROM STDIN;\n');
    await streamFile(source, meta.largeObjects.file, meta.largeObjects, stdin, new CsvToCopyText(meta.largeObjects.file));
    await write(stdin, '\\.\nSELECT count(pg_catalog.lo_put(oid, 0, data)) FROM pg_temp.kit_large_objects;\n');
    copies.push({ name: 'large objects', expected: meta.largeObjects.count });
  }
  if (plan.full) await streamSchemaPart(source, meta, 'post', stdin);
  await write(stdin, `\n${sequencesSql(meta)}\n`);
  if (plan.after) copies.push(...(await plan.after(stdin)));
  await write(stdin, `\n${plan.checks}\n`);
  return copies;
}

export async function loadInTransaction(psqlTool: LocatedTool, env: NodeJS.ProcessEnv, source: ExportSource, plan: LoadPlan, reporter: Reporter, signal: AbortSignal): Promise<void> {
  const { psql, marker, copied, readyToCommit: ready } = startGatedPsql(psqlTool, env);
  const psqlDone = psql.done.catch(() => {
    throw psqlFailure(psql.stderr.toString());
  });
  psqlDone.catch(() => undefined);
  const stop = () => psql.stop();
  signal.addEventListener('abort', stop, { once: true });
  try {
    const copies = await Promise.race([streamBody(source, plan, psql.child.stdin!, reporter), psqlDone.then(() => [] as LoadedCopy[])]);
    signal.throwIfAborted();
    psql.child.stdin!.write(`\\echo ${marker}\n`);
    await Promise.race([ready, psqlDone]);
    signal.throwIfAborted();
    checkCounts(copies, copied);
    psql.child.stdin!.end('COMMIT;\n');
    await psqlDone;
  } catch (error) {
    psql.stop();
    await psql.done.catch(() => undefined);
    if (signal.aborted) throw new KitError('INTERRUPTED', `Interrupted. ${ROLLED_BACK}`);
    const psqlError = await psqlDone.then(() => undefined, (e: unknown) => e);
    throw (error as NodeJS.ErrnoException).code === 'EPIPE' && psqlError ? psqlError : error;
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

function checkCounts(copies: LoadedCopy[], copied: number[]): void {
  if (copies.length !== copied.length) throw new KitError('RESTORE_FAILED', `psql reported ${copied.length} COPY results for ${copies.length} files. ${ROLLED_BACK}`);
  copies.forEach(({ name, expected }, i) => {
    if (expected !== undefined && copied[i] !== expected) {
      throw new KitError('ROW_COUNT_MISMATCH', `Row counts differ: ${name} loaded ${copied[i]} rows, the export recorded ${expected}. ${ROLLED_BACK}`);
    }
  });
}
