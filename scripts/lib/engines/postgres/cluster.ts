/**
 * A throw-away PostgreSQL cluster: initdb + pg_ctl from the installed server binaries, in a temp
 * directory, on a free loopback port with a private socket directory. Used by the test harness,
 * `pnpm demo` and `pnpm bench`. As root (CI containers) the server runs as the `postgres` user,
 * because PostgreSQL refuses to run as root.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { captureProcess, runToExit } from '../../proc/process.js';

export interface Cluster {
  host: string;
  port: number;
  socketDir: string;
  dataDir: string;
  binDir: string;
  superuser: string;
  password: string;
  /** URL for a database on this cluster, as the superuser. */
  url(database?: string): string;
  /** Stop immediately (a crash, for fault tests) or cleanly, then start again. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Stop and delete everything. */
  destroy(): Promise<void>;
}

export function findServerBin(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PG_SERVER_BIN) return env.PG_SERVER_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const dir = path.join(root, v, 'bin');
    if (existsSync(path.join(dir, 'initdb'))) return dir;
  }
  for (const dir of ['/opt/homebrew/bin', '/usr/local/bin', '/usr/bin']) {
    if (existsSync(path.join(dir, 'initdb'))) return dir;
  }
  throw new Error('No PostgreSQL server binaries (initdb, pg_ctl) found. Install them (Debian: apt-get install postgresql) or set PG_SERVER_BIN to their directory.');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface RunAs {
  uid?: number;
  gid?: number;
}

// As root, initdb and pg_ctl run as the postgres user, which `id` names.
async function postgresUser(): Promise<RunAs> {
  if (userInfo().uid !== 0) return {};
  const id = async (flag: string) => Number((await captureProcess('id', [flag, 'postgres'], { name: 'id' })).trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

async function run(file: string, args: string[], runAs: RunAs, home: string): Promise<void> {
  const out = await runToExit(file, args, {
    cwd: home,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
    ...runAs,
  });
  if (out.status !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} failed (${out.status ?? out.signal}): ${out.stderr.trim()}`);
}

/**
 * A throw-away cluster: initdb into a temp dir, a free port on loopback, a private socket. Speed
 * over durability (fsync and synchronous_commit off); `crashSafe` turns synchronous commit back on
 * for tests that stop the server with 'immediate' and expect every committed row to survive it.
 */
export async function startCluster(options: { settings?: Record<string, string>; crashSafe?: boolean } = {}): Promise<Cluster> {
  const binDir = findServerBin();
  const runAs = await postgresUser();
  const base = mkdtempSync(path.join(tmpdir(), 'pgkit-cluster-'));
  const dataDir = path.join(base, 'data');
  const socketDir = path.join(base, 'socket');
  const password = randomBytes(12).toString('hex');
  const pwfile = path.join(base, 'pwfile');
  writeFileSync(pwfile, password + '\n', { mode: 0o600 });
  mkdirSync(socketDir, { mode: 0o700 });
  if (runAs.uid !== undefined) for (const p of [base, pwfile, socketDir]) chownSync(p, runAs.uid, runAs.gid!);

  await run(path.join(binDir, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--pwfile', pwfile, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'], runAs, base);
  rmSync(pwfile, { force: true });
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: socketDir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '200',
    ...(options.crashSafe ? { synchronous_commit: 'on' } : {}),
    ...options.settings,
  };
  const conf = Object.entries(settings).map(([k, v]) => `${k} = '${v}'`).join('\n');
  appendFileSync(path.join(dataDir, 'postgresql.conf'), `\n# throw-away cluster settings\n${conf}\n`);
  const logFile = path.join(base, 'server.log');
  const pgCtl = (args: string[]) => run(path.join(binDir, 'pg_ctl'), ['-D', dataDir, ...args], runAs, base);
  const start = () => pgCtl(['-l', logFile, '-w', '-t', '60', 'start']);
  await start();

  let running = true;
  return {
    host: '127.0.0.1',
    port,
    socketDir,
    dataDir,
    binDir,
    superuser: 'postgres',
    password,
    url: (database = 'postgres') => `postgresql://postgres:${password}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    async stop(mode = 'fast') {
      await pgCtl(['-m', mode, '-w', 'stop']);
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async destroy() {
      if (running) await pgCtl(['-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      running = false;
      rmSync(base, { recursive: true, force: true });
    },
  };
}
