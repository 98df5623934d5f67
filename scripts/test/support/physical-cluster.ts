/**
 * Real clusters for physical backups: a primary whose archive_command is the kit's wal-push into
 * a project's archive (as a user would set it up), and a way to start a restored data directory
 * as the server's own user. As root, servers run as `postgres`: that user runs the kit from a
 * standalone launcher (scripts/kit.mjs --standalone) in a directory it can read, so the
 * repository itself may sit in a private home directory; the project is made traversable and the
 * archive directory belongs to `postgres`, as the README's recipe says.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort, startCluster, type Cluster } from '../../lib/engines/postgres/cluster.js';
import { makeProject, REPO, waitFor } from './harness.js';

const execFileAsync = promisify(execFile);

export interface Primary {
  cluster: Cluster;
  project: string;
  archive: string;
  /** The standalone kit the server's user runs (archive_command; BACKUP_KIT_LAUNCHER for restores). */
  launcher: string;
  url(database?: string): string;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  /** Close the current segment and wait until the archiver has stored it. */
  switchAndArchive(): Promise<string>;
  destroy(): Promise<void>;
}

async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const { stdout: uid } = await execFileAsync('id', ['-u', 'postgres']);
  const { stdout: gid } = await execFileAsync('id', ['-g', 'postgres']);
  return { uid: Number(uid), gid: Number(gid) };
}

/** A standalone kit in a directory of its own that every user may read (remove the directory after). */
export async function buildServerLauncher(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-launcher-'));
  chmodSync(dir, 0o755);
  const file = path.join(dir, 'kit-server.mjs');
  await execFileAsync(process.execPath, [path.join(REPO, 'scripts/kit.mjs'), '--standalone', file]);
  return file;
}

export function archiveCommand(launcher: string, project: string, env = 'default'): string {
  return `${process.execPath} ${launcher} wal-push %p --project ${project} --env ${env}`;
}

export async function startPrimary(options: { files?: Record<string, string>; env?: string; settings?: Record<string, string> } = {}): Promise<Primary> {
  const project = makeProject(options.files);
  const env = options.env ?? 'default';
  const owner = await serverUser();
  // The server's user must reach the archive: the project and backups/<env> are traversable,
  // the archive itself is the server user's; its configuration files are readable.
  const archive = path.join(project, `backups/${env}/wal`);
  mkdirSync(archive, { recursive: true, mode: 0o700 });
  for (const dir of [project, path.join(project, 'backups'), path.join(project, `backups/${env}`)]) chmodSync(dir, 0o711);
  if (owner) {
    chownSync(archive, owner.uid, owner.gid);
    for (const file of Object.keys(options.files ?? {})) {
      chownSync(path.join(project, file), owner.uid, owner.gid);
      for (let dir = path.dirname(path.join(project, file)); dir.startsWith(project) && dir !== project; dir = path.dirname(dir)) chmodSync(dir, 0o711);
    }
  }
  const launcher = await buildServerLauncher();
  const cluster = await startCluster({ settings: { archive_mode: 'on', archive_command: archiveCommand(launcher, project, env), wal_level: 'replica', max_wal_senders: '10', ...options.settings } });
  const url = (database = 'postgres') => cluster.url(database);
  const query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> => {
    const client = new pg.Client({ connectionString: url(database) });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    cluster,
    project,
    archive,
    launcher,
    url,
    query,
    async switchAndArchive() {
      const [row] = await query<{ seg: string }>(`SELECT pg_walfile_name(pg_switch_wal()) AS seg`);
      const segment = row!.seg;
      await waitFor(`archiving of ${segment}`, async () => {
        const [s] = await query<{ last: string | null }>('SELECT last_archived_wal AS last FROM pg_stat_archiver');
        return s?.last !== null && s!.last! >= segment ? true : undefined;
      });
      return segment;
    },
    async destroy() {
      await cluster.destroy();
      rmSync(project, { recursive: true, force: true });
      rmSync(path.dirname(launcher), { recursive: true, force: true });
    },
  };
}

export interface StartedCopy {
  url(database?: string): string;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, database?: string): Promise<T[]>;
  stop(): Promise<void>;
}

/** Start a restored data directory the way its owner would, on a port of its own. */
export async function startDataDir(dataDir: string, password: string, binDir: string): Promise<StartedCopy> {
  const owner = await serverUser();
  const run = mkdtempSync(path.join(tmpdir(), 'pgkit-copy-'));
  if (owner) chownSync(run, owner.uid, owner.gid);
  const port = await freePort();
  const pgCtl = (args: string[]) => execFileAsync(path.join(binDir, 'pg_ctl'), ['-D', dataDir, ...args], { cwd: run, ...(owner ?? {}) });
  await pgCtl(['-l', path.join(run, 'server.log'), '-w', '-t', '60', '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${run}`, 'start']);
  const url = (database = 'postgres') => `postgresql://postgres:${password}@127.0.0.1:${port}/${database}`;
  return {
    url,
    async query<T extends pg.QueryResultRow>(sql: string, database = 'postgres') {
      const client = new pg.Client({ connectionString: url(database) });
      await client.connect();
      try {
        return (await client.query<T>(sql)).rows;
      } finally {
        await client.end();
      }
    },
    async stop() {
      await pgCtl(['-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(run, { recursive: true, force: true });
    },
  };
}

/** A directory the server's user can create a data directory in. */
export async function restoreParent(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-restore-'));
  chmodSync(dir, 0o711);
  return dir;
}
