/**
 * A table export from MySQL/MariaDB: one connection opens `START TRANSACTION WITH CONSISTENT
 * SNAPSHOT, READ ONLY` at REPEATABLE READ, and every table is read through it, one after another,
 * so all files describe one instant (InnoDB; a MyISAM table has no snapshot and is read as it is,
 * which the export names in a notice). Each table's rows become RFC 4180 CSV exactly as db:export
 * writes PostgreSQL's: a header row, NULL as an unquoted empty field, '' as "", every value as the
 * server's own text, and the bytes of binary, BIT and spatial columns as upper-case hex.
 *
 * schema.sql comes from mariadb-dump --no-data in two parts, as pg_dump's pre- and post-data:
 * tables and views first, then triggers, routines and events, which a load must create only
 * after the rows are in (a trigger would otherwise fire for every loaded row). mariadb-dump
 * cannot join the kit's snapshot: it takes its own (--single-transaction), a moment apart.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import { csvField, csvHeaderLine } from '../../format/csv.js';
import type { ExportColumn } from '../../format/export-metadata.js';
import type { MySqlClient } from './client.js';
import { connectMySqlWithWait, killMySqlConnection } from './connect.js';
import { mySqlText, readLikeTheGuard } from './sql.js';
import { quoteMySqlIdentifier as quoteMySqlName } from './quote.js';
import { locateMySqlTool, startMySqlTool, type MySqlTool } from './tools.js';
import type { ChangedSince, CsvChainReader } from '../engine.js';
import { changedSinceSql, mySqlBasisZone, mySqlKeyOrder, mySqlKeySql, MYSQL_BASIS, readMySqlNextLowerBound } from './differential.js';

export interface MySqlExportTable {
  /** The database, in the place PostgreSQL's schema has (patterns and file names read it so). */
  schema: string;
  table: string;
  /** The table's name quoted for the statements of a load into any database (`orders`). */
  name: string;
  /** The columns in the CSV, in order; generated columns are left out, as the server computes them. */
  columns: ExportColumn[];
  /** The server's estimate of its size, to report progress. */
  bytes: number;
  /** Not InnoDB (MyISAM, Aria, MEMORY …): no snapshot covers it. */
  engine: string;
  /** The primary key's columns in key order (none: no primary key). */
  primaryKey: string[];
}

export interface MySqlExportSession {
  facts: { version: string; versionNum: number; flavour: 'MariaDB' | 'MySQL' };
  snapshot: { id: string; takenAt: string };
  tables: MySqlExportTable[];
  /** One table's rows (with `since`, the changed ones) as CSV into `sink` (ended when done). */
  writeTable(table: MySqlExportTable, sink: Writable, signal: AbortSignal, since?: ChangedSince): Promise<{ rows: number; bytes: number; sha256: string }>;
  /** Opened for a differential: the chain's reads in this snapshot. */
  chain: CsvChainReader | undefined;
  /** Ends the snapshot's transaction. */
  commit(): Promise<void>;
  close(): Promise<void>;
}

/** "10.11.6-MariaDB-0+deb12u1" → 101106, as PostgreSQL's server_version_num counts. */
export function mySqlVersionNum(version: string): number {
  const [major = 0, minor = 0, patch = 0] = (/^(\d+)\.(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
  return major * 10000 + minor * 100 + patch;
}

/** Column types whose values are bytes, written as hex (a binary string, a blob, BIT, a spatial value). */
export const HEX_TYPES = /^(binary|varbinary|tinyblob|blob|mediumblob|longblob|bit|geometry|point|linestring|polygon|multipoint|multilinestring|multipolygon|geometrycollection)\b/i;

async function readTables(client: MySqlClient, database: string): Promise<MySqlExportTable[]> {
  const { rows: tables } = await client.query<{ name: string; engine: string | null; bytes: string | null }>(
    `SELECT TABLE_NAME AS name, ENGINE AS engine, DATA_LENGTH AS bytes FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`,
    [database],
  );
  const { rows: columns } = await client.query<{ tableName: string; name: string; type: string; generated: string }>(
    `SELECT TABLE_NAME AS tableName, COLUMN_NAME AS name, COLUMN_TYPE AS type, EXTRA AS generated FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    [database],
  );
  const { rows: keys } = await client.query<{ tableName: string; name: string }>(
    `SELECT TABLE_NAME AS tableName, COLUMN_NAME AS name FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX`,
    [database],
  );
  return tables.map((t) => ({
    schema: database,
    table: t.name,
    name: quoteMySqlName(t.name),
    columns: columns.filter((c) => c.tableName === t.name && !/\bGENERATED\b/i.test(c.generated)).map((c) => ({ name: c.name, type: c.type, ...(HEX_TYPES.test(c.type) ? { encoding: 'hex' as const } : {}) })),
    bytes: Number(t.bytes ?? 0),
    engine: t.engine ?? 'InnoDB',
    primaryKey: keys.filter((k) => k.tableName === t.name).map((k) => k.name),
  }));
}

/** `SELECT <columns> FROM <table><tail>` as CSV into `sink` (ended when done). */
async function writeRows(client: MySqlClient, table: Pick<MySqlExportTable, 'name' | 'columns'>, sink: Writable, tail = ''): Promise<{ rows: number; bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let [bytes, rows, batch] = [0, 0, csvHeaderLine(table.columns.map((c) => c.name))];
  const flush = async () => {
    const chunk = Buffer.from(batch, 'utf8');
    hash.update(chunk);
    bytes += chunk.length;
    batch = '';
    if (!sink.write(chunk)) await once(sink, 'drain');
  };
  const select = `SELECT ${table.columns.map((c) => quoteMySqlName(c.name)).join(', ')} FROM ${table.name}${tail}`;
  const { columns, rows: stream } = client.streamRaw(select);
  await columns;
  // the types metadata.json records decide what is hex, so an import reads each file as it was written
  const described = table.columns.map((c) => ({ name: c.name, binary: c.encoding === 'hex' }));
  for await (const raw of stream) {
    batch += raw.map((v, i) => csvField(mySqlText(v, described[i]!))).join(',') + '\n';
    rows++;
    if (batch.length >= 1 << 16) await flush();
  }
  await flush();
  sink.end();
  if (!sink.writableFinished) await once(sink, 'finish');
  return { rows, bytes, sha256: hash.digest('hex') };
}

/** Opens the export's snapshot on one connection and reads what it holds. */
export async function openMySqlExport(target: Target, waitSeconds: number, onRetry?: (attempt: number, error: KitError) => void, signal?: AbortSignal, differential = false): Promise<MySqlExportSession> {
  const client = await connectMySqlWithWait(target, waitSeconds, onRetry, signal);
  try {
    await readLikeTheGuard(client);
    await client.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await client.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const { rows } = await client.query<{ version: string; at: string }>("SELECT VERSION() AS version, DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ') AS at");
    // read at once, on this connection: what was running at the snapshot
    const nextLowerBound = differential ? await readMySqlNextLowerBound(client) : undefined;
    const version = rows[0]!.version;
    const tables = await readTables(client, target.database);
    const guarded = <T>(abort: AbortSignal, work: () => Promise<T>, sink?: Writable) => withKill(target, client, abort, work, sink);
    return {
      facts: { version, versionNum: mySqlVersionNum(version), flavour: /mariadb/i.test(version) ? 'MariaDB' : 'MySQL' },
      snapshot: { id: `consistent snapshot of connection ${client.threadId}`, takenAt: rows[0]!.at },
      tables,
      writeTable: (table, sink, abort, since) => guarded(abort, async () => writeRows(client, table, sink, since ? await changedSinceSql(client, since) : ''), sink),
      chain: nextLowerBound === undefined ? undefined : chainReader(client, nextLowerBound, guarded),
      commit: async () => void (await client.query('COMMIT')),
      close: () => client.end(),
    };
  } catch (error) {
    await client.end();
    throw error;
  }
}

/** A read that a Ctrl-C stops by killing the connection's statement; its sink destroyed on failure. */
async function withKill<T>(target: Target, client: MySqlClient, abort: AbortSignal, work: () => Promise<T>, sink?: Writable): Promise<T> {
  const stop = () => void killMySqlConnection(target, client.threadId);
  abort.addEventListener('abort', stop, { once: true });
  try {
    return await work();
  } catch (error) {
    sink?.destroy();
    throw error;
  } finally {
    abort.removeEventListener('abort', stop);
  }
}

function chainReader(client: MySqlClient, nextLowerBound: string, guarded: <T>(abort: AbortSignal, work: () => Promise<T>, sink?: Writable) => Promise<T>): CsvChainReader {
  return {
    basisTypes: MYSQL_BASIS,
    nextLowerBound,
    timeZone: (configured) => mySqlBasisZone(client, configured),
    async countRows(table, since) {
      const where = since ? await changedSinceSql(client, since) : '';
      const { rows } = await client.query<{ n: string | number }>(`SELECT COUNT(*) AS n FROM ${table.name}${where}`);
      return Number(rows[0]!.n);
    },
    writeKeys(table, sink, abort, since) {
      const { order } = mySqlKeySql(table);
      const keyColumns = table.primaryKey.map((name) => table.columns.find((c) => c.name === name)!);
      return guarded(abort, async () => writeRows(client, { name: table.name, columns: keyColumns }, sink, `${since ? await changedSinceSql(client, since) : ''} ORDER BY ${order}`), sink);
    },
    keyOrder: mySqlKeyOrder,
  };
}

const DUMP_COMMON = ['--no-data', '--single-transaction', '--skip-dump-date', '--default-character-set=utf8mb4', '--skip-lock-tables'];

/** mariadb-dump's output for `args` into `sink` (left open), hashed and counted. */
async function dumpPart(tool: MySqlTool, target: Target, args: string[], sink: Writable, hash: ReturnType<typeof createHash>, signal: AbortSignal): Promise<number> {
  const running = startMySqlTool(tool, target, [...DUMP_COMMON, ...args], { failure: 'PG_DUMP_FAILED', signal });
  let bytes = 0;
  for await (const chunk of running.child.stdout! as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
    if (!sink.write(chunk)) await once(sink, 'drain');
  }
  await running.done;
  return bytes;
}

/**
 * schema.sql: the tables and views (pre-data), then triggers, routines and events (post-data).
 * `tables` limits it to those tables (and their triggers); routines and events come only with
 * the whole database. Returns its size, sha256 and where the post-data part starts.
 */
export async function dumpMySqlSchema(target: Target, tables: string[] | undefined, sink: Writable, signal: AbortSignal): Promise<{ bytes: number; sha256: string; preDataBytes: number; tool: MySqlTool }> {
  const tool = await locateMySqlTool('mariadb-dump');
  const hash = createHash('sha256');
  const scope = [target.database, ...(tables ?? [])];
  const pre = await dumpPart(tool, target, ['--skip-triggers', ...scope], sink, hash, signal);
  const whole = tables === undefined ? ['--routines', '--events'] : ['--skip-routines', '--skip-events'];
  const post = await dumpPart(tool, target, ['--no-create-info', '--triggers', ...whole, ...scope], sink, hash, signal);
  sink.end();
  if (!sink.writableFinished) await once(sink, 'finish');
  return { bytes: pre + post, sha256: hash.digest('hex'), preDataBytes: pre, tool };
}
