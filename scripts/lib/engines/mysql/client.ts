/**
 * A connection to a MySQL or MariaDB server, through the mysql2 driver, shaped like the kit's
 * PostgreSQL client where domain code meets it: `query(sql, params)` resolves to `{ rows }`, and
 * `end()` closes it. Rows come back as plain objects keyed by column name; DATE/DATETIME/TIMESTAMP
 * values come back as the server's text (no JavaScript Date, which would move them through the
 * process's time zone), big integers and decimals as strings (no precision lost), binary as Buffer.
 *
 * The password reaches the driver in memory only. A unix socket is a `host` that starts with "/".
 */
import type { Readable } from 'node:stream';
import mysql from 'mysql2/promise';
import type { Target } from '../../config/target.js';

export interface MySqlClient {
  /** A statement's rows (none for one that returns no result set) and, for a change, the rows it affected. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: Row[]; affectedRows?: number; warnings?: number }>;
  /** The rows of a query one at a time, without holding the result in memory. */
  stream(sql: string, params?: unknown[]): AsyncIterable<Record<string, unknown>>;
  /**
   * A query's rows as the server sent them: each value its wire bytes (the server's own text for
   * numbers, dates and JSON; the stored bytes for binary columns) or null, streamed; and its columns.
   */
  streamRaw(sql: string): RawRows;
  /**
   * `LOAD DATA LOCAL INFILE …` fed from `data`: whatever file name the server asks for, only this
   * stream is sent (the driver never opens a file itself). Resolves to the rows it loaded.
   */
  loadLocal(sql: string, data: Readable): Promise<{ affectedRows: number; warnings: number }>;
  end(): Promise<void>;
  /** The server's id for this connection (KILL <id> from another session stops its statement). */
  readonly threadId: number;
}

/** A column of a result, as the server described it. */
export interface RawColumn {
  name: string;
  /** Holds bytes, not text: a binary string or blob, BIT, or a spatial value (shown and exported as hex). */
  binary: boolean;
}

export interface RawRows {
  /** Known once the server has described the result (before its first row). */
  columns: Promise<RawColumn[]>;
  rows: AsyncIterable<Array<Buffer | null>>;
}

/** Wire types that carry bytes when their character set is binary (63); numbers and dates report 63 too. */
const BYTE_TYPES = new Set([15, 16, 249, 250, 251, 252, 253, 254, 255]);
const BINARY_CHARSET = 63;

export interface MySqlConnectOptions {
  /** Seconds to wait for the TCP or socket connection before giving up (default 10). */
  connectTimeoutSeconds?: number;
  /** Run several statements in one query() (only the kit's own generated SQL asks for this). */
  multipleStatements?: boolean;
}

/** Opens one connection to the target's database (or to none when database is ""). */
export async function openMySql(target: Target, options: MySqlConnectOptions = {}): Promise<MySqlClient> {
  const socket = target.host.startsWith('/');
  const connection = await mysql.createConnection({
    ...(socket ? { socketPath: target.host } : { host: target.host, port: target.port }),
    user: target.user,
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.database ? { database: target.database } : {}),
    charset: 'utf8mb4_general_ci',
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    timezone: 'Z',
    connectTimeout: (options.connectTimeoutSeconds ?? 10) * 1000,
    multipleStatements: options.multipleStatements ?? false,
  });
  // A dropped connection emits 'error' on the connection object: the next query() rejects with it,
  // and an unhandled 'error' event must never take the process down instead.
  connection.on('error', () => undefined);
  return wrap(connection);
}

interface RawQuery {
  once(event: 'fields', listener: (fields: Array<{ name: string; characterSet: number; columnType: number }>) => void): RawQuery;
  once(event: 'error' | 'end', listener: (error?: unknown) => void): RawQuery;
  stream(options: object): AsyncIterable<unknown>;
}

function wrap(connection: mysql.Connection): MySqlClient {
  return {
    threadId: connection.threadId ?? 0,
    async query<Row>(sql: string, params?: unknown[]) {
      const [result] = await connection.query(sql, params);
      if (Array.isArray(result)) return { rows: result as Row[] };
      const header = result as { affectedRows?: number; warningStatus?: number };
      return { rows: [] as Row[], affectedRows: header.affectedRows, warnings: header.warningStatus };
    },
    stream(sql: string, params?: unknown[]) {
      // The callback connection underneath streams rows with back-pressure.
      const raw = (connection as unknown as { connection: { query(sql: string, params?: unknown[]): { stream(o?: object): AsyncIterable<Record<string, unknown>> } } }).connection;
      return raw.query(sql, params).stream({ highWaterMark: 256 });
    },
    streamRaw(sql: string) {
      const raw = (connection as unknown as { connection: { query(options: object): RawQuery } }).connection;
      const query = raw.query({ sql, rowsAsArray: true, typeCast: (field: { buffer(): Buffer | null }) => field.buffer() });
      const columns = new Promise<RawColumn[]>((resolve, reject) => {
        query.once('fields', (fields) => resolve(fields.map((f) => ({ name: f.name, binary: f.characterSet === BINARY_CHARSET && BYTE_TYPES.has(f.columnType) }))));
        query.once('error', reject);
        query.once('end', () => resolve([]));
      });
      columns.catch(() => undefined);
      return { columns, rows: query.stream({ highWaterMark: 256 }) as AsyncIterable<Array<Buffer | null>> };
    },
    async loadLocal(sql: string, data: Readable) {
      const [result] = await connection.query({ sql, infileStreamFactory: () => data });
      const header = result as { affectedRows?: number; warningStatus?: number };
      return { affectedRows: header.affectedRows ?? 0, warnings: header.warningStatus ?? 0 };
    },
    async end() {
      await connection.end().catch(() => connection.destroy());
    },
  };
}
