/**
 * A throw-away MariaDB server, the MySQL engine's counterpart of postgres/cluster.ts: for the
 * demo, the bench and the tests. mariadb-install-db into a temp directory, mariadbd on a private
 * unix socket and a free loopback port, as the `mysql` user when run as root, under a
 * parent-death signal so a killed parent takes its server with it. It reads no /etc/mysql
 * options, keeps no binary log and lives only as long as its caller: stop() shuts it down and
 * deletes everything.
 *
 * An `admin` account reachable over TCP gets a generated password; the bootstrap sends only the
 * password's hash, so a failing statement echoed on stderr never carries the password.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import type { Target } from '../../config/target.js';
import { registerSecret } from '../../redact.js';
import { captureProcess, dyingWithParent, runToExit } from '../../proc/process.js';
import { freePort } from '../postgres/cluster.js';

export interface MariaDbServerOptions {
  /** InnoDB's buffer pool in MB (default 32: small, for tests; the bench asks for more). */
  bufferPoolMb?: number;
  /** Extra mariadbd options, e.g. '--max-allowed-packet=64M'. */
  extraArgs?: string[];
}

export interface MariaDbServer {
  host: string;
  port: number;
  socket: string;
  user: string;
  password: string;
  /** The server's pid and temp directory, to prove both are gone after stop(). */
  pid: number;
  base: string;
  /** mysql://admin:…@127.0.0.1:port/<database>, the form the kit takes as DATABASE_URL. */
  url(database?: string): string;
  /** The admin's connection to `database` ("" for none), for openMySql and startMySqlTool. */
  target(database?: string): Target;
  /** Run SQL as root over the private socket (no password); its tab-separated output. */
  rootSql(sql: string): Promise<string>;
  /** Shut down (mariadb-admin shutdown, then SIGKILL) and delete everything. */
  stop(): Promise<void>;
  /** A crash: SIGKILL to the server, its data directory kept for restart(). */
  crash(): Promise<void>;
  /** Start the server again on the same data directory and port (InnoDB recovers what it must). */
  restart(): Promise<void>;
}

// mariadbd lives in /usr/sbin, which a non-root PATH often lacks.
export const SERVER_ENV = { PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/usr/local/sbin`, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };

function mariadbdPath(): string {
  return ['/usr/sbin/mariadbd', '/usr/local/sbin/mariadbd', '/usr/local/bin/mariadbd', '/opt/homebrew/bin/mariadbd'].find((p) => existsSync(p)) ?? 'mariadbd';
}

interface RunAs {
  uid?: number;
  gid?: number;
}

async function mysqlUser(): Promise<RunAs> {
  if (userInfo().uid !== 0) return {};
  const id = async (flag: string) => Number((await captureProcess('id', [flag, 'mysql'], { name: 'id' })).trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

/** The server's own options: nothing from /etc/mysql, no binary log, speed over durability. */
function serverArgs(base: string, port: number, options: MariaDbServerOptions): string[] {
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
    `--innodb-buffer-pool-size=${options.bufferPoolMb ?? 32}M`,
    '--innodb-log-file-size=16M',
    '--key-buffer-size=1M',
    '--innodb-flush-log-at-trx-commit=0',
    '--max-connections=50',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
    '--event-scheduler=OFF',
    ...(options.extraArgs ?? []),
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
    const ping = await runToExit('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '--user=root', 'ping'], { env: SERVER_ENV });
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

/** mysql_native_password's stored form: '*' and the upper-case hex of SHA1(SHA1(password)). */
function nativePasswordHash(password: string): string {
  const once = createHash('sha1').update(password).digest();
  return '*' + createHash('sha1').update(once).digest('hex').toUpperCase();
}

async function installDataDirectory(base: string, runAs: RunAs): Promise<void> {
  const args = ['--no-defaults', `--datadir=${path.join(base, 'data')}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve', ...(runAs.uid !== undefined ? ['--user=mysql'] : [])];
  const install = await runToExit('mariadb-install-db', args, { env: SERVER_ENV, cwd: base }).catch((error: unknown) => {
    throw new Error(`mariadb-install-db could not be started (install the server: apt-get install mariadb-server): ${error instanceof Error ? error.message : String(error)}`);
  });
  if (install.status !== 0) throw new Error(`mariadb-install-db failed (${install.code}): ${install.stderr.trim()}`);
}

/** Start a server with an `admin` account reachable over TCP with a generated password. */
export async function startMariaDbServer(options: MariaDbServerOptions = {}): Promise<MariaDbServer> {
  const runAs = await mysqlUser();
  const base = mkdtempSync(path.join(tmpdir(), 'pgkit-mariadb-'));
  if (runAs.uid !== undefined) chownSync(base, runAs.uid, runAs.gid!);
  let child: ChildProcess | undefined;
  try {
    await installDataDirectory(base, runAs);
    const port = await freePort();
    // Started as the mysql user directly (not with --user, whose change of user would clear the
    // parent-death signal), so a process killed outright takes its server with it.
    const launch = async (): Promise<ChildProcess> => {
      const [file, args] = dyingWithParent(mariadbdPath(), serverArgs(base, port, options));
      child = spawn(file, args, { env: SERVER_ENV, cwd: base, stdio: 'ignore', ...runAs });
      child.on('error', () => undefined);
      await waitReady(base, child);
      return child;
    };
    await launch();
    const password = randomBytes(12).toString('hex');
    registerSecret(password);
    const socket = path.join(base, 'mysqld.sock');
    const bootstrap = `CREATE USER 'admin'@'127.0.0.1' IDENTIFIED BY PASSWORD '${nativePasswordHash(password)}';\nGRANT ALL PRIVILEGES ON *.* TO 'admin'@'127.0.0.1' WITH GRANT OPTION;\n`;
    await captureProcess('mariadb', ['--no-defaults', `--socket=${socket}`, '--user=root'], { env: SERVER_ENV, input: bootstrap, name: 'mariadb' });
    return handle(base, child!, port, password, launch);
  } catch (error) {
    if (child) {
      child.kill('SIGKILL');
      await exited(child, 10_000);
    }
    rmSync(base, { recursive: true, force: true });
    throw error;
  }
}

function handle(base: string, first: ChildProcess, port: number, password: string, launch: () => Promise<ChildProcess>): MariaDbServer {
  let child = first;
  const socket = path.join(base, 'mysqld.sock');
  const rootSql = (text: string) =>
    captureProcess('mariadb', ['--no-defaults', `--socket=${socket}`, '--user=root', '--batch', '--skip-column-names', '--default-character-set=utf8mb4'], {
      env: SERVER_ENV,
      input: text,
      name: 'mariadb',
      maxBytes: 64 << 20,
    });
  return {
    host: '127.0.0.1',
    port,
    socket,
    user: 'admin',
    password,
    get pid() {
      return child.pid!;
    },
    base,
    target: (database = '') => ({ engine: 'mysql', host: '127.0.0.1', port, user: 'admin', password, database, params: {}, env: 'default', source: 'a throw-away MariaDB server', protected: false }),
    url: (database = '') => `mysql://admin:${password}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    rootSql,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await runToExit('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '--user=root', 'shutdown'], { env: SERVER_ENV });
        if (!(await exited(child, 30_000))) {
          child.kill('SIGKILL');
          await exited(child, 10_000);
        }
      }
      rmSync(base, { recursive: true, force: true });
    },
    async crash() {
      child.kill('SIGKILL');
      await exited(child, 10_000);
    },
    async restart() {
      child = await launch();
    },
  };
}
