/**
 * A throw-away MariaDB server for the tests of the coming second engine (issue 22), started the
 * way the harness starts PostgreSQL clusters: mariadb-install-db into a temp directory, mariadbd
 * on a private unix socket and a free loopback port, as the `mysql` user when the tests run as
 * root. Started lazily by each test file that needs it, so PostgreSQL-only runs never pay for it.
 *
 * The client tools get the password from a 0600 option file (--defaults-extra-file) written for
 * one call and removed after it: never in argv, never in the environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { freePort } from '../../lib/engines/postgres/cluster.js';
import { captureProcess, dyingWithParent, processAlive, runToExit, startProcess } from '../../lib/proc/process.js';

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
}

function mariadbdPath(): string {
  return ['/usr/sbin/mariadbd', '/usr/local/sbin/mariadbd', '/usr/local/bin/mariadbd', '/opt/homebrew/bin/mariadbd'].find((p) => existsSync(p)) ?? 'mariadbd';
}

interface RunAs {
  uid?: number;
  gid?: number;
}

// mariadbd lives in /usr/sbin, which a non-root PATH often lacks.
const CLEAN_ENV = { PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/usr/local/sbin`, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };

async function mysqlUser(): Promise<RunAs> {
  if (userInfo().uid !== 0) return {};
  const id = async (flag: string) => Number((await captureProcess('id', [flag, 'mysql'], { name: 'id' })).trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

/** The server's own options: nothing from /etc/mysql, small buffers, no binary log. */
function serverArgs(base: string, port: number): string[] {
  return [
    '--no-defaults',
    `--datadir=${path.join(base, 'data')}`,
    `--socket=${path.join(base, 'mysqld.sock')}`,
    `--pid-file=${path.join(base, 'mysqld.pid')}`,
    `--log-error=${path.join(base, 'error.log')}`,
    `--tmpdir=${base}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--skip-name-resolve',
    '--skip-log-bin',
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=16M',
    '--key-buffer-size=1M',
    '--innodb-flush-log-at-trx-commit=0',
    '--max-connections=50',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
    '--event-scheduler=OFF',
  ];
}

async function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Ping over the socket as root until the server answers, or fail with its error log. */
async function waitReady(base: string, child: ChildProcess): Promise<void> {
  const socket = path.join(base, 'mysqld.sock');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    const ping = await runToExit('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '--user=root', 'ping'], { env: CLEAN_ENV });
    if (ping.status === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  let log = '';
  try {
    log = readFileSync(path.join(base, 'error.log'), 'utf8').slice(-2000);
  } catch {
    // no log yet
  }
  throw new Error(`mariadbd did not answer within 60 s: ${log}`);
}

/** Start a server with an `admin` account reachable over TCP with a generated password. */
export async function startMariaDb(): Promise<MariaDb> {
  const runAs = await mysqlUser();
  const base = mkdtempSync(path.join(tmpdir(), 'pgkit-mariadb-'));
  if (runAs.uid !== undefined) chownSync(base, runAs.uid, runAs.gid!);
  const install = await runToExit(
    'mariadb-install-db',
    ['--no-defaults', `--datadir=${path.join(base, 'data')}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve', ...(runAs.uid !== undefined ? ['--user=mysql'] : [])],
    { env: CLEAN_ENV, cwd: base },
  );
  if (install.status !== 0) throw new Error(`mariadb-install-db failed (${install.code}): ${install.stderr.trim()}`);
  const port = await freePort();
  // Started as the mysql user directly (not with --user, whose change of user would clear the
  // parent-death signal), so a test process killed outright takes its server with it.
  const [file, args] = dyingWithParent(mariadbdPath(), serverArgs(base, port));
  const child = spawn(file, args, { env: CLEAN_ENV, cwd: base, stdio: 'ignore', ...runAs });
  child.on('error', () => undefined);
  try {
    await waitReady(base, child);
  } catch (error) {
    child.kill('SIGKILL');
    await exited(child, 10_000);
    rmSync(base, { recursive: true, force: true });
    throw error;
  }
  const password = randomBytes(12).toString('hex');
  const socket = path.join(base, 'mysqld.sock');
  // The client echoes a failing statement on stderr: it carries the password's hash, never the password.
  const bootstrap = `CREATE USER 'admin'@'127.0.0.1' IDENTIFIED BY PASSWORD '${nativePasswordHash(password)}';\nGRANT ALL PRIVILEGES ON *.* TO 'admin'@'127.0.0.1' WITH GRANT OPTION;\n`;
  await captureProcess('mariadb', ['--no-defaults', `--socket=${socket}`, '--user=root'], { env: CLEAN_ENV, input: bootstrap, name: 'mariadb' });
  return handle(base, child, port, password);
}

/** mysql_native_password's stored form: '*' and the upper-case hex of SHA1(SHA1(password)). */
function nativePasswordHash(password: string): string {
  const once = createHash('sha1').update(password).digest();
  return '*' + createHash('sha1').update(once).digest('hex').toUpperCase();
}

function handle(base: string, child: ChildProcess, port: number, password: string): MariaDb {
  const socket = path.join(base, 'mysqld.sock');
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
    host: '127.0.0.1',
    port,
    socket,
    user: 'admin',
    password,
    pid: child.pid!,
    base,
    sql,
    tool,
    async createDatabase() {
      const name = `m_${randomBytes(5).toString('hex')}`;
      await sql(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`);
      return name;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await runToExit('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '--user=root', 'shutdown'], { env: CLEAN_ENV });
        if (!(await exited(child, 30_000))) {
          child.kill('SIGKILL');
          await exited(child, 10_000);
        }
      }
      rmSync(optionsDir, { recursive: true, force: true });
      rmSync(base, { recursive: true, force: true });
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
