/**
 * A connection to a MySQL or MariaDB server, through the mysql2 driver, shaped like the kit's
 * PostgreSQL client where domain code meets it: `query(sql, params)` resolves to `{ rows }`, and
 * `end()` closes it. Rows come back as plain objects keyed by column name; DATE/DATETIME/TIMESTAMP
 * values come back as the server's text (no JavaScript Date, which would move them through the
 * process's time zone), big integers and decimals as strings (no precision lost), binary as Buffer.
 *
 * The password reaches the driver in memory only. A unix socket is a `host` that starts with "/".
 */
import mysql from 'mysql2/promise';
import type { Target } from '../../config/target.js';

export interface MySqlClient {
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: Row[] }>;
  /** The rows of a query one at a time, without holding the result in memory. */
  stream(sql: string, params?: unknown[]): AsyncIterable<Record<string, unknown>>;
  end(): Promise<void>;
  /** The server's id for this connection (KILL <id> from another session stops its statement). */
  readonly threadId: number;
}

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

function wrap(connection: mysql.Connection): MySqlClient {
  return {
    threadId: connection.threadId ?? 0,
    async query<Row>(sql: string, params?: unknown[]) {
      const [result] = await connection.query(sql, params);
      return { rows: (Array.isArray(result) ? result : []) as Row[] };
    },
    stream(sql: string, params?: unknown[]) {
      // The callback connection underneath streams rows with back-pressure.
      const raw = (connection as unknown as { connection: { query(sql: string, params?: unknown[]): { stream(o?: object): AsyncIterable<Record<string, unknown>> } } }).connection;
      return raw.query(sql, params).stream({ highWaterMark: 256 });
    },
    async end() {
      await connection.end().catch(() => connection.destroy());
    },
  };
}
