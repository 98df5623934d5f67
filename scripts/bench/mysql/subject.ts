/**
 * The MariaDB database the bench's MySQL section measures: a throw-away server (the one the demo
 * and the tests start, with a bigger buffer pool) holding a generated database of mixed data,
 * made on the server from MariaDB's sequence tables (seq_1_to_N), so nothing is cached on disk
 * and a few hundred MB load in well under a minute.
 */
import type { Target } from '../../lib/config/target.js';
import { openMySql, type MySqlClient } from '../../lib/engines/mysql/client.js';
import { startMariaDbServer, type MariaDbServer } from '../../lib/engines/mysql/server.js';
import { progress, seconds } from '../report.js';

export const BENCH_DATABASE = 'bench';

/** The tables the generator makes, biggest last; the raw CSV peer and the driver case read them. */
export const MYSQL_TABLES = ['bench_customers', 'bench_docs', 'bench_events'] as const;

export interface MySqlSubject {
  server: MariaDbServer;
  /** The admin connection to `database`, for the raw tools and the drivers. */
  target(database?: string): Target;
  /** What the kit is given as DATABASE_URL. */
  url(database?: string): string;
  close(): Promise<void>;
}

export async function openMySqlSubject(signal: AbortSignal): Promise<MySqlSubject> {
  progress('starting a throw-away MariaDB server');
  // Big enough that the tables of the default scale mostly fit, as on a server with real memory.
  const server = await startMariaDbServer({ bufferPoolMb: 512, extraArgs: ['--max-allowed-packet=256M'] });
  try {
    signal.throwIfAborted();
    const target = (database = BENCH_DATABASE): Target => server.target(database);
    await withMySql(target(''), (client) => client.query(`CREATE DATABASE ${BENCH_DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`));
    return { server, target, url: (database = BENCH_DATABASE) => server.url(database), close: () => server.stop() };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

export async function withMySql<T>(target: Target, work: (client: MySqlClient) => Promise<T>): Promise<T> {
  const client = await openMySql(target);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A string of `n` random hex digits, evaluated per row. */
const hex = (n: number) => `SUBSTR(REPEAT(MD5(RAND()), ${Math.ceil(n / 32)}), 1, ${n})`;

const TABLES_SQL = [
  `CREATE TABLE bench_customers (
    id INT PRIMARY KEY, name VARCHAR(120) NOT NULL, email VARCHAR(255) NOT NULL, country CHAR(2) NOT NULL,
    balance DECIMAL(14,4) NOT NULL, created_at DATETIME(6) NOT NULL, notes TEXT, KEY (email)) ENGINE=InnoDB`,
  `CREATE TABLE bench_docs (
    id BIGINT PRIMARY KEY, customer_id INT NOT NULL, title VARCHAR(200) NOT NULL, body TEXT, attrs JSON,
    amount DECIMAL(14,4), created_at DATETIME NOT NULL, payload BLOB,
    KEY (created_at), CONSTRAINT bench_docs_customer FOREIGN KEY (customer_id) REFERENCES bench_customers (id)) ENGINE=InnoDB`,
  `CREATE TABLE bench_events (
    id BIGINT PRIMARY KEY, doc_id BIGINT NOT NULL, at TIMESTAMP(3) NOT NULL, kind ENUM('view','edit','share','delete') NOT NULL,
    value DOUBLE, c1 VARCHAR(64), c2 VARCHAR(16), c3 INT, c4 SMALLINT, c5 DATE, c6 BOOLEAN, c7 DECIMAL(8,2),
    c8 BIGINT, c9 VARCHAR(32), c10 TINYINT, c11 FLOAT, c12 TIME, c13 VARBINARY(16), KEY (doc_id, at)) ENGINE=InnoDB`,
];

/** Rows per unit of scale, for about 15 MB of table data and indexes per unit (as the PostgreSQL bench). */
const PER_UNIT = { customers: 2_000, docs: 12_000, events: 40_000 };

function loadSql(scale: number): string[] {
  const customers = PER_UNIT.customers * scale;
  const docs = PER_UNIT.docs * scale;
  const events = PER_UNIT.events * scale;
  return [
    `INSERT INTO bench_customers SELECT seq,
       CONCAT(ELT(1 + seq % 6, 'Zoë', 'José', 'Åsa', 'Łukasz', '李雷', 'Renée 😀'), ' ', ${hex(10)}),
       CONCAT('user', seq, '@example.com'), ELT(1 + seq % 5, 'DE', 'FR', 'JP', 'BR', 'US'),
       ROUND(RAND() * 1e6, 4), TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq * 37 SECOND + INTERVAL seq % 1000 MICROSECOND,
       IF(seq % 7 = 0, NULL, CONCAT('note «', ${hex(60)}, '» ✓'))
     FROM seq_1_to_${customers}`,
    `INSERT INTO bench_docs SELECT seq, 1 + seq % ${customers}, CONCAT('doc ', MD5(seq)),
       CONCAT(${hex(96)}, ' ', ${hex(64)}, '\\n', ${hex(96)}, ' ', ${hex(64)}),
       JSON_OBJECT('n', seq, 'score', ROUND(RAND() * 1000, 3), 'label', ${hex(20)}, 'ok', seq % 3 = 0, 'tags', JSON_ARRAY('a', seq % 97)),
       ROUND(RAND() * 1e8, 4), TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq * 17 SECOND,
       UNHEX(CONCAT(MD5(RAND()), MD5(RAND()), MD5(RAND())))
     FROM seq_1_to_${docs}`,
    `INSERT INTO bench_events SELECT seq, 1 + seq % ${docs}, TIMESTAMP'2021-06-01 00:00:00' + INTERVAL seq * 3 SECOND,
       1 + seq % 4, RAND() * 1000, MD5(RAND()), ${hex(12)}, FLOOR(RAND() * 1e6), seq % 1000,
       DATE'2021-01-01' + INTERVAL seq % 900 DAY, seq % 2 = 0, ROUND(RAND() * 100, 2),
       seq * 7919, CONCAT('k-', seq % 5000), seq % 100, RAND(), SEC_TO_TIME(seq % 86400), UNHEX(MD5(seq))
     FROM seq_1_to_${events}`,
  ];
}

/** Fill the bench database at `scale` (about 15 MB per unit) and return its size in bytes. */
export async function loadMySqlData(subject: MySqlSubject, scale: number, signal: AbortSignal): Promise<number> {
  progress(`loading mixed application data into MariaDB at scale ${scale} (about ${scale * 15} MB)`);
  const began = performance.now();
  const size = await withMySql(subject.target(), async (client) => {
    for (const sql of [...TABLES_SQL, ...loadSql(scale)]) {
      signal.throwIfAborted();
      await client.query(sql);
    }
    await client.query(`ANALYZE TABLE ${MYSQL_TABLES.join(', ')}`);
    return databaseSize(client);
  });
  progress(`data loaded in ${seconds(performance.now() - began)} s`);
  return size;
}

async function databaseSize(client: MySqlClient): Promise<number> {
  const { rows } = await client.query<{ bytes: string }>(`SELECT SUM(DATA_LENGTH + INDEX_LENGTH) AS bytes FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`, [BENCH_DATABASE]);
  return Number(rows[0]?.bytes ?? 0);
}

export async function serverVersion(subject: MySqlSubject): Promise<string> {
  return withMySql(subject.target(''), async (client) => {
    const { rows } = await client.query<{ v: string }>('SELECT VERSION() AS v');
    return rows[0]?.v ?? 'unknown';
  });
}
