/**
 * Loading a MySQL/MariaDB export back (db:import of a whole export). MySQL commits DDL at once, so
 * the load cannot be one transaction from the first CREATE to the last row the way PostgreSQL's
 * is. What it does instead, in order:
 *  1. schema.sql is read whole and checked against metadata.json's sha256 before anything runs;
 *  2. the target database is emptied and schema.sql's first part (tables, views) applied,
 *     statement by statement through the kit's own connection (no client program runs it);
 *  3. every table's rows go in through `LOAD DATA LOCAL INFILE` in ONE transaction (InnoDB), each
 *     file's sha256 and header checked as it streams, each table's row count and the server's
 *     warnings checked before COMMIT; a failure rolls the rows back, leaving the tables empty;
 *     with --until, each differential of the chain follows in that same transaction: its
 *     deleted keys DELETEd, its changed rows upserted (INSERT … ON DUPLICATE KEY UPDATE), each
 *     table's row count checked against the differential's before COMMIT;
 *  4. schema.sql's second part (triggers, routines, events) is applied after the rows, so no
 *     trigger fires for a loaded row.
 * A failure in 2–4 leaves the target partly loaded; the pre-import safety backup is the undo, and
 * the message says so. The CSV is re-encoded on the way (format/csv.ts) into LOAD DATA's own text
 * format (tab-separated, \N for NULL, backslash escapes), which is what CsvToCopyText writes.
 */
import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import type { Reporter } from '../../context.js';
import { CsvToCopyText } from '../../format/csv.js';
import type { ExportMetadata, ExportTable } from '../../format/export-metadata.js';
import type { MySqlClient } from './client.js';
import { connectMySqlWithWait, killMySqlConnection } from './connect.js';
import { emptyMySqlDatabase } from './drop.js';
import { quoteMySqlIdentifier as quoteMySqlName } from './quote.js';
import { MySqlScriptLexer } from './script-lexer.js';

export interface MySqlImportSource {
  location: string;
  metadata: ExportMetadata;
  open(file: string): Promise<Readable>;
}

/** The session every load runs in: the export's zone, strict, and an explicit 0 kept as 0. */
const LOAD_SESSION = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', time_zone = '+00:00', foreign_key_checks = 0, unique_checks = 1";

const UNDO = 'Restore the pre-import safety backup to undo what was done (db:import prints the command).';

class HashTap extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

/**
 * A mariadb-dump script's statements, split as the mariadb client splits them (script-lexer.ts:
 * DELIMITER lines, strings, comments, conditional comments whose content is code), so the kit's
 * own connection can run them and no client program (with its shell commands) is needed.
 */
export function dumpStatements(script: Buffer): string[] {
  const out: string[] = [];
  let parts: Buffer[] = [];
  const take = () => {
    const statement = Buffer.concat(parts).toString('utf8').trim();
    if (statement) out.push(statement);
    parts = [];
  };
  const lexer = new MySqlScriptLexer({
    text: (chunk, start, end) => parts.push(Buffer.from(chunk.subarray(start, end))),
    gap: () => parts.push(Buffer.from(' ')),
    statementEnd: take,
    lineComment: () => undefined,
    delimiter: () => undefined,
  });
  lexer.write(script);
  lexer.end();
  take();
  return out;
}

async function readSchema(source: MySqlImportSource): Promise<{ pre: Buffer; post: Buffer }> {
  const chunks: Buffer[] = [];
  for await (const chunk of (await source.open(source.metadata.schemaFile.file)) as AsyncIterable<Buffer>) chunks.push(chunk);
  const whole = Buffer.concat(chunks);
  if (createHash('sha256').update(whole).digest('hex') !== source.metadata.schemaFile.sha256) {
    throw new KitError('EXPORT_DAMAGED', `${source.metadata.schemaFile.file} in ${source.location} is not the file the export wrote (its sha256 differs from metadata.json). Nothing was changed.`);
  }
  const cut = source.metadata.schemaFile.preDataBytes;
  return { pre: whole.subarray(0, cut), post: whole.subarray(cut) };
}

async function applyScript(client: MySqlClient, script: Buffer, part: string): Promise<void> {
  for (const statement of dumpStatements(script)) {
    try {
      await client.query(statement);
    } catch (error) {
      const said = (error as { sqlMessage?: string }).sqlMessage ?? (error as Error).message;
      throw new KitError('RESTORE_FAILED', `Applying schema.sql's ${part} failed: the server said ${said} (in: ${statement.slice(0, 100)}). ${UNDO}`, { cause: error });
    }
  }
}

/** The LOAD DATA statement for one table: hex columns go through a variable and UNHEX(). */
export function loadDataSql(table: ExportTable): string {
  const targets = table.columns.map((c, i) => (c.encoding === 'hex' ? `@kit_${i}` : quoteMySqlName(c.name)));
  const sets = table.columns.flatMap((c, i) => (c.encoding === 'hex' ? [`${quoteMySqlName(c.name)} = UNHEX(@kit_${i})`] : []));
  return `LOAD DATA LOCAL INFILE 'kit-export' INTO TABLE ${table.name} CHARACTER SET utf8mb4
    FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${targets.join(', ')})${sets.length ? ` SET ${sets.join(', ')}` : ''}`;
}

/** How rows reach the server: LOAD DATA LOCAL where the server allows it, else INSERTs of many rows with parameters. */
type LoadPath = 'local-infile' | 'insert';

/** One COPY-text line (what CsvToCopyText writes) back into values: \N is NULL, backslash escapes undone. */
export function copyTextValues(line: string): Array<string | null> {
  return line.split('\t').map((field) => (field === '\\N' ? null : field.replace(/\\([\\nrt])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '\\': '\\' })[c]!)));
}

/** Rows per INSERT, and the text size that ends a batch sooner (well below max_allowed_packet's 16 MB default). */
const INSERT_ROWS = 1000;
const INSERT_BYTES = 4 * 1024 * 1024;

/**
 * The rows of `converter`'s output, a batch at a time, each batch one statement with parameters
 * that `statement` builds from its row count; returns rows sent, rows the server affected and warnings.
 */
async function batchRows(client: MySqlClient, converter: AsyncIterable<Buffer>, statement: (rows: number) => string): Promise<{ sent: number; affectedRows: number; warnings: number }> {
  const total = { sent: 0, affectedRows: 0, warnings: 0 };
  let [rows, params, size, carry] = [0, [] as Array<string | null>, 0, ''];
  const flush = async () => {
    if (rows === 0) return;
    const result = await client.query(statement(rows), params);
    total.sent += rows;
    total.affectedRows += result.affectedRows ?? 0;
    total.warnings += result.warnings ?? 0;
    [rows, params, size] = [0, [], 0];
  };
  // a chunk may end inside a character: the decoder holds its first bytes for the next one
  const decoder = new StringDecoder('utf8');
  const take = async (line: string) => {
    params.push(...copyTextValues(line));
    rows++;
    size += line.length;
    if (rows >= INSERT_ROWS || size >= INSERT_BYTES) await flush();
  };
  for await (const chunk of converter) {
    const lines = (carry + decoder.write(chunk)).split('\n');
    carry = lines.pop()!;
    for (const line of lines) await take(line);
  }
  carry += decoder.end();
  if (carry) await take(carry);
  await flush();
  return total;
}

/** The rows of `converter`'s output as multi-row INSERTs with parameters (`tail` after VALUES: an upsert's ON DUPLICATE KEY). */
function insertRows(client: MySqlClient, table: ExportTable, converter: AsyncIterable<Buffer>, tail = ''): Promise<{ sent: number; affectedRows: number; warnings: number }> {
  const columns = table.columns.map((c) => quoteMySqlName(c.name)).join(', ');
  const row = `(${table.columns.map((c) => (c.encoding === 'hex' ? 'UNHEX(?)' : '?')).join(', ')})`;
  return batchRows(client, converter, (rows) => `INSERT INTO ${table.name} (${columns}) VALUES ${Array(rows).fill(row).join(', ')}${tail}`);
}

/** One CSV file of an export, streamed through `load` with its sha256, size and header checked against metadata.json. */
async function streamChecked<T extends { warnings: number }>(client: MySqlClient, source: MySqlImportSource, file: { file: string; bytes: number; sha256: string }, header: string[], what: string, load: (converter: CsvToCopyText) => Promise<T>): Promise<T> {
  const tap = new HashTap();
  const converter = new CsvToCopyText(file.file);
  const streamed = pipeline(await source.open(file.file), tap, converter);
  streamed.catch(() => undefined);
  const loaded = await load(converter);
  await streamed;
  if (tap.hash.digest('hex') !== file.sha256 || tap.bytes !== file.bytes) throw new KitError('EXPORT_DAMAGED', `${file.file} in ${source.location} is not the file the export wrote (sha256 or size differs from metadata.json). The rows were rolled back. ${UNDO}`);
  if (JSON.stringify(converter.header) !== JSON.stringify(header)) throw new KitError('EXPORT_DAMAGED', `${file.file}'s header (${(converter.header ?? []).join(', ')}) does not name the columns metadata.json lists (${header.join(', ')}). The rows were rolled back. ${UNDO}`);
  if (loaded.warnings > 0) {
    const { rows } = await client.query<{ Message: string }>('SHOW WARNINGS LIMIT 3');
    throw new KitError('RESTORE_FAILED', `Loading ${what} gave ${loaded.warnings} warnings (${rows.map((r) => r.Message).join('; ')}), so its rows would not be the export's. The rows were rolled back. ${UNDO}`);
  }
  return loaded;
}

async function loadTable(client: MySqlClient, source: MySqlImportSource, table: ExportTable, path: LoadPath): Promise<void> {
  const names = table.columns.map((c) => c.name);
  const loaded = await streamChecked(client, source, table, names, table.name, (converter) => (path === 'local-infile' ? client.loadLocal(loadDataSql(table), converter) : insertRows(client, table, converter)));
  if (loaded.affectedRows !== table.rows) throw new KitError('ROW_COUNT_MISMATCH', `Row counts differ: ${table.name} loaded ${loaded.affectedRows} rows, the export recorded ${table.rows}. The rows were rolled back. ${UNDO}`);
}

/** `ON DUPLICATE KEY UPDATE` setting every column but the key's to the new row's (MySQL 8.0.19+ names the row; MariaDB says VALUE()). */
export function upsertTail(table: ExportTable, primaryKey: string[], mariaDb: boolean): string {
  const others = table.columns.map((c) => c.name).filter((c) => !primaryKey.includes(c));
  const set = (others.length ? others : primaryKey.slice(0, 1)).map((c) => `${quoteMySqlName(c)} = ${mariaDb ? `VALUE(${quoteMySqlName(c)})` : `kit_new.${quoteMySqlName(c)}`}`);
  return `${mariaDb ? '' : ' AS kit_new'} ON DUPLICATE KEY UPDATE ${set.join(', ')}`;
}

/**
 * One table of one differential, inside the load's transaction: its deleted keys removed, its
 * changed rows upserted on the primary key (a table the chain takes in full is emptied and
 * loaded), then its row count checked against what the differential recorded at its snapshot.
 */
async function applyChainTable(client: MySqlClient, d: MySqlImportSource, t: ExportTable, path: LoadPath, mariaDb: boolean): Promise<void> {
  const chain = t.chain;
  const where = `${t.name} in ${d.metadata.id}`;
  if (!chain) throw new KitError('EXPORT_DAMAGED', `${d.metadata.id}'s metadata.json has no chain details for ${t.name}. The rows were rolled back. ${UNDO}`);
  if (chain.mode === 'full') {
    await client.query(`DELETE FROM ${t.name}`);
    await loadTable(client, d, t, path);
  } else {
    const deleted = chain.deleted!;
    const keyColumns = chain.primaryKey.map((name) => t.columns.find((c) => c.name === name)!);
    const key = keyColumns.length === 1 ? quoteMySqlName(keyColumns[0]!.name) : `(${keyColumns.map((c) => quoteMySqlName(c.name)).join(', ')})`;
    const one = keyColumns.map((c) => (c.encoding === 'hex' ? 'UNHEX(?)' : '?')).join(', ');
    const removed = await streamChecked(client, d, deleted, chain.primaryKey, `${deleted.file} of ${d.metadata.id}`, (converter) =>
      batchRows(client, converter, (rows) => `DELETE FROM ${t.name} WHERE ${key} IN (${Array(rows).fill(keyColumns.length === 1 ? one : `(${one})`).join(', ')})`),
    );
    if (removed.affectedRows !== deleted.rows) throw new KitError('ROW_COUNT_MISMATCH', `${where}: ${removed.affectedRows} of its ${deleted.rows} deleted keys were present, so the chain does not fit this database. The rows were rolled back. ${UNDO}`);
    const upserted = await streamChecked(client, d, t, t.columns.map((c) => c.name), where, (converter) => insertRows(client, t, converter, upsertTail(t, chain.primaryKey, mariaDb)));
    if (upserted.sent !== t.rows) throw new KitError('ROW_COUNT_MISMATCH', `${where}: ${upserted.sent} changed rows read, the differential recorded ${t.rows}. The rows were rolled back. ${UNDO}`);
  }
  const { rows } = await client.query<{ n: string | number }>(`SELECT COUNT(*) AS n FROM ${t.name}`);
  if (Number(rows[0]!.n) !== chain.rowsAtSnapshot) throw new KitError('ROW_COUNT_MISMATCH', `${where}: ${rows[0]!.n} rows after applying it, the differential recorded ${chain.rowsAtSnapshot}. The rows were rolled back. ${UNDO}`);
}

/** LOAD DATA LOCAL when the server takes it (local_infile), else parameterised INSERTs. */
async function loadPath(client: MySqlClient, reporter: Reporter): Promise<LoadPath> {
  const { rows } = await client.query<{ local: string | number }>('SELECT @@GLOBAL.local_infile AS local');
  if (Number(rows[0]?.local ?? 0) === 1) return 'local-infile';
  reporter.notice('the server does not allow LOAD DATA LOCAL (local_infile is off): loading with multi-row INSERTs instead, which is slower');
  return 'insert';
}

/** Every table's rows, then every differential's, in one transaction committed only when every check passed. */
async function loadRows(client: MySqlClient, source: MySqlImportSource, tables: ExportTable[], reporter: Reporter, differentials: MySqlImportSource[]): Promise<void> {
  await client.query(LOAD_SESSION);
  await client.query('START TRANSACTION');
  try {
    const path = await loadPath(client, reporter);
    let done = 0;
    for (const table of tables) {
      reporter.progress({ phase: 'importing', bytes: 0, done: done++, total: tables.length, detail: table.name });
      await loadTable(client, source, table, path);
    }
    const mariaDb = /mariadb/i.test((await client.query<{ v: string }>('SELECT VERSION() AS v')).rows[0]!.v);
    for (const [i, d] of differentials.entries()) {
      reporter.progress({ phase: 'applying differentials', bytes: 0, done: i, total: differentials.length, detail: d.metadata.id });
      for (const t of d.metadata.tables) await applyChainTable(client, d, t, path, mariaDb);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    const said = (error as { sqlMessage?: string }).sqlMessage;
    if (said) throw new KitError('RESTORE_FAILED', `Loading the rows failed and they were rolled back: the server said ${said}. The tables exist but are empty. ${UNDO}`, { cause: error });
    throw error;
  }
}

/** A whole export loaded into the target database: see the top of this file for the order and what a failure leaves. */
export async function importIntoMySql(target: Target, source: MySqlImportSource, reporter: Reporter, signal: AbortSignal, differentials: MySqlImportSource[] = []): Promise<void> {
  const schema = await readSchema(source);
  const client = await connectMySqlWithWait(target, 0, undefined, signal);
  const stop = () => void killMySqlConnection(target, client.threadId);
  signal.addEventListener('abort', stop, { once: true });
  try {
    await client.query(LOAD_SESSION);
    reporter.progress({ phase: 'emptying the target', bytes: 0 });
    await emptyMySqlDatabase(client, target.database, signal);
    await applyScript(client, schema.pre, 'tables and views');
    await client.query(LOAD_SESSION); // schema.sql's own SET statements changed the session
    await loadRows(client, source, source.metadata.tables, reporter, differentials);
    await applyScript(client, schema.post, 'triggers, routines and events');
  } catch (error) {
    if (signal.aborted) throw new KitError('INTERRUPTED', `Interrupted while importing. ${UNDO}`);
    throw error;
  } finally {
    signal.removeEventListener('abort', stop);
    await client.end();
  }
}
