/**
 * A throw-away MariaDB server for the tests of the second engine (issue 22): the server itself
 * comes from scripts/lib/engines/mysql/server.ts (which the demo and the bench start too), and
 * this file adds what tests need around it. Started lazily by each test file that needs it, so
 * PostgreSQL-only runs never pay for it.
 *
 * The client tools get the password from a 0600 option file (--defaults-extra-file) written for
 * one call and removed after it: never in argv, never in the environment.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { SERVER_ENV as CLEAN_ENV, startMariaDbServer, type MariaDbServer } from '../../lib/engines/mysql/server.js';
import { captureProcess, processAlive, startProcess } from '../../lib/proc/process.js';

export const MARIADB_CORPUS = path.resolve(import.meta.dirname, 'mysql-awkward.sql');

export interface MariaDb {
  host: string;
  port: number;
  socket: string;
  user: string;
  password: string;
  /** The server's pid and temp directory, to prove both are gone after stop(). */
  pid: number;
  base: string;
  /** Run SQL (several statements; DELIMITER works) through the `mariadb` client; its tab-separated output. */
  sql(sql: string, database?: string): Promise<string>;
  /** Create an empty utf8mb4 database with a fresh name and return the name. */
  createDatabase(): Promise<string>;
  /** Run a client tool (mariadb, mariadb-dump) as the admin account; stdout to a file when given. */
  tool(program: string, args: string[], io?: { stdoutFile?: string; stdinFile?: string }): Promise<string>;
  /** Shut down (mariadb-admin shutdown, then SIGKILL) and delete everything. */
  stop(): Promise<void>;
  /** SIGKILL the server (a crash), then start it again on the same data directory. */
  crash(): Promise<void>;
  restart(): Promise<void>;
}

/** Start a server with an `admin` account reachable over TCP with a generated password. */
export async function startMariaDb(): Promise<MariaDb> {
  return handle(await startMariaDbServer());
}

function handle(server: MariaDbServer): MariaDb {
  const { port, password } = server;
  const optionsDir = path.join(tmpdir(), `pgkit-mariadb-client-${randomBytes(4).toString('hex')}`);
  let calls = 0;
  const withOptions = async <T>(fn: (file: string) => Promise<T>): Promise<T> => {
    mkdirSync(optionsDir, { recursive: true, mode: 0o700 });
    const file = path.join(optionsDir, `client-${calls++}.cnf`);
    writeFileSync(file, `[client]\nuser=admin\npassword=${password}\nhost=127.0.0.1\nport=${port}\nprotocol=TCP\n`, { mode: 0o600 });
    try {
      return await fn(file);
    } finally {
      rmSync(file, { force: true });
    }
  };
  const tool: MariaDb['tool'] = (program, args, io = {}) =>
    withOptions(async (file) => {
      const argv = [`--defaults-extra-file=${file}`, ...args];
      if (!io.stdoutFile) return captureProcess(program, argv, { env: CLEAN_ENV, name: program, maxBytes: 64 << 20, ...(io.stdinFile ? { input: readFileSync(io.stdinFile) } : {}) });
      const running = startProcess(program, argv, { env: CLEAN_ENV, name: program, stdio: ['ignore', 'pipe', 'pipe'] });
      await Promise.all([running.done, pipeline(running.child.stdout!, createWriteStream(io.stdoutFile))]);
      return '';
    });
  const sql: MariaDb['sql'] = (text, database) =>
    withOptions((file) =>
      captureProcess('mariadb', [`--defaults-extra-file=${file}`, '--batch', '--skip-column-names', '--default-character-set=utf8mb4', ...(database ? [database] : [])], {
        env: CLEAN_ENV,
        name: 'mariadb',
        input: text,
        maxBytes: 64 << 20,
      }),
    );
  return {
    host: server.host,
    port,
    socket: server.socket,
    user: server.user,
    password,
    pid: server.pid,
    base: server.base,
    sql,
    tool,
    async createDatabase() {
      const name = `m_${randomBytes(5).toString('hex')}`;
      await sql(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`);
      return name;
    },
    crash: () => server.crash(),
    restart: () => server.restart(),
    async stop() {
      await server.stop();
      rmSync(optionsDir, { recursive: true, force: true });
    },
  };
}

/** Two server-wide users with grants on one database: users live outside any dump of it. */
export function awkwardUsersSql(database: string): string {
  const db = quoteName(database);
  return [
    `CREATE USER IF NOT EXISTS 'app reader'@'%' IDENTIFIED BY '${randomBytes(8).toString('hex')}';`,
    `CREATE USER IF NOT EXISTS 'app_writer'@'127.0.0.1' IDENTIFIED BY '${randomBytes(8).toString('hex')}';`,
    `GRANT SELECT, SHOW VIEW ON ${db}.* TO 'app reader'@'%';`,
    `GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE ON ${db}.* TO 'app_writer'@'127.0.0.1';`,
    '',
  ].join('\n');
}

export function quoteName(name: string): string {
  return '`' + name.replaceAll('`', '``') + '`';
}

function quoteString(value: string): string {
  return "'" + value.replaceAll('\\', '\\\\').replaceAll("'", "''") + "'";
}

/** Processes still running whose command line names the server's directory (its mariadbd). */
export function processesOf(server: MariaDb): number[] {
  const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  return pids.map(Number).filter((pid) => {
    try {
      return processAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(server.base);
    } catch {
      return false;
    }
  });
}

interface Columns {
  table: string;
  columns: string[];
}

async function tableColumns(server: MariaDb, database: string): Promise<Columns[]> {
  const out = await server.sql(
    `SELECT c.TABLE_NAME, c.COLUMN_NAME FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
     WHERE c.TABLE_SCHEMA = ${quoteString(database)} AND t.TABLE_TYPE = 'BASE TABLE' ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION;`,
  );
  const byTable = new Map<string, string[]>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [table, column] = line.split('\t').map(unescapeBatch) as [string, string];
    byTable.set(table, [...(byTable.get(table) ?? []), column]);
  }
  return [...byTable].map(([table, columns]) => ({ table, columns }));
}

/** Undo the client's batch-mode escaping of one field. */
function unescapeBatch(field: string): string {
  return field.replace(/\\([\\nt0])/g, (_, c: string) => ({ n: '\n', t: '\t', '0': '\0', '\\': '\\' })[c]!);
}

/** Row count and an order-independent SHA-256 over every row's columns, as hex of their binary form. */
function rowsQuery({ table, columns }: Columns): string {
  const row = columns.map((c) => `IFNULL(HEX(CAST(${quoteName(c)} AS BINARY)), 'NULL')`).join(', ');
  return `SELECT COUNT(*), IFNULL(SHA2(GROUP_CONCAT(r ORDER BY r SEPARATOR ','), 256), '-') FROM (SELECT SHA2(CONCAT_WS('|', ${row}), 256) AS r FROM ${quoteName(table)}) AS x;`;
}

const DEFINITIONS: Array<[kind: string, list: (db: string) => string]> = [
  ['TABLE', (db) => `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${quoteString(db)} AND TABLE_TYPE = 'BASE TABLE'`],
  ['VIEW', (db) => `SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ${quoteString(db)}`],
  ['PROCEDURE', (db) => `SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${quoteString(db)} AND ROUTINE_TYPE = 'PROCEDURE'`],
  ['FUNCTION', (db) => `SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${quoteString(db)} AND ROUTINE_TYPE = 'FUNCTION'`],
  ['TRIGGER', (db) => `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${quoteString(db)}`],
  ['EVENT', (db) => `SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${quoteString(db)}`],
];

/**
 * DEFINER clauses, AUTO_INCREMENT counters, the database's own name and a trigger's creation
 * time (SHOW CREATE TRIGGER's last field) differ between copies.
 */
function normalise(definition: string, database: string): string {
  return definition
    .replace(/\t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?$/, '')
    .replace(/DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*`\s*/g, '')
    .replace(/\s+AUTO_INCREMENT=\d+/g, '')
    .replaceAll(`${quoteName(database)}.`, '');
}

async function definitions(server: MariaDb, database: string): Promise<string[]> {
  const out: string[] = [];
  for (const [kind, list] of DEFINITIONS) {
    const names = (await server.sql(`${list(database)};`, database)).split('\n').filter(Boolean).map(unescapeBatch).sort();
    if (names.length === 0) continue;
    const shown = await server.sql(names.map((n) => `SHOW CREATE ${kind} ${quoteName(n)};`).join('\n'), database);
    const rows = shown.split('\n').filter(Boolean);
    if (rows.length !== names.length) throw new Error(`SHOW CREATE ${kind} gave ${rows.length} rows for ${names.length} objects`);
    rows.forEach((row, i) => out.push(`${kind} ${names[i]}: ${normalise(unescapeBatch(row), database)}`));
  }
  return out.sort();
}

export interface MariaDbFingerprint {
  /** table → "rows sha256" */
  tables: Record<string, string>;
  /** "KIND name: SHOW CREATE output", normalised, sorted. */
  definitions: string[];
}

/** What a restore must reproduce: every table's rows and every object's definition. */
export async function fingerprintMariaDb(server: MariaDb, database: string): Promise<MariaDbFingerprint> {
  const tables: Record<string, string> = {};
  const cols = await tableColumns(server, database);
  if (cols.length > 0) {
    const out = await server.sql(`SET SESSION group_concat_max_len = 1073741824;\n${cols.map(rowsQuery).join('\n')}`, database);
    const rows = out.split('\n').filter(Boolean);
    if (rows.length !== cols.length) throw new Error(`fingerprint: ${rows.length} results for ${cols.length} tables`);
    cols.forEach((c, i) => (tables[c.table] = rows[i]!.replace('\t', ' ')));
  }
  return { tables, definitions: await definitions(server, database) };
}

/** The pid of the `mariadb` client a restore of `target` runs to load its scratch database, while it runs. */
export function scratchLoaderOf(target: string): number | undefined {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // ended between the listing and the read
    }
    if (argv.includes('--binary-mode') && argv.some((a) => a.startsWith(`--database=${target}_kit_new_`))) return Number(pid);
  }
  return undefined;
}
